//! Forwarding one Kinesis shard batch (real-time logs, contract §7–8): the
//! records through the pure core (`core::shard`), the bridge batches to
//! delivery, refused batches parked as record ranges, and the sequence
//! number Lambda must retry from.
//!
//! Like an S3 object, the core runs on a blocking thread (its lookups wait
//! on the runtime) and hands batches over a bounded channel to delivery.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tracing::{error, info, Instrument};

use super::forward::{App, Runner};
use super::parked::{ParkedRecords, RecordRange, Refusal, RECORDS_KIND};
use super::sources::kinesis::ShardBatch;
use crate::aws::domains::DistributionDomains;
use crate::core::checkpoint::BatchSelection;
use crate::core::object::ObjectId;
use crate::core::pipeline::Flow;
use crate::core::shard::{process_shard_records, DomainResolver, NoDomains, RecordBatch};
use crate::core::summary::Summary;

/// What happened to one shard batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardOutcome {
    /// `kinesis://<stream>/<shard>`
    pub log_object: String,
    /// The sequence number Lambda must retry the shard from (the first
    /// record of the first bridge batch not delivered); `None` when every
    /// record was handled: delivered, parked, filtered or counted malformed.
    pub retry_from: Option<String>,
    /// Transactions delivered this time.
    pub transactions: u64,
    /// Bridge batches (by index) parked on the failure queue.
    pub parked: Vec<u64>,
    /// The operator's line for anything but a plain delivery (also logged).
    pub message: Option<String>,
    pub summary: Summary,
}

impl ShardOutcome {
    /// Whether a command-line run counts it as a failure: anything not
    /// delivered, so a person sees it.
    pub fn fails_command(&self) -> bool {
        self.retry_from.is_some() || !self.parked.is_empty()
    }
}

/// Runs the `cs-host` lookups of the blocking core on the runtime.
struct BlockingDomains {
    handle: Handle,
    domains: Arc<dyn DistributionDomains>,
}

impl DomainResolver for BlockingDomains {
    fn distribution_for_domain(&mut self, domain: &str) -> Result<Option<String>, String> {
        self.handle
            .block_on(self.domains.distribution_for_domain(domain))
    }
}

/// What the core and delivery did with a shard batch.
struct Ran {
    summary: Summary,
    retry_cause: Option<String>,
    unhandled_from: Option<usize>,
    /// (first, last) record of each bridge batch handed to delivery, by index.
    spans: Vec<(usize, usize)>,
    delivery: crate::delivery::DeliveryReport,
}

impl App {
    /// Forwards one shard batch of a Kinesis event (the Lambda) or of a
    /// file of real-time lines (`process --realtime`).
    ///
    /// Bridge batch `i` carries the `Idempotency-Key`
    /// `kinesis::idempotency_key(stream_arn, shard_id, sequence number of the
    /// shard batch's first record, i)` (contract §2): the same records handed
    /// over again (a Lambda retry from the same record, a replay of the same
    /// range) give the same keys.
    pub async fn forward_shard_batch(&self, batch: ShardBatch) -> ShardOutcome {
        // Shared with the blocking core without copying the records' data.
        let batch = Arc::new(batch);
        let log_object = batch.log_object();
        let Some(first_sequence) = batch.first_sequence_number().map(str::to_string) else {
            return ShardOutcome {
                log_object,
                retry_from: None,
                transactions: 0,
                parked: Vec::new(),
                message: None,
                summary: Summary::default(),
            };
        };
        if self.options.realtime_fields.is_none() {
            let message = format!(
                "{log_object}: cequence_realtime_fields is not set, so real-time records cannot be read; \
                 set it to the fields of the real-time log configuration (the Terraform does). \
                 Lambda retries the shard from record {first_sequence}"
            );
            error!("{message}");
            return ShardOutcome {
                log_object,
                retry_from: Some(first_sequence),
                transactions: 0,
                parked: Vec::new(),
                message: Some(message),
                summary: Summary::default(),
            };
        }
        let span = tracing::info_span!("shard", object = %log_object);
        let ran = self
            .run_shard(&batch, &log_object, &first_sequence)
            .instrument(span)
            .await;
        self.conclude_shard(&batch, log_object, ran).await
    }

    async fn run_shard(
        &self,
        batch: &Arc<ShardBatch>,
        log_object: &str,
        first_sequence: &str,
    ) -> Ran {
        let (batches_tx, mut batches_rx) = mpsc::channel::<RecordBatch>(1);
        let options = self.options.clone();
        let mut gate = self.blocking_gate(log_object);
        let mut domains: Box<dyn DomainResolver + Send> = match &self.domains {
            None => Box::new(NoDomains),
            Some(domains) => Box::new(BlockingDomains {
                handle: Handle::current(),
                domains: domains.clone(),
            }),
        };
        let owned = Arc::clone(batch);
        let object_name = log_object.to_string();
        let blocking_span = tracing::Span::current();
        let reading = tokio::task::spawn_blocking(move || {
            let _entered = blocking_span.enter();
            let fields = options
                .realtime_fields
                .as_ref()
                .expect("checked by the caller");
            let records = owned.core_records();
            process_shard_records(
                &records,
                &object_name,
                fields,
                &options,
                domains.as_mut(),
                gate.as_mut(),
                |record_batch| match batches_tx.blocking_send(record_batch) {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Stop, // delivery gave up on this shard batch
                },
            )
        });

        // stream ARN, shard and first sequence number stand where an S3
        // object's bucket, key and version stand: the Idempotency-Key is then
        // exactly `kinesis::idempotency_key` (a test pins this).
        let key_base =
            ObjectId::new(&batch.stream_arn, &batch.shard_id).with_version(first_sequence);
        let mut sender = self
            .delivery
            .object_with(key_base, BatchSelection::default());
        let mut spans = Vec::new();
        while let Some(record_batch) = batches_rx.recv().await {
            spans.push((record_batch.first_record, record_batch.last_record));
            sender.send(record_batch.batch).await;
            if sender.is_failing() {
                // What was not sent is retried from its first record.
                break;
            }
        }
        drop(batches_rx);
        let delivery = sender.finish().await;

        let (mut summary, retry_cause, unhandled_from) = match reading.await {
            Ok(processed) => (
                processed.summary,
                processed.error.map(|e| e.to_string()),
                processed.unhandled_from,
            ),
            // A bug: the whole batch is retried, never lost.
            Err(join_error) => (
                Summary::default(),
                Some(format!("the reader task failed: {join_error}")),
                Some(0),
            ),
        };
        delivery.fill_summary(&mut summary);
        Ran {
            summary,
            retry_cause,
            unhandled_from,
            spans,
            delivery,
        }
    }

