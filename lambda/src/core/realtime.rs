//! CloudFront real-time log lines (contract §8): one Kinesis record's data is
//! one line of tab-separated values, in the order of the real-time log
//! configuration's fields, with no header. This module turns such a line into
//! the same [`Record`] the standard-log parser produces, and reads the two
//! fields only real-time logs have: `cs-headers` (every request header,
//! truncated by CloudFront to 800 bytes) and the epoch `timestamp`.
//!
//! What we found about the format, and where, is in docs/realtime.md.

use std::borrow::Cow;

use super::decode::percent_decode_bytes;
use super::fields::Field;
use super::parse::Record;

/// Every field a real-time log configuration can name, in the order CloudFront
/// documents as the order of the values in a record. Names we do not map to a
/// [`Field`] are accepted and ignored, so an operator can log them for other
/// consumers of the stream.
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

/// Fields without which no record can become a transaction (contract §4,
/// malformed rows). A configuration lacking one would make every record
/// malformed, so it is refused up front.
pub const REQUIRED_FIELDS: [&str; 5] =
    ["timestamp", "c-ip", "cs-method", "cs-uri-stem", "sc-status"];

/// CloudFront truncates `cs-headers` (and `cs-header-names`) to this many bytes.
pub const CS_HEADERS_LIMIT: usize = 800;

/// Why a `cequence_realtime_fields` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealtimeFieldsError {
    #[error("cequence_realtime_fields is empty: set it to the comma-separated fields of the real-time log configuration")]
    Empty,
    #[error("cequence_realtime_fields: unknown real-time log field {name:?} at position {position} (names are case-sensitive, e.g. cs-user-agent)")]
    Unknown { name: String, position: usize },
    #[error("cequence_realtime_fields: field {name:?} is listed twice")]
    Duplicate { name: String },
    #[error(
        "cequence_realtime_fields lacks {missing:?}: every record would be malformed without them"
    )]
    MissingRequired { missing: Vec<&'static str> },
}

/// The field order of the real-time log configuration, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealtimeFields {
    names: Vec<&'static str>,
    /// For each column, the field it feeds (None: a field we do not map).
    columns: Vec<Option<Field>>,
}

/// A real-time line mapped onto a record.
#[derive(Debug)]
pub struct RealtimeLine<'a> {
    pub record: Record<'a>,
    /// How many tab-separated values the line had; a count other than the
    /// configured one means the configuration and `cequence_realtime_fields`
    /// disagree (the common columns are still mapped, as for standard logs).
    pub columns: usize,
}

/// A Kinesis record whose data cannot be a real-time log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealtimeLineError {
    #[error("the record's data is not UTF-8 (byte {0})")]
    NotUtf8(usize),
}

impl RealtimeFields {
    /// Parses `cequence_realtime_fields`: comma-separated names (spaces around
    /// them are ignored). Refuses an empty list, an unknown or repeated name,
    /// and a list lacking a field every transaction needs.
    pub fn parse(spec: &str) -> Result<RealtimeFields, RealtimeFieldsError> {
        let mut parts: Vec<&str> = spec.split(',').map(str::trim).collect();
        if parts.iter().all(|part| part.is_empty()) {
            return Err(RealtimeFieldsError::Empty);
        }
        // A trailing comma is harmless; an empty name elsewhere is a mistake.
        if parts.last() == Some(&"") {
            parts.pop();
        }
        let mut names: Vec<&'static str> = Vec::with_capacity(parts.len());
        for (index, name) in parts.into_iter().enumerate() {
            let Some(known) = REALTIME_FIELDS.iter().find(|k| **k == name) else {
                return Err(RealtimeFieldsError::Unknown {
                    name: name.to_string(),
                    position: index + 1,
                });
            };
            if names.contains(known) {
                return Err(RealtimeFieldsError::Duplicate {
                    name: name.to_string(),
                });
            }
            names.push(known);
        }
        if names.is_empty() {
            return Err(RealtimeFieldsError::Empty);
        }
        let missing: Vec<&'static str> = REQUIRED_FIELDS
            .into_iter()
            .filter(|required| !names.contains(required))
            .collect();
        if !missing.is_empty() {
            return Err(RealtimeFieldsError::MissingRequired { missing });
        }
        let columns = names.iter().map(|name| Field::from_name(name)).collect();
        Ok(RealtimeFields { names, columns })
    }

