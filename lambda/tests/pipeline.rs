//! The core pipeline over fixtures written for the contract's rules
//! (sections 3–5), run through the public library API.

use std::io::{Cursor, Write};
use std::path::PathBuf;

use cf_passive::core::pipeline::{
    process_object, AllowAll, DistributionGate, Flow, PipelineError, PipelineOptions, Processed,
    TransactionSink,
};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[derive(Default)]
struct Collect(Vec<Value>);

impl TransactionSink for Collect {
    fn accept(&mut self, encoded: &[u8]) -> Flow {
        self.0
            .push(serde_json::from_slice(encoded).expect("transactions are valid JSON"));
        Flow::Continue
    }
}

fn run_with(bytes: Vec<u8>, key: &str, gate: &mut dyn DistributionGate) -> (Vec<Value>, Processed) {
    let mut sink = Collect::default();
    let object = cf_passive::core::object::ObjectId::new("logs-bucket", key);
    let processed = process_object(
        Cursor::new(bytes),
        &object,
        &PipelineOptions::default(),
        gate,
        &mut sink,
    );
    (sink.0, processed)
}

fn run(bytes: Vec<u8>, key: &str) -> (Vec<Value>, Processed) {
    run_with(bytes, key, &mut AllowAll)
}

fn ids(transactions: &[Value]) -> Vec<&str> {
    transactions
        .iter()
        .map(|t| t["transaction-id"].as_str().unwrap())
        .collect()
}

const LEGACY: &str = "E2EXAMPLE1.2024-01-31-23.a1b2c3d4";

#[test]
fn legacy_33_column_log_maps_exactly_as_the_contract_says() {
    let (txs, processed) = run(fixture(LEGACY), &format!("prefix/{LEGACY}.gz"));
    assert!(processed.error.is_none());
    assert_eq!(
        ids(&txs),
        [
            "REQ-legacy-01",
            "REQ-legacy-02",
            "REQ-legacy-04",
            "REQ-legacy-05",
            "REQ-legacy-07",
            "REQ-legacy-08"
        ]
    );
    let s = &processed.summary;
    assert_eq!(
        (s.lines, s.transactions, s.skipped_static, s.malformed),
        (13, 6, 2, 1)
    );
    assert_eq!(
        s.malformed_samples[0].line, 8,
        "the malformed row is named by its line"
    );
    assert!(s.malformed_samples[0].reason.contains("cs-method"));
    assert_eq!(s.per_distribution.get("E2EXAMPLE1"), Some(&6));

    let expected = json!({
        "version": "1.0",
        "transaction-id": "REQ-legacy-01",
        "timestamp": "2024-01-31T23:01:02Z",
        "request": {
            "client-ip": "192.0.2.100",
            "client-port": 46532,
            "http-scheme": "https",
            "http-version": "HTTP/1.1",
            "http-method": "GET",
            "host": "www.example.com",
            "path": "/api/v1/users",
            "query": "a=1&b=%2F",
            "uri-query-fragment": "/api/v1/users?a=1&b=%2F",
            "headers": [
                {"name": "host", "value": "www.example.com"},
                {"name": "user-agent", "value": "Mozilla/5.0 (X11; Linux x86_64)"},
                {"name": "referer", "value": "https://example.com/"},
                {"name": "cookie", "value": "session=abc; theme=dark"},
                {"name": "x-forwarded-for", "value": "198.51.100.7, 203.0.113.9"}
            ],
            "bytes": 181
        },
        "response": {
            "status": 200,
            "headers": [
                {"name": "content-type", "value": "text/html"},
                {"name": "content-length", "value": "1234"},
                {"name": "content-range", "value": "bytes 0-99/*"}
            ],
            "bytes": 5678
        },
        "txn-meta-data": {
            "source_info": {"type": "cloudfront-standard-log", "version": env!("CARGO_PKG_VERSION")},
            "distribution-id": "E2EXAMPLE1",
            "log-object": format!("s3://logs-bucket/prefix/{LEGACY}.gz"),
            "edge-location": "SEA32-C1",
            "edge-result-type": "Hit",
            "edge-response-result-type": "Hit",
            "edge-detailed-result-type": "Hit",
            "time-taken-ms": 2.0,
            "time-to-first-byte-ms": 1.0,
            "ssl-protocol": "TLSv1.3",
            "ssl-cipher": "TLS_AES_128_GCM_SHA256"
        }
    });
    assert_eq!(txs[0], expected);
}

