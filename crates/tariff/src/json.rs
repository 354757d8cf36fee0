//! A JSON tree that borrows from its input, for reading tariffs and CDRs.
//!
//! `serde_json::Value` allocates every key and keeps objects in B-trees; a tariff is read far more
//! often than it is written (every bulk re-pricing reads thousands), and most of its time went there.
//! This tree keeps objects as small vectors of borrowed keys and strings. Numbers are held as
//! `serde_json::Number`, exactly as `Value` holds them, so both read identically.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    /// A number as written (read by the fast reader): exact, with no trip through `f64`.
    Raw(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<Json<'a>, serde_json::Error> {
        match Reader::new(text).document(None) {
            Some(tree) => Ok(tree),
            // Not JSON the fast reader takes: serde_json decides, and words the error.
            None => serde_json::from_str(text),
        }
    }

    /// Like [`Json::parse`] for a JSON object of which only the fields named in `keep` are built;
    /// the others are validated as JSON and skipped. Anything but an object parses whole.
    pub(crate) fn parse_fields(
        text: &'a str,
        keep: &'static [&'static str],
    ) -> Result<Json<'a>, serde_json::Error> {
        if let Some(tree) = Reader::new(text).document(Some(keep)) {
            return Ok(tree);
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let tree = de::DeserializeSeed::deserialize(Filtered(keep), &mut de)?;
        de.end()?;
        Ok(tree)
    }

    /// The tree of an already decoded `Value`, borrowing its strings.
    pub(crate) fn from_value(value: &'a Value) -> Json<'a> {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(items) => Json::Array(items.iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// An owned `Value` of this tree (for parts kept as given, like `energy_mix`).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::Raw(r) => serde_json::from_str(r).unwrap_or(Value::Null),
            Json::String(s) => Value::String(s.clone().into_owned()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub(crate) fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key`; of a repeated key, the last, as `serde_json::Value` reads it.
    pub(crate) fn field(fields: &'a [(Cow<'a, str>, Json<'a>)], key: &str) -> Option<&'a Json<'a>> {
        fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
        Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value = map.next_value()?;
            fields.push((key.0, value));
        }
        Ok(Json::Object(fields))
    }
}

/// A strict reader of JSON text (RFC 8259) that borrows strings without escapes and keeps numbers
/// as text. It gives up (`None`) on anything it does not take, and the caller falls back to
/// serde_json, which also words the error for invalid input.
struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: u32,
}

const MAX_DEPTH: u32 = 128;

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
        }
    }

    fn document(mut self, keep: Option<&[&str]>) -> Option<Json<'a>> {
        let tree = self.value(keep)?;
        self.ws();
        (self.at == self.bytes.len()).then_some(tree)
    }

    /// Moves past `n` bytes. The position never goes more than 2 bytes beyond the end of the text,
    /// which (a `str`) is at most `isize::MAX` bytes long: the sum cannot reach the edge.
    fn advance(&mut self, n: usize) {
        self.at = self.at.saturating_add(n);
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.advance(1);
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.bytes.get(self.at) == Some(&b) {
            self.advance(1);
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Option<Json<'a>> {
        if self.text[self.at..].starts_with(word) {
            self.advance(word.len());
            Some(value)
        } else {
            None
        }
    }

    /// `keep`: for an object here, build only these keys (the root of a CDR).
    fn value(&mut self, keep: Option<&[&str]>) -> Option<Json<'a>> {
        self.ws();
        match *self.bytes.get(self.at)? {
            b'{' => self.object(keep),
            b'[' => self.array(),
            b'"' => self.string().map(Json::String),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => self.number(),
        }
    }

    fn nest(&mut self) -> Option<()> {
        // At most MAX_DEPTH + 1: the caller gives up beyond MAX_DEPTH.
        self.depth = self.depth.saturating_add(1);
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn object(&mut self, keep: Option<&[&str]>) -> Option<Json<'a>> {
        self.nest()?;
        self.advance(1);
        let mut fields = Vec::with_capacity(8);
        if !self.eat(b'}') {
            loop {
                self.ws();
                if self.bytes.get(self.at) != Some(&b'"') {
                    return None;
                }
                let key = self.string()?;
                if !self.eat(b':') {
                    return None;
                }
                let value = self.value(None)?;
                if keep.is_none_or(|k| k.contains(&key.as_ref())) {
                    fields.push((key, value));
                }
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b'}') {
                    break;
                }
                return None;
            }
        }
        // `nest` raised it on the way in.
        self.depth = self.depth.saturating_sub(1);
        Some(Json::Object(fields))
    }

    fn array(&mut self) -> Option<Json<'a>> {
        self.nest()?;
        self.advance(1);
        let mut items = Vec::with_capacity(4);
        if !self.eat(b']') {
            loop {
                items.push(self.value(None)?);
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b']') {
                    break;
                }
                return None;
            }
        }
        // `nest` raised it on the way in.
        self.depth = self.depth.saturating_sub(1);
        Some(Json::Array(items))
    }

    /// At an opening quote.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        self.advance(1);
        let mut escaped = false;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.advance(2);
                }
                0..=0x1f => return None,
                _ => self.advance(1),
            }
        }
        self.advance(1);
        let quoted = self.text.get(start..self.at)?;
        if escaped {
            // Escapes are rare in tariffs and CDRs: serde_json decodes them exactly.
            serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
        } else {
            quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .map(Cow::Borrowed)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.advance(1);
        }
        // `at` only moved forward from `start`.
        self.at.saturating_sub(start)
    }

    fn number(&mut self) -> Option<Json<'a>> {
        let start = self.at;
        if self.bytes.get(self.at) == Some(&b'-') {
            self.advance(1);
        }
        match self.bytes.get(self.at)? {
            b'0' => self.advance(1),
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.advance(1);
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.advance(1);
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.advance(1);
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(Json::Raw(&self.text[start..self.at]))
    }
}

/// A root object keeping only some fields.
struct Filtered(&'static [&'static str]);

impl<'de> de::DeserializeSeed<'de> for Filtered {
    type Value = Json<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Filtered {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut fields = Vec::with_capacity(self.0.len());
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if self.0.contains(&key.0.as_ref()) {
                let value = map.next_value()?;
                fields.push((key.0, value));
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(Json::Object(fields))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json<'de>, E> {
        JsonVisitor.visit_bool(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'de>, E> {
        JsonVisitor.visit_i64(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'de>, E> {
        JsonVisitor.visit_u64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
        JsonVisitor.visit_f64(v)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Json<'de>, E> {
        JsonVisitor.visit_borrowed_str(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json<'de>, E> {
        JsonVisitor.visit_str(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Json<'de>, A::Error> {
        JsonVisitor.visit_seq(seq)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_reader_agrees_with_serde_json() {
        let text = r#"{ "a": [1, -2, 0.25, 1e3, "x\"y\u00e9", null, true, false, {}, []], "b": { "c": -0.5E-2 } }"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let fast = Reader::new(text).document(None).unwrap();
        assert!(
            matches!(&fast, Json::Object(f) if matches!(f[0].1, Json::Array(ref a) if a[2] == Json::Raw("0.25")))
        );
        assert_eq!(fast.to_value(), value);
        for bad in [
            "{",
            "[1,]",
            "01",
            "1.",
            "-",
            "{\"a\" 1}",
            "\"a\u{1}\"",
            "[1] x",
            "tru",
            "{\"a\":1,}",
        ] {
            assert!(Reader::new(bad).document(None).is_none(), "{bad}");
        }
        assert!(Json::parse("{").is_err());
    }

    #[test]
    fn reads_like_value() {
        let text = r#"{ "a": [1, -2, 0.25, "x\"y", null, true], "b": { "c": 1e3 }, "a2": "z" }"#;
        let value: Value = serde_json::from_str(text).unwrap();
        // Key order differs (Value sorts keys); the values are the same.
        assert_eq!(Json::parse(text).unwrap().to_value(), value);
    }
}
