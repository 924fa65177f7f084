//! One CloudFront record → the plain values of one transaction (contract §3).
//!
//! This module decides *what* a transaction says: which log field feeds which
//! value, the decoding, and which values are usable. *How* it is written on
//! the wire (key names, nesting, base64, number formats) is
//! [`super::wire`]'s business alone. Absent or unusable optional values are
//! `None` and get omitted; a missing or unusable required value makes the row
//! malformed.
//!
//! Every number read from the log goes through checked parsing and checked
//! arithmetic: a value that does not fit makes a required field malformed and
//! an optional field absent, never a wrapped, infinite or `null` value.

use std::borrow::Cow;

use super::decode::{decode_user_agent_bytes, percent_decode, percent_decode_bytes};
use super::fields::Field;
use super::parse::Record;
use super::realtime::{record_headers, RequestHeader, FIXED_REQUEST_HEADERS};
use super::redact::Redactor;

/// Why a record cannot become a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingError {
    Missing(&'static str),
    Invalid(&'static str, String),
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MappingError::Missing(name) => write!(f, "no usable {name}"),
            MappingError::Invalid(name, value) => {
                // A hostile value may be huge: quote at most 64 characters of it.
                let cut: String = value.chars().take(64).collect();
                let more = if cut.len() < value.len() { "…" } else { "" };
                write!(f, "invalid {name} {cut:?}{more}")
            }
        }
    }
}

/// The fields a record must carry to be a transaction (contract §4).
#[derive(Debug, Clone, PartialEq)]
pub struct Required<'r> {
    /// Unix epoch milliseconds, within [`MIN_EPOCH_MS`]`..=`[`MAX_EPOCH_MS`].
    pub epoch_ms: i64,
    pub client_ip: &'r str,
    pub method: &'r str,
    /// Decoded `cs-uri-stem` (U+FFFD for bytes that are not UTF-8).
    pub path: Cow<'r, str>,
    /// `sc-status` as logged: exactly three ASCII digits (`"000"` included).
    pub status: &'r str,
}

/// The request headers a log can carry, decoded to the bytes the client sent.
/// The order on the wire is the encoder's business.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestHeaders<'r> {
    pub host: Option<Cow<'r, [u8]>>,
    pub user_agent: Option<Cow<'r, [u8]>>,
    pub referer: Option<Cow<'r, [u8]>>,
    pub cookie: Option<Cow<'r, [u8]>>,
    pub x_forwarded_for: Option<Cow<'r, [u8]>>,
    pub accept: Option<Cow<'r, [u8]>>,
    pub accept_encoding: Option<Cow<'r, [u8]>>,
    /// Real-time logs only: the `cs-headers` headers none of the fields
    /// above carried, in the viewer's order (contract §8). Empty, and never
    /// allocated, for standard logs.
    pub extra: Vec<RequestHeader<'r>>,
}

/// The response headers a log can carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseHeaders<'r> {
    pub content_type: Option<Cow<'r, [u8]>>,
    /// `sc-content-len`, a whole number.
    pub content_length: Option<u64>,
    /// `sc-range-start`, `sc-range-end`, both whole numbers.
    pub range: Option<(u64, u64)>,
}

/// What a transaction says, as plain values borrowed from its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction<'r> {
    pub epoch_ms: i64,
    pub transaction_id: Option<&'r str>,
    pub client_ip: &'r str,
    pub client_port: Option<u16>,
    /// `s-ip`; `None`: the configured server address is used.
    pub server_ip: Option<&'r str>,
    pub scheme: Option<&'r str>,
    pub http_version: Option<&'r str>,
    pub method: &'r str,
    pub path: Cow<'r, str>,
    pub query: Option<Cow<'r, str>>,
    pub request_headers: RequestHeaders<'r>,
    pub status: &'r str,
    pub response_headers: ResponseHeaders<'r>,
    pub distribution_id: &'r str,
    pub log_object: &'r str,
    pub edge_location: Option<&'r str>,
    pub edge_result_type: Option<&'r str>,
    pub edge_response_result_type: Option<&'r str>,
    pub edge_detailed_result_type: Option<&'r str>,
    /// Finite, never negative.
    pub time_taken_ms: Option<f64>,
    pub time_to_first_byte_ms: Option<f64>,
    pub ssl_protocol: Option<&'r str>,
    pub ssl_cipher: Option<&'r str>,
    pub request_bytes: Option<u64>,
    pub response_bytes: Option<u64>,
    pub country: Option<&'r str>,
    pub asn: Option<u64>,
}