#[test]
fn absent_fields_are_omitted_and_status_000_is_0() {
    let (txs, _) = run(fixture(LEGACY), LEGACY);
    let t = &txs[1];
    assert_eq!(t["request"]["client-ip"], "2001:db8::8a2e:370:7334");
    assert_eq!(t["response"]["status"], 0);
    assert_eq!(t["request"]["uri-query-fragment"], "/api/v1/orders");
    for absent in ["query", "host", "headers", "http-version"] {
        assert!(
            t["request"].get(absent).is_none(),
            "request.{absent} must be omitted"
        );
    }
    assert!(t["response"].get("headers").is_none());
    for absent in [
        "ssl-protocol",
        "ssl-cipher",
        "edge-result-type",
        "time-to-first-byte-ms",
        "country",
        "asn",
    ] {
        assert!(
            t["txn-meta-data"].get(absent).is_none(),
            "txn-meta-data.{absent} must be omitted"
        );
    }
    let text = serde_json::to_string(&txs).unwrap();
    assert!(!text.contains("null"), "never null");
    assert!(!text.contains("\"-\""), "never \"-\"");
}

#[test]
fn decoding_rules_hold_end_to_end() {
    let (txs, _) = run(fixture(LEGACY), LEGACY);
    let header = |t: &Value, name: &str| {
        t["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["value"].clone())
    };
    // legacy double-encoded agent decoded twice
    assert_eq!(
        header(&txs[2], "user-agent").unwrap(),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    );
    // '+' stays '+', a client's %25 stays a single %25 after one decode, UTF-8 paths decoded
    assert_eq!(header(&txs[3], "user-agent").unwrap(), "curl/7.68.0+extra");
    assert_eq!(txs[3]["request"]["query"], "q=a+b&pct=100%25");
    assert_eq!(txs[3]["request"]["path"], "/api/caf\u{e9}");
    // x-host-header absent: cs(Host) is the host
    assert_eq!(txs[3]["request"]["host"], "d111111abcdef8.cloudfront.net");
    // short row (31 of 33 columns): mapped over the columns it has
    assert_eq!(txs[4]["response"]["headers"].as_array().unwrap().len(), 2);
    // after the mid-file header change to 24 columns
    assert_eq!(txs[5]["response"]["status"], 302);
    assert!(txs[5]["request"].get("client-port").is_none());
}

#[test]
fn older_24_column_logs() {
    let key = "E2OLDFORMAT24.2016-03-01-22.9f8e7d6c.gz";
    let (txs, p) = run(gzip(&fixture("E2OLDFORMAT24.2016-03-01-22.9f8e7d6c")), key);
    assert_eq!(ids(&txs), ["REQ-old24-0", "REQ-old24-1"]);
    assert_eq!(p.summary.skipped_static, 1);
    assert_eq!(txs[1]["timestamp"], "2016-03-01T22:00:01Z");
    assert_eq!(
        txs[0]["request"]["headers"][1]["value"],
        "Mozilla/5.0 (Macintosh; Intel Mac OS X)"
    );
}

#[test]
fn multi_member_gzip_equals_plain() {
    let text = fixture(LEGACY);
    let cut = text.len() / 2
        + text[text.len() / 2..]
            .iter()
            .position(|b| *b == b'\n')
            .unwrap()
        + 1;
    let mut two_members = gzip(&text[..cut]);
    two_members.extend(gzip(&text[cut..]));
    let (plain, _) = run(text, LEGACY);
    let (gz, p) = run(two_members, LEGACY);
    assert!(p.error.is_none());
    assert_eq!(plain, gz);
}

#[test]
fn v2_json_under_a_hive_path() {
    let key = "AWSLogs/aws-account-id=123456789012/CloudFront/DistributionId=E3JSONEXAMPLE/year=2024/month=01/day=31/hour=23/log-0001";
    let (txs, p) = run(gzip(&fixture(key)), &format!("{key}.gz"));
    assert_eq!(ids(&txs), ["REQ-json-01", "REQ-json-02"]);
    assert_eq!(p.summary.skipped_static, 1);
    assert_eq!(p.summary.malformed, 2);
    assert_eq!(
        p.summary
            .malformed_samples
            .iter()
            .map(|m| m.line)
            .collect::<Vec<_>>(),
        [4, 5]
    );
    assert_eq!(txs[0]["timestamp"], "2024-01-31T23:01:02.123Z");
    assert_eq!(txs[0]["txn-meta-data"]["distribution-id"], "E3JSONEXAMPLE");
    assert_eq!(txs[0]["txn-meta-data"]["country"], "US");
    assert_eq!(txs[0]["txn-meta-data"]["asn"], 16509);
    assert_eq!(txs[1]["request"]["query"], "term=caf\u{e9}");
    assert!(txs[1]["txn-meta-data"].get("asn").is_none());
}

#[test]
fn v2_w3c_with_crlf_and_no_version_line() {
    let key = "cloudfront-logs/E4W3CEXAMPLE/2024/01/31/23/log-0001";
    let raw = fixture(key);
    assert!(
        raw.windows(2).any(|w| w == b"\r\n"),
        "fixture has CRLF endings"
    );
    let (txs, p) = run(raw, key);
    assert_eq!(ids(&txs), ["REQ-w3c-0", "REQ-w3c-1"]);
    assert_eq!(p.summary.skipped_static, 1);
    assert_eq!(txs[0]["txn-meta-data"]["distribution-id"], "E4W3CEXAMPLE");
    assert_eq!(txs[1]["timestamp"], "2024-01-31T23:00:01.500Z");
    assert_eq!(txs[0]["request"]["headers"][2]["value"], "cart={\"n\":2}");
    assert_eq!(
        txs[0]["response"]["headers"][0]["value"],
        "application/json; charset=utf-8"
    );
    assert_eq!(txs[0]["txn-meta-data"]["time-taken-ms"], 125.0);
    assert!(!serde_json::to_string(&txs).unwrap().contains('\r'));
}

#[test]
fn distribution_from_a_record_field_and_objects_without_one() {
    let (txs, _) = run(
        fixture("rule4-distribution-field.json"),
        "exports/rule4.json",
    );
    assert_eq!(txs[0]["txn-meta-data"]["distribution-id"], "E5FIELDEXAMPLE");
    assert_eq!(txs[0]["timestamp"], "2024-01-31T23:01:02Z");

    let (txs, p) = run(fixture(LEGACY), "somewhere/unnamed.log");
    assert!(txs.is_empty(), "no id in key or records: nothing forwarded");
    assert_eq!(p.summary.no_distribution, 8);
    assert!(p.error.is_none(), "not an error: retrying cannot help");
}

struct Gate {
    enabled: &'static [&'static str],
    fail: bool,
    calls: usize,
}

