//! The oracle shared by the fuzz targets: runs one object through the same
//! pipeline as `process --dry-run` (`cf_passive::core::pipeline`) and checks
//! what must hold for any input:
//!
//! - no panic (overflow checks are on in `cargo fuzz` builds);
//! - every transaction is a JSON object with no `null` anywhere (the
//!   contract omits absent fields; `serde_json` writes a non-finite float as
//!   `null`), valid against the v2 JSON Schema when built with `--features
//!   schema` (see `schema.rs`);
//! - batches are intact: each body parses, holds exactly the transactions
//!   handed to the sink in order, respects the count limit, and respects the
//!   byte limit unless it holds one oversized transaction;
//! - counts are consistent: every physical line is a directive, malformed,
//!   without distribution, skipped or a transaction (exactly, when the
//!   object was read to its end), and the per-distribution counts add up.

use std::io::Read;

use cf_passive::core::batch::{Batch, BatchLimits};
use cf_passive::core::object::ObjectId;
use cf_passive::core::pipeline::{
    process_object, BatchingSink, DistributionGate, Flow, PipelineOptions, Processed,
};
use cf_passive::core::reader::MAX_LINE_BYTES;
use cf_passive::core::summary::MALFORMED_SAMPLES;
use serde_json::Value;

#[cfg(feature = "schema")]
mod schema;

/// Keys that name a distribution by each rule of contract §4, plus one that
/// names none (rule 4: a `DistributionId` field, or nothing).
pub const KEYS: [&str; 4] = [
    "prefix/E2EXAMPLE1.2024-01-31-23.a1b2c3d4.gz",
    "AWSLogs/aws-account-id=123456789012/CloudFront/DistributionId=E3JSONEXAMPLE/year=2024/month=01/day=31/hour=23/log-0001",
    "cloudfront-logs/E4W3CEXAMPLE/2024/01/31/23/log-0001",
    "cloudfront-logs/no-distribution-here.log",
];

/// The legacy field order, for v2 `plain` objects (`cequence_log_fields`).
pub const LEGACY_FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

/// How the `cequence-enabled` gate answers.
#[derive(Debug, Clone, Copy)]
pub enum Gate {
    AllowAll,
    /// Allow a distribution when bit (hash of its id mod 8) is set.
    Mask(u8),
    /// The lookup fails for every distribution (stops the object).
    Fail,
}

struct FuzzGate(Gate);

impl DistributionGate for FuzzGate {
    fn allow(&mut self, id: &str) -> Result<bool, String> {
        match self.0 {
            Gate::AllowAll => Ok(true),
            Gate::Mask(mask) => {
                let bit = id.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 8;
                Ok(mask & (1 << bit) != 0)
            }
            Gate::Fail => Err("tag lookup failed (fuzz)".into()),
        }
    }
}

/// One object to run.
#[derive(Debug, Clone)]
pub struct Case<'a> {
    /// The object's bytes as stored (plain or gzip).
    pub object: Vec<u8>,
    pub key: &'a str,
    pub limits: BatchLimits,
    pub plain_fields: Vec<String>,
    pub gate: Gate,
    /// The sink asks to stop after this many batches.
    pub stop_after_batches: Option<u64>,
}

impl<'a> Case<'a> {
    /// Defaults: the first key, default limits, every distribution allowed.
    pub fn new(object: Vec<u8>) -> Case<'a> {
        Case {
            object,
            key: KEYS[0],
            limits: BatchLimits::default(),
            plain_fields: Vec::new(),
            gate: Gate::AllowAll,
            stop_after_batches: None,
        }
    }
}

/// Runs `case` and panics (a fuzz finding) if any property fails.
pub fn check(case: &Case<'_>) {
    let options = PipelineOptions {
        batch_limits: case.limits,
        plain_fields: case.plain_fields.clone(),
        ..PipelineOptions::default()
    };
    let object = ObjectId::new("fuzz-bucket", case.key);
    let mut transactions: Vec<Vec<u8>> = Vec::new();
    let mut batches: Vec<Batch> = Vec::new();
    let stop_after = case.stop_after_batches;
    let processed = {
        let mut sink = RecordingSink {
            inner: BatchingSink::new(case.limits, |batch: Batch| {
                batches.push(batch);
                match stop_after {
                    Some(n) if batches.len() as u64 >= n => Flow::Stop,
                    _ => Flow::Continue,
                }
            }),
            seen: &mut transactions,
        };
        process_object(
            std::io::Cursor::new(case.object.clone()),
            &object,
            &options,
            &mut FuzzGate(case.gate),
            &mut sink,
        )
    };
    for encoded in &transactions {
        check_transaction(encoded);
    }
    check_batches(case, &batches, &transactions, &processed);
    check_counts(case, &processed, transactions.len() as u64);
}

