//! One CloudFront record → one bridge transaction (contract §3). Absent
//! fields are omitted, never `null` and never `"-"`.

use std::borrow::Cow;

use serde::Serialize;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use super::decode::{decode_user_agent, percent_decode};
use super::fields::Field;
use super::parse::Record;
use super::redact::Redactor;

pub const TRANSACTION_VERSION: &str = "1.0";
pub const SOURCE_TYPE: &str = "cloudfront-standard-log";

#[derive(Debug, Serialize, PartialEq)]
pub struct Header<'a> {
    pub name: &'static str,
    pub value: Cow<'a, str>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Request<'a> {
    pub client_ip: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_port: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_scheme: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<&'a str>,
    pub http_method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Cow<'a, str>>,
    pub path: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<Cow<'a, str>>,
    pub uri_query_fragment: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Response<'a> {
    pub status: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct SourceInfo {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct MetaData<'a> {
    #[serde(rename = "source_info")]
    pub source_info: SourceInfo,
    pub distribution_id: &'a str,
    pub log_object: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_result_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_response_result_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_detailed_result_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_taken_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_byte_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_protocol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_cipher: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u64>,
}

/// A bridge transaction, borrowing from the record it came from.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Transaction<'a> {
    pub version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<&'a str>,
    pub timestamp: String,
    pub request: Request<'a>,
    pub response: Response<'a>,
    pub txn_meta_data: MetaData<'a>,
}

/// Where the record came from: fixed for a whole object.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `s3://bucket/key`
    pub log_object: &'a str,
    /// The crate version, for `source_info`.
    pub source_version: &'static str,
    /// `cequence_redact`, when set (docs/privacy.md).
    pub redactor: Option<&'a Redactor>,
}

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
            MappingError::Invalid(name, value) => write!(f, "invalid {name} {value:?}"),
        }
    }
}

/// The fields a record must carry to be a transaction.
pub struct Required<'r> {
    pub timestamp: String,
    pub client_ip: &'r str,
    pub method: &'r str,
    pub path: Cow<'r, str>,
    pub status: u16,
}

