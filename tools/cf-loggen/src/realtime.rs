//! CloudFront real-time log lines, as CloudFront puts them on a Kinesis data
//! stream: one line per request, tab-separated values in the order of the
//! configured fields, no header, `-` for an absent value.
//!
//! A real-time generator describes the same requests as a standard-log
//! generator with the same seed (the shared fields are equal line by line);
//! what only real-time logs carry (`cs-headers` with every request header,
//! `cs-accept`, ...) is drawn from a second random stream, so adding it
//! changes nothing in the standard formats.

use std::io::{self, Write};

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::pools::pick;
use crate::text::{cf_escape, push_base64ish, push_fixed3};
use crate::{Field, Format, Generator, Options};

/// CloudFront truncates `cs-headers` and `cs-header-names` to this many bytes.
pub const HEADERS_LIMIT: usize = 800;

/// Every real-time log field, in the order CloudFront writes a record's values.
pub const REALTIME_FIELDS: &[&str] = &[
    "timestamp",
    "c-ip",
    "s-ip",
    "time-to-first-byte",
    "sc-status",
    "sc-bytes",
    "cs-method",
    "cs-protocol",
    "cs-host",
    "cs-uri-stem",
    "cs-bytes",
    "x-edge-location",
    "x-edge-request-id",
    "x-host-header",
    "time-taken",
    "cs-protocol-version",
    "c-ip-version",
    "cs-user-agent",
    "cs-referer",
    "cs-cookie",
    "cs-uri-query",
    "x-edge-response-result-type",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-result-type",
    "fle-encrypted-fields",
    "fle-status",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
    "c-port",
    "x-edge-detailed-result-type",
    "c-country",
    "cs-accept-encoding",
    "cs-accept",
    "cache-behavior-path-pattern",
    "cs-headers",
    "cs-header-names",
    "cs-headers-count",
    "primary-distribution-id",
    "primary-distribution-dns-name",
    "origin-fbl",
    "origin-lbl",
    "asn",
    "cmcd-encoded-bitrate",
    "cmcd-buffer-length",
    "cmcd-buffer-starvation",
    "cmcd-content-id",
    "cmcd-object-duration",
    "cmcd-deadline",
    "cmcd-measured-throughput",
    "cmcd-next-object-request",
    "cmcd-next-range-request",
    "cmcd-object-type",
    "cmcd-playback-rate",
    "cmcd-requested-maximum-throughput",
    "cmcd-streaming-format",
    "cmcd-session-id",
    "cmcd-stream-type",
    "cmcd-startup",
    "cmcd-top-bitrate",
    "cmcd-version",
    "r-host",
    "sr-reason",
    "x-edge-mqcs",
    "distribution-tenant-id",
    "connection-id",
];

/// The fields the Terraform configures by default (terraform/variables_realtime.tf).
pub const DEFAULT_REALTIME_FIELDS: &[&str] = &[
    "timestamp",
    "c-ip",
    "time-to-first-byte",
    "sc-status",
    "sc-bytes",
    "cs-method",
    "cs-protocol",
    "cs-host",
    "cs-uri-stem",
    "cs-bytes",
    "x-edge-location",
    "x-edge-request-id",
    "x-host-header",
    "time-taken",
    "cs-protocol-version",
    "cs-user-agent",
    "cs-referer",
    "cs-cookie",
    "cs-uri-query",
    "x-edge-response-result-type",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
    "c-port",
    "x-edge-detailed-result-type",
    "c-country",
    "cs-accept-encoding",
    "cs-accept",
    "cs-headers",
    "cs-headers-count",
    "primary-distribution-id",
    "asn",
];

/// Where a real-time value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The same value as the standard-log field.
    Standard(Field),
    Timestamp,
    IpVersion,
    Accept,
    AcceptEncoding,
    Headers,
    HeaderNames,
    HeadersCount,
    DistributionId,
    DistributionDomain,
    /// A field this generator does not fill: always `-`.
    Absent,
}