/// Keeps a copy of each encoded transaction on its way to the batcher.
struct RecordingSink<'t, S> {
    inner: S,
    seen: &'t mut Vec<Vec<u8>>,
}

impl<S: cf_passive::core::pipeline::TransactionSink> cf_passive::core::pipeline::TransactionSink
    for RecordingSink<'_, S>
{
    fn accept(&mut self, encoded: &[u8]) -> Flow {
        self.seen.push(encoded.to_vec());
        self.inner.accept(encoded)
    }
    fn finish(&mut self) -> Flow {
        self.inner.finish()
    }
}

fn check_transaction(encoded: &[u8]) {
    let value: Value = serde_json::from_slice(encoded).unwrap_or_else(|e| {
        panic!(
            "transaction is not JSON ({e}): {}",
            String::from_utf8_lossy(encoded)
        )
    });
    assert!(value.is_object(), "transaction is not an object: {value}");
    if let Some(path) = find_null(&value, String::new()) {
        panic!("null at {path} (absent fields must be omitted): {value}");
    }
    let timestamp = value.get("timestamp").and_then(Value::as_str);
    assert!(
        timestamp.is_some_and(|t| !t.is_empty()),
        "no timestamp: {value}"
    );
    #[cfg(feature = "schema")]
    schema::validate(&value);
}

/// The JSON pointer of the first `null` in `value`, if any.
fn find_null(value: &Value, path: String) -> Option<String> {
    match value {
        Value::Null => Some(if path.is_empty() { "/".into() } else { path }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_null(v, format!("{path}/{i}"))),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| find_null(v, format!("{path}/{k}"))),
        _ => None,
    }
}

/// The transactions of a batch body: `[...]` (v1) or `{"data": [...]}` (v2).
fn batch_items(body: &[u8]) -> Vec<Value> {
    let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "batch body is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("data") {
            Some(Value::Array(items)) => items,
            _ => panic!("batch body has no data array"),
        },
        other => panic!("batch body is neither an array nor an object: {other}"),
    }
}

fn check_batches(case: &Case<'_>, batches: &[Batch], transactions: &[Vec<u8>], p: &Processed) {
    let max_transactions = case.limits.max_transactions.max(1);
    let max_bytes = case.limits.max_bytes.max(2);
    let mut delivered: Vec<Value> = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        assert_eq!(batch.index, i as u64, "batch indexes are 0, 1, 2, ...");
        assert!(batch.transactions >= 1, "empty batch {i}");
        assert!(
            batch.transactions <= max_transactions,
            "batch {i} holds {} > {max_transactions}",
            batch.transactions
        );
        assert!(
            batch.body.len() <= max_bytes || batch.transactions == 1,
            "batch {i} is {} bytes > {max_bytes} with {} transactions",
            batch.body.len(),
            batch.transactions
        );
        let items = batch_items(&batch.body);
        assert_eq!(items.len(), batch.transactions, "batch {i} count");
        delivered.extend(items);
    }
    // Every transaction handed to the sink is in a batch, in order, unless
    // the sink stopped (then the batched ones are a prefix).
    let expected: Vec<Value> = transactions
        .iter()
        .map(|t| serde_json::from_slice(t).expect("checked above"))
        .collect();
    if p.stopped_early {
        assert!(delivered.len() <= expected.len());
        assert_eq!(
            delivered[..],
            expected[..delivered.len()],
            "batches reorder"
        );
    } else {
        assert_eq!(delivered, expected, "batches lose or reorder transactions");
    }
}

fn check_counts(case: &Case<'_>, p: &Processed, sunk: u64) {
    let s = &p.summary;
    assert_eq!(s.transactions, sunk, "summary.transactions vs sink");
    assert_eq!(
        s.per_distribution.values().sum::<u64>(),
        s.transactions,
        "per-distribution counts"
    );
    assert_eq!(
        s.malformed_samples.len() as u64,
        s.malformed.min(MALFORMED_SAMPLES as u64),
        "malformed samples"
    );
    assert!(s
        .malformed_samples
        .iter()
        .all(|m| m.line >= 1 && m.line <= s.lines));
    assert_eq!(
        s.newest_record.is_some(),
        s.transactions > 0,
        "newest_record"
    );
    let accounted =
        s.transactions + s.skipped_static + s.skipped_disabled + s.no_distribution + s.malformed;
    assert!(accounted <= s.lines, "more outcomes than lines: {s:?}");
    if p.error.is_none() && !p.stopped_early {
        if let Some(plain) = plain_text(&case.object) {
            let (lines, directives) = count_lines(&plain);
            assert_eq!(s.lines, lines, "physical lines");
            assert_eq!(
                accounted + directives,
                lines,
                "every line is a directive, malformed, skipped or a transaction: {s:?}"
            );
        }
    }
}

