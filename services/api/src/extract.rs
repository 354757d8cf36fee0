//! Request extractors whose rejections are problems that name the offending field.
//!
//! [`ApiJson`] follows axum's `Json` rejections (415 without a JSON content type, 400 for a syntax
//! error, 422 for a well-formed body of the wrong shape) but deserialises through
//! `serde_path_to_error`, so a 422 says which field serde tripped on instead of a free-text message.
//! [`RawQuery`] reads query parameters and a list's [`Page`]; a list answers with [`Listed`]. Writes
//! to payments need an [`idempotency_key`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, FieldError, Validator};

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json(content_type) {
        return Err(ApiError::UnsupportedMediaType(
            "expected `Content-Type: application/json`".into(),
        ));
    }
    body_bytes(req, state).await
}

/// The body, within the route's limit (`DefaultBodyLimit`; 413 beyond it).
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedJson(e.body_text())
        }
    })
}

/// A body of any content type, read within the route's limit, for handlers that parse it
/// themselves.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        body_bytes(req, state).await.map(RawBody)
    }
}

/// A JSON object body kept as the client sent it, for bodies the api passes on (an OCPI tariff):
/// re-serialising a parsed value could change number precision.
pub struct JsonObjectText(pub String);

impl<S: Send + Sync> FromRequest<S> for JsonObjectText {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_body(req, state).await?;
        parse_json::<serde::de::IgnoredAny>(&bytes)?;
        // serde_json accepted the bytes, so they are UTF-8.
        String::from_utf8(bytes.to_vec())
            .map(JsonObjectText)
            .map_err(|e| ApiError::MalformedJson(e.to_string()))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserialises the JSON object `bytes`, mapping serde's complaint to a problem that names the
/// field. Anything but an object is refused: serde would read an array as a struct's fields in
/// order (`["Depot", "DE", "Europe/Berlin"]` as a site).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // Malformed JSON stays a 400; well-formed JSON of another kind is a 422.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| json_error(".", e))?;
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(&path, e.into_inner())
    })?;
    de.end().map_err(|e| json_error(".", e))?;
    Ok(value)
}

fn json_error(path: &str, error: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::MalformedJson(error.to_string())
        }
        Category::Data => {
            let message = without_type_names(&strip_position(&error.to_string()));
            // serde reports a missing field at its parent's path and names it only in the text.
            let named = backticked(&message).filter(|_| message.starts_with("missing field"));
            let field = match (named, path) {
                (Some(name), "." | "") => name.to_owned(),
                (Some(name), parent) => format!("{parent}.{name}"),
                (None, "." | "") => "body".to_owned(),
                (None, path) => path.to_owned(),
            };
            ApiError::Validation(vec![FieldError::new(field, message)])
        }
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// serde names the Rust types it expected (`struct NewSite`, `untagged enum Amount`); a client
/// knows the JSON kinds only.
fn without_type_names(message: &str) -> String {
    let mut out = message.to_owned();
    for (words, instead) in [
        ("any variant of untagged enum ", "any accepted form"),
        ("struct ", "a JSON object"),
        ("enum ", "one of the accepted values"),
    ] {
        while let Some(start) = out.find(words) {
            let name = &out[start + words.len()..];
            let len = name
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(name.len());
            out.replace_range(start..start + words.len() + len, instead);
        }
    }
    out
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// One page of a list, as every list answers: `next_cursor` is `null` on the last page.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Listed<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The `Idempotency-Key` header every write to payments needs: the same key with the same body
/// answers as the first time.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::trim))
    {
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Ok(k.to_owned()),
        Some(Ok(k)) if !k.is_empty() => Err(ApiError::field(
            "Idempotency-Key",
            "must be at most 255 characters",
        )),
        Some(Err(_)) => Err(ApiError::field("Idempotency-Key", "must be visible ASCII")),
        _ => Err(ApiError::field(
            "Idempotency-Key",
            "this write needs an Idempotency-Key header (any unique string, reused on retries)",
        )),
    }
}