fn source(name: &str) -> Source {
    use Field as F;
    match name {
        "timestamp" => Source::Timestamp,
        "c-ip" => Source::Standard(F::CIp),
        "time-to-first-byte" => Source::Standard(F::TimeToFirstByte),
        "sc-status" => Source::Standard(F::ScStatus),
        "sc-bytes" => Source::Standard(F::ScBytes),
        "cs-method" => Source::Standard(F::CsMethod),
        "cs-protocol" => Source::Standard(F::CsProtocol),
        "cs-host" => Source::Standard(F::CsHost),
        "cs-uri-stem" => Source::Standard(F::CsUriStem),
        "cs-bytes" => Source::Standard(F::CsBytes),
        "x-edge-location" => Source::Standard(F::EdgeLocation),
        "x-edge-request-id" => Source::Standard(F::EdgeRequestId),
        "x-host-header" => Source::Standard(F::HostHeader),
        "time-taken" => Source::Standard(F::TimeTaken),
        "cs-protocol-version" => Source::Standard(F::CsProtocolVersion),
        "c-ip-version" => Source::IpVersion,
        "cs-user-agent" => Source::Standard(F::CsUserAgent),
        "cs-referer" => Source::Standard(F::CsReferer),
        "cs-cookie" => Source::Standard(F::CsCookie),
        "cs-uri-query" => Source::Standard(F::CsUriQuery),
        "x-edge-response-result-type" => Source::Standard(F::EdgeResponseResultType),
        "x-forwarded-for" => Source::Standard(F::XForwardedFor),
        "ssl-protocol" => Source::Standard(F::SslProtocol),
        "ssl-cipher" => Source::Standard(F::SslCipher),
        "x-edge-result-type" => Source::Standard(F::EdgeResultType),
        "fle-encrypted-fields" => Source::Standard(F::FleEncryptedFields),
        "fle-status" => Source::Standard(F::FleStatus),
        "sc-content-type" => Source::Standard(F::ScContentType),
        "sc-content-len" => Source::Standard(F::ScContentLen),
        "sc-range-start" => Source::Standard(F::ScRangeStart),
        "sc-range-end" => Source::Standard(F::ScRangeEnd),
        "c-port" => Source::Standard(F::CPort),
        "x-edge-detailed-result-type" => Source::Standard(F::EdgeDetailedResultType),
        "c-country" => Source::Standard(F::CCountry),
        "cs-accept-encoding" => Source::AcceptEncoding,
        "cs-accept" => Source::Accept,
        "cache-behavior-path-pattern" => Source::Standard(F::CacheBehaviorPathPattern),
        "cs-headers" => Source::Headers,
        "cs-header-names" => Source::HeaderNames,
        "cs-headers-count" => Source::HeadersCount,
        "primary-distribution-id" => Source::DistributionId,
        "primary-distribution-dns-name" => Source::DistributionDomain,
        "origin-fbl" => Source::Standard(F::OriginFbl),
        "origin-lbl" => Source::Standard(F::OriginLbl),
        "asn" => Source::Standard(F::Asn),
        _ => Source::Absent,
    }
}

/// Parses a comma-separated field list; an unknown name is an error naming it.
pub fn parse_realtime_fields(spec: &str) -> Result<Vec<&'static str>, String> {
    let mut fields = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let known = REALTIME_FIELDS
            .iter()
            .find(|k| **k == name)
            .ok_or_else(|| format!("unknown real-time log field {name:?}"))?;
        fields.push(*known);
    }
    if fields.is_empty() {
        return Err("no real-time log fields given".to_owned());
    }
    Ok(fields)
}

/// Undoes CloudFront's escaping once (the pools hold logged values).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A logged user agent as the viewer sent it (old logs escaped it twice).
fn raw_user_agent(logged: &str) -> String {
    let once = unescape(logged);
    if !once.contains(' ') && once.contains("%20") {
        unescape(&once)
    } else {
        once
    }
}

const ACCEPT_API: &[(&str, u32)] = &[
    ("application/json", 50),
    ("*/*", 30),
    ("application/json, text/plain, */*", 20),
];
const ACCEPT_HTML: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
const ACCEPT_IMAGE: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
const ACCEPT_ENCODING: &[(&str, u32)] = &[
    ("gzip, deflate, br, zstd", 40),
    ("gzip, deflate, br", 35),
    ("gzip", 15),
    ("identity", 3),
    ("-", 7),
];
const ACCEPT_LANGUAGE: &[(&str, u32)] = &[
    ("en-US,en;q=0.9", 50),
    ("de-DE,de;q=0.9,en;q=0.8", 15),
    ("fr-FR,fr;q=0.9", 10),
    ("ja,en-US;q=0.9,en;q=0.8", 10),
    ("-", 15),
];

