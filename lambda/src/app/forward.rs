//! Forwarding one object through the core to the bridge, and concluding what
//! happened with the one outcome decision (`outcome::decide`).
//!
//! The synchronous core runs on a blocking thread and hands batches over a
//! bounded channel to the async delivery, so reading, parsing and sending
//! overlap while memory stays bounded by (channel + `max_in_flight`) batches.
//! Around it: the checkpoint tag (read before, written before a retry,
//! removed after success), parking refused batches on the failure queue, and
//! the operator's lines and metrics.

use std::io::Read;
use std::sync::Arc;

use tokio::io::AsyncRead;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use tracing::{error, info, warn, Instrument};

use super::outcome::{decide, Disposition, Facts};
use super::parked::ParkedBatch;
use super::sources::ObjectEvent;
use crate::aws::domains::DistributionDomains;
use crate::aws::s3::{ObjectStore, StoreError};
use crate::aws::sqs::FailureQueue;
use crate::aws::tags::{TagSource, TagState};
use crate::core::batch::Batch;
use crate::core::checkpoint::{BatchSelection, Checkpoint, CHECKPOINT_TAG};
use crate::core::filter::not_a_log;
use crate::core::object::ObjectId;
use crate::core::pipeline::{
    process_object, AllowAll, BatchingSink, DistributionGate, Flow, PipelineError, PipelineOptions,
};
use crate::core::summary::Summary;
use crate::delivery::{Delivery, DeliveryReport};

/// Who runs the forwarding: decides how "what happens next" is phrased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The Lambda function: a retry is AWS's.
    Lambda,
    /// `process` or `replay`: a retry is the operator running it again.
    Command,
}

/// What to send of an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Everything not yet delivered: resume after the checkpoint tag.
    Resume,
    /// Everything, ignoring the checkpoint (`replay --from-start`).
    FromStart,
    /// Exactly these parked batches of this version, cut with these settings.
    Parked {
        batches: std::collections::BTreeSet<u64>,
        version: String,
        settings: String,
    },
}

/// The outcome of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOutcome {
    pub object: ObjectId,
    pub disposition: Disposition,
    /// The operator's line for anything but a plain delivery.
    pub message: Option<String>,
    /// Transactions delivered this time.
    pub transactions: u64,
    /// Batches parked on the failure queue this time.
    pub parked: Vec<u64>,
}

/// The application: everything built once (per container or per command)
/// that forwarding needs. Adapters are behind their traits, so tests run it
/// over in-memory fakes.
pub struct App {
    pub options: PipelineOptions,
    /// `batch_fingerprint(&options)`, computed once.
    pub fingerprint: String,
    pub delivery: Delivery,
    /// S3 (log objects and checkpoint tags); `None` for local files only.
    pub store: Option<Arc<dyn ObjectStore>>,
    /// `None`: no enabled-tag check (`cequence_require_enabled_tag=false`,
    /// or local files).
    pub tags: Option<Arc<dyn TagSource>>,
    /// A real-time record's `cs-host` → its distribution; `None` offline
    /// (such records then have no distribution).
    pub domains: Option<Arc<dyn DistributionDomains>>,
    /// Where refused batches are parked (`cequence_failure_queue_url`).
    pub queue: Option<Arc<dyn FailureQueue>>,
    /// Names the metrics lines (printed only under Lambda).
    pub function_name: Option<String>,
    pub max_concurrent_objects: usize,
    pub runner: Runner,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("fingerprint", &self.fingerprint)
            .field("tag_check", &self.tags.is_some())
            .field(
                "failure_queue",
                &self.queue.as_ref().map(|q| q.name().to_string()),
            )
            .field("runner", &self.runner)
            .finish_non_exhaustive()
    }
}

/// What streaming one object through the core and delivery gave.
struct Streamed {
    summary: Summary,
    delivery: DeliveryReport,
    error: Option<PipelineError>,
    /// The reader thread panicked (a bug): the object is retried, never lost.
    panicked: Option<String>,
    /// Batches the core cut (sent or skipped).
    produced: u64,
}

