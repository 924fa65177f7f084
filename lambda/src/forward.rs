//! Forwards one object: the synchronous core runs on a blocking thread and
//! hands batches over a bounded channel to the async delivery, so reading,
//! parsing and sending overlap while memory stays bounded by
//! (channel + `max_in_flight`) batches, whatever the object's size.

use std::future::Future;
use std::io::Read;
use std::sync::Arc;

use tokio::io::AsyncRead;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use tracing::{warn, Instrument};

use crate::core::batch::Batch;
use crate::core::pipeline::{
    process_object, BatchingSink, DistributionGate, Flow, ObjectRef, PipelineError, PipelineOptions,
};
use crate::core::summary::Summary;
use crate::delivery::{Delivery, DeliveryError, DeliveryReport, ObjectId};

/// The `cequence-enabled` state of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagState {
    Enabled,
    Disabled,
    /// The distribution does not exist (`NoSuchResource`).
    Missing,
}

/// Looks up a distribution's `cequence-enabled` tag (CloudFront in
/// production; a map in tests). Errors are retryable by nature.
pub trait TagSource: Send + Sync + 'static {
    fn tag_state(
        &self,
        distribution_id: &str,
    ) -> impl Future<Output = Result<TagState, String>> + Send;
}

/// Everything known about one forwarded object.
#[derive(Debug)]
pub struct ObjectReport {
    pub object: String,
    pub summary: Summary,
    pub delivery: DeliveryReport,
    /// The object could not be read to its end (records before it were sent),
    /// or the tag lookup failed.
    pub pipeline_error: Option<PipelineError>,
    /// Some batches were not delivered.
    pub delivery_error: Option<DeliveryError>,
}

impl ObjectReport {
    /// Whether the object must be processed again (the invocation fails so
    /// AWS retries it and, in the end, hands it to the failure queue). Any
    /// undelivered batch counts: nothing is dropped silently.
    pub fn needs_retry(&self) -> bool {
        self.delivery_error.is_some()
            || self
                .pipeline_error
                .as_ref()
                .is_some_and(PipelineError::is_retryable)
    }

    /// One line for the operator: what failed and what to do (under Lambda,
    /// where AWS retries a failed invocation).
    pub fn failure_message(&self) -> Option<String> {
        self.failure_message_for(Retrier::Aws)
    }

    /// One line for the operator: what failed and what happens next, told
    /// truthfully for who retries (the command line never retries by itself).
    pub fn failure_message_for(&self, retrier: Retrier) -> Option<String> {
        if let Some(e) = &self.delivery_error {
            return Some(match (retrier, e) {
                (Retrier::Aws, _) => e.to_string(),
                (
                    Retrier::Operator,
                    DeliveryError::ObjectFailed {
                        failed,
                        total,
                        indexes,
                        reason,
                        retryable,
                        ..
                    },
                ) => format!(
                    "{}: {failed} of {total} batches not delivered (batch {indexes}): {reason}; {}. Fix the cause and run the command again (re-sent batches carry the same Idempotency-Key)",
                    self.object,
                    if *retryable {
                        "the bridge or the network failed for longer than cequence_retry_max_elapsed_s"
                    } else {
                        "the bridge or the token endpoint refused the request"
                    }
                ),
                (Retrier::Operator, _) => format!(
                    "{}: {e}. Fix the cause and run the command again",
                    self.object
                ),
            });
        }
        self.pipeline_error.as_ref().map(|e| match (e.is_retryable(), retrier) {
            (true, Retrier::Aws) => format!("{e}; the object will be retried"),
            (true, Retrier::Operator) => format!("{e}. Run the command again once the cause is fixed"),
            (false, _) => format!("{e}. The records before the fault were forwarded; the rest of the object is unreadable: re-upload a good copy to reprocess it (duplicates are dropped by Idempotency-Key)"),
        })
    }
}

/// Runs the enabled-tag lookups of the blocking pipeline on the runtime.
struct BlockingGate<T: TagSource> {
    handle: Handle,
    tags: Option<Arc<T>>,
    object: String,
}

impl<T: TagSource> DistributionGate for BlockingGate<T> {
    fn allow(&mut self, distribution_id: &str) -> Result<bool, String> {
        let Some(tags) = &self.tags else {
            return Ok(true);
        };
        match self.handle.block_on(tags.tag_state(distribution_id))? {
            TagState::Enabled => Ok(true),
            TagState::Disabled => {
                tracing::info!(
                    "{}: distribution {distribution_id} is not tagged cequence-enabled=true; its records are not forwarded",
                    self.object
                );
                Ok(false)
            }
            TagState::Missing => {
                warn!(
                    "{}: distribution {distribution_id} does not exist (NoSuchResource); the object is not forwarded",
                    self.object
                );
                Ok(false)
            }
        }
    }
}

