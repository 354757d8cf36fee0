//! A page of a read table listed by cursor: rows carry their place in the list (a `seq` column),
//! a page is the rows after a place, and its cursor is the place of its last row. Services' paged
//! gRPC lists (`page_size`, `cursor`, `next_cursor`) share it.

/// The rows after `after`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub after: i64,
    pub limit: i64,
}

/// A list request's `cursor` that no page of the list gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor of this list")]
pub struct BadCursor;

impl Page {
    /// Rows of a page when the request names no size.
    pub const DEFAULT_SIZE: i64 = 50;
    /// The largest page.
    pub const MAX_SIZE: u32 = 500;

    /// The page a list request asks for: after its `cursor` (empty: the first page), `page_size`
    /// rows (0: [`Page::DEFAULT_SIZE`]; at most [`Page::MAX_SIZE`]).
    pub fn requested(cursor: &str, page_size: u32) -> Result<Self, BadCursor> {
        let after = match cursor.trim() {
            "" => 0,
            c => c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(BadCursor)?,
        };
        let limit = match page_size {
            0 => Self::DEFAULT_SIZE,
            n => i64::from(n.min(Self::MAX_SIZE)),
        };
        Ok(Self { after, limit })
    }

    /// `LIMIT` of the query: one row more than the page, to tell whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit.saturating_add(1)
    }

    /// The page of `rows` (fetched with [`Page::fetch`]) and the place of its last row when
    /// another page follows.
    pub fn cut<T>(&self, mut rows: Vec<T>, place: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows.last().map(place);
        (rows, next)
    }

    /// The `next_cursor` of a page whose [`Page::cut`] gave `next`: empty on the last page.
    pub fn next_cursor(next: Option<i64>) -> String {
        next.map(|n| n.to_string()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_its_page() {
        assert_eq!(
            Page::requested("", 0),
            Ok(Page {
                after: 0,
                limit: 50
            })
        );
        assert_eq!(
            Page::requested(" 7 ", 900),
            Ok(Page {
                after: 7,
                limit: 500
            })
        );
        assert_eq!(Page::requested("-1", 10), Err(BadCursor));
        assert_eq!(Page::requested("abc", 10), Err(BadCursor));
    }

    #[test]
    fn a_page_is_cut_at_its_limit_and_names_the_next() {
        let page = Page { after: 0, limit: 2 };
        assert_eq!(page.fetch(), 3);
        assert_eq!(page.cut(vec![1, 2, 3], |n| *n), (vec![1, 2], Some(2)));
        assert_eq!(page.cut(vec![1, 2], |n| *n), (vec![1, 2], None));
        assert_eq!(Page::next_cursor(Some(2)), "2");
        assert_eq!(Page::next_cursor(None), "");
    }
}