/// Streams real-time log lines. See the module documentation.
pub struct RealtimeGenerator {
    inner: Generator,
    extra: ChaCha8Rng,
    fields: Vec<Source>,
    /// The current record's request headers, as the viewer sent them.
    headers: Vec<(String, String)>,
    accept: String,
    accept_encoding: String,
}

impl RealtimeGenerator {
    /// A generator of lines with `fields` (names from [`REALTIME_FIELDS`]).
    pub fn new(seed: u64, opts: Options, fields: &[&str]) -> Result<RealtimeGenerator, String> {
        let fields = fields
            .iter()
            .map(|name| {
                REALTIME_FIELDS
                    .contains(name)
                    .then(|| source(name))
                    .ok_or_else(|| format!("unknown real-time log field {name:?}"))
            })
            .collect::<Result<Vec<Source>, String>>()?;
        Ok(RealtimeGenerator {
            inner: Generator::new(seed, Format::W3c, opts),
            extra: ChaCha8Rng::seed_from_u64(seed ^ 0x7265_616c_7469_6d65),
            fields,
            headers: Vec::with_capacity(16),
            accept: String::new(),
            accept_encoding: String::new(),
        })
    }

    /// Records generated so far.
    pub fn records(&self) -> u64 {
        self.inner.records()
    }

