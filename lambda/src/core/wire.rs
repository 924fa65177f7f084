//! The wire format, and nothing else: how a [`Transaction`] and a batch body
//! look on the wire (contract v2, Cequence's "UAP Edge" format). Every key
//! name, the nesting, the `{"data":[...]}` envelope, header strings
//! (`"name:<base64>"`), the epoch timestamp with three decimals, the status
//! code string and `source_info` live here, so that the next change of format
//! is a change of this one file. The machine-readable description is
//! `docs/schema/transaction.v2.json` and `docs/schema/batch.v2.json`.
//!
//! The encoder writes JSON straight into a caller's byte buffer (it appends;
//! it never clears), with no allocation of its own per transaction beyond a
//! scratch buffer it reuses. That is what lets the batcher, later, hand it the
//! batch body itself. It is the hottest code of the forwarder (issue 14):
//! strings are copied whole up to the next byte JSON must escape, numbers go
//! through `itoa`, headers through the `base64` engine into the same buffer.
//! `reference::the_fast_encoder_matches_a_serde_json_reference` keeps it equal to
//! a plain `serde_json` rendering of the same transaction.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::transaction::Transaction;

/// What a batch body starts with.
pub const ENVELOPE_OPEN: &[u8] = b"{\"data\":[";
/// What separates two transactions in a batch body.
pub const SEPARATOR: &[u8] = b",";
/// What a batch body ends with.
pub const ENVELOPE_CLOSE: &[u8] = b"]}";

/// `version` of every transaction.
pub const TRANSACTION_VERSION: &str = "1.0";
/// `txn-meta-data.source_info.type`.
pub const SOURCE_TYPE: &str = "cloudfront";
/// `source_info.instance_id` outside Lambda.
pub const CLI_INSTANCE_ID: &str = "cf-passive-cli";
/// `request.connection.server-ip` when neither the log nor the settings give one.
pub const DEFAULT_SERVER_IP: &str = "0.0.0.0";

/// Settings that shape every transaction of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireOptions {
    /// `cequence_server_ip`: `server-ip` for logs without `s-ip`.
    pub server_ip: String,
    /// `source_info.instance_id`: the Lambda function name, or [`CLI_INSTANCE_ID`].
    pub instance_id: String,
}

impl Default for WireOptions {
    fn default() -> Self {
        WireOptions {
            server_ip: DEFAULT_SERVER_IP.to_string(),
            instance_id: CLI_INSTANCE_ID.to_string(),
        }
    }
}

/// Writes transactions in the v2 wire format.
#[derive(Debug, Clone)]
pub struct Encoder {
    options: WireOptions,
    /// Reused for values that must be assembled before base64 (`content-range`).
    scratch: Vec<u8>,
    /// The parts that are the same in every transaction, written once here:
    /// `"server-ip"`'s default as a JSON string, and the `txn-meta-data`
    /// around `pool_id` (before it, and from `instance_id` to `distribution-id`).
    default_server_ip: Vec<u8>,
    meta_open: Vec<u8>,
    meta_middle: Vec<u8>,
    /// The last distribution id and log object, and their JSON strings:
    /// they rarely change from one transaction to the next.
    distribution: Escaped,
    log_object: Escaped,
}

/// A value and its JSON string, kept while the value repeats.
#[derive(Debug, Clone, Default)]
struct Escaped {
    text: String,
    json: Vec<u8>,
}

impl Escaped {
    fn write(&mut self, out: &mut Vec<u8>, text: &str) {
        if self.text != text || self.json.is_empty() {
            self.text.clear();
            self.text.push_str(text);
            self.json.clear();
            json_text(&mut self.json, text);
        }
        out.extend_from_slice(&self.json);
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new(WireOptions::default())
    }
}

impl Encoder {
    pub fn new(options: WireOptions) -> Encoder {
        let mut default_server_ip = Vec::new();
        json_text(&mut default_server_ip, &options.server_ip);
        let mut meta_open = b",\"txn-meta-data\":{\"source_info\":{\"version\":".to_vec();
        json_text(&mut meta_open, crate::VERSION);
        meta_open.extend_from_slice(b",\"type\":");
        json_text(&mut meta_open, SOURCE_TYPE);
        meta_open.extend_from_slice(b",\"pool_id\":");
        let mut meta_middle = b",\"instance_id\":".to_vec();
        json_text(&mut meta_middle, &options.instance_id);
        meta_middle.extend_from_slice(b"},\"cloudfront\":{\"distribution-id\":");
        Encoder {
            options,
            scratch: Vec::with_capacity(64),
            default_server_ip,
            meta_open,
            meta_middle,
            distribution: Escaped::default(),
            log_object: Escaped::default(),
        }
    }

    pub fn options(&self) -> &WireOptions {
        &self.options
    }

