//! The mapping table and the decoding rules of contract §3, row by row,
//! through the wire encoder; every transaction produced here is checked
//! against `docs/schema/transaction.v2.json`.

use super::*;
use crate::core::wire::{Encoder, WireOptions};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use cf_passive_testkit::schema::valid_transaction;
use serde_json::{json, Value};

const DIST: &str = "E27FO14I29XXXX";
const OBJECT: &str = "s3://bucket/key";

fn encode_with(pairs: &[(&str, &str)], options: WireOptions) -> Result<Value, MappingError> {
    let record = Record::from_pairs(pairs.iter().copied());
    let fields = required(&record)?;
    let tx = map_record(
        &record,
        fields,
        DIST,
        Origin {
            log_object: OBJECT,
            redactor: None,
        },
    );
    let mut out = Vec::new();
    Encoder::new(options).write_transaction(&mut out, &tx);
    Ok(valid_transaction(&out))
}

fn encode(pairs: &[(&str, &str)]) -> Result<Value, MappingError> {
    encode_with(pairs, WireOptions::default())
}

/// The required fields, plus `extra` (which may override them).
fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("date", "2019-12-04"),
        ("time", "21:02:31"),
        ("c-ip", "192.0.2.100"),
        ("cs-method", "GET"),
        ("cs-uri-stem", "/index.html"),
        ("sc-status", "200"),
    ];
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k, v));
    }
    pairs
}

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

#[test]
fn the_contract_example_exactly() {
    let pairs = with(&[
        (
            "x-edge-request-id",
            "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
        ),
        ("cs-protocol", "https"),
        ("cs-protocol-version", "HTTP/1.1"),
        ("cs-uri-query", "a=1&b=%252F"),
        ("x-host-header", "www.example.com"),
        ("c-port", "46532"),
        ("cs(User-Agent)", "Mozilla/5.0%20(X11;%20Linux%20x86_64)"),
        ("cs(Referer)", "https://example.com/"),
        ("cs(Cookie)", "session=abc;%20theme=dark"),
        ("x-forwarded-for", "198.51.100.7,%20203.0.113.9"),
        ("sc-content-type", "text/html"),
        ("sc-content-len", "1234"),
        ("sc-range-start", "0"),
        ("sc-range-end", "99"),
        ("x-edge-location", "SEA32-C1"),
        ("x-edge-result-type", "Hit"),
        ("x-edge-response-result-type", "Hit"),
        ("x-edge-detailed-result-type", "Hit"),
        ("time-taken", "0.002"),
        ("time-to-first-byte", "0.001"),
        ("ssl-protocol", "TLSv1.3"),
        ("ssl-cipher", "TLS_AES_128_GCM_SHA256"),
        ("cs-bytes", "181"),
        ("sc-bytes", "5678"),
        ("c-country", "US"),
        ("asn", "16509"),
    ]);
    let got = encode_with(
        &pairs,
        WireOptions {
            instance_id: "cf-passive-fn".into(),
            ..WireOptions::default()
        },
    )
    .unwrap();
    // Header values as printed in the contract (computed independently of our encoder).
    let want = json!({
      "timestamp": "1575493351.000",
      "version": "1.0",
      "transaction-id": "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
      "request": {
        "client-ip": "192.0.2.100",
        "http-scheme": "https",
        "http-version": "HTTP/1.1",
        "http-method": "GET",
        "uri-query-fragment": "/index.html?a=1&b=%2F",
        "host": "www.example.com",
        "connection": {
          "connection-ip": "192.0.2.100",
          "connection-port": 46532,
          "server-ip": "0.0.0.0",
          "server-port": 443
        },
        "headers": [
          "host:d3d3LmV4YW1wbGUuY29t",
          "user-agent:TW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KQ==",
          "referer:aHR0cHM6Ly9leGFtcGxlLmNvbS8=",
          "cookie:c2Vzc2lvbj1hYmM7IHRoZW1lPWRhcms=",
          "x-forwarded-for:MTk4LjUxLjEwMC43LCAyMDMuMC4xMTMuOQ=="
        ]
      },
      "response": {
        "status-code": "200",
        "headers": ["content-type:dGV4dC9odG1s", "content-length:MTIzNA==", "content-range:Ynl0ZXMgMC05OS8q"]
      },
      "txn-meta-data": {
        "source_info": {"version": crate::VERSION, "type": "cloudfront", "pool_id": DIST, "instance_id": "cf-passive-fn"},
        "cloudfront": {
          "distribution-id": DIST,
          "log-object": OBJECT,
          "edge-location": "SEA32-C1",
          "edge-result-type": "Hit",
          "edge-response-result-type": "Hit",
          "edge-detailed-result-type": "Hit",
          "time-taken-ms": 2.0,
          "time-to-first-byte-ms": 1.0,
          "ssl-protocol": "TLSv1.3",
          "ssl-cipher": "TLS_AES_128_GCM_SHA256",
          "request-bytes": 181,
          "response-bytes": 5678,
          "country": "US",
          "asn": 16509
        }
      }
    });
    assert_eq!(got, want);
}

