//! One batch of Kinesis records (real-time log lines of one shard, contract
//! §8) through the same core as an S3 object: the line becomes the same
//! [`Record`](super::parse::Record), then the same required-field check, the
//! distribution gate, the static filter, the mapping, the encoder and the
//! batcher. Pure and synchronous: the app feeds it the decoded record data
//! and answers the two lookups (domain → distribution, enabled tag).
//!
//! What is special: each bridge batch knows the index of the first and last
//! Kinesis record whose transaction it holds, so the app can answer
//! `batchItemFailures` with the sequence number Lambda must retry from, and
//! park a refused batch as the sequence range it came from.

use std::collections::HashMap;
use std::time::Instant;

use tracing::{debug, warn};

use super::batch::{Batch, Batcher};
use super::pipeline::{DistributionGate, Flow, PipelineOptions};
use super::realtime::{distribution_key, DistributionKey, RealtimeFields};
use super::summary::Summary;
use super::transaction::{map_record, required, Origin};
use super::wire::Encoder;

/// One Kinesis record as the core sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRecord<'a> {
    /// Names the record in messages (and, for the app, in `batchItemFailures`).
    pub sequence_number: &'a str,
    /// The decoded data; `None` when the record's data was not base64.
    pub data: Option<&'a [u8]>,
}

/// Finds the distribution whose domain a record's `cs-host` is (CloudFront
/// `ListDistributions` in the Lambda; nothing offline). `Ok(None)`: no
/// distribution has that domain. An error is retryable: the records from
/// there on are not handled this time.
pub trait DomainResolver {
    fn distribution_for_domain(&mut self, domain: &str) -> Result<Option<String>, String>;
}

/// No lookup (local files, dry runs): a record that names its distribution
/// only by `cs-host` has no distribution.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDomains;

impl DomainResolver for NoDomains {
    fn distribution_for_domain(&mut self, _: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// A bridge batch and the Kinesis records it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    pub batch: Batch,
    /// Index (in the shard batch) of the record of the batch's first transaction.
    pub first_record: usize,
    /// Index of the record of its last transaction.
    pub last_record: usize,
}

/// Why the rest of a shard batch could not be handled this time (retryable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{log_object} record {sequence_number}: could not check the cequence-enabled tag of distribution {distribution}: {reason}")]
    Gate {
        log_object: String,
        sequence_number: String,
        distribution: String,
        reason: String,
    },
    #[error("{log_object} record {sequence_number}: could not find the distribution of cs-host {domain}: {reason}")]
    Domain {
        log_object: String,
        sequence_number: String,
        domain: String,
        reason: String,
    },
}

/// The result of one shard batch.
#[derive(Debug)]
pub struct ShardProcessed {
    /// Counts: `lines` is the number of Kinesis records looked at.
    pub summary: Summary,
    /// The lookup that stopped the batch, if any.
    pub error: Option<ShardError>,
    /// Index of the first record not handled (not in a batch that was handed
    /// over, not filtered, not counted malformed): `None` when every record
    /// was handled. Lambda must retry from there at the latest.
    pub unhandled_from: Option<usize>,
}

