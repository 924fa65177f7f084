//! Opt-in redaction (`cequence_redact`): named values are replaced by a keyed
//! hash before a transaction leaves the forwarder, so the bridge can still
//! tell that two requests carried the same session cookie or token without
//! ever receiving it.
//!
//! The spec is a comma-separated list of
//! - `cookie-values`: every cookie's value in the `cookie` header (names kept);
//! - `query:<param>`: the value of that query parameter, in the request URI
//!   and in a `referer` URL (other parameters and their order untouched);
//! - `header:<name>`: the whole value of that request header.
//!
//! A replaced value is `h:` followed by the first 16 bytes of
//! HMAC-SHA256(key, value) as 32 lowercase hex digits. The value hashed is
//! the text the client sent, that is after CloudFront's own escaping has been
//! undone (contract §3 "Decoding") and without any further decoding: this is
//! the same text the bridge would otherwise have received. Equal values give
//! equal hashes wherever they appear (a token in a cookie and in a query
//! string still match); empty values stay empty.

use std::borrow::Cow;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::decode::percent_decode;

/// What a hashed value starts with.
pub const HASH_PREFIX: &str = "h:";
/// How many bytes of the HMAC are kept (shown as twice as many hex digits).
pub const HASH_BYTES: usize = 16;
/// The shortest key accepted: a shorter one could be guessed.
pub const MIN_KEY_BYTES: usize = 16;

/// What `cequence_redact` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactSpec {
    pub cookie_values: bool,
    /// Query parameter names, compared exactly (after undoing a client's
    /// percent-encoding of the name).
    pub query_params: Vec<String>,
    /// Request header names, lowercase.
    pub headers: Vec<String>,
}

/// Why a `cequence_redact` spec was refused. Each names the item at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown item {0:?} (expected cookie-values, query:<param> or header:<name>)")]
    Unknown(String),
    #[error("item {0:?} names no parameter or header")]
    EmptyName(String),
    #[error("item {0:?}: not an HTTP header name")]
    BadHeaderName(String),
}

/// Letters, digits and `!#$%&'*+-.^_`|~` (RFC 9110 token).
fn is_header_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

impl RedactSpec {
    /// Parses `cookie-values,query:token,header:authorization`. Blank items
    /// (a trailing comma) are ignored; anything unknown is an error.
    pub fn parse(spec: &str) -> Result<RedactSpec, SpecError> {
        let mut parsed = RedactSpec::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item.eq_ignore_ascii_case("cookie-values") {
                parsed.cookie_values = true;
            } else if let Some(param) = strip_prefix_ignore_case(item, "query:") {
                if param.is_empty() {
                    return Err(SpecError::EmptyName(item.to_string()));
                }
                if !parsed.query_params.iter().any(|p| p == param) {
                    parsed.query_params.push(param.to_string());
                }
            } else if let Some(name) = strip_prefix_ignore_case(item, "header:") {
                if name.is_empty() {
                    return Err(SpecError::EmptyName(item.to_string()));
                }
                if !is_header_token(name) {
                    return Err(SpecError::BadHeaderName(item.to_string()));
                }
                let name = name.to_ascii_lowercase();
                if !parsed.headers.contains(&name) {
                    parsed.headers.push(name);
                }
            } else {
                return Err(SpecError::Unknown(item.to_string()));
            }
        }
        Ok(parsed)
    }

    /// Whether nothing is redacted.
    pub fn is_empty(&self) -> bool {
        !self.cookie_values && self.query_params.is_empty() && self.headers.is_empty()
    }
}

/// The spec in its canonical form (`cookie-values,query:token,header:x`):
/// what is logged at start-up and fingerprinted with the batch settings.
impl fmt::Display for RedactSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        if self.cookie_values {
            items.push("cookie-values".into());
        }
        items.extend(self.query_params.iter().map(|p| format!("query:{p}")));
        items.extend(self.headers.iter().map(|h| format!("header:{h}")));
        f.write_str(&items.join(","))
    }
}

fn strip_prefix_ignore_case<'a>(item: &'a str, prefix: &str) -> Option<&'a str> {
    let head = item.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| item[prefix.len()..].trim())
}

