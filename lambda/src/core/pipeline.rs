//! Drives one object through the core: lines → records → filters →
//! transactions → a sink. Synchronous and free of AWS types: the CLI feeds it
//! files, the Lambda feeds it an S3 body through a blocking bridge.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, warn};

use super::batch::{Batch, BatchLimits, Batcher};
use super::distribution::distribution_from_key;
use super::fields::Field;
use super::filter::StaticFilter;
use super::object::ObjectId;
use super::parse::{Line, Parser};
use super::reader::{InflateThread, LineReader, RawLine, MAX_LINE_BYTES};
use super::realtime::RealtimeFields;
use super::redact::Redactor;
use super::summary::Summary;
use super::transaction::{map_record, required, Origin};
use super::wire::{Encoder, WireOptions};

/// Pipeline settings that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    pub static_filter: StaticFilter,
    pub batch_limits: BatchLimits,
    /// Field order for v2 `plain` objects without a `#Fields` header.
    pub plain_fields: Vec<String>,
    /// Whether gzip is inflated on a second thread.
    pub inflate_thread: InflateThread,
    /// Settings of the wire format (`server-ip` default, `instance_id`).
    pub wire: WireOptions,
    /// `cequence_redact` with its key, once the key has been read.
    pub redactor: Option<Arc<Redactor>>,
    /// `cequence_realtime_fields`: the field order of real-time log records
    /// (Kinesis); `None` when not configured.
    pub realtime_fields: Option<RealtimeFields>,
}

/// Whether the caller wants more transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop reading: nothing more can be delivered for this object.
    Stop,
}

/// Receives encoded transactions (one v2 JSON object each, no newline).
pub trait TransactionSink {
    fn accept(&mut self, encoded: &[u8]) -> Flow;
    /// Called once after the last transaction (also after a read error).
    fn finish(&mut self) -> Flow {
        Flow::Continue
    }
}

/// A sink that cuts batches and hands each to `deliver`.
pub struct BatchingSink<F: FnMut(Batch) -> Flow> {
    batcher: Batcher,
    deliver: F,
}

impl<F: FnMut(Batch) -> Flow> BatchingSink<F> {
    pub fn new(limits: BatchLimits, deliver: F) -> Self {
        BatchingSink {
            batcher: Batcher::new(limits),
            deliver,
        }
    }
}

impl<F: FnMut(Batch) -> Flow> TransactionSink for BatchingSink<F> {
    fn accept(&mut self, encoded: &[u8]) -> Flow {
        match self.batcher.push(encoded) {
            Some(batch) => (self.deliver)(batch),
            None => Flow::Continue,
        }
    }

    fn finish(&mut self) -> Flow {
        match self.batcher.take() {
            Some(batch) => (self.deliver)(batch),
            None => Flow::Continue,
        }
    }
}

/// Decides whether a distribution's records are forwarded (the
/// `cequence-enabled` tag). An error stops the object: nothing is forwarded
/// for a distribution that may have been disabled.
pub trait DistributionGate {
    fn allow(&mut self, distribution_id: &str) -> Result<bool, String>;
}

/// A gate that allows every distribution (dry runs, tag check turned off).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl DistributionGate for AllowAll {
    fn allow(&mut self, _: &str) -> Result<bool, String> {
        Ok(true)
    }
}

/// Why an object could not be processed to its end.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The object's bytes could not be read or decompressed (corrupt or
    /// truncated gzip, network). Every complete record before it was emitted.
    #[error("{object}: read failed after line {line}: {source}")]
    Read {
        object: String,
        line: u64,
        #[source]
        source: std::io::Error,
    },
    /// The enabled-tag lookup failed: retrying may help.
    #[error("{object}: could not check the cequence-enabled tag of distribution {distribution}: {reason}")]
    Gate {
        object: String,
        distribution: String,
        reason: String,
    },
}

impl PipelineError {
    /// Whether retrying the whole object may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Read { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ),
            PipelineError::Gate { .. } => true,
        }
    }
}

/// The result of one object: counts, and the error that stopped it, if any.
#[derive(Debug)]
pub struct Processed {
    pub summary: Summary,
    pub error: Option<PipelineError>,
    /// The sink asked to stop before the end of the object.
    pub stopped_early: bool,
}

/// Runs one object through the pipeline.
pub fn process_object<R, G, S>(
    source: R,
    object: &ObjectId,
    options: &PipelineOptions,
    gate: &mut G,
    sink: &mut S,
) -> Processed
where
    R: Read + Send + 'static,
    G: DistributionGate + ?Sized,
    S: TransactionSink + ?Sized,
{
    process_named_object(source, object, &object.to_string(), options, gate, sink)
}