/// Runs the enabled-tag lookups of the blocking pipeline on the runtime.
struct BlockingGate {
    pub(super) handle: Handle,
    pub(super) tags: Arc<dyn TagSource>,
    pub(super) object: String,
}

impl DistributionGate for BlockingGate {
    fn allow(&mut self, distribution_id: &str) -> Result<bool, String> {
        match self.handle.block_on(self.tags.tag_state(distribution_id))? {
            TagState::Enabled => Ok(true),
            TagState::Disabled => {
                info!(
                    "{}: distribution {distribution_id} is not tagged cequence-enabled=true; its records are not forwarded",
                    self.object
                );
                Ok(false)
            }
            TagState::Missing => {
                warn!(
                    "{}: distribution {distribution_id} does not exist (NoSuchResource); its records are not forwarded",
                    self.object
                );
                Ok(false)
            }
        }
    }
}

impl App {
    /// An S3 object of an event (the Lambda, `replay`, `replay --from-dlq`).
    pub async fn s3_object(&self, event: &ObjectEvent, plan: &Plan) -> ObjectOutcome {
        let object = event.object.clone();
        if let Some(reason) = not_a_log(&object.key, event.size) {
            tracing::debug!("{object}: not a log ({reason:?}), skipped");
            return skipped(object);
        }
        let Some(store) = self.store.clone() else {
            return self.conclude_early(object, "no S3 client configured".into());
        };
        let opened = match store.open(&object).await {
            Ok(opened) => opened,
            Err(StoreError::NotFound { object }) => {
                warn!("{object} does not exist (deleted after the event?); nothing to forward");
                return skipped(object);
            }
            // Denied and transient alike: a fixed IAM policy still gets the logs.
            Err(e) => return self.conclude_early(object, e.to_string()),
        };
        if opened.size == Some(0) {
            tracing::debug!("{object}: zero bytes, not a log, skipped");
            return skipped(object);
        }
        let id = object.with_version(opened.version);
        let (selection, existing, park) = match plan {
            Plan::Resume | Plan::FromStart => {
                let existing = self.read_checkpoint(store.as_ref(), &id).await;
                let first = match (&existing, plan) {
                    (Some(checkpoint), Plan::Resume) => checkpoint.skip_for(&self.fingerprint),
                    _ => 0,
                };
                if first > 0 {
                    info!("{id}: resuming after batch {} (checkpoint)", first - 1);
                }
                (BatchSelection::From(first), existing, true)
            }
            Plan::Parked {
                batches,
                version,
                settings,
            } => {
                if *version != id.version || *settings != self.fingerprint {
                    let why = if *version != id.version {
                        format!(
                            "the object changed since (version {} now, {version} then)",
                            id.version
                        )
                    } else {
                        "the batch settings changed since".to_string()
                    };
                    return self.conclude_early(
                        id.clone(),
                        format!("{id}: parked batches cannot be picked out: {why}; send the whole object with `replay --from-start {id}`"),
                    );
                }
                // A batch refused again stays on the queue as it is.
                (BatchSelection::Only(batches.clone()), None, false)
            }
        };
        let body = Body::Stream(opened.body);
        let streamed = self.stream(body, &id, selection.clone()).await;
        self.conclude(id, streamed, &selection, existing, park)
            .await
    }

    /// A local file standing for an S3 object (`process`): no checkpoint.
    pub async fn local_object(
        &self,
        id: ObjectId,
        reader: impl Read + Send + 'static,
    ) -> ObjectOutcome {
        let selection = BatchSelection::default();
        let streamed = self
            .stream(Body::Reader(Box::new(reader)), &id, selection.clone())
            .await;
        self.conclude(id, streamed, &selection, None, true).await
    }

