//! The fast encoder against a straightforward one: every transaction is also
//! built as a `serde_json::Value`, field by field as contract §3 describes it,
//! and the two must say the same thing. Numbers are compared with their kind
//! (`2.0` is not `2`), and the float writer byte for byte with `serde_json`.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::core::realtime::RequestHeader;
use crate::core::transaction::{RequestHeaders, ResponseHeaders};

/// The transaction as a plain `serde_json` rendering would have it.
fn reference(tx: &Transaction<'_>, options: &WireOptions) -> Value {
    fn put<V: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<V>) {
        if let Some(value) = value {
            map.insert(key.to_string(), value.into());
        }
    }
    fn headers(map: &mut Map<String, Value>, list: Vec<(&str, Cow<'_, [u8]>)>) {
        if !list.is_empty() {
            let list: Vec<Value> = list
                .into_iter()
                .map(|(name, value)| Value::String(format!("{name}:{}", BASE64.encode(value))))
                .collect();
            map.insert("headers".to_string(), Value::Array(list));
        }
    }
    let lossy = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());

    let mut connection = Map::new();
    connection.insert("connection-ip".into(), tx.client_ip.into());
    put(&mut connection, "connection-port", tx.client_port);
    connection.insert(
        "server-ip".into(),
        tx.server_ip.unwrap_or(&options.server_ip).into(),
    );
    put(&mut connection, "server-port", tx.server_port());

    let mut request = Map::new();
    request.insert("client-ip".into(), tx.client_ip.into());
    put(&mut request, "http-scheme", tx.scheme);
    put(&mut request, "http-version", tx.http_version);
    request.insert("http-method".into(), tx.method.into());
    let mut uri = tx.path.to_string();
    if let Some(query) = &tx.query {
        uri.push('?');
        uri.push_str(query);
    }
    request.insert("uri-query-fragment".into(), uri.into());
    let h = &tx.request_headers;
    put(&mut request, "host", h.host.as_deref().map(lossy));
    request.insert("connection".into(), Value::Object(connection));
    let fixed = [
        ("host", &h.host),
        ("user-agent", &h.user_agent),
        ("referer", &h.referer),
        ("cookie", &h.cookie),
        ("x-forwarded-for", &h.x_forwarded_for),
        ("accept", &h.accept),
        ("accept-encoding", &h.accept_encoding),
    ];
    let mut list: Vec<(&str, Cow<'_, [u8]>)> = fixed
        .into_iter()
        .filter_map(|(name, value)| Some((name, Cow::Borrowed(value.as_deref()?))))
        .collect();
    list.extend(h.extra.iter().map(|e| (&*e.name, Cow::Borrowed(&*e.value))));
    headers(&mut request, list);

    let mut response = Map::new();
    response.insert("status-code".into(), tx.status.into());
    let r = &tx.response_headers;
    let mut list: Vec<(&str, Cow<'_, [u8]>)> = Vec::new();
    if let Some(content_type) = &r.content_type {
        list.push(("content-type", Cow::Borrowed(content_type)));
    }
    if let Some(length) = r.content_length {
        list.push((
            "content-length",
            Cow::Owned(length.to_string().into_bytes()),
        ));
    }
    if let Some((start, end)) = r.range {
        list.push((
            "content-range",
            Cow::Owned(format!("bytes {start}-{end}/*").into_bytes()),
        ));
    }
    headers(&mut response, list);

    let mut cloudfront = Map::new();
    cloudfront.insert("distribution-id".into(), tx.distribution_id.into());
    cloudfront.insert("log-object".into(), tx.log_object.into());
    put(&mut cloudfront, "edge-location", tx.edge_location);
    put(&mut cloudfront, "edge-result-type", tx.edge_result_type);
    put(
        &mut cloudfront,
        "edge-response-result-type",
        tx.edge_response_result_type,
    );
    put(
        &mut cloudfront,
        "edge-detailed-result-type",
        tx.edge_detailed_result_type,
    );
    put(&mut cloudfront, "time-taken-ms", finite(tx.time_taken_ms));
    put(
        &mut cloudfront,
        "time-to-first-byte-ms",
        finite(tx.time_to_first_byte_ms),
    );
    put(&mut cloudfront, "ssl-protocol", tx.ssl_protocol);
    put(&mut cloudfront, "ssl-cipher", tx.ssl_cipher);
    put(&mut cloudfront, "request-bytes", tx.request_bytes);
    put(&mut cloudfront, "response-bytes", tx.response_bytes);
    put(&mut cloudfront, "country", tx.country);
    put(&mut cloudfront, "asn", tx.asn);

    let mut top = Map::new();
    top.insert(
        "timestamp".into(),
        format!("{}.{:03}", tx.epoch_ms / 1000, tx.epoch_ms % 1000).into(),
    );
    top.insert("version".into(), TRANSACTION_VERSION.into());
    put(&mut top, "transaction-id", tx.transaction_id);
    top.insert("request".into(), Value::Object(request));
    top.insert("response".into(), Value::Object(response));
    top.insert(
        "txn-meta-data".into(),
        json!({
            "source_info": {
                "version": crate::VERSION,
                "type": SOURCE_TYPE,
                "pool_id": tx.distribution_id,
                "instance_id": options.instance_id,
            },
            "cloudfront": Value::Object(cloudfront),
        }),
    );
    Value::Object(top)
}

/// Owned values a [`Transaction`] can borrow from.
#[derive(Debug, Clone)]
struct Owned {
    epoch_ms: i64,
    strings: Vec<Option<String>>,
    headers: Vec<Option<Vec<u8>>>,
    extra: Vec<(String, Vec<u8>)>,
    numbers: Vec<Option<u64>>,
    floats: [Option<f64>; 2],
    port: Option<u16>,
    range: Option<(u64, u64)>,
}

const STRINGS: usize = 18;

impl Owned {
    fn transaction(&self) -> Transaction<'_> {
        let s = |i: usize| self.strings[i].as_deref();
        let b = |i: usize| self.headers[i].as_deref().map(Cow::Borrowed);
        Transaction {
            epoch_ms: self.epoch_ms,
            transaction_id: s(0),
            client_ip: s(1).unwrap_or("192.0.2.1"),
            client_port: self.port,
            server_ip: s(2),
            scheme: s(3),
            http_version: s(4),
            method: s(5).unwrap_or("GET"),
            path: Cow::Borrowed(s(6).unwrap_or("/")),
            query: s(7).map(Cow::Borrowed),
            request_headers: RequestHeaders {
                host: b(0),
                user_agent: b(1),
                referer: b(2),
                cookie: b(3),
                x_forwarded_for: b(4),
                accept: b(5),
                accept_encoding: b(6),
                extra: self
                    .extra
                    .iter()
                    .map(|(name, value)| RequestHeader {
                        name: Cow::Borrowed(name),
                        value: Cow::Borrowed(value),
                    })
                    .collect(),
            },
            status: s(8).unwrap_or("200"),
            response_headers: ResponseHeaders {
                content_type: b(7),
                content_length: self.numbers[0],
                range: self.range,
            },
            distribution_id: s(9).unwrap_or("E27FO14I29XXXX"),
            log_object: s(10).unwrap_or("s3://bucket/key"),
            edge_location: s(11),
            edge_result_type: s(12),
            edge_response_result_type: s(13),
            edge_detailed_result_type: s(14),
            time_taken_ms: self.floats[0],
            time_to_first_byte_ms: self.floats[1],
            ssl_protocol: s(15),
            ssl_cipher: s(16),
            request_bytes: self.numbers[1],
            response_bytes: self.numbers[2],
            country: s(17),
            asn: self.numbers[3],
        }
    }
}