/// Runs one object through the pipeline; messages and errors call it `name`
/// (a local file's path), while transactions still carry `s3://bucket/key`.
pub fn process_named_object<R, G, S>(
    source: R,
    object: &ObjectId,
    name: &str,
    options: &PipelineOptions,
    gate: &mut G,
    sink: &mut S,
) -> Processed
where
    R: Read + Send + 'static,
    G: DistributionGate + ?Sized,
    S: TransactionSink + ?Sized,
{
    let started = Instant::now();
    let object_url = object.to_string();
    let log_object = name.to_string();
    let mut summary = Summary::default();
    let mut error = None;
    let mut stopped_early = false;

    let key_distribution = distribution_from_key(&object.key).map(str::to_string);
    let mut decisions: HashMap<String, bool> = HashMap::new();
    let mut last_decision: Option<(String, bool)> = None;
    let mut parser = Parser::with_fields(&options.plain_fields);
    let mut encoded = Vec::with_capacity(2048);
    let mut encoder = Encoder::new(options.wire.clone());
    let origin = Origin {
        log_object: &object_url,
        redactor: options.redactor.as_deref(),
    };

    let mut reader = match LineReader::with_inflate_thread(source, options.inflate_thread.enabled())
    {
        Ok(reader) => Some(reader),
        Err(source) => {
            error = Some(PipelineError::Read {
                object: log_object.clone(),
                line: 0,
                source,
            });
            None
        }
    };

    'lines: while let Some(reader) = reader.as_mut() {
        let raw = match reader.next_line() {
            Ok(Some(raw)) => raw,
            Ok(None) => break,
            Err(source) => {
                error = Some(PipelineError::Read {
                    object: log_object.clone(),
                    line: reader.line_number(),
                    source,
                });
                break;
            }
        };
        summary.lines += 1;
        let line_number = summary.lines;
        let text = match raw {
            // Checking first is much faster than the lossy path on valid text.
            RawLine::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(bytes),
            },
            RawLine::TooLong => {
                let reason = format!("line longer than {MAX_LINE_BYTES} bytes");
                if summary.record_malformed(line_number, &reason) {
                    warn!(object = %log_object, line = line_number, "malformed row skipped: {reason}");
                }
                continue;
            }
        };
        let record = match parser.parse_line(&text) {
            Line::Directive => continue,
            Line::Malformed(reason) => {
                if summary.record_malformed(line_number, &reason) {
                    warn!(object = %log_object, line = line_number, "malformed row skipped: {reason}");
                }
                continue;
            }
            Line::Record(record) => record,
        };
        let fields = match required(&record) {
            Ok(fields) => fields,
            Err(reason) => {
                if summary.record_malformed(line_number, reason.to_string()) {
                    warn!(object = %log_object, line = line_number, "malformed row skipped: {reason}");
                }
                continue;
            }
        };
        let Some(distribution) = key_distribution
            .as_deref()
            .or_else(|| record.get(Field::DistributionId))
        else {
            summary.no_distribution += 1;
            continue;
        };
        let allowed = match last_decision.as_ref() {
            // Most objects hold one distribution: skip the map's hashing.
            Some((id, allowed)) if id == distribution => *allowed,
            _ => match decisions.get(distribution) {
                Some(allowed) => *allowed,
                None => match gate.allow(distribution) {
                    Ok(allowed) => {
                        decisions.insert(distribution.to_string(), allowed);
                        allowed
                    }
                    Err(reason) => {
                        error = Some(PipelineError::Gate {
                            object: log_object.clone(),
                            distribution: distribution.to_string(),
                            reason,
                        });
                        break 'lines;
                    }
                },
            },
        };
        if last_decision
            .as_ref()
            .is_none_or(|(id, _)| id != distribution)
        {
            last_decision = Some((distribution.to_string(), allowed));
        }
        if !allowed {
            summary.skipped_disabled += 1;
            continue;
        }
        if options.static_filter.is_static(&fields.path) {
            debug!(
                "⏩ 🚫 Skipping request with static extension for {}",
                fields.path
            );
            summary.skipped_static += 1;
            continue;
        }
        summary.record_time(fields.epoch_ms);
        let transaction = map_record(&record, fields, distribution, origin);
        encoded.clear();
        encoder.write_transaction(&mut encoded, &transaction);
        summary.count_transaction(distribution);
        if sink.accept(&encoded) == Flow::Stop {
            stopped_early = true;
            break;
        }
    }

    if sink.finish() == Flow::Stop {
        stopped_early = true;
    }
    if summary.no_distribution > 0 {
        warn!(
            object = %log_object,
            records = summary.no_distribution,
            "no distribution id in the key or the records: not forwarded (expected a key like <ID>.YYYY-MM-DD-HH.<id>.gz, DistributionId=<ID>/, or <ID>/YYYY/MM/DD/HH/)"
        );
    }
    summary.elapsed = started.elapsed();
    Processed {
        summary,
        error,
        stopped_early,
    }
}