/// `?cursor=&limit=` of list endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub cursor: Option<String>,
    pub limit: u32,
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;

    /// The `seq` a page starts after: 0 for the first page, else the cursor.
    pub fn after(&self) -> Result<i64, ApiError> {
        match &self.cursor {
            None => Ok(0),
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::field("cursor", "not a cursor returned by this list")),
        }
    }

    /// Cuts `rows` (fetched with `LIMIT limit + 1`) to the page and returns the next cursor, if
    /// there is a next page.
    pub fn cut<T>(&self, rows: &mut Vec<T>, seq: impl Fn(&T) -> i64) -> Option<String> {
        let limit = self.limit as usize;
        if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| seq(r).to_string())
        } else {
            None
        }
    }
}

/// What a query parameter holds, for the OpenAPI document (the handler checks the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Text,
    /// A record's id (a UUID).
    Id,
    /// An RFC 3339 time.
    Time,
    /// A page size, 1 to [`Page::MAX_LIMIT`].
    Limit,
}

/// One query parameter a route takes.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub description: &'static str,
}

/// The query parameters of a route, named once: [`RawQuery::checked`] refuses every other, and the
/// OpenAPI document lists them ([`crate::openapi`]).
pub trait QueryParams {
    fn params() -> Vec<Param>;
}

/// A route that takes no query parameter of its own.
#[derive(Debug, Default)]
pub struct NoParams;

impl QueryParams for NoParams {
    fn params() -> Vec<Param> {
        Vec::new()
    }
}

/// `cursor` and `limit`, the parameters of every list.
pub const PAGE_PARAMS: [Param; 2] = [
    Param {
        name: "cursor",
        kind: ParamKind::Text,
        description: "The `next_cursor` of the previous page.",
    },
    Param {
        name: "limit",
        kind: ParamKind::Limit,
        description: "Items per page, 1 to 500 (default 50).",
    },
];

/// A unit type naming a route's query parameters: `query_params!(pub SessionQuery, list {
/// "charger_id": Id => "Sessions at this charger.", ... })`; `list` adds `cursor` and `limit`.
#[macro_export]
macro_rules! query_params {
    ($vis:vis $name:ident, list { $($param:literal : $kind:ident => $doc:literal),* $(,)? }) => {
        $crate::query_params!($vis $name { $($param : $kind => $doc),* } $crate::extract::PAGE_PARAMS);
    };
    ($vis:vis $name:ident { $($param:literal : $kind:ident => $doc:literal),* $(,)? } $($more:expr)?) => {
        #[derive(Debug, Default)]
        $vis struct $name;

        impl $crate::extract::QueryParams for $name {
            fn params() -> Vec<$crate::extract::Param> {
                #[allow(unused_mut)]
                let mut params = vec![$($crate::extract::Param {
                    name: $param,
                    kind: $crate::extract::ParamKind::$kind,
                    description: $doc,
                }),*];
                $(params.extend($more);)?
                params
            }
        }
    };
}

query_params!(pub PageQuery, list {});

/// Query parameters as strings, so that a bad value becomes a problem naming the parameter; `P`
/// names the parameters the route takes.
#[derive(Debug)]
pub struct RawQuery<P = NoParams>(
    pub std::collections::HashMap<String, String>,
    pub std::marker::PhantomData<P>,
);

impl<P> RawQuery<P> {
    pub fn new(map: std::collections::HashMap<String, String>) -> Self {
        Self(map, std::marker::PhantomData)
    }
}

impl<P: QueryParams> RawQuery<P> {
    /// A validator that has already refused every parameter the route does not take.
    pub fn checked(&self) -> Validator {
        let names: Vec<&str> = P::params().iter().map(|p| p.name).collect();
        self.only(&names)
    }
}