    async fn read_checkpoint(&self, store: &dyn ObjectStore, id: &ObjectId) -> Option<Checkpoint> {
        match store.get_tag(id, CHECKPOINT_TAG).await {
            Ok(value) => value.as_deref().and_then(Checkpoint::from_tag),
            Err(e) => {
                // Sending again is safe; skipping on a guess is not.
                warn!("{e}; the checkpoint cannot be read, so the object is sent from its start");
                None
            }
        }
    }

    /// The enabled-tag gate for the blocking core (none without a tag check);
    /// `object` names the input in its messages.
    pub(super) fn blocking_gate(&self, object: &str) -> Box<dyn DistributionGate + Send> {
        match &self.tags {
            None => Box::new(AllowAll),
            Some(tags) => Box::new(BlockingGate {
                handle: Handle::current(),
                tags: tags.clone(),
                object: object.to_string(),
            }),
        }
    }

    /// Streams one object through the core into delivery.
    async fn stream(&self, body: Body, id: &ObjectId, selection: BatchSelection) -> Streamed {
        let span = tracing::info_span!("object", object = %id);
        let (batches_tx, mut batches_rx) = mpsc::channel::<Batch>(1);
        let options = self.options.clone();
        let mut gate = self.blocking_gate(&id.to_string());
        let reading_id = id.clone();
        let blocking_span = span.clone();
        let reading = tokio::task::spawn_blocking(move || {
            let _entered = blocking_span.enter();
            let mut sink = BatchingSink::new(options.batch_limits, |batch| {
                match batches_tx.blocking_send(batch) {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Stop, // delivery gave up on this object
                }
            });
            match body {
                Body::Stream(stream) => process_object(
                    SyncIoBridge::new(stream),
                    &reading_id,
                    &options,
                    gate.as_mut(),
                    &mut sink,
                ),
                Body::Reader(reader) => {
                    process_object(reader, &reading_id, &options, gate.as_mut(), &mut sink)
                }
            }
        });

        let mut sender = self.delivery.object_with(id.clone(), selection);
        let mut produced = 0u64;
        async {
            while let Some(batch) = batches_rx.recv().await {
                produced += 1;
                sender.send(batch).await;
                if sender.is_failing() {
                    // The object is retried either way; stop reading. What
                    // was not sent is sent on the retry, after the checkpoint.
                    break;
                }
            }
            drop(batches_rx);
        }
        .instrument(span.clone())
        .await;
        let delivery = sender.finish().instrument(span).await;

        let (processed, panicked) = match reading.await {
            Ok(processed) => (Some(processed), None),
            Err(join_error) => (None, Some(format!("the reader task failed: {join_error}"))),
        };
        let (mut summary, error) = match processed {
            Some(p) => (p.summary, p.error),
            None => (Summary::default(), None),
        };
        delivery.fill_summary(&mut summary);
        Streamed {
            summary,
            delivery,
            error,
            panicked,
            produced,
        }
    }