/// `(log fields on top of the required ones, JSON pointer, expected value or None for omitted)`.
type Row = (
    &'static [(&'static str, &'static str)],
    &'static str,
    Option<Value>,
);

#[test]
fn mapping_table_row_by_row() {
    let rows: Vec<Row> = vec![
        // timestamp: timestamp(ms), else timestamp, else date + time
        (
            &[("timestamp(ms)", "1575493351123")],
            "/timestamp",
            Some(json!("1575493351.123")),
        ),
        (
            &[("timestamp", "1575493351.5")],
            "/timestamp",
            Some(json!("1575493351.500")),
        ),
        (
            &[("timestamp", "1575493351.123456")],
            "/timestamp",
            Some(json!("1575493351.123")),
        ),
        (
            &[("timestamp", "1575493351")],
            "/timestamp",
            Some(json!("1575493351.000")),
        ),
        (&[], "/timestamp", Some(json!("1575493351.000"))),
        (
            &[("time", "21:02:31.25")],
            "/timestamp",
            Some(json!("1575493351.250")),
        ),
        (
            &[("timestamp(ms)", "1"), ("timestamp", "2")],
            "/timestamp",
            Some(json!("0.001")),
        ),
        (&[("timestamp", "2")], "/timestamp", Some(json!("2.000"))),
        // version
        (&[], "/version", Some(json!("1.0"))),
        // transaction-id
        (
            &[("x-edge-request-id", "abc==")],
            "/transaction-id",
            Some(json!("abc==")),
        ),
        (&[], "/transaction-id", None),
        // client-ip and connection-ip, IPv4 and IPv6
        (&[], "/request/client-ip", Some(json!("192.0.2.100"))),
        (
            &[],
            "/request/connection/connection-ip",
            Some(json!("192.0.2.100")),
        ),
        (
            &[("c-ip", "2001:db8::8a2e:370:7334")],
            "/request/client-ip",
            Some(json!("2001:db8::8a2e:370:7334")),
        ),
        (
            &[("c-ip", "2001:db8::8a2e:370:7334")],
            "/request/connection/connection-ip",
            Some(json!("2001:db8::8a2e:370:7334")),
        ),
        // http-scheme and server-port per scheme
        (
            &[("cs-protocol", "https")],
            "/request/http-scheme",
            Some(json!("https")),
        ),
        (
            &[("cs-protocol", "https")],
            "/request/connection/server-port",
            Some(json!(443)),
        ),
        (
            &[("cs-protocol", "wss")],
            "/request/connection/server-port",
            Some(json!(443)),
        ),
        (
            &[("cs-protocol", "grpcs")],
            "/request/connection/server-port",
            Some(json!(443)),
        ),
        (
            &[("cs-protocol", "http")],
            "/request/connection/server-port",
            Some(json!(80)),
        ),
        (
            &[("cs-protocol", "ws")],
            "/request/connection/server-port",
            Some(json!(80)),
        ),
        (&[], "/request/connection/server-port", None),
        (&[], "/request/http-scheme", None),
        (&[("cs-protocol", "gopher")], "/request/http-scheme", None),
        (
            &[("cs-protocol", "gopher")],
            "/request/connection/server-port",
            None,
        ),
        // http-version, http-method
        (
            &[("cs-protocol-version", "HTTP/2.0")],
            "/request/http-version",
            Some(json!("HTTP/2.0")),
        ),
        (
            &[("cs-method", "POST")],
            "/request/http-method",
            Some(json!("POST")),
        ),
        // uri-query-fragment
        (
            &[],
            "/request/uri-query-fragment",
            Some(json!("/index.html")),
        ),
        (
            &[("cs-uri-query", "a=1")],
            "/request/uri-query-fragment",
            Some(json!("/index.html?a=1")),
        ),
        (
            &[
                ("cs-uri-stem", "/caf%C3%A9"),
                ("cs-uri-query", "q=a+b&p=100%25"),
            ],
            "/request/uri-query-fragment",
            Some(json!("/caf\u{e9}?q=a+b&p=100%")),
        ),
        // host: x-host-header, else cs(Host) / cs-host
        (
            &[
                ("x-host-header", "a.example"),
                ("cs(Host)", "d1.cloudfront.net"),
            ],
            "/request/host",
            Some(json!("a.example")),
        ),
        (
            &[("cs(Host)", "d1.cloudfront.net")],
            "/request/host",
            Some(json!("d1.cloudfront.net")),
        ),
        (
            &[("cs-host", "d2.cloudfront.net")],
            "/request/host",
            Some(json!("d2.cloudfront.net")),
        ),
        (&[], "/request/host", None),
        // connection-port
        (
            &[("c-port", "46532")],
            "/request/connection/connection-port",
            Some(json!(46532)),
        ),
        (
            &[("c-port", "65535")],
            "/request/connection/connection-port",
            Some(json!(65535)),
        ),
        (
            &[("c-port", "65536")],
            "/request/connection/connection-port",
            None,
        ),
        (
            &[("c-port", "-1")],
            "/request/connection/connection-port",
            None,
        ),
        (&[], "/request/connection/connection-port", None),
        // server-ip: s-ip, else the setting (default 0.0.0.0)
        (&[], "/request/connection/server-ip", Some(json!("0.0.0.0"))),
        (
            &[("s-ip", "203.0.113.5")],
            "/request/connection/server-ip",
            Some(json!("203.0.113.5")),
        ),
        // status-code
        (&[], "/response/status-code", Some(json!("200"))),
        (
            &[("sc-status", "000")],
            "/response/status-code",
            Some(json!("000")),
        ),
        (
            &[("sc-status", "404")],
            "/response/status-code",
            Some(json!("404")),
        ),
        // response headers
        (&[], "/response/headers", None),
        (
            &[("sc-content-type", "application/json;%20charset=utf-8")],
            "/response/headers",
            Some(json!([format!(
                "content-type:{}",
                b64(b"application/json; charset=utf-8")
            )])),
        ),
        (
            &[("sc-content-len", "0")],
            "/response/headers",
            Some(json!([format!("content-length:{}", b64(b"0"))])),
        ),
        (&[("sc-content-len", "12x")], "/response/headers", None),
        (&[("sc-range-start", "5")], "/response/headers", None),
        (&[("sc-range-end", "9")], "/response/headers", None),
        (
            &[("sc-range-start", "5"), ("sc-range-end", "9")],
            "/response/headers",
            Some(json!([format!("content-range:{}", b64(b"bytes 5-9/*"))])),
        ),
        // source_info
        (
            &[],
            "/txn-meta-data/source_info",
            Some(
                json!({"version": crate::VERSION, "type": "cloudfront", "pool_id": DIST, "instance_id": "cf-passive-cli"}),
            ),
        ),
        // CloudFront extras
        (
            &[],
            "/txn-meta-data/cloudfront",
            Some(json!({"distribution-id": DIST, "log-object": OBJECT})),
        ),
        (
            &[("x-edge-location", "SEA32-C1")],
            "/txn-meta-data/cloudfront/edge-location",
            Some(json!("SEA32-C1")),
        ),
        (
            &[("x-edge-result-type", "Miss")],
            "/txn-meta-data/cloudfront/edge-result-type",
            Some(json!("Miss")),
        ),
        (
            &[("x-edge-response-result-type", "Error")],
            "/txn-meta-data/cloudfront/edge-response-result-type",
            Some(json!("Error")),
        ),
        (
            &[("x-edge-detailed-result-type", "OriginShieldHit")],
            "/txn-meta-data/cloudfront/edge-detailed-result-type",
            Some(json!("OriginShieldHit")),
        ),
        (
            &[("time-taken", "0.125")],
            "/txn-meta-data/cloudfront/time-taken-ms",
            Some(json!(125.0)),
        ),
        (
            &[("time-taken", "0.003")],
            "/txn-meta-data/cloudfront/time-taken-ms",
            Some(json!(3.0)),
        ),
        (
            &[("time-taken", "1.5")],
            "/txn-meta-data/cloudfront/time-taken-ms",
            Some(json!(1500.0)),
        ),
        (
            &[("time-to-first-byte", "0.0005")],
            "/txn-meta-data/cloudfront/time-to-first-byte-ms",
            Some(json!(0.5)),
        ),
        (
            &[("time-taken", "abc")],
            "/txn-meta-data/cloudfront/time-taken-ms",
            None,
        ),
        (
            &[("ssl-protocol", "TLSv1.2")],
            "/txn-meta-data/cloudfront/ssl-protocol",
            Some(json!("TLSv1.2")),
        ),
        (
            &[("ssl-cipher", "ECDHE-RSA-AES128-GCM-SHA256")],
            "/txn-meta-data/cloudfront/ssl-cipher",
            Some(json!("ECDHE-RSA-AES128-GCM-SHA256")),
        ),
        (
            &[("cs-bytes", "181")],
            "/txn-meta-data/cloudfront/request-bytes",
            Some(json!(181)),
        ),
        (
            &[("sc-bytes", "18446744073709551615")],
            "/txn-meta-data/cloudfront/response-bytes",
            Some(json!(u64::MAX)),
        ),
        (
            &[("sc-bytes", "18446744073709551616")],
            "/txn-meta-data/cloudfront/response-bytes",
            None,
        ),
        (
            &[("sc-bytes", "+5")],
            "/txn-meta-data/cloudfront/response-bytes",
            None,
        ),
        (
            &[("c-country", "DE")],
            "/txn-meta-data/cloudfront/country",
            Some(json!("DE")),
        ),
        (
            &[("asn", "16509")],
            "/txn-meta-data/cloudfront/asn",
            Some(json!(16509)),
        ),
        (&[("asn", "AS16509")], "/txn-meta-data/cloudfront/asn", None),
        // `-` and empty are absent
        (&[("cs(Referer)", "-")], "/request/headers", None),
        (
            &[("ssl-protocol", "-")],
            "/txn-meta-data/cloudfront/ssl-protocol",
            None,
        ),
    ];
    for (extra, pointer, want) in rows {
        let got = encode(&with(extra)).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_eq!(
            got.pointer(pointer).cloned(),
            want,
            "{extra:?} at {pointer}"
        );
    }
}