    /// The configured names, in order.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Number of values a record carries.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: an empty list is refused by [`RealtimeFields::parse`].
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The first pair of names that is not in CloudFront's documented record
    /// order. CloudFront writes the values in that order whatever order the
    /// configuration lists them in, so a list out of order maps values to the
    /// wrong names: worth a warning at start-up (the Terraform always writes
    /// the list in this order).
    pub fn order_warning(&self) -> Option<(&'static str, &'static str)> {
        let rank = |name: &str| REALTIME_FIELDS.iter().position(|k| *k == name);
        self.names
            .windows(2)
            .find(|pair| rank(pair[0]) > rank(pair[1]))
            .map(|pair| (pair[0], pair[1]))
    }

    /// Maps one line (a trailing `\n` or `\r\n` is ignored) onto a record.
    /// Values are kept as logged; `-` and empty values are absent.
    pub fn parse_line<'a>(&self, line: &'a str) -> RealtimeLine<'a> {
        let line = line
            .strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or(line);
        let mut record = Record::default();
        let mut columns = 0;
        for (position, value) in line.split('\t').enumerate() {
            columns += 1;
            if let Some(Some(field)) = self.columns.get(position) {
                record.set(*field, Cow::Borrowed(value));
            }
        }
        RealtimeLine { record, columns }
    }

    /// Maps a Kinesis record's data onto a record. CloudFront escapes every
    /// byte outside printable ASCII, so data that is not UTF-8 is not a line.
    pub fn parse_data<'a>(&self, data: &'a [u8]) -> Result<RealtimeLine<'a>, RealtimeLineError> {
        let line =
            std::str::from_utf8(data).map_err(|e| RealtimeLineError::NotUtf8(e.valid_up_to()))?;
        Ok(self.parse_line(line))
    }
}

/// The real-time `timestamp` (epoch seconds with a fraction, e.g.
/// `1575493351.123`) as epoch milliseconds. Digits past the third decimal are
/// dropped; signs, exponents, empty parts and overflow give `None`.
pub fn epoch_millis(text: &str) -> Option<i64> {
    let (whole, frac) = match text.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() => (whole, frac),
        Some(_) => return None,
        None => (text, ""),
    };
    if whole.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut seconds: i64 = 0;
    for b in whole.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        seconds = seconds.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let mut millis: i64 = 0;
    for place in 0..3 {
        let digit = frac.as_bytes().get(place).map_or(0, |b| b - b'0');
        millis = millis * 10 + i64::from(digit);
    }
    seconds.checked_mul(1000)?.checked_add(millis)
}