impl Transaction<'_> {
    /// `server-port` follows from the scheme; `None` when it is absent or unknown.
    pub fn server_port(&self) -> Option<u16> {
        match self.scheme? {
            "https" | "wss" | "grpcs" => Some(443),
            "http" | "ws" => Some(80),
            _ => None,
        }
    }
}

/// Where the record came from: fixed for a whole object.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `s3://bucket/key` (or `kinesis://stream/shard`).
    pub log_object: &'a str,
    /// `cequence_redact`, when set (docs/privacy.md).
    pub redactor: Option<&'a Redactor>,
}

/// Checks the required fields (contract §4, malformed rows) and decodes the path.
pub fn required<'r>(record: &'r Record<'_>) -> Result<Required<'r>, MappingError> {
    let epoch_ms = timestamp_ms(record)?;
    let client_ip = record
        .get(Field::ClientIp)
        .ok_or(MappingError::Missing("c-ip"))?;
    let method = record
        .get(Field::Method)
        .ok_or(MappingError::Missing("cs-method"))?;
    let stem = record
        .get(Field::UriStem)
        .ok_or(MappingError::Missing("cs-uri-stem"))?;
    let status = record
        .get(Field::Status)
        .ok_or(MappingError::Missing("sc-status"))?;
    if status.len() != 3 || !digits(status.as_bytes()) {
        return Err(MappingError::Invalid("sc-status", status.to_string()));
    }
    Ok(Required {
        epoch_ms,
        client_ip,
        method,
        path: percent_decode(stem),
        status,
    })
}

/// Builds the transaction for `record` of distribution `distribution_id`.
pub fn map_record<'r>(
    record: &'r Record<'_>,
    required: Required<'r>,
    distribution_id: &'r str,
    origin: Origin<'r>,
) -> Transaction<'r> {
    let get = |f: Field| record.get(f);
    let bytes = |f: Field| get(f).map(percent_decode_bytes);
    // Redaction applies to the decoded values, before anything is built from them.
    let header = |name: &str, value: Option<Cow<'r, [u8]>>| match origin.redactor {
        Some(redactor) => value.map(|v| redactor.header_value_bytes(name, v)),
        None => value,
    };
    let request_headers = RequestHeaders {
        host: header(
            "host",
            get(Field::HostHeader)
                .or_else(|| get(Field::CsHost))
                .map(percent_decode_bytes),
        ),
        user_agent: header(
            "user-agent",
            get(Field::UserAgent).map(decode_user_agent_bytes),
        ),
        referer: header("referer", bytes(Field::Referer)),
        cookie: header("cookie", bytes(Field::Cookie)),
        x_forwarded_for: header("x-forwarded-for", bytes(Field::ForwardedFor)),
        accept: header("accept", bytes(Field::Accept)),
        accept_encoding: header("accept-encoding", bytes(Field::AcceptEncoding)),
        extra: Vec::new(),
    };
    let request_headers = with_cs_headers(record, request_headers, &header);
    let query = get(Field::UriQuery)
        .map(percent_decode)
        .map(|q| match origin.redactor {
            Some(redactor) => redactor.query_cow(q),
            None => q,
        });
    let response_headers = ResponseHeaders {
        content_type: bytes(Field::ContentType),
        content_length: get(Field::ContentLen).and_then(whole_number),
        range: get(Field::RangeStart)
            .and_then(whole_number)
            .zip(get(Field::RangeEnd).and_then(whole_number)),
    };
    Transaction {
        epoch_ms: required.epoch_ms,
        transaction_id: get(Field::EdgeRequestId),
        client_ip: required.client_ip,
        client_port: get(Field::ClientPort).and_then(port),
        server_ip: get(Field::ServerIp),
        scheme: get(Field::Protocol).filter(|s| SCHEMES.contains(s)),
        http_version: get(Field::ProtocolVersion),
        method: required.method,
        path: required.path,
        query,
        request_headers,
        status: required.status,
        response_headers,
        distribution_id,
        log_object: origin.log_object,
        edge_location: get(Field::EdgeLocation),
        edge_result_type: get(Field::EdgeResultType),
        edge_response_result_type: get(Field::EdgeResponseResultType),
        edge_detailed_result_type: get(Field::EdgeDetailedResultType),
        time_taken_ms: get(Field::TimeTaken).and_then(seconds_to_ms),
        time_to_first_byte_ms: get(Field::TimeToFirstByte).and_then(seconds_to_ms),
        ssl_protocol: get(Field::SslProtocol),
        ssl_cipher: get(Field::SslCipher),
        request_bytes: get(Field::CsBytes).and_then(whole_number),
        response_bytes: get(Field::ScBytes).and_then(whole_number),
        country: get(Field::Country),
        asn: get(Field::Asn).and_then(whole_number),
    }
}