    /// Parks refused batches, decides, moves the checkpoint, and reports.
    async fn conclude(
        &self,
        id: ObjectId,
        streamed: Streamed,
        selection: &BatchSelection,
        existing: Option<Checkpoint>,
        park: bool,
    ) -> ObjectOutcome {
        let Streamed {
            summary,
            delivery,
            error,
            panicked,
            produced,
        } = streamed;
        let mut facts = Facts::default();
        let mut causes: Vec<String> = Vec::new();
        match &error {
            Some(e) if e.is_retryable() => causes.push(e.to_string()),
            Some(e) => facts.unreadable = Some(e.to_string()),
            None => {}
        }
        causes.extend(panicked.clone());
        facts.retry_cause = causes.first().cloned();

        // Refused batches go to the failure queue, one message each.
        let mut parked = Vec::new();
        let mut first_unparked: Option<u64> = None;
        for failed in &delivery.failed {
            match failed.status {
                Some(status) if !failed.retryable => {
                    facts.refused_batches += 1;
                    let sent = match (&self.queue, park) {
                        (Some(queue), true) => {
                            let message = ParkedBatch::new(
                                &id,
                                failed.index,
                                &self.fingerprint,
                                status,
                                &failed.answer,
                            );
                            match queue.send(&message.to_body()).await {
                                Ok(()) => true,
                                Err(e) => {
                                    causes.push(format!(
                                        "batch {} could not be parked: {e}",
                                        failed.index
                                    ));
                                    false
                                }
                            }
                        }
                        _ => false,
                    };
                    if sent {
                        parked.push(failed.index);
                    } else {
                        first_unparked.get_or_insert(failed.index);
                    }
                }
                _ => facts.undelivered_batches += 1,
            }
        }
        facts.parked_batches = parked.len();
        let disposition = decide(&facts);

        // The checkpoint: how many leading batches a retry need not send.
        let mut checkpoint_note = String::new();
        if let (Some(store), BatchSelection::From(first)) = (&self.store, selection) {
            if disposition == Disposition::Retry {
                let mut prefix = delivery.settled_prefix;
                // The last batch cut before a read error may have been cut
                // short; on the retry it is longer. Resend it.
                if (error.is_some() || panicked.is_some()) && produced > *first {
                    prefix = prefix.min(produced - 1);
                }
                if let Some(unparked) = first_unparked {
                    prefix = prefix.min(unparked);
                }
                let prefix = prefix.max(*first);
                let checkpoint = Checkpoint {
                    batches: prefix,
                    fingerprint: self.fingerprint.clone(),
                };
                let unchanged = existing.as_ref() == Some(&checkpoint);
                if prefix > 0 && !unchanged {
                    match store
                        .set_tag(&id, CHECKPOINT_TAG, Some(&checkpoint.to_tag()))
                        .await
                    {
                        Ok(()) => {}
                        Err(e) => {
                            warn!("{e}; the checkpoint was not written, so the retry sends the object from batch {first}");
                        }
                    }
                }
                checkpoint_note = match prefix {
                    0 => String::new(),
                    1 => "; batch 0 is not sent again".into(),
                    n => format!("; batches 0..{} are not sent again", n - 1),
                };
            } else if disposition.clears_checkpoint() && existing.is_some() {
                if let Err(e) = store.set_tag(&id, CHECKPOINT_TAG, None).await {
                    warn!("{e}; the checkpoint tag stays (harmless: it names delivered batches)");
                }
            }
        }

        let message = self.message(
            &id,
            disposition,
            &causes,
            &delivery,
            &parked,
            facts.unreadable.as_deref(),
            &checkpoint_note,
        );
        crate::report::log_summary(&id, &summary);
        if delivery.failed.is_empty() && summary.transactions > summary.skipped_transactions {
            crate::report::log_delivered(&summary);
        }
        match (&message, disposition) {
            (Some(m), Disposition::Parked | Disposition::Retry | Disposition::Unreadable) => {
                error!("{m}")
            }
            (Some(m), _) => info!("{m}"),
            (None, _) => {}
        }
        if summary.transactions == 0 && disposition == Disposition::Delivered {
            info!("{id}: no transactions to send (all static, disabled or malformed)");
        }
        self.emit_metrics(&summary);
        ObjectOutcome {
            object: id,
            disposition,
            message,
            transactions: delivery.transactions_sent,
            parked,
        }
    }