/// How the distribution of a real-time record is found (contract §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistributionKey<'r> {
    /// The record names it (`DistributionId`, or `primary-distribution-id`,
    /// which continuous deployment fills with the primary distribution).
    Id(&'r str),
    /// Only the distribution's domain is known (`cs-host`, e.g.
    /// `d111111abcdef8.cloudfront.net`, lower-cased by the caller's lookup):
    /// the adapter looks the id up with the CloudFront API and caches it.
    Domain(&'r str),
}

/// The first rule that applies: a record field naming the distribution, else
/// `cs-host`. `None`: the record cannot be attributed (count it as having no
/// distribution, like an S3 object no rule matches).
pub fn distribution_key<'r>(record: &'r Record<'_>) -> Option<DistributionKey<'r>> {
    let looks_like_id =
        |s: &&str| (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if let Some(id) = record
        .get(Field::DistributionId)
        .filter(looks_like_id)
        .or_else(|| {
            record
                .get(Field::PrimaryDistributionId)
                .filter(looks_like_id)
        })
    {
        return Some(DistributionKey::Id(id));
    }
    record
        .get(Field::CsHost)
        .filter(|host| host.contains('.') && !host.contains(['/', ' ', '%']))
        .map(DistributionKey::Domain)
}

/// One request header from `cs-headers`: the name lower-cased, the value
/// percent-decoded to the bytes the viewer sent (not necessarily UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, [u8]>,
}

/// Characters of an HTTP token (RFC 9110 §5.6.2), the only ones a header
/// name may have.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Strips HTTP optional whitespace around a value.
fn trim_ows(value: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    if start == 0 && end == value.len() {
        return value;
    }
    match value {
        Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
        Cow::Owned(b) => Cow::Owned(b[start..end].to_vec()),
    }
}

/// Where the next header separator starts in `text`, and how long it is:
/// a newline, escaped (`%0A`, `%0a`) as CloudFront writes it, or raw.
fn find_separator(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => return Some((i, 1)),
            b'%' if bytes.get(i + 1) == Some(&b'0')
                && matches!(bytes.get(i + 2), Some(b'A' | b'a')) =>
            {
                return Some((i, 3));
            }
            _ => i += 1,
        }
    }
    None
}

fn ends_with_separator(text: &str) -> bool {
    text.ends_with('\n') || text.ends_with("%0A") || text.ends_with("%0a")
}

/// A value cut inside an escape: `%` or `%X` at the very end.
fn ends_in_partial_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    match bytes {
        [.., b'%'] => true,
        [.., b'%', last] => last.is_ascii_hexdigit(),
        _ => false,
    }
}

/// The headers of a `cs-headers` value, in the order the viewer sent them.
///
/// The value is the request's header lines (`Name:value`, each ended by a
/// newline) escaped like any other field, so the newlines appear as `%0A`
/// and a `%` the client sent appears as `%25`: we split on the escaped
/// newline first and decode each part once, so a value can never be split.
///
/// CloudFront cuts the value at [`CS_HEADERS_LIMIT`] bytes. The last header
/// is treated as cut, and dropped, when the value does not end with a
/// newline and either reaches the limit (within an escape's length),
/// ends inside an escape, or holds fewer headers than `cs-headers-count`
/// says. A header that is not `name:value` with a token name is skipped.
pub fn cs_headers(raw: &str, declared_count: Option<u32>) -> CsHeaders<'_> {
    let terminated = ends_with_separator(raw);
    let by_length = raw.len() + 2 >= CS_HEADERS_LIMIT;
    let by_count = || {
        declared_count.is_some_and(|declared| {
            let mut segments: u32 = 0;
            let mut rest = raw;
            loop {
                let (segment, next) = match find_separator(rest) {
                    Some((at, len)) => (&rest[..at], Some(&rest[at + len..])),
                    None => (rest, None),
                };
                if !segment.is_empty() {
                    segments = segments.saturating_add(1);
                }
                match next {
                    Some(next) => rest = next,
                    None => break,
                }
            }
            declared > segments
        })
    };
    let last_is_cut = !terminated && (by_length || ends_in_partial_escape(raw) || by_count());
    CsHeaders {
        rest: Some(raw),
        last_is_cut,
        skipped: 0,
    }
}

/// Iterator over the complete headers of a `cs-headers` value; see [`cs_headers`].
#[derive(Debug, Clone)]
pub struct CsHeaders<'a> {
    rest: Option<&'a str>,
    last_is_cut: bool,
    skipped: u32,
}

impl<'a> CsHeaders<'a> {
    /// Whether the value was cut inside its last header (which is not yielded).
    pub fn last_header_cut(&self) -> bool {
        self.last_is_cut
    }

    /// Headers dropped so far: cut by the truncation, or not `name:value`.
    pub fn skipped(&self) -> u32 {
        self.skipped
    }

