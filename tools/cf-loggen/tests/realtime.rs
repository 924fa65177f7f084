//! Real-time log lines: field order, values shared with the standard formats,
//! `cs-headers` escaping and truncation, determinism, and the CLI.

use std::collections::HashMap;
use std::process::Command;

use cf_loggen::{
    cf_escape, Format, Generator, Hour, Options, RealtimeGenerator, DEFAULT_REALTIME_FIELDS,
    HEADERS_LIMIT, REALTIME_FIELDS,
};

fn opts() -> Options {
    Options {
        hour: Hour::parse("2024-01-31T23").unwrap(),
        ..Options::default()
    }
}

fn lines(seed: u64, fields: &[&str], n: usize) -> Vec<String> {
    RealtimeGenerator::new(seed, opts(), fields)
        .unwrap()
        .take(n)
        .collect()
}

fn rows(seed: u64, fields: &[&str], n: usize) -> Vec<HashMap<String, String>> {
    lines(seed, fields, n)
        .iter()
        .map(|line| {
            let values: Vec<&str> = line.split('\t').collect();
            assert_eq!(values.len(), fields.len(), "{line}");
            fields
                .iter()
                .map(|f| f.to_string())
                .zip(values.iter().map(|v| v.to_string()))
                .collect()
        })
        .collect()
}

/// Percent-decoding, as the forwarder does it.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[test]
fn same_seed_same_lines_and_no_header() {
    let a = lines(42, DEFAULT_REALTIME_FIELDS, 500);
    assert_eq!(a, lines(42, DEFAULT_REALTIME_FIELDS, 500));
    assert_ne!(a, lines(43, DEFAULT_REALTIME_FIELDS, 500));
    assert!(a.iter().all(|l| !l.starts_with('#')));
}

#[test]
fn lines_describe_the_same_requests_as_the_standard_formats() {
    let rt = rows(9, REALTIME_FIELDS, 300);
    let mut gen = Generator::new(9, Format::Json, opts());
    for (i, line) in gen.by_ref().take(300).enumerate() {
        let std: HashMap<String, serde_json::Value> = serde_json::from_str(&line).unwrap();
        let s = |k: &str| std[k].as_str().unwrap().to_string();
        let r = &rt[i];
        for (rt_name, std_name) in [
            ("c-ip", "c-ip"),
            ("cs-method", "cs-method"),
            ("cs-uri-stem", "cs-uri-stem"),
            ("sc-status", "sc-status"),
            ("cs-host", "cs(Host)"),
            ("cs-user-agent", "cs(User-Agent)"),
            ("cs-referer", "cs(Referer)"),
            ("cs-cookie", "cs(Cookie)"),
            ("x-edge-request-id", "x-edge-request-id"),
            ("asn", "asn"),
            ("c-country", "c-country"),
        ] {
            assert_eq!(r[rt_name], s(std_name), "line {i} {rt_name}");
        }
        let ms: u64 = s("timestamp(ms)").parse().unwrap();
        assert_eq!(r["timestamp"], format!("{}.{:03}", ms / 1000, ms % 1000));
        let v6 = r["c-ip"].contains(':');
        assert_eq!(r["c-ip-version"], if v6 { "IPv6" } else { "IPv4" });
        assert_eq!(r["primary-distribution-id"], "E27FO14I29XXXX");
        assert_eq!(r["primary-distribution-dns-name"], r["cs-host"]);
        assert_eq!(r["cmcd-version"], "-");
    }
}

#[test]
fn values_are_escaped_and_never_empty() {
    for r in rows(12, REALTIME_FIELDS, 2000) {
        for (k, v) in &r {
            assert!(!v.is_empty(), "{k} empty");
            let bad = |b: u8| !(32..127).contains(&b) || b"<>\"#{}|\\^~[]`'".contains(&b);
            assert!(!v.bytes().any(bad), "{k}={v:?} not escaped");
            if k != "x-forwarded-for" {
                assert!(!v.contains(' '), "{k}={v:?} has a space");
            }
        }
        assert!(r["timestamp"]
            .split_once('.')
            .is_some_and(|(s, f)| s.len() == 10 && f.len() == 3));
    }
}