#[test]
fn server_ip_setting_applies_only_without_s_ip() {
    let options = WireOptions {
        server_ip: "198.51.100.1".into(),
        ..WireOptions::default()
    };
    let t = encode_with(&with(&[]), options.clone()).unwrap();
    assert_eq!(t["request"]["connection"]["server-ip"], "198.51.100.1");
    let t = encode_with(&with(&[("s-ip", "203.0.113.5")]), options).unwrap();
    assert_eq!(t["request"]["connection"]["server-ip"], "203.0.113.5");
}

#[test]
fn request_headers_in_the_table_order_only_those_present() {
    let t = encode(&with(&[
        ("cs-accept-encoding", "gzip"),
        ("cs-accept", "*/*"),
        ("x-forwarded-for", "198.51.100.7"),
        ("cs(Cookie)", "a=b"),
        ("cs(Referer)", "https://r/"),
        ("cs(User-Agent)", "curl/8"),
        ("cs(Host)", "h.example"),
    ]))
    .unwrap();
    let names: Vec<&str> = t["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().split_once(':').unwrap().0)
        .collect();
    assert_eq!(
        names,
        [
            "host",
            "user-agent",
            "referer",
            "cookie",
            "x-forwarded-for",
            "accept",
            "accept-encoding"
        ]
    );
    let t = encode(&with(&[("cs(Cookie)", "a=b"), ("cs-user-agent", "curl/8")])).unwrap();
    assert_eq!(
        t["request"]["headers"],
        json!([
            format!("user-agent:{}", b64(b"curl/8")),
            format!("cookie:{}", b64(b"a=b"))
        ])
    );
}

#[test]
fn decoding_rules() {
    let header = |t: &Value, name: &str| -> Option<Vec<u8>> {
        t["request"]["headers"].as_array()?.iter().find_map(|h| {
            let (n, v) = h.as_str()?.split_once(':')?;
            (n == name).then(|| BASE64.decode(v).unwrap())
        })
    };
    // Invalid UTF-8: byte for byte in a header's base64, U+FFFD in a JSON string.
    let t = encode(&with(&[
        ("cs(User-Agent)", "bot%FF%FE/1"),
        ("x-host-header", "h%FFx.example"),
        ("cs-uri-stem", "/a%FFb"),
    ]))
    .unwrap();
    assert_eq!(header(&t, "user-agent").unwrap(), b"bot\xff\xfe/1");
    assert_eq!(header(&t, "host").unwrap(), b"h\xffx.example");
    assert_eq!(t["request"]["host"], "h\u{FFFD}x.example");
    assert_eq!(t["request"]["uri-query-fragment"], "/a\u{FFFD}b");

    let cases: &[(&str, &[u8])] = &[
        // decoded exactly once: a client's %2F stays %2F
        ("a%252Fb", b"a%2Fb"),
        // + is never a space
        ("curl/7.68.0+extra", b"curl/7.68.0+extra"),
        // a malformed escape and a trailing % are kept
        ("x%zzy%", b"x%zzy%"),
        // legacy double encoding of the user agent is undone
        (
            "Mozilla/5.0%2520(Windows%2520NT%252010.0)",
            b"Mozilla/5.0 (Windows NT 10.0)",
        ),
        // a once-decoded agent with a space is not decoded again
        ("a%20b%2520c", b"a b%20c"),
        // UTF-8 sent by the client
        ("caf%C3%A9", "caf\u{e9}".as_bytes()),
    ];
    for (logged, want) in cases {
        let t = encode(&with(&[("cs(User-Agent)", logged)])).unwrap();
        assert_eq!(header(&t, "user-agent").unwrap(), *want, "{logged}");
    }
    // Only the user agent gets the second decoding.
    let t = encode(&with(&[("cs(Referer)", "a%2520b")])).unwrap();
    assert_eq!(header(&t, "referer").unwrap(), b"a%20b");
}

#[test]
fn malformed_rows_name_what_is_missing() {
    let without = |name: &str| -> Vec<(&'static str, &'static str)> {
        with(&[]).into_iter().filter(|(k, _)| *k != name).collect()
    };
    for (name, reason) in [
        ("c-ip", "no usable c-ip"),
        ("cs-method", "no usable cs-method"),
        ("cs-uri-stem", "no usable cs-uri-stem"),
        ("sc-status", "no usable sc-status"),
        ("date", "no usable timestamp"),
        ("time", "no usable timestamp"),
    ] {
        let err = encode(&without(name)).unwrap_err();
        assert_eq!(err.to_string(), reason, "without {name}");
    }
    for (field, value) in [
        ("sc-status", "20"),
        ("sc-status", "2000"),
        ("sc-status", "2x0"),
        ("sc-status", "+20"),
        ("date", "2019-13-04"),
        ("date", "2019-02-30"),
        ("date", "20191204"),
        ("date", "1969-12-31"),
        ("time", "25:02:31"),
        ("time", "21:60:31"),
        ("time", "21:02:61"),
        ("time", "21:02:31.x"),
        ("timestamp(ms)", "soon"),
        ("timestamp(ms)", "-1"),
        ("timestamp", "1e9"),
        ("timestamp", "-5"),
        ("timestamp", "1."),
        ("timestamp", ".5"),
    ] {
        assert!(
            matches!(
                encode(&with(&[(field, value)])),
                Err(MappingError::Invalid(..))
            ),
            "{field}={value} should make the row malformed"
        );
    }
}

/// Issue 16, defect 1: `timestamp(ms)` used to be multiplied unchecked.
#[test]
fn overflowing_timestamp_ms_is_malformed_not_wrapped() {
    let nines = "9".repeat(33);
    let crafted = "5316911983139663491615229947863440304";
    for value in [
        nines.as_str(),
        crafted,
        "253402300800000",
        "9223372036854775808",
    ] {
        let record = Record::from_pairs(with(&[]).into_iter().chain([("timestamp(ms)", value)]));
        let err = required(&record).map(|r| r.epoch_ms).unwrap_err();
        assert!(
            matches!(&err, MappingError::Invalid("timestamp(ms)", v) if v == value),
            "{value}: {err:?}"
        );
    }
    // The last millisecond of year 9999 is still a time.
    let t = encode(&with(&[("timestamp(ms)", "253402300799999")])).unwrap();
    assert_eq!(t["timestamp"], "253402300799.999");
    // Real-time seconds overflow the same way.
    for value in [
        "9".repeat(30),
        "253402300800".into(),
        format!("{}.5", "9".repeat(19)),
    ] {
        let record =
            Record::from_pairs(with(&[]).into_iter().chain([("timestamp", value.as_str())]));
        assert!(required(&record).is_err(), "{value}");
    }
}

/// Issue 16, defect 2: a number that does not fit used to become `null`.
#[test]
fn a_number_that_does_not_fit_is_omitted_not_null() {
    let huge = format!("{}.5", "9".repeat(400));
    let record = Record::from_pairs(with(&[]).into_iter().chain([
        ("time-taken", huge.as_str()),
        ("time-to-first-byte", huge.as_str()),
    ]));
    let fields = required(&record).unwrap();
    let tx = map_record(
        &record,
        fields,
        DIST,
        Origin {
            log_object: OBJECT,
            redactor: None,
        },
    );
    assert_eq!((tx.time_taken_ms, tx.time_to_first_byte_ms), (None, None));
    let mut out = Vec::new();
    Encoder::default().write_transaction(&mut out, &tx);
    let t = valid_transaction(&out);
    assert_eq!(
        t["txn-meta-data"]["cloudfront"],
        json!({"distribution-id": DIST, "log-object": OBJECT})
    );
    assert!(!String::from_utf8(out).unwrap().contains(":null"));
}

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
        (".", None),
        ("abc", None),
        ("-1", None),
        ("1e3", None),
        ("inf", None),
        ("NaN", None),
        ("1.2.3", None),
    ];
    for (input, want) in cases {
        assert_eq!(seconds_to_ms(input), want, "input {input:?}");
    }
    assert_eq!(seconds_to_ms(&"9".repeat(400)), None);
}