    /// The request headers of the last record, complete and unescaped, in
    /// the order `cs-headers` lists them (before CloudFront's truncation).
    pub fn last_headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Appends the next record, one line ending in `\n`, to `buf`.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) {
        self.inner.fill();
        self.draw_headers();
        for (i, source) in self.fields.iter().enumerate() {
            if i > 0 {
                buf.push(b'\t');
            }
            self.push_value(*source, buf);
        }
        buf.push(b'\n');
    }

    /// Writes `n` lines; returns the bytes written.
    pub fn write_records(&mut self, w: &mut impl Write, n: u64) -> io::Result<u64> {
        crate::write_lines(w, n, |buf| self.next_line(buf))
    }

    /// Writes lines until at least `target` bytes are written; returns `(records, bytes)`.
    pub fn write_until(&mut self, w: &mut impl Write, target: u64) -> io::Result<(u64, u64)> {
        crate::write_lines_until(w, target, |buf| self.next_line(buf))
    }

    fn standard(&self, field: Field) -> &str {
        std::str::from_utf8(self.inner.sink.get(field)).unwrap_or("-")
    }

    /// The viewer's request headers for the current record.
    fn draw_headers(&mut self) {
        let rng = &mut self.extra;
        let get = |f: Field| std::str::from_utf8(self.inner.sink.get(f)).unwrap_or("-");
        let method = get(Field::CsMethod);
        let content_type = get(Field::ScContentType);
        let stem = get(Field::CsUriStem);
        let api = stem.starts_with("/api/") || stem == "/graphql";
        let ua = get(Field::CsUserAgent);
        let browser = ua.starts_with("Mozilla");
        // HTTP/2 and HTTP/3 send lower-case names; HTTP/1.x as the client wrote them.
        let lower = matches!(get(Field::CsProtocolVersion), "HTTP/2.0" | "HTTP/3.0");

        self.accept = if api {
            pick(rng, ACCEPT_API).to_owned()
        } else if content_type.starts_with("text/html") {
            ACCEPT_HTML.to_owned()
        } else if content_type.starts_with("image/") {
            ACCEPT_IMAGE.to_owned()
        } else if content_type == "text/css" {
            "text/css,*/*;q=0.1".to_owned()
        } else {
            "*/*".to_owned()
        };
        self.accept_encoding = pick(rng, ACCEPT_ENCODING).to_owned();

        let headers = &mut self.headers;
        headers.clear();
        let mut add = |name: &str, value: String| {
            let name = if lower {
                name.to_ascii_lowercase()
            } else {
                name.to_owned()
            };
            headers.push((name, value));
        };
        add("Host", get(Field::HostHeader).to_owned());
        if ua != "-" {
            add("User-Agent", raw_user_agent(ua));
        }
        add("Accept", self.accept.clone());
        if self.accept_encoding != "-" {
            add("Accept-Encoding", self.accept_encoding.clone());
        }
        let language = pick(rng, ACCEPT_LANGUAGE);
        if browser && language != "-" {
            add("Accept-Language", language.to_owned());
        }
        for (name, field) in [("Referer", Field::CsReferer), ("Cookie", Field::CsCookie)] {
            let value = get(field);
            if value != "-" {
                add(name, unescape(value));
            }
        }
        if api && rng.gen_bool(0.5) {
            // A JWT-sized bearer token; the long ones push cs-headers past 800 bytes.
            let len = if rng.gen_bool(0.3) {
                rng.gen_range(500..900)
            } else {
                rng.gen_range(120..260)
            };
            let mut token = b"Bearer eyJhbGciOiJSUzI1NiJ9.".to_vec();
            push_base64ish(&mut token, rng, len);
            add(
                "Authorization",
                String::from_utf8(token).unwrap_or_default(),
            );
        } else if api && rng.gen_bool(0.2) {
            let mut key = Vec::new();
            push_base64ish(&mut key, rng, 40);
            add("X-Api-Key", String::from_utf8(key).unwrap_or_default());
        }
        if matches!(method, "POST" | "PUT") {
            add("Content-Type", "application/json".to_owned());
        }
        if api && browser && rng.gen_bool(0.4) {
            add("Origin", "https://www.example.com".to_owned());
        }
        let xff = get(Field::XForwardedFor);
        if xff != "-" {
            add("X-Forwarded-For", unescape(xff));
        }
        if browser {
            let mode = if api { "cors" } else { "navigate" };
            add("Sec-Fetch-Mode", mode.to_owned());
            add("Sec-Fetch-Site", "same-origin".to_owned());
        }
        if rng.gen_bool(0.2) {
            let mut id = Vec::new();
            push_base64ish(&mut id, rng, 22);
            add("X-Request-Id", String::from_utf8(id).unwrap_or_default());
        }
        if rng.gen_bool(0.1) {
            add("Cache-Control", "no-cache".to_owned());
        }
    }

    fn push_value(&self, source: Source, out: &mut Vec<u8>) {
        match source {
            Source::Standard(field) => out.extend_from_slice(self.inner.sink.get(field)),
            Source::Timestamp => {
                let millis: u64 = self.standard(Field::TimestampMs).parse().unwrap_or(0);
                push_fixed3(out, millis);
            }
            Source::IpVersion => {
                let v6 = self.standard(Field::CIp).contains(':');
                out.extend_from_slice(if v6 { b"IPv6" } else { b"IPv4" });
            }
            Source::Accept => out.extend_from_slice(cf_escape(&self.accept).as_bytes()),
            Source::AcceptEncoding => {
                let value = &self.accept_encoding;
                if value == "-" {
                    out.push(b'-');
                } else {
                    out.extend_from_slice(cf_escape(value).as_bytes());
                }
            }
            Source::Headers => {
                let block: String = self
                    .headers
                    .iter()
                    .map(|(name, value)| format!("{name}:{value}\n"))
                    .collect();
                push_truncated(out, &cf_escape(&block));
            }
            Source::HeaderNames => {
                let block: String = self
                    .headers
                    .iter()
                    .map(|(name, _)| format!("{name}\n"))
                    .collect();
                push_truncated(out, &cf_escape(&block));
            }
            Source::HeadersCount => {
                out.extend_from_slice(self.headers.len().to_string().as_bytes())
            }
            Source::DistributionId => {
                out.extend_from_slice(self.inner.opts.distribution_id.as_bytes());
            }
            Source::DistributionDomain => out.extend_from_slice(self.inner.sink.get(Field::CsHost)),
            Source::Absent => out.push(b'-'),
        }
    }
}

/// Where generated Kinesis records claim to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisSource {
    /// `arn:aws:kinesis:<region>:<account>:stream/<name>`
    pub stream_arn: String,
    pub shard_id: String,
}

impl Default for KinesisSource {
    fn default() -> Self {
        KinesisSource {
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/cf-passive-realtime"
                .to_owned(),
            shard_id: "shardId-000000000000".to_owned(),
        }
    }
}