    fn header(&mut self, segment: &'a str) -> Option<RequestHeader<'a>> {
        let segment = segment
            .strip_suffix("%0D")
            .or_else(|| segment.strip_suffix("%0d"))
            .or_else(|| segment.strip_suffix('\r'))
            .unwrap_or(segment);
        // A name is a token, so it has no `:`: the first `:` ends it even when
        // the value holds more. Token characters such as `~` or `|` are
        // escaped like any other, so the name is decoded before it is checked.
        let (name, value) = segment.split_once(':')?;
        let name = match percent_decode_bytes(name) {
            Cow::Borrowed(_) => Cow::Borrowed(name),
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8(bytes).ok()?),
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return None;
        }
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            name
        };
        Some(RequestHeader {
            name,
            value: trim_ows(percent_decode_bytes(value)),
        })
    }
}

impl<'a> Iterator for CsHeaders<'a> {
    type Item = RequestHeader<'a>;

    fn next(&mut self) -> Option<RequestHeader<'a>> {
        loop {
            let rest = self.rest?;
            let segment = match find_separator(rest) {
                Some((at, len)) => {
                    self.rest = Some(&rest[at + len..]);
                    &rest[..at]
                }
                None => {
                    self.rest = None;
                    if self.last_is_cut {
                        if !rest.is_empty() {
                            self.skipped += 1;
                        }
                        return None;
                    }
                    rest
                }
            };
            if segment.is_empty() {
                continue;
            }
            match self.header(segment) {
                Some(header) => return Some(header),
                None => self.skipped += 1,
            }
        }
    }
}

/// The request headers of a real-time record, ready for `request.headers`:
/// the parsed `cs-headers` (its count from `cs-headers-count` when logged).
pub fn record_headers<'r>(record: &'r Record<'_>) -> CsHeaders<'r> {
    let raw = record.get(Field::CsHeaders).unwrap_or_default();
    let declared = record
        .get(Field::CsHeadersCount)
        .and_then(|count| count.parse().ok());
    cs_headers(raw, declared)
}