/// The `cs-protocol` values CloudFront logs; anything else is not sent.
pub const SCHEMES: [&str; 5] = ["http", "https", "ws", "wss", "grpcs"];

/// Appends the `cs-headers` of a real-time record that the fixed headers did
/// not already carry, each through the same redaction (contract §8).
fn with_cs_headers<'r>(
    record: &'r Record<'_>,
    mut headers: RequestHeaders<'r>,
    redact: &impl Fn(&str, Option<Cow<'r, [u8]>>) -> Option<Cow<'r, [u8]>>,
) -> RequestHeaders<'r> {
    if record.get(Field::CsHeaders).is_none() {
        return headers;
    }
    let present = [
        headers.host.is_some(),
        headers.user_agent.is_some(),
        headers.referer.is_some(),
        headers.cookie.is_some(),
        headers.x_forwarded_for.is_some(),
        headers.accept.is_some(),
        headers.accept_encoding.is_some(),
    ];
    let emitted = |name: &str| {
        FIXED_REQUEST_HEADERS
            .iter()
            .zip(present)
            .any(|(fixed, present)| present && *fixed == name)
    };
    headers.extra = record_headers(record)
        .filter(|h| !emitted(&h.name))
        .filter_map(|h| {
            let value = redact(&h.name, Some(h.value))?;
            Some(RequestHeader {
                name: h.name,
                value,
            })
        })
        .collect();
    headers
}

fn digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// A whole number as CloudFront logs it: ASCII digits only (no sign, no
/// spaces), fitting in a `u64`. Anything else is `None`.
pub fn whole_number(text: &str) -> Option<u64> {
    if text.is_empty() || !digits(text.as_bytes()) {
        return None;
    }
    text.parse().ok()
}

/// A TCP port: a whole number up to 65535.
pub fn port(text: &str) -> Option<u16> {
    whole_number(text).and_then(|p| u16::try_from(p).ok())
}