    /// Parks refused batches, finds the record to retry from, and reports.
    async fn conclude_shard(
        &self,
        batch: &ShardBatch,
        log_object: String,
        ran: Ran,
    ) -> ShardOutcome {
        let Ran {
            summary,
            retry_cause,
            unhandled_from,
            spans,
            delivery,
        } = ran;
        let mut retry_index = unhandled_from;
        let mut retry_at = |index: usize| {
            retry_index = Some(retry_index.map_or(index, |r: usize| r.min(index)));
        };
        let mut parked = Vec::new();
        let mut problems: Vec<String> = retry_cause.into_iter().collect();
        let mut refusals: Vec<String> = Vec::new();
        for failed in &delivery.failed {
            // A batch the core did not hand over cannot be named: retry all.
            let Some(&(first, last)) = usize::try_from(failed.index)
                .ok()
                .and_then(|i| spans.get(i))
            else {
                retry_at(0);
                problems.push(failed.reason.clone());
                continue;
            };
            let refused = failed.status.filter(|_| !failed.retryable);
            let Some(status) = refused else {
                retry_at(first);
                problems.push(format!(
                    "batch {} not delivered: {}",
                    failed.index, failed.reason
                ));
                continue;
            };
            let range = RecordRange {
                shard_id: batch.shard_id.clone(),
                start_sequence_number: batch.records[first].sequence_number.clone(),
                end_sequence_number: batch.records[last].sequence_number.clone(),
                stream_arn: batch.stream_arn.clone(),
                batch_size: (last - first + 1) as u64,
            };
            let where_from = format!(
                "records {}..{}",
                range.start_sequence_number, range.end_sequence_number
            );
            let Some(queue) = &self.queue else {
                retry_at(first);
                problems.push(format!(
                    "batch {} ({where_from}) refused by the bridge ({}) and no failure queue is configured (cequence_failure_queue_url) to park it",
                    failed.index, failed.reason
                ));
                continue;
            };
            let message = ParkedRecords::new(
                range,
                Refusal {
                    kind: RECORDS_KIND.into(),
                    log_object: log_object.clone(),
                    batch: failed.index,
                    status,
                    answer: failed.answer.clone(),
                },
                std::time::SystemTime::now(),
            );
            match queue.send(&message.to_body()).await {
                Ok(()) => {
                    parked.push(failed.index);
                    refusals.push(format!(
                        "batch {} ({where_from}) refused by the bridge ({}); parked on the failure queue {}: fix the cause, then `replay --from-dlq` re-reads these records from the stream while it retains them",
                        failed.index,
                        failed.reason,
                        queue.name()
                    ));
                }
                Err(e) => {
                    retry_at(first);
                    problems.push(format!(
                        "batch {} ({where_from}) refused by the bridge ({}) could not be parked: {e}",
                        failed.index, failed.reason
                    ));
                }
            }
        }
        let retry_from = retry_index
            .and_then(|i| batch.records.get(i))
            .map(|r| r.sequence_number.clone());
        crate::report::log_summary(&log_object, &summary);
        if delivery.failed.is_empty() && retry_from.is_none() {
            crate::report::log_delivered(&summary);
        }
        let mut parts = problems;
        if let Some(seq) = &retry_from {
            parts.push(match self.runner {
                Runner::Lambda => format!(
                    "Lambda retries the shard from record {seq} (batchItemFailures); nothing before it is skipped or sent again"
                ),
                Runner::Command => format!(
                    "not delivered from record {seq} on; run the command again once the cause is fixed"
                ),
            });
        }
        parts.extend(refusals);
        let message = (!parts.is_empty()).then(|| format!("{log_object}: {}", parts.join("; ")));
        match &message {
            Some(m) => error!("{m}"),
            None if summary.transactions == 0 => {
                info!("{log_object}: no transactions to send (all static, disabled, without a distribution or malformed)")
            }
            None => {}
        }
        self.emit_metrics(&summary);
        ShardOutcome {
            log_object,
            retry_from,
            transactions: delivery.transactions_sent,
            parked,
            message,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::sources::kinesis::idempotency_key;

    #[test]
    fn the_delivery_key_of_a_shard_batch_is_the_contract_kinesis_key() {
        let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/cf-passive-realtime";
        let (shard, seq) = (
            "shardId-000000000003",
            "49590338271490256608559692538361571095921575989136588898",
        );
        let key_base = ObjectId::new(arn, shard).with_version(seq);
        for index in [0, 1, 17] {
            assert_eq!(
                crate::delivery::idempotency_key(&key_base, index),
                idempotency_key(arn, shard, seq, index)
            );
        }
    }
}