impl DistributionGate for Gate {
    fn allow(&mut self, id: &str) -> Result<bool, String> {
        self.calls += 1;
        if self.fail {
            return Err("ListTagsForResource timed out".into());
        }
        Ok(self.enabled.contains(&id))
    }
}

#[test]
fn the_enabled_gate_is_asked_once_per_distribution() {
    let mut gate = Gate {
        enabled: &[],
        fail: false,
        calls: 0,
    };
    let (txs, p) = run_with(fixture(LEGACY), LEGACY, &mut gate);
    assert!(txs.is_empty());
    assert_eq!(
        p.summary.skipped_disabled, 8,
        "static rows of a disabled distribution count as disabled"
    );
    assert_eq!(gate.calls, 1);

    let mut gate = Gate {
        enabled: &["E2EXAMPLE1"],
        fail: false,
        calls: 0,
    };
    let (txs, _) = run_with(fixture(LEGACY), LEGACY, &mut gate);
    assert_eq!(txs.len(), 6);

    let mut gate = Gate {
        enabled: &[],
        fail: true,
        calls: 0,
    };
    let (txs, p) = run_with(fixture(LEGACY), LEGACY, &mut gate);
    assert!(
        txs.is_empty(),
        "nothing forwarded for a distribution that may be disabled"
    );
    let err = p.error.expect("a failed lookup fails the object");
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains("s3://logs-bucket/E2EXAMPLE1"),
        "{err}"
    );
}