/// Checks the required fields (contract §4, malformed rows) and decodes the path.
pub fn required<'r>(record: &'r Record<'_>) -> Result<Required<'r>, MappingError> {
    let timestamp = timestamp(record)?;
    let client_ip = record
        .get(Field::ClientIp)
        .ok_or(MappingError::Missing("c-ip"))?;
    let method = record
        .get(Field::Method)
        .ok_or(MappingError::Missing("cs-method"))?;
    let stem = record
        .get(Field::UriStem)
        .ok_or(MappingError::Missing("cs-uri-stem"))?;
    let status_text = record
        .get(Field::Status)
        .ok_or(MappingError::Missing("sc-status"))?;
    let status = status_text
        .parse::<u16>()
        .ok()
        .filter(|s| *s <= 999)
        .ok_or_else(|| MappingError::Invalid("sc-status", status_text.to_string()))?;
    Ok(Required {
        timestamp,
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
    // Redaction applies to the decoded values, before anything is built from them.
    let redact_header = |name: &str, value: Cow<'r, str>| match origin.redactor {
        Some(redactor) => redactor.header_value(name, value),
        None => value,
    };
    let query = get(Field::UriQuery)
        .map(percent_decode)
        .map(|q| match origin.redactor {
            Some(redactor) => redactor.query_cow(q),
            None => q,
        });
    let uri_query_fragment = match &query {
        Some(q) => format!("{}?{}", required.path, q),
        None => required.path.to_string(),
    };
    let host = get(Field::HostHeader)
        .or_else(|| get(Field::CsHost))
        .map(percent_decode)
        .map(|h| redact_header("host", h));

    let mut request_headers = Vec::with_capacity(5);
    if let Some(h) = &host {
        request_headers.push(Header {
            name: "host",
            value: h.clone(),
        });
    }
    if let Some(v) = get(Field::UserAgent) {
        request_headers.push(Header {
            name: "user-agent",
            value: redact_header("user-agent", decode_user_agent(v)),
        });
    }
    for (field, name) in [
        (Field::Referer, "referer"),
        (Field::Cookie, "cookie"),
        (Field::ForwardedFor, "x-forwarded-for"),
    ] {
        if let Some(v) = get(field) {
            request_headers.push(Header {
                name,
                value: redact_header(name, percent_decode(v)),
            });
        }
    }

    let mut response_headers = Vec::with_capacity(3);
    if let Some(v) = get(Field::ContentType) {
        response_headers.push(Header {
            name: "content-type",
            value: percent_decode(v),
        });
    }
    if let Some(v) = get(Field::ContentLen) {
        response_headers.push(Header {
            name: "content-length",
            value: Cow::Borrowed(v),
        });
    }
    if let (Some(start), Some(end)) = (get(Field::RangeStart), get(Field::RangeEnd)) {
        response_headers.push(Header {
            name: "content-range",
            value: Cow::Owned(format!("bytes {start}-{end}/*")),
        });
    }

    Transaction {
        version: TRANSACTION_VERSION,
        transaction_id: get(Field::EdgeRequestId),
        timestamp: required.timestamp,
        request: Request {
            client_ip: required.client_ip,
            client_port: get(Field::ClientPort).and_then(|v| v.parse().ok()),
            http_scheme: get(Field::Protocol),
            http_version: get(Field::ProtocolVersion),
            http_method: required.method,
            host,
            path: required.path,
            query,
            uri_query_fragment,
            headers: request_headers,
            bytes: get(Field::CsBytes).and_then(|v| v.parse().ok()),
        },
        response: Response {
            status: required.status,
            headers: response_headers,
            bytes: get(Field::ScBytes).and_then(|v| v.parse().ok()),
        },
        txn_meta_data: MetaData {
            source_info: SourceInfo {
                kind: SOURCE_TYPE,
                version: origin.source_version,
            },
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
            country: get(Field::Country),
            asn: get(Field::Asn).and_then(|v| v.parse().ok()),
        },
    }
}

/// Seconds as logged (`0.002`) → milliseconds (`2.0`), shifting the decimal
/// point in the text so that no binary rounding creeps in (`0.003` → `3.0`,
/// not `3.0000000000000004`).
pub fn seconds_to_ms(seconds: &str) -> Option<f64> {
    let (int_part, frac_part) = seconds.split_once('.').unwrap_or((seconds, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (ms_frac_head, rest) = frac_part.split_at(frac_part.len().min(3));
    let shifted = format!("{int_part}{ms_frac_head:0<3}.{rest}0");
    shifted.parse().ok()
}

const SECONDS_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const MILLIS_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `timestamp(ms)`, else `timestamp`, else `date` + `time`, as RFC 3339 UTC.
pub fn timestamp(record: &Record<'_>) -> Result<String, MappingError> {
    if let Some(ms) = record.get(Field::TimestampMs) {
        let millis: i128 = ms
            .parse()
            .map_err(|_| MappingError::Invalid("timestamp(ms)", ms.to_string()))?;
        return OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
            .ok()
            .and_then(|t| t.format(MILLIS_FORMAT).ok())
            .ok_or_else(|| MappingError::Invalid("timestamp(ms)", ms.to_string()));
    }
    if let Some(secs) = record.get(Field::Timestamp) {
        let (whole, frac) = secs.split_once('.').unwrap_or((secs, ""));
        let invalid = || MappingError::Invalid("timestamp", secs.to_string());
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        let time = OffsetDateTime::from_unix_timestamp(whole).map_err(|_| invalid())?;
        if frac.is_empty() {
            return time.format(SECONDS_FORMAT).map_err(|_| invalid());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let millis: i64 = format!("{:0<3}", &frac[..frac.len().min(3)])
            .parse()
            .map_err(|_| invalid())?;
        let time = time + time::Duration::milliseconds(millis);
        return time.format(MILLIS_FORMAT).map_err(|_| invalid());
    }
    match (record.get(Field::Date), record.get(Field::Time)) {
        (Some(date), Some(time)) if is_date(date) && is_time(time) => Ok(format!("{date}T{time}Z")),
        (Some(date), Some(time)) => {
            Err(MappingError::Invalid("date/time", format!("{date} {time}")))
        }
        _ => Err(MappingError::Missing("timestamp")),
    }
}

fn digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD` with plausible month and day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(&b[..4])
        && digits(&b[5..7])
        && digits(&b[8..])
        && (1..=12).contains(&s[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&s[8..].parse::<u8>().unwrap_or(0))
}

/// `HH:MM:SS`, optionally with a fraction.
fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    b.len() >= 8
        && hms.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && digits(&b[..2])
        && digits(&b[3..5])
        && digits(&b[6..8])
        && s[..2] < *"24"
        && s[3..5] < *"60"
        && s[6..8] <= *"60"
        && digits(frac.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_to_ms_table() {
        let cases = [
            ("0.002", Some(2.0)),
            ("0.003", Some(3.0)),
            ("1.5", Some(1500.0)),
            ("2", Some(2000.0)),
            ("0.1234", Some(123.4)),
            (".5", Some(500.0)),
            ("", None),
            ("abc", None),
            ("-1", None),
            ("1.2.3", None),
        ];
        for (input, want) in cases {
            assert_eq!(seconds_to_ms(input), want, "input {input:?}");
        }
    }

    #[test]
    fn timestamp_sources_in_order() {
        let r = Record::from_pairs([
            ("timestamp(ms)", "1575493351123"),
            ("timestamp", "1"),
            ("date", "2000-01-01"),
            ("time", "00:00:00"),
        ]);
        assert_eq!(timestamp(&r).unwrap(), "2019-12-04T21:02:31.123Z");
        let r = Record::from_pairs([("timestamp", "1575493351"), ("date", "2000-01-01")]);
        assert_eq!(timestamp(&r).unwrap(), "2019-12-04T21:02:31Z");
        let r = Record::from_pairs([("timestamp", "1575493351.5")]);
        assert_eq!(timestamp(&r).unwrap(), "2019-12-04T21:02:31.500Z");
        let r = Record::from_pairs([("date", "2019-12-04"), ("time", "21:02:31")]);
        assert_eq!(timestamp(&r).unwrap(), "2019-12-04T21:02:31Z");
        for bad in [
            vec![("date", "2019-12-04")],
            vec![("date", "2019-13-04"), ("time", "21:02:31")],
            vec![("date", "2019-12-04"), ("time", "25:02:31")],
            vec![("date", "20191204"), ("time", "21:02:31")],
            vec![("timestamp(ms)", "soon")],
            vec![("timestamp", "1e9")],
            vec![],
        ] {
            let r = Record::from_pairs(bad.clone());
            assert!(timestamp(&r).is_err(), "{bad:?} should be rejected");
        }
    }
}