/// Floats as the mapping makes them (whole milliseconds, mostly) and any other.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u64..10_000_000).prop_map(|ms| ms as f64),
        (0u64..(1 << 53)).prop_map(|ms| ms as f64),
        (0u64..u64::MAX).prop_map(|ms| ms as f64),
        any::<f64>(),
        (0u32..100_000_000).prop_map(|v| f64::from(v) / 1000.0),
    ]
}

/// Text with what JSON must escape, non-ASCII, and plain ASCII runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        any::<String>(),
        "[a-z\"\\\\\t\n\u{0}-\u{1f}\u{7f}é✓]{0,40}",
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    let header = || {
        proptest::option::of(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "[ -~]{0,80}".prop_map(String::into_bytes),
        ])
    };
    (
        0..=crate::core::transaction::MAX_EPOCH_MS,
        proptest::collection::vec(proptest::option::of(text()), STRINGS),
        proptest::collection::vec(header(), 8),
        proptest::collection::vec(
            (
                "[a-z-]{1,20}",
                proptest::collection::vec(any::<u8>(), 0..40),
            ),
            0..4,
        ),
        proptest::collection::vec(proptest::option::of(any::<u64>()), 4),
        (proptest::option::of(float()), proptest::option::of(float())),
        proptest::option::of(any::<u16>()),
        proptest::option::of((any::<u64>(), any::<u64>())),
    )
        .prop_map(
            |(epoch_ms, strings, headers, extra, numbers, floats, port, range)| Owned {
                epoch_ms,
                strings,
                headers,
                extra,
                numbers,
                floats: [floats.0, floats.1],
                port,
                range,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One encoder writes several transactions in a row (what it keeps from
    /// one to the next must not leak into the next).
    #[test]
    fn the_fast_encoder_matches_a_serde_json_reference(
        owned in proptest::collection::vec(owned(), 1..4),
        repeat_last in any::<bool>(),
    ) {
        let options = WireOptions {
            server_ip: "198.51.100.7".into(),
            instance_id: "fn-\"name\"".into(),
        };
        let mut encoder = Encoder::new(options.clone());
        let mut owned = owned;
        if repeat_last {
            owned.push(owned[owned.len() - 1].clone());
        }
        for owned in &owned {
            let tx = owned.transaction();
            let mut out = b"prefix".to_vec();
            encoder.write_transaction(&mut out, &tx);
            prop_assert_eq!(&out[..6], b"prefix", "the encoder appends");
            let fast: Value = serde_json::from_slice(&out[6..]).expect("valid JSON");
            prop_assert_eq!(fast, reference(&tx, &options));
        }
    }

    #[test]
    fn floats_are_written_as_serde_json_writes_them(value in float()) {
        prop_assume!(value.is_finite());
        let mut out = Vec::new();
        write_float(&mut out, value);
        prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&value).unwrap());
    }

    #[test]
    fn integers_are_written_as_display_writes_them(value in any::<u64>(), port in any::<u16>()) {
        let mut out = Vec::new();
        write_int(&mut out, value);
        write_int(&mut out, port);
        prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{value}{port}"));
    }
}

#[test]
fn whole_floats_near_the_limit_match_serde_json() {
    for value in [
        0.0,
        1.0,
        WHOLE_FLOAT_LIMIT - 1.0,
        WHOLE_FLOAT_LIMIT,
        1e16,
        1e17,
        -0.0,
        -2.0,
        0.5,
        123_456.789,
    ] {
        let mut out = Vec::new();
        write_float(&mut out, value);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&value).unwrap(),
            "{value}"
        );
    }
}

#[test]
fn escaping_finds_every_byte_at_any_position() {
    // Each byte that needs escaping, at each offset of a 17-byte run (both
    // the word-wide test and the byte tail), and never one that does not.
    for b in 0u8..=127 {
        for at in 0..17 {
            let mut text = vec![b'a'; 17];
            text[at] = b;
            let mut out = Vec::new();
            json_str(&mut out, &text);
            let want = serde_json::to_string(std::str::from_utf8(&text).unwrap()).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "byte {b:#x} at {at}");
        }
    }
}