/// The sequence number of the `n`th generated record: 56 digits like AWS's,
/// increasing with `n` (a fixed prefix and a zero-padded counter).
pub fn sequence_number(n: u64) -> String {
    format!("4959033827149025660855969253836157109592157598{n:010}")
}

impl RealtimeGenerator {
    /// Writes `n` lines as the Lambda event of a Kinesis event source mapping
    /// (`{"Records": [...]}`, data base64-encoded, sequence numbers from
    /// [`sequence_number`]); returns the bytes written.
    pub fn write_kinesis_event(
        &mut self,
        w: &mut impl Write,
        n: u64,
        source: &KinesisSource,
    ) -> io::Result<u64> {
        let region = source.stream_arn.split(':').nth(3).unwrap_or("us-east-1");
        let mut written = 0u64;
        let mut put = |w: &mut dyn Write, bytes: &[u8]| -> io::Result<()> {
            written += bytes.len() as u64;
            w.write_all(bytes)
        };
        put(w, b"{\"Records\":[")?;
        let mut line = Vec::with_capacity(2048);
        for i in 0..n {
            line.clear();
            self.next_line(&mut line);
            let sequence = sequence_number(self.records());
            let millis: u64 = self.standard(Field::TimestampMs).parse().unwrap_or(0);
            // Kinesis accepts a record a few milliseconds after the request ends.
            let arrival = millis + 40 + i % 200;
            let mut arrival_text = Vec::new();
            push_fixed3(&mut arrival_text, arrival);
            let record = format!(
                "{comma}{{\"kinesis\":{{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"{key}\",\
                 \"sequenceNumber\":\"{sequence}\",\"data\":\"{data}\",\"approximateArrivalTimestamp\":{arrival}}},\
                 \"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\"{shard}:{sequence}\",\
                 \"eventName\":\"aws:kinesis:record\",\
                 \"invokeIdentityArn\":\"arn:aws:iam::123456789012:role/cf-passive-lambda\",\
                 \"awsRegion\":\"{region}\",\"eventSourceARN\":\"{arn}\"}}",
                comma = if i == 0 { "" } else { "," },
                key = self.standard(Field::CIp),
                data = base64::engine::general_purpose::STANDARD.encode(&line),
                arrival = String::from_utf8_lossy(&arrival_text),
                shard = source.shard_id,
                arn = source.stream_arn,
            );
            put(w, record.as_bytes())?;
        }
        put(w, b"]}\n")?;
        Ok(written)
    }
}

/// The first [`HEADERS_LIMIT`] bytes of an escaped value, as CloudFront keeps them.
fn push_truncated(out: &mut Vec<u8>, escaped: &str) {
    let bytes = escaped.as_bytes();
    out.extend_from_slice(&bytes[..bytes.len().min(HEADERS_LIMIT)]);
}

impl Iterator for RealtimeGenerator {
    type Item = String;

    /// The next line, without its `\n`. Never ends.
    fn next(&mut self) -> Option<String> {
        let mut buf = Vec::with_capacity(1024);
        self.next_line(&mut buf);
        buf.pop();
        Some(String::from_utf8(buf).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_once_and_user_agents_twice_when_old() {
        assert_eq!(unescape("a%20b%252F"), "a b%2F");
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(raw_user_agent("Mozilla/5.0%2520(X11)"), "Mozilla/5.0 (X11)");
        assert_eq!(raw_user_agent("curl/8.4.0"), "curl/8.4.0");
    }

    #[test]
    fn every_known_field_has_a_source_and_the_default_list_is_in_order() {
        let position = |name: &str| REALTIME_FIELDS.iter().position(|k| *k == name).unwrap();
        for pair in DEFAULT_REALTIME_FIELDS.windows(2) {
            assert!(position(pair[0]) < position(pair[1]), "{pair:?}");
        }
        for name in DEFAULT_REALTIME_FIELDS {
            assert_ne!(source(name), Source::Absent, "{name}");
        }
        assert_eq!(
            parse_realtime_fields("timestamp, c-ip"),
            Ok(vec!["timestamp", "c-ip"])
        );
        assert!(parse_realtime_fields("timestamp,cs(Host)")
            .unwrap_err()
            .contains("\"cs(Host)\""));
        assert!(parse_realtime_fields(" ").is_err());
    }
}
