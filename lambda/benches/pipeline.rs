//! Per-record cost of the core, with plain gunzip of the same bytes as the
//! baseline in the same process: `cargo bench -p cf-passive-lambda --bench pipeline`.
//!
//! - `parse_map_encode`: each line of text → record → transaction → contract
//!   v2 JSON, nothing else (no reader, no filter, no batch): the per-record
//!   cost of the code issue 14 optimises;
//! - `pipeline_plain`: the whole core on plain text (line reader, parse,
//!   static filter, map, encode, batch);
//! - `pipeline_gzip`: the same from gzip.

use std::io::{Cursor, Read, Write};

use cf_passive::core::parse::{Line, Parser};
use cf_passive::core::pipeline::{process_object, AllowAll, BatchingSink, Flow, PipelineOptions};
use cf_passive::core::transaction::{map_record, required, Origin};
use cf_passive::core::wire::Encoder;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;

const RECORDS: u64 = 20_000;

fn sample(format: cf_loggen::Format) -> (Vec<u8>, Vec<u8>) {
    let mut text = Vec::new();
    let mut generator = cf_loggen::Generator::new(1, format, cf_loggen::Options::default());
    generator.write_header(&mut text).unwrap();
    generator.write_records(&mut text, RECORDS).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&text).unwrap();
    (text, gz.finish().unwrap())
}

fn run_pipeline(bytes: &[u8]) -> u64 {
    let options = PipelineOptions::default();
    let mut sink = BatchingSink::new(options.batch_limits, |batch| {
        std::hint::black_box(batch.body.len());
        Flow::Continue
    });
    let object =
        cf_passive::core::object::ObjectId::new("bench", "E27FO14I29XXXX.2024-01-31-23.bench.gz");
    let processed = process_object(
        Cursor::new(bytes.to_vec()),
        &object,
        &options,
        &mut AllowAll,
        &mut sink,
    );
    processed.summary.transactions
}

/// Parses, maps and encodes every line into one reused buffer, as the
/// pipeline does; returns the number of transactions and bytes written.
fn parse_map_encode(text: &str) -> (u64, usize) {
    let mut parser = Parser::default();
    let mut encoder = Encoder::default();
    let mut out = Vec::with_capacity(4096);
    let origin = Origin {
        log_object: "s3://bench/E27FO14I29XXXX.2024-01-31-23.bench.gz",
        redactor: None,
    };
    let (mut transactions, mut bytes) = (0, 0);
    for line in text.lines() {
        let Line::Record(record) = parser.parse_line(line) else {
            continue;
        };
        let Ok(fields) = required(&record) else {
            continue;
        };
        let tx = map_record(&record, fields, "E27FO14I29XXXX", origin);
        out.clear();
        encoder.write_transaction(&mut out, &tx);
        transactions += 1;
        bytes += out.len();
    }
    (transactions, bytes)
}

fn per_record(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_record");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(20);
    for format in [cf_loggen::Format::Legacy, cf_loggen::Format::Json] {
        let (text, gz) = sample(format);
        let name = format.name();
        let text_str = std::str::from_utf8(&text).unwrap();
        group.bench_with_input(
            BenchmarkId::new("parse_map_encode", name),
            text_str,
            |b, text| b.iter(|| parse_map_encode(text)),
        );
        group.bench_with_input(BenchmarkId::new("gunzip_baseline", name), &gz, |b, gz| {
            b.iter(|| {
                let mut out = Vec::with_capacity(text.len());
                flate2::read::MultiGzDecoder::new(&gz[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out.len()
            })
        });
        group.bench_with_input(
            BenchmarkId::new("pipeline_plain", name),
            &text,
            |b, text| b.iter(|| run_pipeline(text)),
        );
        group.bench_with_input(BenchmarkId::new("pipeline_gzip", name), &gz, |b, gz| {
            b.iter(|| run_pipeline(gz))
        });
    }
    group.finish();
}

criterion_group!(benches, per_record);
criterion_main!(benches);