    /// The operator's line: what failed and what happens now.
    #[allow(clippy::too_many_arguments)]
    fn message(
        &self,
        id: &ObjectId,
        disposition: Disposition,
        causes: &[String],
        delivery: &DeliveryReport,
        parked: &[u64],
        unreadable: Option<&str>,
        checkpoint_note: &str,
    ) -> Option<String> {
        let refused = |f: &&crate::delivery::FailedBatch| f.status.is_some() && !f.retryable;
        let mut parts: Vec<String> = causes.to_vec();
        let undelivered: Vec<&crate::delivery::FailedBatch> =
            delivery.failed.iter().filter(|f| !refused(f)).collect();
        if let Some(first) = undelivered.first() {
            parts.push(format!(
                "{} batch(es) not delivered (first: batch {}): {}",
                undelivered.len(),
                first.index,
                first.reason
            ));
        }
        let refusals: Vec<&crate::delivery::FailedBatch> =
            delivery.failed.iter().filter(refused).collect();
        let parked_text = if refusals.is_empty() {
            None
        } else {
            let indexes: Vec<String> = refusals.iter().map(|f| f.index.to_string()).collect();
            let queue = self
                .queue
                .as_ref()
                .map(|q| q.name().to_string())
                .unwrap_or_default();
            let where_to = if parked.len() == refusals.len() {
                format!("parked on the failure queue {queue}; fix the cause, then `replay --from-dlq` sends exactly these batches")
            } else if self.queue.is_none() {
                "no failure queue is configured (cequence_failure_queue_url) to park them".into()
            } else {
                "not all could be parked".into()
            };
            Some(format!(
                "batch {} refused by the bridge ({}); {where_to}",
                indexes.join(", "),
                refusals[0].reason
            ))
        };
        let what_next = match (disposition, self.runner) {
            (Disposition::Retry, Runner::Lambda) => {
                format!("the invocation fails so that AWS retries the object, then hands it to the failure queue{checkpoint_note}")
            }
            (Disposition::Retry, Runner::Command) if self.store.is_some() => {
                format!("run `replay {id}` again once the cause is fixed{checkpoint_note}")
            }
            (Disposition::Retry, Runner::Command) => {
                "run the command again once the cause is fixed".into()
            }
            _ => String::new(),
        };
        match disposition {
            Disposition::Delivered | Disposition::Skipped => None,
            Disposition::Unreadable => Some(format!(
                "{}. The records before the fault were forwarded; the rest of the object is unreadable: re-upload a good copy to forward it",
                unreadable.unwrap_or("unreadable")
            )),
            Disposition::Parked => {
                let mut text = format!("{id}: {}", parked_text.unwrap_or_default());
                if let Some(u) = unreadable {
                    text.push_str(&format!("; and {u}: the rest of the object is unreadable"));
                }
                Some(text)
            }
            Disposition::Retry => {
                parts.extend(parked_text);
                Some(format!("{id}: {}; {what_next}", parts.join("; ")))
            }
        }
    }

    /// A failure before any batch (S3 open, no client): retry, nothing sent.
    fn conclude_early(&self, object: ObjectId, cause: String) -> ObjectOutcome {
        let facts = Facts {
            retry_cause: Some(cause.clone()),
            ..Facts::default()
        };
        let disposition = decide(&facts);
        let what_next = match self.runner {
            Runner::Lambda => "the invocation fails so that AWS retries the object, then hands it to the failure queue",
            Runner::Command => "run replay again once the cause is fixed",
        };
        let message = format!("{cause}; {what_next}");
        error!("{message}");
        ObjectOutcome {
            object,
            disposition,
            message: Some(message),
            transactions: 0,
            parked: Vec::new(),
        }
    }

    /// One CloudWatch Embedded Metric Format line, under Lambda only.
    pub(super) fn emit_metrics(&self, summary: &Summary) {
        if let (Some(function_name), Runner::Lambda) = (&self.function_name, self.runner) {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default();
            println!(
                "{}",
                crate::report::emf_line(function_name, summary, now_ms)
            );
        }
    }
}

fn skipped(object: ObjectId) -> ObjectOutcome {
    ObjectOutcome {
        object,
        disposition: decide(&Facts {
            nothing_to_do: true,
            ..Facts::default()
        }),
        message: None,
        transactions: 0,
        parked: Vec::new(),
    }
}

/// The bytes of one object.
enum Body {
    /// An S3 body.
    Stream(Box<dyn AsyncRead + Send + Unpin>),
    /// A local file.
    Reader(Box<dyn Read + Send>),
}