/// The object's text: itself, or its gzip members decompressed (None if
/// that fails: the pipeline must then have reported a read error).
fn plain_text(object: &[u8]) -> Option<Vec<u8>> {
    if !object.starts_with(&[0x1f, 0x8b]) {
        return Some(object.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(object)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// Physical lines (`\n`-terminated, the last may lack it) and how many of
/// them are blank or `#` directives, counted independently of the reader. A
/// line over the reader's limit is malformed whatever it holds.
fn count_lines(text: &[u8]) -> (u64, u64) {
    let mut lines = 0;
    let mut directives = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (raw, next) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        lines += 1;
        if raw.len() > MAX_LINE_BYTES + 2 {
            continue;
        }
        // `\r` belongs to the ending only before `\n` (`\r\n`); a last line
        // without `\n` keeps a trailing `\r`, as the reader does.
        let line = match raw.strip_suffix(b"\n") {
            Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
            None => raw,
        };
        let end = line
            .iter()
            .rposition(|b| *b != b' ' && *b != b'\t')
            .map_or(0, |i| i + 1);
        if end == 0 || line[0] == b'#' {
            directives += 1;
        }
    }
    (lines, directives)
}

/// Wraps `body` in gzip members cut at `cuts` (offsets, taken modulo the
/// length, in any order), at the fastest level.
pub fn gzip_members(body: &[u8], cuts: &[u16]) -> Vec<u8> {
    use std::io::Write;
    let mut offsets: Vec<usize> = cuts
        .iter()
        .map(|c| {
            if body.is_empty() {
                0
            } else {
                *c as usize % body.len()
            }
        })
        .collect();
    offsets.push(0);
    offsets.push(body.len());
    offsets.sort_unstable();
    offsets.dedup();
    let mut out = Vec::new();
    for pair in offsets.windows(2) {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body[pair[0]..pair[1]]).unwrap();
        out.extend(encoder.finish().unwrap());
    }
    if out.is_empty() {
        // An empty body is one empty member, as a real writer makes.
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        out = encoder.finish().unwrap();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_counting_matches_the_reader_rules() {
        assert_eq!(count_lines(b""), (0, 0));
        assert_eq!(count_lines(b"\n"), (1, 1));
        assert_eq!(count_lines(b"a\r\n#x\n \t\nb"), (4, 2));
        assert_eq!(count_lines(b"a\n\n"), (2, 1));
        // Found by the raw target: a lone `\r` at the very end is a row.
        assert_eq!(count_lines(b"#x\r\n\r"), (2, 1));
        let mut long = vec![b'#'; MAX_LINE_BYTES + 10];
        long.extend_from_slice(b"\n#\n");
        assert_eq!(count_lines(&long), (2, 1));
    }

    #[test]
    fn fixtures_pass_the_oracle_plain_gzip_and_in_small_batches() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds");
        let mut seen = 0;
        for entry in std::fs::read_dir(root).unwrap() {
            let body = std::fs::read(entry.unwrap().path()).unwrap();
            for key in KEYS {
                let mut case = Case::new(body.clone());
                case.key = key;
                check(&case);
                case.object = gzip_members(&body, &[7, 300]);
                case.limits = BatchLimits {
                    max_transactions: 2,
                    max_bytes: 700,
                };
                check(&case);
            }
            seen += 1;
        }
        assert!(seen >= 4, "seed corpus missing ({seen} files)");
    }

    #[test]
    #[should_panic(expected = "null at /txn-meta-data/time-taken-ms")]
    fn the_oracle_rejects_a_null_value() {
        check_transaction(br#"{"timestamp":"1","txn-meta-data":{"time-taken-ms":null}}"#);
    }

    #[test]
    fn batch_bodies_of_either_contract_version_are_read() {
        assert_eq!(batch_items(b"[1,2]").len(), 2);
        assert_eq!(batch_items(br#"{"data":[{}]}"#).len(), 1);
    }

    #[test]
    fn gzip_members_round_trip() {
        let body = b"one\ntwo\nthree\n";
        let gz = gzip_members(body, &[3, 3, 9, 500]);
        assert_eq!(plain_text(&gz).unwrap(), body);
        assert_eq!(plain_text(&gzip_members(b"", &[])).unwrap(), b"");
    }
}