/// Runs the records of one shard batch through the pipeline. `log_object` is
/// `kinesis://<stream>/<shard>`; `deliver` gets each bridge batch in order
/// and may answer `Flow::Stop` (that batch was not taken: it and everything
/// after it is unhandled).
pub fn process_shard_records<D, G, F>(
    records: &[ShardRecord<'_>],
    log_object: &str,
    fields: &RealtimeFields,
    options: &PipelineOptions,
    domains: &mut D,
    gate: &mut G,
    mut deliver: F,
) -> ShardProcessed
where
    D: DomainResolver + ?Sized,
    G: DistributionGate + ?Sized,
    F: FnMut(RecordBatch) -> Flow,
{
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut error = None;
    let mut unhandled_from = None;
    let mut batcher = Batcher::new(options.batch_limits);
    // First and last record of the batch being filled.
    let mut pending: Option<(usize, usize)> = None;
    let mut encoder = Encoder::new(options.wire.clone());
    let mut encoded = Vec::with_capacity(2048);
    let origin = Origin {
        log_object,
        redactor: options.redactor.as_deref(),
    };
    let mut by_domain: HashMap<String, Option<String>> = HashMap::new();
    let mut decisions: HashMap<String, bool> = HashMap::new();
    let mut without_host = 0u64;

    'records: for (index, shard_record) in records.iter().enumerate() {
        summary.lines += 1;
        let seq = shard_record.sequence_number;
        let malformed = |summary: &mut Summary, reason: String| {
            if summary.record_malformed(index as u64 + 1, reason.clone()) {
                warn!("{log_object} record {seq}: malformed, skipped: {reason}");
            }
        };
        let Some(data) = shard_record.data else {
            malformed(&mut summary, "the record's data is not base64".into());
            continue;
        };
        let line = match fields.parse_data(data) {
            Ok(line) => line,
            Err(e) => {
                malformed(&mut summary, e.to_string());
                continue;
            }
        };
        if line.columns != fields.len() {
            malformed(
                &mut summary,
                format!(
                    "{} tab-separated values, cequence_realtime_fields lists {}",
                    line.columns,
                    fields.len()
                ),
            );
            continue;
        }
        let record = line.record;
        let required_fields = match required(&record) {
            Ok(f) => f,
            Err(reason) => {
                malformed(&mut summary, reason.to_string());
                continue;
            }
        };
        let distribution: String = match distribution_key(&record) {
            Some(DistributionKey::Id(id)) => id.to_string(),
            Some(DistributionKey::Domain(host)) => {
                let host = host.to_ascii_lowercase();
                let found = match by_domain.get(&host) {
                    Some(found) => found.clone(),
                    None => match domains.distribution_for_domain(&host) {
                        Ok(found) => {
                            by_domain.insert(host.clone(), found.clone());
                            found
                        }
                        Err(reason) => {
                            error = Some(ShardError::Domain {
                                log_object: log_object.to_string(),
                                sequence_number: seq.to_string(),
                                domain: host,
                                reason,
                            });
                            unhandled_from = Some(pending.map_or(index, |(first, _)| first));
                            break 'records;
                        }
                    },
                };
                match found {
                    Some(id) => id,
                    None => {
                        summary.no_distribution += 1;
                        continue;
                    }
                }
            }
            None => {
                without_host += 1;
                summary.no_distribution += 1;
                continue;
            }
        };
        let allowed = match decisions.get(&distribution) {
            Some(allowed) => *allowed,
            None => match gate.allow(&distribution) {
                Ok(allowed) => {
                    decisions.insert(distribution.clone(), allowed);
                    allowed
                }
                Err(reason) => {
                    error = Some(ShardError::Gate {
                        log_object: log_object.to_string(),
                        sequence_number: seq.to_string(),
                        distribution,
                        reason,
                    });
                    unhandled_from = Some(pending.map_or(index, |(first, _)| first));
                    break 'records;
                }
            },
        };
        if !allowed {
            summary.skipped_disabled += 1;
            continue;
        }
        if options.static_filter.is_static(&required_fields.path) {
            debug!(
                "⏩ 🚫 Skipping request with static extension for {}",
                required_fields.path
            );
            summary.skipped_static += 1;
            continue;
        }
        summary.record_time(required_fields.epoch_ms);
        let transaction = map_record(&record, required_fields, &distribution, origin);
        encoded.clear();
        encoder.write_transaction(&mut encoded, &transaction);
        summary.count_transaction(&distribution);
        match batcher.push(&encoded) {
            Some(batch) => {
                let (first, last) = pending.expect("a closed batch had records");
                pending = Some((index, index));
                if deliver(RecordBatch {
                    batch,
                    first_record: first,
                    last_record: last,
                }) == Flow::Stop
                {
                    unhandled_from = Some(first);
                    break 'records;
                }
            }
            None => {
                pending = Some(pending.map_or((index, index), |(first, _)| (first, index)));
            }
        }
    }

    // After a stop the batch being filled is not handed over: it is retried.
    if unhandled_from.is_none() {
        if let (Some(batch), Some((first, last))) = (batcher.take(), pending) {
            if deliver(RecordBatch {
                batch,
                first_record: first,
                last_record: last,
            }) == Flow::Stop
            {
                unhandled_from = Some(first);
            }
        }
    }
    if without_host > 0 {
        warn!(
            object = %log_object,
            records = without_host,
            "records without a distribution id or cs-host: not forwarded (add primary-distribution-id or cs-host to the real-time log configuration)"
        );
    }
    summary.elapsed = started.elapsed();
    ShardProcessed {
        summary,
        error,
        unhandled_from,
    }
}