impl<P> RawQuery<P> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A validator that has already refused every parameter not in `known` (a typo in a filter
    /// would otherwise silently list everything).
    pub fn only(&self, known: &[&str]) -> Validator {
        let mut v = Validator::default();
        let mut unknown: Vec<&String> = self
            .0
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
            .collect();
        unknown.sort();
        for name in unknown {
            v.reject(
                name,
                format!("unknown parameter; known: {}", known.join(", ")),
            );
        }
        v
    }

    /// The RFC 3339 time `name`, if given; a bad one is recorded in `v`.
    pub fn time(&self, v: &mut Validator, name: &str) -> Option<DateTime<Utc>> {
        self.get(name).and_then(|raw| {
            v.check(
                name,
                DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| format!("not an RFC 3339 time: {e}")),
            )
        })
    }

    /// The id parameter `name` as another service's list takes it: empty when absent; a value that
    /// is not an id is refused through `v`.
    pub fn proto_id(&self, v: &mut Validator, name: &str) -> String {
        self.get(name)
            .and_then(|raw| v.check(name, raw.parse::<uuid::Uuid>().map_err(|_| "not an id")))
            .map(|id| id.to_string())
            .unwrap_or_default()
    }

    /// Like [`RawQuery::time`], as a proto timestamp for another service's list.
    pub fn proto_time(&self, v: &mut Validator, name: &str) -> Option<joule_proto::Timestamp> {
        self.time(v, name).map(joule_proto::time::to_proto)
    }

    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.get("limit") {
            None => Page::DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=Page::MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::field(
                        "limit",
                        format!("must be an integer from 1 to {}", Page::MAX_LIMIT),
                    ));
                }
            },
        };
        Ok(Page {
            cursor: self.get("cursor").map(str::to_owned),
            limit,
        })
    }
}

impl<S: Send + Sync, P> FromRequestParts<S> for RawQuery<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| RawQuery::new(map))
            .map_err(|e| ApiError::field("query", e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field_of(json: &str) -> (u16, Vec<String>) {
        match parse_json::<Body>(json.as_bytes()) {
            Ok(_) => (200, vec![]),
            Err(ApiError::Validation(errors)) => {
                (422, errors.into_iter().map(|e| e.field).collect())
            }
            Err(ApiError::MalformedJson(_)) => (400, vec![]),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn names_the_field_serde_tripped_on() {
        assert_eq!(field_of(r#"{"name": "a"}"#), (200, vec![]));
        assert_eq!(field_of(r#"{}"#), (422, vec!["name".into()]));
        assert_eq!(field_of(r#"{"name": 5}"#), (422, vec!["name".into()]));
        assert_eq!(
            field_of(r#"{"name": "a", "nmae": "b"}"#),
            (422, vec!["nmae".into()])
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {}}"#),
            (422, vec!["inner.count".into()])
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"count": -1}}"#),
            (422, vec!["inner.count".into()])
        );
        assert_eq!(field_of(r#""just a string""#), (422, vec!["body".into()]));
    }

    #[test]
    fn only_an_object_is_a_body() {
        assert_eq!(field_of(r#"["a", null]"#), (422, vec!["body".into()]));
        assert_eq!(field_of("[]"), (422, vec!["body".into()]));
        assert_eq!(field_of(" 5 "), (422, vec!["body".into()]));
        assert_eq!(field_of("[1,"), (400, vec![]));
        assert_eq!(field_of(r#" {"name": "a"}"#), (200, vec![]));
    }

    #[test]
    fn messages_name_json_kinds_not_rust_types() {
        let Err(ApiError::Validation(errors)) = parse_json::<Body>(br#"{"name": "a", "inner": 5}"#)
        else {
            panic!("expected a validation problem")
        };
        assert_eq!(errors[0].field, "inner");
        assert!(!errors[0].reason.contains("Inner"), "{}", errors[0].reason);
        assert!(
            errors[0].reason.contains("a JSON object"),
            "{}",
            errors[0].reason
        );
        assert_eq!(
            without_type_names("data did not match any variant of untagged enum Amount"),
            "data did not match any accepted form"
        );
    }

    #[test]
    fn syntax_errors_are_400() {
        assert_eq!(field_of(r#"{"name": "#).0, 400);
        assert_eq!(field_of(r#"{"name": "a"} trailing"#).0, 400);
        assert_eq!(field_of("").0, 400);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }

    #[test]
    fn limit_defaults_and_bounds() {
        let q = |pairs: &[(&str, &str)]| {
            RawQuery::<NoParams>::new(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
            .page()
        };
        assert_eq!(
            q(&[]).unwrap(),
            Page {
                cursor: None,
                limit: 50
            }
        );
        assert_eq!(
            q(&[("limit", "500"), ("cursor", "abc")]).unwrap().limit,
            500
        );
        assert!(q(&[("limit", "501")]).is_err());
        assert!(q(&[("limit", "0")]).is_err());
        assert!(q(&[("limit", "ten")]).is_err());
    }
}