/// The redaction key was refused (the message never contains the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the redaction key must be at least {MIN_KEY_BYTES} bytes (a random 32-byte hex string is a good choice)")]
pub struct KeyTooShort;

/// The keyed HMAC state. Its `Debug` shows nothing of the key.
#[derive(Clone)]
struct KeyedMac(Hmac<Sha256>);

impl fmt::Debug for KeyedMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Applies a [`RedactSpec`] with a secret key.
#[derive(Debug, Clone)]
pub struct Redactor {
    spec: RedactSpec,
    key: KeyedMac,
}

impl Redactor {
    /// Builds a redactor. The key's bytes are used as they are (the UTF-8
    /// of the secret string).
    pub fn new(spec: RedactSpec, key: &SecretString) -> Result<Redactor, KeyTooShort> {
        let key = key.expose_secret().as_bytes();
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyTooShort);
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        Ok(Redactor {
            spec,
            key: KeyedMac(mac),
        })
    }

    pub fn spec(&self) -> &RedactSpec {
        &self.spec
    }

    /// `h:` + the first [`HASH_BYTES`] of HMAC-SHA256(key, value), in hex.
    pub fn hash(&self, value: &str) -> String {
        self.hash_bytes(value.as_bytes())
    }

    /// [`Redactor::hash`] of raw bytes (a decoded header value need not be UTF-8).
    pub fn hash_bytes(&self, value: &[u8]) -> String {
        let mut mac = self.key.0.clone();
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(HASH_PREFIX.len() + 2 * HASH_BYTES);
        out.push_str(HASH_PREFIX);
        out.push_str(&hex::encode(&digest[..HASH_BYTES]));
        out
    }

    /// Appends the hash of `value`, or nothing for an empty value (an empty
    /// value discloses nothing).
    fn push_hash(&self, out: &mut Vec<u8>, value: &[u8]) {
        if !value.is_empty() {
            out.extend_from_slice(self.hash_bytes(value).as_bytes());
        }
    }

    /// Whether `header:<name>` asks for this header's whole value.
    pub fn redacts_header(&self, name: &str) -> bool {
        self.spec
            .headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    }

    /// A request header's value as it may be sent: the whole value hashed
    /// for `header:<name>`, cookie values hashed for `cookie-values`, the
    /// named query parameters hashed inside a `referer` URL. `name` is
    /// compared case-insensitively.
    pub fn header_value<'a>(&self, name: &str, value: Cow<'a, str>) -> Cow<'a, str> {
        match value {
            Cow::Borrowed(v) => utf8(self.header_value_bytes(name, Cow::Borrowed(v.as_bytes()))),
            Cow::Owned(v) => match self.header_value_bytes(name, Cow::Borrowed(v.as_bytes())) {
                Cow::Borrowed(_) => Cow::Owned(v),
                Cow::Owned(changed) => utf8(Cow::Owned(changed)),
            },
        }
    }

    /// [`Redactor::header_value`] over the decoded bytes of a value.
    pub fn header_value_bytes<'a>(&self, name: &str, value: Cow<'a, [u8]>) -> Cow<'a, [u8]> {
        if self.redacts_header(name) {
            let mut out = Vec::with_capacity(HASH_PREFIX.len() + 2 * HASH_BYTES);
            self.push_hash(&mut out, &value);
            return Cow::Owned(out);
        }
        let changed = if name.eq_ignore_ascii_case("cookie") {
            self.cookie_bytes(&value)
        } else if name.eq_ignore_ascii_case("referer") {
            self.uri_bytes(&value)
        } else {
            None
        };
        match changed {
            Some(changed) => Cow::Owned(changed),
            None => value,
        }
    }

    /// A `cookie` header with every cookie's value hashed and its name kept:
    /// `a=1; b=2` → `a=h:…; b=h:…`. Separators and spacing are kept; a
    /// piece without `=` is a nameless cookie, so all of it is a value.
    pub fn cookie<'a>(&self, header: &'a str) -> Cow<'a, str> {
        borrowed_or(header, self.cookie_bytes(header.as_bytes()))
    }

    /// The redacted cookie header, or `None` when nothing changes.
    fn cookie_bytes(&self, header: &[u8]) -> Option<Vec<u8>> {
        if !self.spec.cookie_values || header.iter().all(|b| *b == b';' || b.is_ascii_whitespace())
        {
            return None;
        }
        let mut out = Vec::with_capacity(header.len() + 32);
        for (i, piece) in header.split(|b| *b == b';').enumerate() {
            if i > 0 {
                out.push(b';');
            }
            let body = piece.trim_ascii_start();
            out.extend_from_slice(&piece[..piece.len() - body.len()]);
            let (name_eq, value) = match body.iter().position(|b| *b == b'=') {
                Some(eq) => body.split_at(eq + 1),
                None => (&body[..0], body),
            };
            let value_trimmed = value.trim_ascii_end();
            out.extend_from_slice(name_eq);
            self.push_hash(&mut out, value_trimmed);
            out.extend_from_slice(&value[value_trimmed.len()..]);
        }
        Some(out)
    }

    /// A query string (without `?`) with the value of each `query:<param>`
    /// hashed: `a=1&token=abc` → `a=1&token=h:…`. Every occurrence of a
    /// named parameter is hashed; all else keeps its text and order.
    pub fn query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        borrowed_or(query, self.query_bytes(query.as_bytes()))
    }

    /// [`Redactor::query`] of an owned or borrowed query, keeping it as it
    /// is when nothing changes.
    pub fn query_cow<'a>(&self, query: Cow<'a, str>) -> Cow<'a, str> {
        match self.query_bytes(query.as_bytes()) {
            None => query,
            Some(bytes) => utf8(Cow::Owned(bytes)),
        }
    }

    /// The redacted query, or `None` when no named parameter has a value.
    fn query_bytes(&self, query: &[u8]) -> Option<Vec<u8>> {
        if self.spec.query_params.is_empty()
            || !query
                .split(|b| *b == b'&')
                .any(|p| self.named_value(p).is_some())
        {
            return None;
        }
        let mut out = Vec::with_capacity(query.len() + 32);
        for (i, pair) in query.split(|b| *b == b'&').enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            match self.named_value(pair) {
                Some((name_eq, value)) => {
                    out.extend_from_slice(name_eq);
                    self.push_hash(&mut out, value);
                }
                None => out.extend_from_slice(pair),
            }
        }
        Some(out)
    }

    /// `(name=, value)` when `name` is a `query:<param>` and there is a value.
    fn named_value<'p>(&self, pair: &'p [u8]) -> Option<(&'p [u8], &'p [u8])> {
        let eq = pair.iter().position(|b| *b == b'=')?;
        let (name_eq, value) = pair.split_at(eq + 1);
        if value.is_empty() {
            return None;
        }
        let name = String::from_utf8_lossy(&name_eq[..eq]);
        let name = percent_decode(&name);
        self.spec
            .query_params
            .iter()
            .any(|p| *p == *name)
            .then_some((name_eq, value))
    }

    /// A URI or URL (`/path?query#fragment`): the query part redacted as
    /// [`Redactor::query`] does, the rest untouched.
    pub fn uri<'a>(&self, uri: &'a str) -> Cow<'a, str> {
        borrowed_or(uri, self.uri_bytes(uri.as_bytes()))
    }

    fn uri_bytes(&self, uri: &[u8]) -> Option<Vec<u8>> {
        let question = uri.iter().position(|b| *b == b'?')?;
        let query_end = uri[question..]
            .iter()
            .position(|b| *b == b'#')
            .map_or(uri.len(), |h| question + h);
        let query = self.query_bytes(&uri[question + 1..query_end])?;
        let mut out = Vec::with_capacity(uri.len() + 32);
        out.extend_from_slice(&uri[..=question]);
        out.extend_from_slice(&query);
        out.extend_from_slice(&uri[query_end..]);
        Some(out)
    }
}

