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

    // Hands a bridge batch and its (first, last) records over; `Some(first)`
    // when delivery wants no more, so the records from `first` on are retried.
    let mut hand_over = |batch: Batch, (first, last): (usize, usize)| {
        let flow = deliver(RecordBatch {
            batch,
            first_record: first,
            last_record: last,
        });
        (flow == Flow::Stop).then_some(first)
    };

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
                let span = pending.expect("a closed batch had records");
                pending = Some((index, index));
                if let Some(first) = hand_over(batch, span) {
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
        if let (Some(batch), Some(span)) = (batcher.take(), pending) {
            unhandled_from = hand_over(batch, span);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::batch::BatchLimits;
    use crate::core::filter::StaticFilter;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const FIELDS: &str =
        "timestamp,c-ip,sc-status,cs-method,cs-host,cs-uri-stem,x-edge-request-id,cs-headers,primary-distribution-id";
    const LOG: &str = "kinesis://s/shardId-000000000000";

    /// What a test record is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Sent,
        Static,
        Disabled,
        NotBase64,
        NotUtf8,
        WrongFieldCount,
        NoStatus,
        UnknownHost,
    }

    fn line(id: usize, kind: Kind) -> Vec<u8> {
        let (path, distribution, host, status) = match kind {
            Kind::Static => ("/app/logo.png", "EENABLED", "-", "200"),
            Kind::Disabled => ("/api/x", "EDISABLED", "-", "200"),
            Kind::NoStatus => ("/api/x", "EENABLED", "-", "-"),
            Kind::UnknownHost => ("/api/x", "-", "dnone.cloudfront.net", "200"),
            _ if id % 3 == 0 => ("/api/x", "-", "D111.CloudFront.net", "200"),
            _ => ("/api/x", "EENABLED", "-", "200"),
        };
        let text = format!(
            "1575493351.{:03}\t192.0.2.1\t{status}\tGET\t{host}\t{path}\treq-{id}\tX-Test:{id}%0A\t{distribution}\n",
            id % 1000
        );
        match kind {
            Kind::NotUtf8 => vec![0xff, 0xfe, b'\t'],
            Kind::WrongFieldCount => b"1575493351.000\t192.0.2.1\t200\n".to_vec(),
            _ => text.into_bytes(),
        }
    }

    struct Gate {
        asked: Vec<String>,
        fail: bool,
    }
    impl DistributionGate for Gate {
        fn allow(&mut self, id: &str) -> Result<bool, String> {
            self.asked.push(id.to_string());
            if self.fail {
                return Err("throttled".into());
            }
            Ok(id != "EDISABLED")
        }
    }
    struct Domains(Vec<String>);
    impl DomainResolver for Domains {
        fn distribution_for_domain(&mut self, domain: &str) -> Result<Option<String>, String> {
            self.0.push(domain.to_string());
            Ok((domain == "d111.cloudfront.net").then(|| "EENABLED".to_string()))
        }
    }

    fn options(batch_size: usize) -> PipelineOptions {
        PipelineOptions {
            static_filter: StaticFilter::parse(".png,.css"),
            batch_limits: BatchLimits {
                max_transactions: batch_size,
                max_bytes: 1 << 20,
            },
            ..PipelineOptions::default()
        }
    }

    struct Run {
        processed: ShardProcessed,
        batches: Vec<RecordBatch>,
        gate: Gate,
        domains: Domains,
    }

    fn run(kinds: &[Kind], batch_size: usize, gate_fails: bool, stop_after: usize) -> Run {
        let data: Vec<Option<Vec<u8>>> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| (*k != Kind::NotBase64).then(|| line(i, *k)))
            .collect();
        let seqs: Vec<String> = (0..kinds.len()).map(|i| format!("{}", 100 + i)).collect();
        let records: Vec<ShardRecord<'_>> = data
            .iter()
            .zip(&seqs)
            .map(|(d, s)| ShardRecord {
                sequence_number: s,
                data: d.as_deref(),
            })
            .collect();
        let fields = RealtimeFields::parse(FIELDS).unwrap();
        let mut gate = Gate {
            asked: Vec::new(),
            fail: gate_fails,
        };
        let mut domains = Domains(Vec::new());
        let mut batches = Vec::new();
        let processed = process_shard_records(
            &records,
            LOG,
            &fields,
            &options(batch_size),
            &mut domains,
            &mut gate,
            |b| {
                if batches.len() >= stop_after {
                    return Flow::Stop;
                }
                batches.push(b);
                Flow::Continue
            },
        );
        Run {
            processed,
            batches,
            gate,
            domains,
        }
    }

    /// The transaction ids of a batch, in order.
    fn ids(batch: &RecordBatch) -> Vec<String> {
        let body: serde_json::Value = serde_json::from_slice(&batch.batch.body).unwrap();
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["transaction-id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn each_batch_knows_its_first_and_last_record() {
        use Kind::*;
        let kinds = [Sent, NotBase64, Sent, Static, Sent, Sent, Disabled, Sent];
        let r = run(&kinds, 2, false, usize::MAX);
        let spans: Vec<(usize, usize)> = r
            .batches
            .iter()
            .map(|b| (b.first_record, b.last_record))
            .collect();
        assert_eq!(spans, [(0, 2), (4, 5), (7, 7)]);
        assert_eq!(
            r.batches.iter().map(ids).collect::<Vec<_>>(),
            [
                vec!["req-0", "req-2"],
                vec!["req-4", "req-5"],
                vec!["req-7"]
            ]
        );
        let s = &r.processed.summary;
        assert_eq!(
            (
                s.lines,
                s.transactions,
                s.malformed,
                s.skipped_static,
                s.skipped_disabled
            ),
            (8, 5, 1, 1, 1)
        );
        assert_eq!(r.processed.unhandled_from, None);
        assert!(r.processed.error.is_none());
        // Record 0 and 6... named by cs-host: looked up once, lower-cased.
        assert_eq!(r.domains.0, ["d111.cloudfront.net"]);
        // One tag lookup per distribution.
        assert_eq!(r.gate.asked, ["EENABLED", "EDISABLED"]);
        let tx: serde_json::Value = serde_json::from_slice(&r.batches[0].batch.body).unwrap();
        let tx = &tx["data"][0];
        assert_eq!(tx["txn-meta-data"]["cloudfront"]["log-object"], LOG);
        assert_eq!(
            tx["txn-meta-data"]["cloudfront"]["distribution-id"],
            "EENABLED"
        );
        assert_eq!(tx["timestamp"], "1575493351.000");
        assert!(tx["request"]["headers"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("x-test:MA==")));
    }

    #[test]
    fn malformed_records_are_counted_with_a_reason_and_never_stop_the_batch() {
        use Kind::*;
        let kinds = [
            NotBase64,
            NotUtf8,
            WrongFieldCount,
            NoStatus,
            Sent,
            UnknownHost,
        ];
        let r = run(&kinds, 10, false, usize::MAX);
        let s = &r.processed.summary;
        assert_eq!((s.malformed, s.transactions, s.no_distribution), (4, 1, 1));
        let reasons: Vec<&str> = s
            .malformed_samples
            .iter()
            .map(|m| m.reason.as_str())
            .collect();
        assert!(reasons[0].contains("base64"), "{reasons:?}");
        assert!(reasons[1].contains("UTF-8"), "{reasons:?}");
        assert!(reasons[2].contains("3 tab-separated values") && reasons[2].contains("lists 9"));
        assert!(reasons[3].contains("sc-status"), "{reasons:?}");
        assert_eq!(
            s.malformed_samples
                .iter()
                .map(|m| m.line)
                .collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(r.processed.unhandled_from, None);
        assert_eq!(r.batches.len(), 1);
    }

    #[test]
    fn a_failed_tag_lookup_leaves_the_batch_being_filled_unhandled() {
        use Kind::*;
        let r = run(&[Static, Sent, Sent], 10, true, usize::MAX);
        // The first record is asked about (it is static only after the gate).
        assert_eq!(r.processed.unhandled_from, Some(0));
        assert!(r.batches.is_empty());
        let error = r.processed.error.unwrap().to_string();
        assert!(
            error.contains("record 100") && error.contains("throttled"),
            "{error}"
        );
    }

    #[test]
    fn a_stop_names_the_first_record_of_the_batch_not_taken() {
        let kinds = [Kind::Sent; 7];
        let r = run(&kinds, 2, false, 1);
        assert_eq!(r.batches.len(), 1);
        assert_eq!(r.processed.unhandled_from, Some(2));
        // The last, partial batch is refused too.
        let r = run(&kinds, 2, false, 3);
        assert_eq!(r.processed.unhandled_from, Some(6));
    }

    fn kind() -> impl Strategy<Value = Kind> {
        use Kind::*;
        prop_oneof![
            6 => Just(Sent),
            1 => Just(Static),
            1 => Just(Disabled),
            1 => Just(NotBase64),
            1 => Just(NotUtf8),
            1 => Just(WrongFieldCount),
            1 => Just(NoStatus),
            1 => Just(UnknownHost),
        ]
    }

    proptest! {
        #[test]
        fn every_record_is_sent_once_in_order_or_counted(
            kinds in proptest::collection::vec(kind(), 0..60),
            batch_size in 1usize..8,
        ) {
            let r = run(&kinds, batch_size, false, usize::MAX);
            let s = &r.processed.summary;
            let sent: Vec<usize> = kinds.iter().enumerate()
                .filter(|(_, k)| **k == Kind::Sent).map(|(i, _)| i).collect();
            let got: Vec<String> = r.batches.iter().flat_map(ids).collect();
            let want: Vec<String> = sent.iter().map(|i| format!("req-{i}")).collect();
            prop_assert_eq!(got, want);
            let mut seen = HashSet::new();
            let mut previous_last = None;
            for (n, b) in r.batches.iter().enumerate() {
                prop_assert_eq!(b.batch.index, n as u64);
                let ids = ids(b);
                prop_assert_eq!(&ids[0], &format!("req-{}", b.first_record));
                prop_assert_eq!(ids.last().unwrap(), &format!("req-{}", b.last_record));
                prop_assert!(previous_last.is_none_or(|p| p < b.first_record));
                previous_last = Some(b.last_record);
                seen.extend(ids);
            }
            prop_assert_eq!(seen.len(), sent.len());
            let count = |k: Kind| kinds.iter().filter(|x| **x == k).count() as u64;
            prop_assert_eq!(s.lines, kinds.len() as u64);
            prop_assert_eq!(s.transactions, count(Kind::Sent));
            prop_assert_eq!(s.skipped_static, count(Kind::Static));
            prop_assert_eq!(s.skipped_disabled, count(Kind::Disabled));
            prop_assert_eq!(s.no_distribution, count(Kind::UnknownHost));
            prop_assert_eq!(
                s.malformed,
                count(Kind::NotBase64) + count(Kind::NotUtf8) + count(Kind::WrongFieldCount) + count(Kind::NoStatus)
            );
            prop_assert_eq!(r.processed.unhandled_from, None);
        }
    }
}