fn generated(records: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut g =
        cf_loggen::Generator::new(7, cf_loggen::Format::Legacy, cf_loggen::Options::default());
    g.write_header(&mut out).unwrap();
    g.write_records(&mut out, records).unwrap();
    out
}

#[test]
fn truncated_gzip_yields_every_complete_record_then_an_error_naming_the_object() {
    let text = generated(5000);
    let key = "E27FO14I29XXXX.2024-01-31-23.trunc.gz";
    let (full, _) = run(text.clone(), key);
    let compressed = gzip(&text);
    let (partial, p) = run(compressed[..compressed.len() * 2 / 3].to_vec(), key);
    assert!(!partial.is_empty() && partial.len() < full.len());
    assert_eq!(
        partial[..],
        full[..partial.len()],
        "a prefix of the full output, in order"
    );
    let err = p.error.expect("truncation is reported");
    assert!(matches!(err, PipelineError::Read { .. }));
    assert!(
        !err.is_retryable(),
        "a corrupt object does not heal by retrying"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("s3://logs-bucket/{key}")),
        "{message}"
    );
}

#[test]
fn corrupt_gzip_and_garbage_never_panic() {
    let mut corrupt = gzip(&generated(200));
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 16].fill(0xAA);
    let (_, p) = run(corrupt, LEGACY);
    assert!(p.error.is_some());
    let (txs, p) = run(
        b"\x00\xff garbage\n\t\t\t\n#Fields: c-ip\n\xff\xfe\n".to_vec(),
        LEGACY,
    );
    assert!(txs.is_empty());
    assert!(p.summary.malformed >= 2);
}

#[test]
fn generated_logs_in_every_format_yield_the_same_transactions() {
    let mut by_format = Vec::new();
    for format in [
        cf_loggen::Format::Legacy,
        cf_loggen::Format::W3c,
        cf_loggen::Format::Json,
    ] {
        let mut out = Vec::new();
        let mut g = cf_loggen::Generator::new(11, format, cf_loggen::Options::default());
        g.write_header(&mut out).unwrap();
        g.write_records(&mut out, 300).unwrap();
        let (txs, p) = run(gzip(&out), "E27FO14I29XXXX.2024-01-31-23.fmt.gz");
        assert_eq!(
            p.summary.malformed, 0,
            "{format:?}: {:?}",
            p.summary.malformed_samples
        );
        assert!(txs.len() > 100);
        by_format.push(ids(&txs).into_iter().map(String::from).collect::<Vec<_>>());
    }
    assert_eq!(by_format[0], by_format[1]);
    assert_eq!(by_format[0], by_format[2]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let (_, p) = run(bytes.clone(), LEGACY);
            prop_assert!(p.summary.transactions <= p.summary.lines);
            let _ = run(gzip(&bytes), LEGACY);
        }

        #[test]
        fn every_row_is_sent_skipped_or_counted_malformed(rows in proptest::collection::vec("[ -~\t%]{0,200}", 0..50)) {
            let mut text = String::from("#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent) cs-uri-query time-taken\n");
            for row in &rows {
                text.push_str(row);
                text.push('\n');
            }
            let (txs, p) = run(text.into_bytes(), LEGACY);
            let rows_that_are_records = rows
                .iter()
                .filter(|r| !r.trim_end_matches([' ', '\t']).is_empty() && !r.starts_with('#'))
                .count() as u64;
            prop_assert_eq!(txs.len() as u64 + p.summary.malformed + p.summary.skipped_static, rows_that_are_records);
        }
    }
}