/// Who processes a failed object again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retrier {
    /// AWS retries the failed Lambda invocation, then the failure queue keeps it.
    Aws,
    /// The operator runs the command again.
    Operator,
}

impl Retrier {
    /// Under Lambda a function name is known; on the command line it is not.
    pub fn for_function(function_name: Option<&str>) -> Retrier {
        if function_name.is_some() {
            Retrier::Aws
        } else {
            Retrier::Operator
        }
    }
}

/// Forwards objects to the bridge. Built once per container.
#[derive(Debug)]
pub struct Forwarder<T: TagSource> {
    pub options: PipelineOptions,
    pub delivery: Delivery,
    /// `None` when `cequence_require_enabled_tag=false` or for local files.
    pub tags: Option<Arc<T>>,
}

impl<T: TagSource> Forwarder<T> {
    /// Forwards an async byte stream (an S3 body).
    pub async fn forward_async<R>(&self, body: R, id: ObjectId) -> ObjectReport
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        self.forward(SyncIoBridge::new(body), id).await
    }

    /// Forwards a blocking reader (a local file, or a bridged async stream).
    pub async fn forward<R>(&self, source: R, id: ObjectId) -> ObjectReport
    where
        R: Read + Send + 'static,
    {
        let object = format!("s3://{}/{}", id.bucket, id.key);
        let span = tracing::info_span!("object", bucket = %id.bucket, key = %id.key);
        let (batches_tx, mut batches_rx) = mpsc::channel::<Batch>(1);
        let options = self.options.clone();
        let mut gate = BlockingGate {
            handle: Handle::current(),
            tags: self.tags.clone(),
            object: object.clone(),
        };
        let (bucket, key) = (id.bucket.clone(), id.key.clone());
        let blocking_span = span.clone();
        let reading = tokio::task::spawn_blocking(move || {
            let _entered = blocking_span.enter();
            let mut sink = BatchingSink::new(options.batch_limits, |batch| {
                match batches_tx.blocking_send(batch) {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Stop, // delivery gave up on this object
                }
            });
            let object = ObjectRef {
                bucket: &bucket,
                key: &key,
            };
            process_object(source, object, &options, &mut gate, &mut sink)
        });

        let mut sender = self.delivery.object(id.clone());
        async {
            while let Some(batch) = batches_rx.recv().await {
                sender.send(batch).await;
                if sender.is_failing() {
                    // The object fails either way; stop reading and let the
                    // retry send everything again under the same keys.
                    break;
                }
            }
            drop(batches_rx);
        }
        .instrument(span.clone())
        .await;
        let delivery = sender.finish().instrument(span).await;

        let processed = match reading.await {
            Ok(result) => result,
            Err(join_error) => {
                // The core never panics on input; if it did, fail the object
                // so it is retried and ends in the failure queue, not lost.
                let error = PipelineError::Read {
                    object: object.clone(),
                    line: 0,
                    source: std::io::Error::other(format!("the reader task failed: {join_error}")),
                };
                crate::core::pipeline::Processed {
                    summary: Summary::default(),
                    error: Some(error),
                    stopped_early: true,
                }
            }
        };
        let mut summary = processed.summary;
        summary.batches = delivery.batches_total();
        summary.retries = delivery.retries;
        summary.failed_batches = delivery.failed.len() as u64;
        summary.failed_transactions = delivery.transactions_failed();
        let delivery_error = delivery.error(&id);
        ObjectReport {
            object,
            summary,
            delivery,
            pipeline_error: processed.error,
            delivery_error,
        }
    }
}

/// Logs what the operator sees for one forwarded object (contract §6) and
/// prints its metrics line. Returns whether the object must be retried.
pub fn report_object(report: &ObjectReport, function_name: Option<&str>) -> bool {
    crate::report::log_summary(&report.object, &report.summary);
    if report.delivery_error.is_none() && report.summary.transactions > 0 {
        crate::report::log_delivered(&report.summary);
    }
    if let Some(message) = report.failure_message_for(Retrier::for_function(function_name)) {
        tracing::error!("{message}");
    }
    if let Some(function_name) = function_name {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        println!(
            "{}",
            crate::report::emf_line(function_name, &report.summary, now_ms)
        );
    }
    report.needs_retry()
}

/// No tag checks (local files, or `cequence_require_enabled_tag=false`).
#[derive(Debug)]
pub struct NoTags;

impl TagSource for NoTags {
    async fn tag_state(&self, _: &str) -> Result<TagState, String> {
        Ok(TagState::Enabled)
    }
}
