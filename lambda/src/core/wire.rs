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
//! batch body itself.

use std::io::Write as _;

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
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    options: WireOptions,
    /// Reused for values that must be assembled before base64 (`content-range`).
    scratch: Vec<u8>,
}

impl Encoder {
    pub fn new(options: WireOptions) -> Encoder {
        Encoder {
            options,
            scratch: Vec::with_capacity(64),
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
        json_str(out, TRANSACTION_VERSION.as_bytes());
        if let Some(id) = tx.transaction_id {
            out.extend_from_slice(b",\"transaction-id\":");
            json_str(out, id.as_bytes());
        }

        out.extend_from_slice(b",\"request\":{\"client-ip\":");
        json_str(out, tx.client_ip.as_bytes());
        opt_str(out, "http-scheme", tx.scheme);
        opt_str(out, "http-version", tx.http_version);
        out.extend_from_slice(b",\"http-method\":");
        json_str(out, tx.method.as_bytes());
        out.extend_from_slice(b",\"uri-query-fragment\":\"");
        json_str_contents(out, tx.path.as_bytes());
        if let Some(query) = &tx.query {
            out.push(b'?');
            json_str_contents(out, query.as_bytes());
        }
        out.push(b'"');
        if let Some(host) = &tx.request_headers.host {
            out.extend_from_slice(b",\"host\":");
            json_str(out, host);
        }
        out.extend_from_slice(b",\"connection\":{\"connection-ip\":");
        json_str(out, tx.client_ip.as_bytes());
        if let Some(port) = tx.client_port {
            let _ = write!(out, ",\"connection-port\":{port}");
        }
        out.extend_from_slice(b",\"server-ip\":");
        json_str(
            out,
            tx.server_ip.unwrap_or(&self.options.server_ip).as_bytes(),
        );
        if let Some(port) = tx.server_port() {
            let _ = write!(out, ",\"server-port\":{port}");
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
        json_str(out, tx.status.as_bytes());
        let h = &tx.response_headers;
        let scratch = &mut self.scratch;
        let mut headers = Headers::new(out);
        headers.add("content-type", h.content_type.as_deref());
        if let Some(length) = h.content_length {
            scratch.clear();
            let _ = write!(scratch, "{length}");
            headers.add("content-length", Some(scratch.as_slice()));
        }
        if let Some((start, end)) = h.range {
            scratch.clear();
            let _ = write!(scratch, "bytes {start}-{end}/*");
            headers.add("content-range", Some(scratch.as_slice()));
        }
        headers.finish();
        out.push(b'}');

        out.extend_from_slice(b",\"txn-meta-data\":{\"source_info\":{\"version\":");
        json_str(out, crate::VERSION.as_bytes());
        out.extend_from_slice(b",\"type\":");
        json_str(out, SOURCE_TYPE.as_bytes());
        out.extend_from_slice(b",\"pool_id\":");
        json_str(out, tx.distribution_id.as_bytes());
        out.extend_from_slice(b",\"instance_id\":");
        json_str(out, self.options.instance_id.as_bytes());
        out.extend_from_slice(b"},\"cloudfront\":{\"distribution-id\":");
        json_str(out, tx.distribution_id.as_bytes());
        out.extend_from_slice(b",\"log-object\":");
        json_str(out, tx.log_object.as_bytes());
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
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
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
        json_str(out, value.as_bytes());
    }
}

fn opt_int(out: &mut Vec<u8>, key: &str, value: Option<u64>) {
    if let Some(value) = value {
        key_prefix(out, key);
        let _ = write!(out, "{value}");
    }
}

/// A JSON number with a fraction (`2.0`, `0.5`); non-finite values are omitted
/// (JSON has no NaN or infinity, and the contract never sends `null`).
fn opt_float(out: &mut Vec<u8>, key: &str, value: Option<f64>) {
    if let Some(value) = value.filter(|v| v.is_finite()) {
        key_prefix(out, key);
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

/// The inside of a JSON string (no quotes), as [`json_str`].
pub fn json_str_contents(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        escape_into(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// Escapes valid UTF-8 for a JSON string (RFC 8259 §7): `"`, `\` and control
/// characters; everything else is copied as is.
fn escape_into(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&text[start..i]);
        if escaped.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escaped);
        }
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

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
