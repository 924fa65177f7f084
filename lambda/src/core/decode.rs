//! CloudFront's percent-escaping, undone exactly once (contract §3 "Decoding").
//!
//! CloudFront escapes space, control bytes, non-ASCII and a few punctuation
//! characters; a client's own `%` is logged as `%25`. We undo that one layer
//! with plain percent-decoding: `+` is never a space, a malformed escape is
//! kept as written, and invalid UTF-8 becomes U+FFFD.

use std::borrow::Cow;

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `input` once, to the bytes the client sent (which need not
/// be UTF-8). Borrows when there is nothing to decode.
pub fn percent_decode_bytes(input: &str) -> Cow<'_, [u8]> {
    let bytes = input.as_bytes();
    match memchr::memchr(b'%', bytes) {
        None => Cow::Borrowed(bytes),
        Some(first) => Cow::Owned(decode_raw(bytes, first)),
    }
}

/// Decodes `bytes` whose first `%` is at `first`.
fn decode_raw(bytes: &[u8], first: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    // Everything before the first `%` is copied as it is.
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    // `bytes[i]` is a `%`; the runs between escapes are copied whole.
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).copied().and_then(hex_value);
        match (hex(i + 1), hex(i + 2)) {
            (Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            // A malformed escape is kept as written.
            _ => {
                out.push(b'%');
                i += 1;
            }
        }
        let next = memchr::memchr(b'%', &bytes[i..]).map_or(bytes.len(), |p| i + p);
        out.extend_from_slice(&bytes[i..next]);
        i = next;
    }
    out
}

/// Percent-decodes `input` once, for a JSON string field: bytes that are not
/// UTF-8 become U+FFFD. Borrows when there is nothing to decode.
pub fn percent_decode(input: &str) -> Cow<'_, str> {
    match percent_decode_bytes(input) {
        Cow::Borrowed(_) => Cow::Borrowed(input),
        Cow::Owned(bytes) => Cow::Owned(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
    }
}

/// Decodes a `cs(User-Agent)` value to bytes. Logs from roughly 2013–2020
/// encoded the agent twice (`Mozilla/5.0%2520(...)`): when the once-decoded
/// value has no space but does contain `%20`, it is decoded a second time.
pub fn decode_user_agent_bytes(input: &str) -> Cow<'_, [u8]> {
    let once = percent_decode_bytes(input);
    if matches!(once, Cow::Borrowed(_)) {
        return once; // no `%` at all, so no `%20` either
    }
    if memchr::memchr(b' ', &once).is_none() && memchr::memmem::find(&once, b"%20").is_some() {
        // Decode from the first `%`, which may come before the `%20`.
        let first = memchr::memchr(b'%', &once).unwrap_or(0);
        return Cow::Owned(decode_raw(&once, first));
    }
    once
}

/// [`decode_user_agent_bytes`] for a JSON string (invalid UTF-8 → U+FFFD).
pub fn decode_user_agent(input: &str) -> Cow<'_, str> {
    match decode_user_agent_bytes(input) {
        Cow::Borrowed(_) => Cow::Borrowed(input),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Escapes the bytes CloudFront escapes. The inverse of [`percent_decode`] for
/// any string; used by tests and by the log generator's expectations.
pub fn cloudfront_escape(input: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        let escape = b <= 32
            || b >= 127
            || matches!(
                b,
                b'<' | b'>'
                    | b'"'
                    | b'#'
                    | b'%'
                    | b'{'
                    | b'}'
                    | b'|'
                    | b'\\'
                    | b'^'
                    | b'~'
                    | b'['
                    | b']'
                    | b'`'
                    | b'\''
            );
        if escape {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        } else {
            out.push(b as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decoding_table() {
        let cases = [
            ("plain", "plain"),
            ("a%20b", "a b"),
            ("a+b", "a+b"),                 // + is never a space
            ("%252F", "%2F"),               // a client's %2F, decoded once only
            ("q=%25zz", "q=%zz"),           // decoded once, result kept as is
            ("%zz", "%zz"),                 // malformed escape kept
            ("100%", "100%"),               // trailing % kept
            ("%4", "%4"),                   // short escape kept
            ("%e2%9c%93", "\u{2713}"),      // UTF-8 multi-byte, lower-case hex
            ("%ff%fe", "\u{FFFD}\u{FFFD}"), // invalid UTF-8 replaced
            ("caf%C3%A9%20bar", "caf\u{e9} bar"),
        ];
        for (input, want) in cases {
            assert_eq!(percent_decode(input), want, "input {input:?}");
        }
    }

    #[test]
    fn user_agent_table() {
        let cases = [
            // legacy double encoding
            (
                "Mozilla/5.0%2520(Windows%2520NT%252010.0)",
                "Mozilla/5.0 (Windows NT 10.0)",
            ),
            // modern single encoding
            (
                "Mozilla/5.0%20(X11;%20Linux%20x86_64)",
                "Mozilla/5.0 (X11; Linux x86_64)",
            ),
            // + stays +
            ("curl/8.0+extra", "curl/8.0+extra"),
            // a once-decoded agent with a space keeps a literal %20 the client sent
            ("a%20b%2520c", "a b%20c"),
            ("-", "-"),
        ];
        for (input, want) in cases {
            assert_eq!(decode_user_agent(input), want, "input {input:?}");
        }
    }

    #[test]
    fn borrows_when_nothing_to_decode() {
        assert!(matches!(percent_decode("/index.html"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn escape_then_decode_round_trips(s in "\\PC*") {
            let escaped = cloudfront_escape(&s);
            prop_assert_eq!(percent_decode(&escaped), s);
        }

        #[test]
        fn escape_output_is_safe_ascii(s in "\\PC*") {
            let escaped = cloudfront_escape(&s);
            prop_assert!(escaped.bytes().all(|b| (33..127).contains(&b)));
            prop_assert!(!escaped.contains('\t'));
        }

        #[test]
        fn decode_never_panics(s in ".*") {
            let _ = percent_decode(&s);
            let _ = decode_user_agent(&s);
        }
    }
}