/// The request headers the mapping writes first, from their own fields
/// (contract §3, `request.headers`), in this order; the `cs-headers` ones
/// not among them follow (`transaction::RequestHeaders::extra`).
pub const FIXED_REQUEST_HEADERS: [&str; 7] = [
    "host",
    "user-agent",
    "referer",
    "cookie",
    "x-forwarded-for",
    "accept",
    "accept-encoding",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decode::cloudfront_escape;
    use proptest::prelude::*;

    const ALL: &str = "timestamp,c-ip,time-to-first-byte,sc-status,sc-bytes,cs-method,cs-protocol,cs-host,cs-uri-stem,cs-bytes,x-edge-location,x-edge-request-id,x-host-header,time-taken,cs-protocol-version,c-ip-version,cs-user-agent,cs-referer,cs-cookie,cs-uri-query,x-edge-response-result-type,x-forwarded-for,ssl-protocol,ssl-cipher,x-edge-result-type,fle-encrypted-fields,fle-status,sc-content-type,sc-content-len,sc-range-start,sc-range-end,c-port,x-edge-detailed-result-type,c-country,cs-accept-encoding,cs-accept,cache-behavior-path-pattern,cs-headers,cs-header-names,cs-headers-count,primary-distribution-id,primary-distribution-dns-name,origin-fbl,origin-lbl,asn";

    fn names(headers: CsHeaders<'_>) -> Vec<(String, Vec<u8>)> {
        headers
            .map(|h| (h.name.into_owned(), h.value.into_owned()))
            .collect()
    }

    fn block(headers: &[(&str, &str)]) -> String {
        headers
            .iter()
            .map(|(n, v)| cloudfront_escape(&format!("{n}:{v}\n")))
            .collect()
    }

    #[test]
    fn field_lists_are_validated_and_errors_name_the_field() {
        let fields = RealtimeFields::parse(ALL).unwrap();
        assert_eq!(fields.len(), 45);
        assert_eq!(fields.order_warning(), None);
        let spaced =
            RealtimeFields::parse(" timestamp , c-ip,sc-status,cs-method,cs-uri-stem,").unwrap();
        assert_eq!(
            spaced.names(),
            ["timestamp", "c-ip", "sc-status", "cs-method", "cs-uri-stem"]
        );

        let err = RealtimeFields::parse("timestamp,c-ip,cs-hots,sc-status").unwrap_err();
        assert_eq!(
            err,
            RealtimeFieldsError::Unknown {
                name: "cs-hots".into(),
                position: 3
            }
        );
        assert!(err.to_string().contains("\"cs-hots\""), "{err}");
        // Standard-log spellings are not real-time field names.
        assert!(matches!(
            RealtimeFields::parse("timestamp,cs(Host)"),
            Err(RealtimeFieldsError::Unknown { .. })
        ));
        assert!(matches!(
            RealtimeFields::parse("timestamp,,c-ip"),
            Err(RealtimeFieldsError::Unknown { position: 2, .. })
        ));
        assert_eq!(RealtimeFields::parse(""), Err(RealtimeFieldsError::Empty));
        assert_eq!(
            RealtimeFields::parse(" , "),
            Err(RealtimeFieldsError::Empty)
        );
        assert_eq!(
            RealtimeFields::parse("timestamp,c-ip,c-ip"),
            Err(RealtimeFieldsError::Duplicate {
                name: "c-ip".into()
            })
        );
        assert_eq!(
            RealtimeFields::parse("timestamp,c-ip,cs-host"),
            Err(RealtimeFieldsError::MissingRequired {
                missing: vec!["cs-method", "cs-uri-stem", "sc-status"]
            })
        );
    }

    #[test]
    fn a_list_out_of_delivery_order_is_reported() {
        let fields =
            RealtimeFields::parse("timestamp,c-ip,cs-method,sc-status,cs-uri-stem").unwrap();
        assert_eq!(fields.order_warning(), Some(("cs-method", "sc-status")));
    }

    #[test]
    fn every_known_name_is_unique_and_the_mapped_ones_reach_a_field() {
        let mut seen = std::collections::HashSet::new();
        for name in REALTIME_FIELDS {
            assert!(seen.insert(name), "{name} twice");
        }
        for (name, field) in [
            ("timestamp", Field::Timestamp),
            ("cs-host", Field::CsHost),
            ("cs-user-agent", Field::UserAgent),
            ("cs-referer", Field::Referer),
            ("cs-cookie", Field::Cookie),
            ("cs-accept", Field::Accept),
            ("cs-accept-encoding", Field::AcceptEncoding),
            ("cs-headers", Field::CsHeaders),
            ("cs-headers-count", Field::CsHeadersCount),
            ("c-country", Field::Country),
            ("asn", Field::Asn),
            ("s-ip", Field::ServerIp),
            ("primary-distribution-id", Field::PrimaryDistributionId),
        ] {
            assert!(REALTIME_FIELDS.contains(&name), "{name}");
            assert_eq!(Field::from_name(name), Some(field), "{name}");
        }
    }

    #[test]
    fn a_line_maps_by_position_with_dash_absent() {
        let fields = RealtimeFields::parse(
            "timestamp,c-ip,sc-status,cs-method,cs-host,cs-uri-stem,cs-referer,cs-headers,asn",
        )
        .unwrap();
        let line = "1575493351.123\t192.0.2.1\t200\tGET\td111111abcdef8.cloudfront.net\t/a%20b\t-\tHost:x%0A\t16509\n";
        let parsed = fields.parse_line(line);
        assert_eq!(parsed.columns, 9);
        let r = &parsed.record;
        assert_eq!(r.get(Field::Timestamp), Some("1575493351.123"));
        assert_eq!(r.get(Field::ClientIp), Some("192.0.2.1"));
        assert_eq!(r.get(Field::CsHost), Some("d111111abcdef8.cloudfront.net"));
        assert_eq!(
            r.get(Field::UriStem),
            Some("/a%20b"),
            "kept as logged; decoding is the mapping's job"
        );
        assert_eq!(r.get(Field::Referer), None);
        assert_eq!(r.get(Field::CsHeaders), Some("Host:x%0A"));
        assert_eq!(
            r.get(Field::Asn),
            Some("16509"),
            "the trailing newline is not part of the value"
        );

        let short = fields.parse_line("1575493351.123\t192.0.2.1\r\n");
        assert_eq!(short.columns, 2);
        assert_eq!(short.record.get(Field::ClientIp), Some("192.0.2.1"));
        assert_eq!(short.record.get(Field::Status), None);
        let long = fields.parse_line("1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11");
        assert_eq!(long.columns, 11);
        assert_eq!(long.record.get(Field::Asn), Some("9"));

        assert_eq!(
            fields.parse_data(b"1\t\xff").unwrap_err(),
            RealtimeLineError::NotUtf8(2)
        );
        assert!(fields.parse_data(b"1575493351.123\t192.0.2.1").is_ok());
    }

    #[test]
    fn epoch_millis_table() {
        let cases = [
            ("1575493351.123", Some(1_575_493_351_123)),
            ("1575493351.1", Some(1_575_493_351_100)),
            ("1575493351.12", Some(1_575_493_351_120)),
            ("1575493351.1239", Some(1_575_493_351_123)),
            ("1575493351", Some(1_575_493_351_000)),
            ("0.000", Some(0)),
            ("9223372036854775.807", Some(i64::MAX)),
            ("9223372036854775.808", None),
            ("9223372036854776", None),
            ("99999999999999999999", None),
            ("", None),
            (".5", None),
            ("5.", None),
            ("-1.000", None),
            ("+1.000", None),
            ("1e9", None),
            ("1.2.3", None),
            ("1.-2", None),
            (" 1.000", None),
            ("١٢٣", None),
        ];
        for (text, want) in cases {
            assert_eq!(epoch_millis(text), want, "{text:?}");
        }
    }

    #[test]
    fn distribution_key_rules_in_order() {
        let r = Record::from_pairs([
            ("primary-distribution-id", "E27FO14I29XXXX"),
            ("cs-host", "d111111abcdef8.cloudfront.net"),
        ]);
        assert_eq!(
            distribution_key(&r),
            Some(DistributionKey::Id("E27FO14I29XXXX"))
        );
        let r = Record::from_pairs([
            ("DistributionId", "WAKKE7XJ5Y3FH"),
            ("primary-distribution-id", "E27FO14I29XXXX"),
        ]);
        assert_eq!(
            distribution_key(&r),
            Some(DistributionKey::Id("WAKKE7XJ5Y3FH"))
        );
        let r = Record::from_pairs([
            ("primary-distribution-id", "-"),
            ("cs-host", "d111111abcdef8.cloudfront.net"),
        ]);
        assert_eq!(
            distribution_key(&r),
            Some(DistributionKey::Domain("d111111abcdef8.cloudfront.net"))
        );
        let r = Record::from_pairs([
            ("primary-distribution-id", "not an id!"),
            ("cs-host", "a/b"),
        ]);
        assert_eq!(distribution_key(&r), None);
        assert_eq!(distribution_key(&Record::default()), None);
    }

    #[test]
    fn headers_are_split_on_the_escaped_newline_and_decoded_once() {
        let raw = "Host:www.example.com%0AUser-Agent:Mozilla/5.0%20(X11)%0AX-Note:%2520a:b%20%0Aaccept:%20*/*%20%0A";
        let got = names(cs_headers(raw, Some(4)));
        assert_eq!(
            got,
            vec![
                ("host".into(), b"www.example.com".to_vec()),
                ("user-agent".into(), b"Mozilla/5.0 (X11)".to_vec()),
                ("x-note".into(), b"%20a:b".to_vec()),
                ("accept".into(), b"*/*".to_vec()),
            ]
        );
        // Raw newlines and CRLF are accepted too; non-UTF-8 bytes stay bytes.
        let got = names(cs_headers("A:1\r\nB:%FF%0D%0a", None));
        assert_eq!(
            got,
            vec![("a".into(), b"1".to_vec()), ("b".into(), vec![0xff])]
        );
    }

    #[test]
    fn a_header_cut_by_the_truncation_is_dropped() {
        let long = "x".repeat(900);
        let full = block(&[("Host", "example.com"), ("Cookie", &long)]);
        let cut = &full[..CS_HEADERS_LIMIT];
        let headers = cs_headers(cut, None);
        assert!(headers.last_header_cut());
        let mut headers = headers;
        assert_eq!(
            headers.next().map(|h| h.name.into_owned()),
            Some("host".into())
        );
        assert_eq!(headers.next(), None);
        assert_eq!(headers.skipped(), 1);

        // Cut right after a newline: every header is whole.
        let exact = block(&[("Host", "example.com"), ("A", &"y".repeat(776))]);
        assert_eq!(exact.len(), CS_HEADERS_LIMIT);
        assert_eq!(cs_headers(&exact, Some(3)).count(), 2);

        // Short, unterminated, but the count says more came: cut.
        assert_eq!(
            names(cs_headers("Host:a%0AUser-Agent:Mozil", Some(5))).len(),
            1
        );
        // Short, unterminated, count matches: the last header is whole.
        assert_eq!(
            names(cs_headers("Host:a%0AUser-Agent:curl", Some(2))).len(),
            2
        );
        assert_eq!(names(cs_headers("Host:a%0AUser-Agent:curl", None)).len(), 2);
        // Cut inside an escape.
        assert_eq!(names(cs_headers("Host:a%0AX:b%2", None)).len(), 1);
        assert_eq!(names(cs_headers("Host:a%0AX:b%", None)).len(), 1);
    }

    #[test]
    fn malformed_headers_are_skipped() {
        let mut headers = cs_headers(
            "Host:a%0Ano-colon%0A:authority:x%0Abad%20name:v%0A%0AOk:1%0A",
            None,
        );
        let got: Vec<String> = headers.by_ref().map(|h| h.name.into_owned()).collect();
        assert_eq!(got, ["host", "ok"]);
        assert_eq!(headers.skipped(), 3);
        assert_eq!(cs_headers("", None).count(), 0);
        // Token characters CloudFront escapes are decoded back.
        let got = names(cs_headers("X%7CWeird%7E:v%0A", None));
        assert_eq!(got, vec![("x|weird~".into(), b"v".to_vec())]);
    }

    #[test]
    fn record_headers_use_the_declared_count() {
        let r = Record::from_pairs([
            ("cs-headers", "Host:a%0AB:partial"),
            ("cs-headers-count", "3"),
        ]);
        assert_eq!(record_headers(&r).count(), 1);
        let r = Record::from_pairs([
            ("cs-headers", "Host:a%0AB:whole"),
            ("cs-headers-count", "2"),
        ]);
        assert_eq!(record_headers(&r).count(), 2);
        assert_eq!(record_headers(&Record::default()).count(), 0);
    }

    #[test]
    fn the_log_generator_and_the_parser_agree() {
        assert_eq!(
            REALTIME_FIELDS,
            cf_loggen::REALTIME_FIELDS,
            "one list of real-time fields"
        );
        let spec = cf_loggen::DEFAULT_REALTIME_FIELDS.join(",");
        let fields = RealtimeFields::parse(&spec).unwrap();
        assert_eq!(fields.order_warning(), None);
        let opts = cf_loggen::Options::default();
        let mut gen =
            cf_loggen::RealtimeGenerator::new(21, opts, cf_loggen::DEFAULT_REALTIME_FIELDS)
                .unwrap();
        let (mut cut, mut lines) = (0, 0);
        for _ in 0..2000 {
            let line = gen.next().unwrap();
            let parsed = fields.parse_line(&line);
            assert_eq!(parsed.columns, fields.len());
            let record = &parsed.record;
            assert!(epoch_millis(record.get(Field::Timestamp).unwrap()).is_some());
            assert_eq!(
                distribution_key(record),
                Some(DistributionKey::Id("E27FO14I29XXXX"))
            );
            let sent = gen.last_headers();
            let mut headers = record_headers(record);
            let got: Vec<RequestHeader<'_>> = headers.by_ref().collect();
            // Exactly the headers whose newline survived the cut, each whole.
            let raw = record.get(Field::CsHeaders).unwrap();
            assert_eq!(got.len(), raw.matches("%0A").count(), "{raw}");
            for (header, (name, value)) in got.iter().zip(sent) {
                assert_eq!(header.name, name.to_ascii_lowercase());
                assert_eq!(header.value.as_ref(), value.as_bytes(), "{name}");
            }
            if got.len() < sent.len() {
                cut += 1;
                assert_eq!(raw.len(), CS_HEADERS_LIMIT);
            }
            lines += 1;
        }
        assert!(cut > 50 && cut < lines / 2, "{cut} of {lines} cut");
    }

    #[test]
    fn fixed_header_names_are_lowercase_tokens() {
        assert!(FIXED_REQUEST_HEADERS.iter().all(|n| n
            .bytes()
            .all(|b| is_token_byte(b) && !b.is_ascii_uppercase())));
    }

    fn header_strategy() -> impl Strategy<Value = (String, String)> {
        (
            "[A-Za-z][A-Za-z0-9-]{0,20}",
            prop_oneof!["[ -~]{0,60}", "\\PC{0,30}", "[a-z%:]{0,10}"],
        )
    }

    proptest! {
        #[test]
        fn truncation_never_yields_half_a_header(
            headers in prop::collection::vec(header_strategy(), 1..40),
            declare in any::<bool>(),
        ) {
            let escaped: Vec<String> = headers
                .iter()
                .map(|(n, v)| cloudfront_escape(&format!("{n}:{v}\n")))
                .collect();
            let full = escaped.concat();
            // CloudFront keeps the first 800 bytes; never split an escape.
            let mut cut = full.len().min(CS_HEADERS_LIMIT);
            while cut > 0 && !full.is_char_boundary(cut) {
                cut -= 1;
            }
            let raw = &full[..cut];
            let count = declare.then_some(headers.len() as u32);
            let got: Vec<RequestHeader<'_>> = cs_headers(raw, count).collect();
            prop_assert!(got.len() <= headers.len());
            for (header, (name, value)) in got.iter().zip(&headers) {
                prop_assert_eq!(header.name.as_ref(), name.to_ascii_lowercase());
                let want = value.trim_matches([' ', '\t']);
                prop_assert_eq!(header.value.as_ref(), want.as_bytes());
            }
            if cut == full.len() {
                prop_assert_eq!(got.len(), headers.len(), "nothing cut, nothing dropped");
            }
        }

        #[test]
        fn parsing_never_panics(line in "\\PC*", spec_index in 0usize..3) {
            let specs = [ALL, "timestamp,c-ip,sc-status,cs-method,cs-uri-stem", "cs-headers,timestamp,c-ip,sc-status,cs-method,cs-uri-stem"];
            let fields = RealtimeFields::parse(specs[spec_index]).unwrap();
            let parsed = fields.parse_line(&line);
            let _ = distribution_key(&parsed.record);
            let _ = record_headers(&parsed.record).count();
            let _ = epoch_millis(&line);
            let _ = cs_headers(&line, Some(3)).count();
            let _ = RealtimeFields::parse(&line);
        }

        #[test]
        fn header_names_are_always_lowercase_tokens(raw in "[ -~]{0,900}", count in proptest::option::of(0u32..60)) {
            for header in cs_headers(&raw, count) {
                prop_assert!(!header.name.is_empty());
                prop_assert!(header.name.bytes().all(|b| is_token_byte(b) && !b.is_ascii_uppercase()));
            }
        }

        #[test]
        fn epoch_millis_matches_integer_arithmetic(secs in 0i64..100_000_000_000, millis in 0i64..1000) {
            let text = format!("{secs}.{millis:03}");
            prop_assert_eq!(epoch_millis(&text), Some(secs * 1000 + millis));
        }
    }
}