    /// Appends `tx` as one JSON object (no trailing newline) to `out`.
    pub fn write_transaction(&mut self, out: &mut Vec<u8>, tx: &Transaction<'_>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        write_epoch_ms(out, tx.epoch_ms);
        out.extend_from_slice(b"\",\"version\":");
        json_text(out, TRANSACTION_VERSION);
        if let Some(id) = tx.transaction_id {
            out.extend_from_slice(b",\"transaction-id\":");
            json_text(out, id);
        }

        out.extend_from_slice(b",\"request\":{\"client-ip\":");
        json_text(out, tx.client_ip);
        opt_str(out, "http-scheme", tx.scheme);
        opt_str(out, "http-version", tx.http_version);
        out.extend_from_slice(b",\"http-method\":");
        json_text(out, tx.method);
        out.extend_from_slice(b",\"uri-query-fragment\":\"");
        escape_into(out, tx.path.as_bytes());
        if let Some(query) = &tx.query {
            out.push(b'?');
            escape_into(out, query.as_bytes());
        }
        out.push(b'"');
        if let Some(host) = &tx.request_headers.host {
            out.extend_from_slice(b",\"host\":");
            json_str(out, host);
        }
        out.extend_from_slice(b",\"connection\":{\"connection-ip\":");
        json_text(out, tx.client_ip);
        if let Some(port) = tx.client_port {
            out.extend_from_slice(b",\"connection-port\":");
            write_int(out, port);
        }
        out.extend_from_slice(b",\"server-ip\":");
        match tx.server_ip {
            Some(ip) => json_text(out, ip),
            None => out.extend_from_slice(&self.default_server_ip),
        }
        if let Some(port) = tx.server_port() {
            out.extend_from_slice(b",\"server-port\":");
            write_int(out, port);
        }
        out.push(b'}');
        let h = &tx.request_headers;
        let mut headers = Headers::new(out);
        headers.add("host", h.host.as_deref());
        headers.add("user-agent", h.user_agent.as_deref());
        headers.add("referer", h.referer.as_deref());
        headers.add("cookie", h.cookie.as_deref());
        headers.add("x-forwarded-for", h.x_forwarded_for.as_deref());
        headers.add("accept", h.accept.as_deref());
        headers.add("accept-encoding", h.accept_encoding.as_deref());
        for extra in &h.extra {
            headers.add(&extra.name, Some(&extra.value));
        }
        headers.finish();
        out.push(b'}');

        out.extend_from_slice(b",\"response\":{\"status-code\":");
        json_text(out, tx.status);
        let h = &tx.response_headers;
        let scratch = &mut self.scratch;
        let mut headers = Headers::new(out);
        headers.add("content-type", h.content_type.as_deref());
        if let Some(length) = h.content_length {
            headers.add(
                "content-length",
                Some(itoa::Buffer::new().format(length).as_bytes()),
            );
        }
        if let Some((start, end)) = h.range {
            scratch.clear();
            scratch.extend_from_slice(b"bytes ");
            write_int(scratch, start);
            scratch.push(b'-');
            write_int(scratch, end);
            scratch.extend_from_slice(b"/*");
            headers.add("content-range", Some(scratch.as_slice()));
        }
        headers.finish();
        out.push(b'}');

        out.extend_from_slice(&self.meta_open);
        self.distribution.write(out, tx.distribution_id);
        out.extend_from_slice(&self.meta_middle);
        self.distribution.write(out, tx.distribution_id);
        out.extend_from_slice(b",\"log-object\":");
        self.log_object.write(out, tx.log_object);
        opt_str(out, "edge-location", tx.edge_location);
        opt_str(out, "edge-result-type", tx.edge_result_type);
        opt_str(
            out,
            "edge-response-result-type",
            tx.edge_response_result_type,
        );
        opt_str(
            out,
            "edge-detailed-result-type",
            tx.edge_detailed_result_type,
        );
        opt_float(out, "time-taken-ms", tx.time_taken_ms);
        opt_float(out, "time-to-first-byte-ms", tx.time_to_first_byte_ms);
        opt_str(out, "ssl-protocol", tx.ssl_protocol);
        opt_str(out, "ssl-cipher", tx.ssl_cipher);
        opt_int(out, "request-bytes", tx.request_bytes);
        opt_int(out, "response-bytes", tx.response_bytes);
        opt_str(out, "country", tx.country);
        opt_int(out, "asn", tx.asn);
        out.extend_from_slice(b"}}}");
    }
}

/// Unix epoch milliseconds as `"<seconds>.<three digits>"` (without quotes).
/// Negative values do not occur: the mapping rejects them.
pub fn write_epoch_ms(out: &mut Vec<u8>, epoch_ms: i64) {
    let ms = epoch_ms.max(0);
    write_int(out, ms / 1000);
    let millis = (ms % 1000) as u16; // 0..=999
    out.extend_from_slice(&[
        b'.',
        b'0' + (millis / 100) as u8,
        b'0' + (millis / 10 % 10) as u8,
        b'0' + (millis % 10) as u8,
    ]);
}

/// An integer in decimal, as `Display` writes it.
fn write_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A `"headers":[...]` array, written only when it has an entry.
struct Headers<'o> {
    out: &'o mut Vec<u8>,
    count: usize,
}