/// Seconds as logged (`0.002`) → milliseconds (`2.0`), shifting the decimal
/// point in the text so that no binary rounding creeps in (`0.003` → `3.0`,
/// not `3.0000000000000004`). `None` for anything that is not plain
/// non-negative decimal notation, or too large to be a finite number.
pub fn seconds_to_ms(seconds: &str) -> Option<f64> {
    let (int_part, frac_part) = seconds.split_once('.').unwrap_or((seconds, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !digits(int_part.as_bytes())
        || !digits(frac_part.as_bytes())
    {
        return None;
    }
    if frac_part.len() <= 3 && int_part.len() <= 12 {
        // The usual case (`0.002`): whole milliseconds below 1e15, which an
        // f64 holds exactly, so integer arithmetic gives the same value as
        // parsing the shifted text below, without building it.
        let millis = |digits: &str| {
            digits
                .bytes()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
        };
        let frac_ms = millis(frac_part) * 10u64.pow(3 - frac_part.len() as u32);
        return Some((millis(int_part) * 1000 + frac_ms) as f64);
    }
    shifted_ms(int_part, frac_part)
}

/// [`seconds_to_ms`] of checked digits by moving the decimal point in the text.
fn shifted_ms(int_part: &str, frac_part: &str) -> Option<f64> {
    let (ms_frac_head, rest) = frac_part.split_at(frac_part.len().min(3));
    let shifted = format!("{int_part}{ms_frac_head:0<3}.{rest}0");
    shifted.parse::<f64>().ok().filter(|ms| ms.is_finite())
}

/// The earliest timestamp accepted: the Unix epoch (the wire format has no sign).
pub const MIN_EPOCH_MS: i64 = 0;
/// The latest timestamp accepted: 9999-12-31T23:59:59.999Z.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// `timestamp(ms)`, else `timestamp`, else `date` + `time`, as Unix epoch
/// milliseconds (contract §3). Out-of-range values are invalid, never wrapped.
pub fn timestamp_ms(record: &Record<'_>) -> Result<i64, MappingError> {
    if let Some(ms) = record.get(Field::TimestampMs) {
        return epoch_millis(ms)
            .ok_or_else(|| MappingError::Invalid("timestamp(ms)", ms.to_string()));
    }
    if let Some(secs) = record.get(Field::Timestamp) {
        return epoch_seconds(secs)
            .ok_or_else(|| MappingError::Invalid("timestamp", secs.to_string()));
    }
    match (record.get(Field::Date), record.get(Field::Time)) {
        (Some(date), Some(time)) => date_time_ms(date, time)
            .ok_or_else(|| MappingError::Invalid("date/time", format!("{date} {time}"))),
        _ => Err(MappingError::Missing("timestamp")),
    }
}

fn in_range(ms: i64) -> Option<i64> {
    (MIN_EPOCH_MS..=MAX_EPOCH_MS).contains(&ms).then_some(ms)
}

/// `timestamp(ms)`: whole epoch milliseconds.
pub fn epoch_millis(text: &str) -> Option<i64> {
    whole_number(text)
        .and_then(|ms| i64::try_from(ms).ok())
        .and_then(in_range)
}

/// Real-time `timestamp`: epoch seconds with an optional fraction
/// (`1575493351.123`); digits past the milliseconds are dropped.
pub fn epoch_seconds(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if !digits(frac.as_bytes()) || (frac.is_empty() && text.ends_with('.')) {
        return None;
    }
    let seconds = i64::try_from(whole_number(whole)?).ok()?;
    let head = &frac.as_bytes()[..frac.len().min(3)];
    let millis = head
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(millis))
        .and_then(in_range)
}

/// `date` (`YYYY-MM-DD`) + `time` (`HH:MM:SS`, optionally with a fraction), UTC.
pub fn date_time_ms(date: &str, time: &str) -> Option<i64> {
    let d = date.as_bytes();
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' {
        return None;
    }
    let number = |s: &[u8]| -> Option<u32> {
        if s.is_empty() || !digits(s) {
            return None;
        }
        s.iter().try_fold(0u32, |acc, b| {
            acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        })
    };
    let year = i32::try_from(number(&d[..4])?).ok()?;
    let month = time::Month::try_from(u8::try_from(number(&d[5..7])?).ok()?).ok()?;
    let day = u8::try_from(number(&d[8..])?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;

    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let t = hms.as_bytes();
    if t.len() != 8 || t[2] != b':' || t[5] != b':' || !digits(frac.as_bytes()) {
        return None;
    }
    let (hour, minute, second) = (number(&t[..2])?, number(&t[3..5])?, number(&t[6..])?);
    // 60: a leap second, as some logs carry it.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    let days = i64::from(date.to_julian_day()) - i64::from(UNIX_EPOCH_JULIAN_DAY);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    in_range(seconds * 1000 + millis)
}

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

#[cfg(test)]
mod tests;