#[test]
fn cs_headers_hold_every_header_escaped_and_cut_at_800_bytes() {
    let mut gen = RealtimeGenerator::new(
        5,
        opts(),
        &["cs-headers", "cs-header-names", "cs-headers-count"],
    )
    .unwrap();
    let (mut cut, mut whole) = (0, 0);
    let mut names = HashMap::new();
    for _ in 0..3000 {
        let line = gen.next().unwrap();
        let [headers, header_names, count]: [&str; 3] =
            line.split('\t').collect::<Vec<_>>().try_into().unwrap();
        let sent = gen.last_headers();
        assert_eq!(count, sent.len().to_string());
        let full: String = sent.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let escaped = cf_escape(&full);
        assert!(headers.len() <= HEADERS_LIMIT);
        assert!(
            escaped.starts_with(headers),
            "a prefix of the escaped header block"
        );
        assert!(
            !headers.contains(['\n', ' ']),
            "newlines and spaces are escaped"
        );
        if headers.len() == escaped.len() {
            whole += 1;
            let decoded = unescape(headers);
            assert_eq!(decoded, full.as_bytes());
            assert!(headers.ends_with("%0A"));
        } else {
            cut += 1;
            assert_eq!(headers.len(), HEADERS_LIMIT);
        }
        let name_block: String = sent.iter().map(|(n, _)| format!("{n}\n")).collect();
        assert!(cf_escape(&name_block).starts_with(header_names));
        assert_eq!(sent[0].0.to_ascii_lowercase(), "host");
        for (name, _) in sent {
            *names.entry(name.to_ascii_lowercase()).or_insert(0) += 1;
        }
    }
    assert!(cut > 100 && whole > 2000, "cut {cut}, whole {whole}");
    for name in [
        "user-agent",
        "accept",
        "accept-encoding",
        "cookie",
        "authorization",
        "x-api-key",
        "content-type",
        "origin",
        "x-forwarded-for",
        "sec-fetch-mode",
        "x-request-id",
        "accept-language",
        "referer",
    ] {
        assert!(names.contains_key(name), "{name} never sent");
    }
}

#[test]
fn unknown_fields_are_refused_by_name() {
    let err = RealtimeGenerator::new(1, opts(), &["timestamp", "cs-hots"])
        .err()
        .unwrap();
    assert!(err.contains("\"cs-hots\""), "{err}");
}

fn loggen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cf-loggen"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_writes_realtime_lines() {
    let out = loggen(&["--realtime", "--records", "25", "--seed", "3"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 25);
    for line in text.lines() {
        assert_eq!(line.split('\t').count(), DEFAULT_REALTIME_FIELDS.len());
    }
    let expected: Vec<String> = lines(3, DEFAULT_REALTIME_FIELDS, 25);
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);

    let out = loggen(&[
        "--realtime-fields",
        "timestamp,c-ip,cs-headers-count",
        "--records",
        "4",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.split('\t').count() == 3), "{text}");

    let out = loggen(&["--realtime-fields", "timestamp,cs(Host)"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cs(Host)"));

    let out = loggen(&["--realtime", "--bytes", "200KB"]);
    assert!(out.status.success());
    assert!(
        (200_000..204_000).contains(&out.stdout.len()),
        "{}",
        out.stdout.len()
    );
}

#[test]
fn kinesis_events_carry_the_same_lines_base64_encoded() {
    use base64::Engine as _;
    let source = cf_loggen::KinesisSource::default();
    let mut gen = RealtimeGenerator::new(8, opts(), DEFAULT_REALTIME_FIELDS).unwrap();
    let mut out = Vec::new();
    let written = gen.write_kinesis_event(&mut out, 300, &source).unwrap();
    assert_eq!(written, out.len() as u64);
    let event: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let records = event["Records"].as_array().unwrap();
    assert_eq!(records.len(), 300);
    let expected = lines(8, DEFAULT_REALTIME_FIELDS, 300);
    let mut previous = String::new();
    for (record, line) in records.iter().zip(&expected) {
        assert_eq!(record["eventSource"], "aws:kinesis");
        assert_eq!(record["eventSourceARN"], source.stream_arn.as_str());
        let sequence = record["kinesis"]["sequenceNumber"].as_str().unwrap();
        assert_eq!(sequence.len(), 56);
        assert!(sequence > previous.as_str(), "sequence numbers increase");
        previous = sequence.to_string();
        assert_eq!(record["eventID"], format!("{}:{sequence}", source.shard_id));
        let data = base64::engine::general_purpose::STANDARD
            .decode(record["kinesis"]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(data).unwrap(), format!("{line}\n"));
        let arrival = record["kinesis"]["approximateArrivalTimestamp"]
            .as_f64()
            .unwrap();
        let logged: f64 = line.split('\t').next().unwrap().parse().unwrap();
        assert!(
            (0.0..1.0).contains(&(arrival - logged)),
            "{arrival} vs {logged}"
        );
    }
    assert_eq!(
        cf_loggen::sequence_number(7),
        "49590338271490256608559692538361571095921575980000000007"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_cf-loggen"))
        .args([
            "--kinesis-event",
            "--records",
            "5",
            "--stream-arn",
            "arn:aws:kinesis:eu-west-1:1:stream/s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["Records"].as_array().unwrap().len(), 5);
    assert_eq!(event["Records"][0]["awsRegion"], "eu-west-1");
}