/// Text from bytes that were valid UTF-8 with only ASCII pieces replaced at
/// ASCII boundaries, so still valid (lossy only as a guard, never a panic).
fn utf8(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(b) => match String::from_utf8(b) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

fn borrowed_or(original: &str, changed: Option<Vec<u8>>) -> Cow<'_, str> {
    match changed {
        None => Cow::Borrowed(original),
        Some(bytes) => Cow::Owned(utf8(Cow::Owned(bytes)).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "0123456789abcdef-test-key";

    fn redactor(spec: &str, key: &str) -> Redactor {
        Redactor::new(
            RedactSpec::parse(spec).unwrap(),
            &SecretString::from(key.to_string()),
        )
        .unwrap()
    }

    fn is_hash(s: &str) -> bool {
        s.strip_prefix(HASH_PREFIX)
            .is_some_and(|h| h.len() == 2 * HASH_BYTES && h.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    #[test]
    fn spec_parsing() {
        let spec =
            RedactSpec::parse(" cookie-values, query:token ,header:Authorization,,query:sid,")
                .unwrap();
        assert_eq!(
            spec,
            RedactSpec {
                cookie_values: true,
                query_params: vec!["token".into(), "sid".into()],
                headers: vec!["authorization".into()],
            }
        );
        assert_eq!(
            spec.to_string(),
            "cookie-values,query:token,query:sid,header:authorization"
        );
        assert_eq!(RedactSpec::parse(&spec.to_string()).unwrap(), spec);
        assert!(RedactSpec::parse("").unwrap().is_empty());
        assert!(RedactSpec::parse(" , ").unwrap().is_empty());
        assert!(!spec.is_empty());
    }

    #[test]
    fn spec_errors_name_the_item() {
        for (spec, item) in [
            ("cookie-values,cookies", "cookies"),
            ("query:", "query:"),
            ("header:", "header:"),
            ("header:bad name", "header:bad name"),
            ("header:x:y", "header:x:y"),
            ("token", "token"),
        ] {
            let err = RedactSpec::parse(spec).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{item:?}")),
                "{spec}: {err}"
            );
        }
    }

    #[test]
    fn hash_is_keyed_deterministic_and_documented_shape() {
        let a = redactor("cookie-values", KEY);
        let b = redactor("cookie-values", "another-key-of-16-bytes");
        assert_eq!(a.hash("session-abc"), a.hash("session-abc"));
        assert_ne!(a.hash("session-abc"), a.hash("session-abd"));
        assert_ne!(a.hash("session-abc"), b.hash("session-abc"));
        assert!(is_hash(&a.hash("session-abc")));
        // Known answer: RFC 4231 test case 1 (key 0x0b × 20, "Hi There"),
        // whose HMAC-SHA256 starts b0344c61d8db38535ca8afceaf0bf12b.
        let rfc = redactor("cookie-values", &"\x0b".repeat(20));
        assert_eq!(rfc.hash("Hi There"), "h:b0344c61d8db38535ca8afceaf0bf12b");
    }

    #[test]
    fn short_keys_are_refused() {
        let spec = RedactSpec::parse("cookie-values").unwrap();
        let err = Redactor::new(spec, &SecretString::from("short".to_string())).unwrap_err();
        assert!(!err.to_string().contains("short\""));
    }

    #[test]
    fn cookie_names_and_layout_are_kept_values_hashed() {
        let r = redactor("cookie-values", KEY);
        let out = r.cookie("session=abc; theme=dark;lang=en ; flag; empty=");
        assert_eq!(
            out,
            format!(
                "session={}; theme={};lang={} ; {}; empty=",
                r.hash("abc"),
                r.hash("dark"),
                r.hash("en"),
                r.hash("flag")
            )
        );
        // A value containing '=' is hashed whole.
        assert_eq!(r.cookie("t=a=b"), format!("t={}", r.hash("a=b")));
        // Not asked for: untouched and borrowed.
        let off = redactor("query:token", KEY);
        assert!(matches!(off.cookie("a=1"), Cow::Borrowed("a=1")));
    }

    #[test]
    fn named_query_parameters_only() {
        let r = redactor("query:token,query:sid", KEY);
        assert_eq!(
            r.query("a=1&token=abc&b=2&token=def&sid=&x"),
            format!(
                "a=1&token={}&b=2&token={}&sid=&x",
                r.hash("abc"),
                r.hash("def")
            )
        );
        assert!(matches!(r.query("a=1&b=tokenx"), Cow::Borrowed(_)));
        // Names are compared exactly, after undoing the client's encoding.
        assert_eq!(
            r.query("%74oken=abc&Token=keep"),
            format!("%74oken={}&Token=keep", r.hash("abc"))
        );
        // The value hashed is the text as sent (client's own escapes kept).
        assert_eq!(r.query("token=a%2Fb"), format!("token={}", r.hash("a%2Fb")));
        assert_eq!(
            r.uri("/p/x?token=abc&z=1"),
            format!("/p/x?token={}&z=1", r.hash("abc"))
        );
        assert_eq!(
            r.uri("https://e.com/?token=abc#frag"),
            format!("https://e.com/?token={}#frag", r.hash("abc"))
        );
        assert!(matches!(r.uri("/no/query"), Cow::Borrowed(_)));
        assert_eq!(
            r.query_cow(Cow::Owned("token=abc".into())),
            format!("token={}", r.hash("abc"))
        );
    }

    #[test]
    fn header_values() {
        let r = redactor("header:authorization,cookie-values,query:token", KEY);
        let v = r.header_value("Authorization", Cow::Borrowed("Bearer xyz"));
        assert_eq!(v, r.hash("Bearer xyz"));
        assert_eq!(
            r.header_value("cookie", Cow::Owned("s=1".into())),
            format!("s={}", r.hash("1"))
        );
        assert_eq!(
            r.header_value("referer", Cow::Borrowed("https://a/?token=t")),
            format!("https://a/?token={}", r.hash("t"))
        );
        assert_eq!(r.header_value("user-agent", Cow::Borrowed("UA")), "UA");
        // header:cookie hashes the whole header, names too.
        let whole = redactor("header:cookie,cookie-values", KEY);
        assert_eq!(
            whole.header_value("cookie", Cow::Borrowed("s=1")),
            whole.hash("s=1")
        );
    }

    #[test]
    fn decoded_header_bytes_need_not_be_utf8() {
        let r = redactor("header:x-token,cookie-values", KEY);
        let raw: &[u8] = b"\xff\xfe";
        assert_eq!(
            r.header_value_bytes("X-Token", Cow::Borrowed(raw)),
            r.hash_bytes(raw).as_bytes()
        );
        assert_eq!(
            r.header_value_bytes("cookie", Cow::Borrowed(b"s=\xff; t=1")),
            format!("s={}; t={}", r.hash_bytes(b"\xff"), r.hash("1")).as_bytes()
        );
        let other = r.header_value_bytes("accept", Cow::Borrowed(raw));
        assert!(matches!(other, Cow::Borrowed(b) if b == raw));
    }

    /// The object through the pipeline, as `process --dry-run` runs it.
    fn dry_run(log: &str, redactor: Option<Redactor>) -> Vec<serde_json::Value> {
        use crate::core::object::ObjectId;
        use crate::core::pipeline::{process_object, AllowAll, Flow, PipelineOptions};
        struct Collect(Vec<serde_json::Value>);
        impl crate::core::pipeline::TransactionSink for Collect {
            fn accept(&mut self, encoded: &[u8]) -> Flow {
                self.0.push(serde_json::from_slice(encoded).unwrap());
                Flow::Continue
            }
        }
        let options = PipelineOptions {
            redactor: redactor.map(std::sync::Arc::new),
            ..PipelineOptions::default()
        };
        let mut sink = Collect(Vec::new());
        let object = ObjectId::new("b", "E2EXAMPLE1.2024-01-31-23.a1b2c3d4");
        let done = process_object(
            std::io::Cursor::new(log.as_bytes().to_vec()),
            &object,
            &options,
            &mut AllowAll,
            &mut sink,
        );
        assert!(done.error.is_none());
        sink.0
    }

    /// The transaction as text with each `name:<base64>` header decoded, so
    /// that values can be searched for.
    fn readable(transaction: &serde_json::Value) -> String {
        use base64::Engine as _;
        let mut t = transaction.clone();
        if let Some(headers) = t["request"]["headers"].as_array_mut() {
            for h in headers {
                let (name, b64) = h.as_str().unwrap().split_once(':').unwrap();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                *h = format!("{name}:{}", String::from_utf8_lossy(&bytes)).into();
            }
        }
        t.to_string()
    }

    #[test]
    fn the_mapping_sends_hashes_in_place_of_the_named_values() {
        let log = "#Fields: date time c-ip cs-method cs-uri-stem sc-status cs-uri-query cs(Cookie) cs(Referer) cs(User-Agent)\n\
                   2024-01-31\t23:01:02\t192.0.2.1\tGET\t/api\t200\tpage=2&token=SECRET-TOKEN-1\tsid=SECRET-SESSION;%20theme=dark\thttps://e.com/?token=SECRET-TOKEN-0\tcurl/8\n";
        let r = redactor("cookie-values,query:token", KEY);
        let plain = dry_run(log, None);
        let redacted = dry_run(log, Some(r.clone()));
        assert_eq!(plain.len(), 1);
        assert_eq!(redacted.len(), 1);
        let plain_text = readable(&plain[0]);
        let text = readable(&redacted[0]);
        assert!(plain_text.contains("SECRET-SESSION"), "{plain_text}");
        for secret in ["SECRET-SESSION", "SECRET-TOKEN-1", "SECRET-TOKEN-0", "dark"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        for kept in [
            "page=2&token=h:",
            "sid=h:",
            "theme=h:",
            "curl/8",
            "/api?page=2",
        ] {
            assert!(text.contains(kept), "{kept} missing: {text}");
        }
        assert!(text.contains(&r.hash("SECRET-SESSION")));
        assert!(text.contains(&r.hash("SECRET-TOKEN-1")));
        assert!(text.contains(&format!(
            "https://e.com/?token={}",
            r.hash("SECRET-TOKEN-0")
        )));
    }

    #[test]
    fn redaction_is_part_of_the_batch_fingerprint() {
        use crate::core::checkpoint::batch_fingerprint;
        use crate::core::pipeline::PipelineOptions;
        let plain = PipelineOptions::default();
        let with = |spec: &str| PipelineOptions {
            redactor: Some(std::sync::Arc::new(redactor(spec, KEY))),
            ..PipelineOptions::default()
        };
        assert_ne!(
            batch_fingerprint(&plain),
            batch_fingerprint(&with("cookie-values"))
        );
        assert_ne!(
            batch_fingerprint(&with("cookie-values")),
            batch_fingerprint(&with("query:token"))
        );
        assert_eq!(
            batch_fingerprint(&with("query:token")),
            batch_fingerprint(&with("query:token,"))
        );
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let r = redactor("cookie-values,header:authorization", KEY);
        let debug = format!("{r:?} {:#?}", r);
        assert!(!debug.contains(KEY), "{debug}");
        assert!(!debug.contains(&hex::encode(KEY)), "{debug}");
        assert!(debug.contains("REDACTED"));
        assert!(debug.contains("authorization"));
    }

    proptest! {
        #[test]
        fn query_redaction_keeps_other_pairs_and_order(
            pairs in proptest::collection::vec(("[a-z]{1,4}", "[a-zA-Z0-9%=]{0,6}"), 1..8)
        ) {
            let r = redactor("query:tok", KEY);
            let query = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            let out = r.query(&query);
            let got: Vec<&str> = out.split('&').collect();
            let want: Vec<&str> = query.split('&').collect();
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                let (name, value) = w.split_once('=').unwrap();
                if name == "tok" && !value.is_empty() {
                    prop_assert_eq!(g.to_string(), format!("tok={}", r.hash(value)));
                } else {
                    prop_assert_eq!(g, w);
                }
            }
        }

        #[test]
        fn cookie_redaction_never_leaks_a_value(
            cookies in proptest::collection::vec(("[a-z]{1,5}", "[A-Za-z0-9]{6,12}"), 1..6)
        ) {
            let r = redactor("cookie-values", KEY);
            let header = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            let out = r.cookie(&header);
            for (piece, (name, value)) in out.split("; ").zip(&cookies) {
                let (n, v) = piece.split_once('=').unwrap();
                prop_assert_eq!(n, name.as_str());
                prop_assert!(is_hash(v));
                prop_assert_eq!(v.to_string(), r.hash(value));
            }
        }
    }
}