impl<'o> Headers<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        Headers { out, count: 0 }
    }

    /// `"<name>:<base64 of value>"`; `name` is a lowercase HTTP token (no escaping needed).
    fn add(&mut self, name: &str, value: Option<&[u8]>) {
        let Some(value) = value else { return };
        self.out.extend_from_slice(if self.count == 0 {
            b",\"headers\":[\""
        } else {
            b",\""
        });
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b':');
        let start = self.out.len();
        self.out.resize(
            start + base64::encoded_len(value.len(), true).unwrap_or(0),
            0,
        );
        let written = BASE64
            .encode_slice(value, &mut self.out[start..])
            .unwrap_or(0);
        self.out.truncate(start + written);
        self.out.push(b'"');
        self.count += 1;
    }

    fn finish(self) {
        if self.count > 0 {
            self.out.push(b']');
        }
    }
}

fn opt_str(out: &mut Vec<u8>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        key_prefix(out, key);
        json_text(out, value);
    }
}

fn opt_int(out: &mut Vec<u8>, key: &str, value: Option<u64>) {
    if let Some(value) = value {
        key_prefix(out, key);
        write_int(out, value);
    }
}

/// A JSON number with a fraction (`2.0`, `0.5`); non-finite values are omitted
/// (JSON has no NaN or infinity, and the contract never sends `null`).
fn opt_float(out: &mut Vec<u8>, key: &str, value: Option<f64>) {
    if let Some(value) = value.filter(|v| v.is_finite()) {
        key_prefix(out, key);
        write_float(out, value);
    }
}

/// Below this, a whole `f64` is written by `serde_json` as its digits and
/// `.0` (`2.0`, `1234.0`); from about 1e16 on it uses an exponent.
const WHOLE_FLOAT_LIMIT: f64 = 1e15;

/// A finite `f64` exactly as `serde_json` writes it. Logged durations are
/// whole milliseconds (CloudFront logs seconds with three decimals), which
/// take the `itoa` path; anything else goes through `serde_json` itself.
fn write_float(out: &mut Vec<u8>, value: f64) {
    if value.fract() == 0.0 && value.is_sign_positive() && (0.0..WHOLE_FLOAT_LIMIT).contains(&value)
    {
        // Whole and below 1e15: the conversion is exact.
        write_int(out, value as u64);
        out.extend_from_slice(b".0");
    } else {
        let _ = serde_json::to_writer(&mut *out, &value);
    }
}

fn key_prefix(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A JSON string of `bytes`: escaped, and with U+FFFD for bytes that are not UTF-8.
pub fn json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    json_str_contents(out, bytes);
    out.push(b'"');
}

/// A JSON string of `text`, which is UTF-8 already.
pub fn json_text(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    escape_into(out, text.as_bytes());
    out.push(b'"');
}

/// The inside of a JSON string (no quotes), as [`json_str`].
pub fn json_str_contents(out: &mut Vec<u8>, bytes: &[u8]) {
    // Checking the whole value first is much faster than chunking valid text.
    if std::str::from_utf8(bytes).is_ok() {
        escape_into(out, bytes);
        return;
    }
    for chunk in bytes.utf8_chunks() {
        escape_into(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// Escapes valid UTF-8 for a JSON string (RFC 8259 §7): `"`, `\` and control
/// characters; everything else is copied as is, a run at a time.
fn escape_into(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = text;
    while let Some(i) = first_to_escape(rest) {
        out.extend_from_slice(&rest[..i]);
        let b = rest[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// Whether JSON needs `b` escaped inside a string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The position of the first byte JSON must escape. Eight bytes are tested
/// at a time (a word-wide "has a byte below 0x20 / equal to" test, exact as a
/// yes or no), since almost every value has nothing to escape.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut skipped = 0;
    for word in bytes.chunks_exact(8) {
        let mut array = [0u8; 8];
        array.copy_from_slice(word);
        let x = u64::from_ne_bytes(array);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
        if below_space
            || has_zero_byte(x ^ (ONES * u64::from(b'"')))
            || has_zero_byte(x ^ (ONES * u64::from(b'\\')))
        {
            break;
        }
        skipped += 8;
    }
    bytes[skipped..]
        .iter()
        .position(|&b| needs_escape(b))
        .map(|i| skipped + i)
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        json_str(&mut out, bytes);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_would() {
        for s in [
            "plain",
            "quote \" and \\ backslash",
            "tab\tnewline\ncr\r",
            "\u{0}\u{1f}\u{7f}",
            "caf\u{e9} \u{2713}",
            "\u{8}\u{c}",
        ] {
            assert_eq!(escaped(s.as_bytes()), serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(escaped(b"a\xffb\xc3"), "\"a\u{FFFD}b\u{FFFD}\"");
    }

    #[test]
    fn epoch_milliseconds_have_three_decimals() {
        for (ms, want) in [
            (0, "0.000"),
            (1, "0.001"),
            (1_575_493_351_000, "1575493351.000"),
            (1_575_493_351_123, "1575493351.123"),
            (1_575_493_351_050, "1575493351.050"),
        ] {
            let mut out = Vec::new();
            write_epoch_ms(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_make_a_valid_json_string(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let text = escaped(&bytes);
            let back: String = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(back, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
}