#[test]
fn checked_number_parsers() {
    assert_eq!(whole_number("0"), Some(0));
    assert_eq!(whole_number("18446744073709551615"), Some(u64::MAX));
    for bad in [
        "",
        "18446744073709551616",
        "+1",
        "-1",
        " 1",
        "1 ",
        "0x10",
        "1.0",
    ] {
        assert_eq!(whole_number(bad), None, "{bad:?}");
    }
    assert_eq!(port("443"), Some(443));
    assert_eq!(port("65536"), None);
    assert_eq!(epoch_seconds("1575493351.123"), Some(1_575_493_351_123));
    assert_eq!(epoch_seconds("1575493351.1"), Some(1_575_493_351_100));
    assert_eq!(epoch_seconds("0"), Some(0));
    assert_eq!(epoch_millis("0"), Some(0));
    assert_eq!(date_time_ms("1970-01-01", "00:00:00"), Some(0));
    assert_eq!(
        date_time_ms("2024-02-29", "23:59:59.999"),
        Some(1_709_251_199_999)
    );
    assert_eq!(date_time_ms("2023-02-29", "00:00:00"), None);
    assert_eq!(
        date_time_ms("9999-12-31", "23:59:59.999"),
        Some(MAX_EPOCH_MS)
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The integer fast path of `seconds_to_ms` gives what moving the
        /// decimal point in the text gives.
        #[test]
        fn seconds_to_ms_fast_path_equals_the_text_shift(int in "[0-9]{0,13}", frac in "[0-9]{0,4}") {
            prop_assume!(!int.is_empty() || !frac.is_empty());
            let text = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
            prop_assert_eq!(seconds_to_ms(&text), shifted_ms(&int, &frac), "{}", text);
        }
    }

    fn has_null(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(a) => a.iter().any(has_null),
            Value::Object(o) => o.values().any(has_null),
            _ => false,
        }
    }

    /// Text a numeric log field might hold: digits of any length, with or
    /// without a point, signs, exponents, letters, or anything at all.
    fn numeric_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,80}",
            "[0-9]{0,40}\\.[0-9]{0,40}",
            "[-+]?[0-9]{1,30}([eE][-+]?[0-9]{1,4})?",
            "(inf|NaN|infinity|-0|0x1F|1_000)",
            "\\PC{0,40}",
        ]
    }

    const NUMERIC_FIELDS: [&str; 12] = [
        "timestamp(ms)",
        "timestamp",
        "c-port",
        "cs-bytes",
        "sc-bytes",
        "sc-content-len",
        "sc-range-start",
        "sc-range-end",
        "time-taken",
        "time-to-first-byte",
        "asn",
        "sc-status",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any content in any numeric field: no panic, and the row is either
        /// malformed or a valid transaction without null, NaN or infinity.
        #[test]
        fn numeric_fields_never_panic_or_produce_null(
            values in proptest::collection::vec(numeric_text(), NUMERIC_FIELDS.len()),
            mask in proptest::collection::vec(any::<bool>(), NUMERIC_FIELDS.len()),
        ) {
            let mut pairs: Vec<(&str, &str)> = with(&[]);
            for ((name, value), on) in NUMERIC_FIELDS.iter().zip(&values).zip(&mask) {
                if *on {
                    pairs.retain(|(k, _)| k != name);
                    pairs.push((name, value.as_str()));
                }
            }
            let record = Record::from_pairs(pairs.iter().copied());
            if let Ok(fields) = required(&record) {
                prop_assert!((MIN_EPOCH_MS..=MAX_EPOCH_MS).contains(&fields.epoch_ms));
                let tx = map_record(&record, fields, DIST, Origin { log_object: OBJECT, redactor: None });
                for ms in [tx.time_taken_ms, tx.time_to_first_byte_ms].into_iter().flatten() {
                    prop_assert!(ms.is_finite() && ms >= 0.0);
                }
                let mut out = Vec::new();
                Encoder::default().write_transaction(&mut out, &tx);
                // JSON has no NaN or infinity: parsing would fail on them.
                let t = valid_transaction(&out);
                prop_assert!(!has_null(&t), "{}", t);
            }
        }

        /// Any text in any string field gives a valid transaction.
        #[test]
        fn string_fields_always_encode_validly(
            agent in "\\PC{0,60}", referer in "[ -~]{0,60}", stem in "/[ -~]{0,60}", host in "[%0-9A-Fa-z.]{1,40}",
        ) {
            let pairs = with(&[]);
            let mut pairs: Vec<(&str, &str)> = pairs.into_iter().filter(|(k, _)| *k != "cs-uri-stem").collect();
            pairs.extend([("cs(User-Agent)", agent.as_str()), ("cs(Referer)", referer.as_str()), ("cs-uri-stem", stem.as_str()), ("x-host-header", host.as_str())]);
            let record = Record::from_pairs(pairs.iter().copied());
            let fields = required(&record).unwrap();
            let tx = map_record(&record, fields, DIST, Origin { log_object: OBJECT, redactor: None });
            let mut out = Vec::new();
            Encoder::default().write_transaction(&mut out, &tx);
            valid_transaction(&out);
        }
    }
}

/// Contract §8: every complete `cs-headers` header follows the fixed ones,
/// none twice, each decoded and redacted like them.
#[test]
fn realtime_cs_headers_follow_the_fixed_headers_once_each() {
    let headers = |pairs: &[(&'static str, &'static str)]| -> Vec<String> {
        let t = encode(&with(pairs)).unwrap();
        t["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let (name, value) = h.as_str().unwrap().split_once(':').unwrap();
                let value = BASE64.decode(value).unwrap();
                format!("{name}={}", String::from_utf8_lossy(&value))
            })
            .collect()
    };
    let block = "Host:a%0AUser-Agent:curl%0AX-Api-Key:k%25%0ACookie:a=1%0ACookie:b=2%0A";
    assert_eq!(
        headers(&[
            ("cs-host", "a"),
            ("cs-user-agent", "curl"),
            ("cs-cookie", "a=1;b=2"),
            ("cs-headers", block),
        ]),
        [
            "host=a",
            "user-agent=curl",
            "cookie=a=1;b=2",
            "x-api-key=k%"
        ]
    );
    assert_eq!(
        headers(&[("cs-host", "a"), ("cs-headers", block)]),
        [
            "host=a",
            "user-agent=curl",
            "x-api-key=k%",
            "cookie=a=1",
            "cookie=b=2"
        ]
    );
    // Standard logs have no cs-headers: nothing extra, nothing allocated.
    let record = Record::from_pairs(with(&[]));
    let tx = map_record(
        &record,
        required(&record).unwrap(),
        DIST,
        Origin {
            log_object: OBJECT,
            redactor: None,
        },
    );
    assert_eq!(tx.request_headers.extra.capacity(), 0);
}
