//! The Lambda handler: an event in, every object of it forwarded, errors
//! mapped to retryable diagnostics so AWS retries the invocation and, after
//! its retries, hands it to the on-failure destination.

use futures_util::stream::{self, StreamExt};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use tracing::{debug, error, info, warn};

use super::event::{parse_event, ObjectEvent};
use super::s3::{ObjectStore, StoreError};
use crate::core::filter::not_a_log;
use crate::delivery::ObjectId;
use crate::forward::{report_object, Forwarder, TagSource};

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Some objects must be processed again (bridge down, S3 throttled, tag
    /// lookup failed, a batch refused): fail so AWS retries, then the
    /// failure queue keeps the event for `replay --from-dlq`.
    #[error("{failed} of {total} objects not fully forwarded: {first}")]
    Retryable {
        failed: usize,
        total: usize,
        first: String,
    },
    /// The event itself is not one we understand.
    #[error("unrecognised event: {0}")]
    BadEvent(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match e {
            HandlerError::Retryable { .. } => "CfPassive.Retryable",
            HandlerError::BadEvent(_) => "CfPassive.BadEvent",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// The outcome of one object of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    Forwarded {
        transactions: u64,
    },
    /// Not a log (folder marker, zero bytes) or no longer there.
    Skipped(String),
    /// Must be retried; the message names the object and what to do.
    Retry(String),
    /// Could not be (fully) read and retrying cannot help; logged at ERROR.
    Unreadable(String),
}

/// Built once per container: clients and caches live as long as it does.
#[derive(Debug)]
pub struct Handler<S: ObjectStore, T: TagSource> {
    pub store: S,
    pub forwarder: Forwarder<T>,
    pub max_concurrent_objects: usize,
    /// For the metrics lines (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function_name: Option<String>,
}

impl<S: ObjectStore, T: TagSource> Handler<S, T> {
    /// Handles one invocation's event.
    pub async fn handle(&self, event: &Value) -> Result<Value, HandlerError> {
        let parsed = parse_event(event).map_err(|e| HandlerError::BadEvent(e.to_string()))?;
        for ignored in &parsed.ignored {
            debug!("ignored event record: {ignored}");
        }
        let outcomes: Vec<ObjectOutcome> = stream::iter(parsed.objects.iter())
            .map(|object| self.handle_object(object))
            .buffer_unordered(self.max_concurrent_objects.max(1))
            .collect()
            .await;
        let total = outcomes.len();
        let retries: Vec<&String> = outcomes
            .iter()
            .filter_map(|o| match o {
                ObjectOutcome::Retry(message) => Some(message),
                _ => None,
            })
            .collect();
        if let Some(first) = retries.first() {
            return Err(HandlerError::Retryable {
                failed: retries.len(),
                total,
                first: (*first).clone(),
            });
        }
        let transactions: u64 = outcomes
            .iter()
            .map(|o| match o {
                ObjectOutcome::Forwarded { transactions } => *transactions,
                _ => 0,
            })
            .sum();
        Ok(json!({
            "objects": total,
            "transactions": transactions,
            "ignored": parsed.ignored.len(),
            "skipped": outcomes.iter().filter(|o| matches!(o, ObjectOutcome::Skipped(_))).count(),
            "unreadable": outcomes.iter().filter(|o| matches!(o, ObjectOutcome::Unreadable(_))).count(),
        }))
    }

    /// Forwards one object of the event.
    pub async fn handle_object(&self, event: &ObjectEvent) -> ObjectOutcome {
        let url = format!("s3://{}/{}", event.bucket, event.key);
        if let Some(reason) = not_a_log(&event.key, event.size) {
            debug!("{url}: not a log ({reason:?}), skipped");
            return ObjectOutcome::Skipped(format!("{reason:?}"));
        }
        let opened = match self.store.open(&event.bucket, &event.key).await {
            Ok(opened) => opened,
            Err(e @ StoreError::NotFound { .. }) => {
                warn!("{e}; nothing to forward");
                return ObjectOutcome::Skipped(e.to_string());
            }
            // Transient and denied alike: a denied read is retried too, so a
            // fixed IAM policy still gets the logs.
            Err(e) => {
                match self.function_name {
                    Some(_) => error!("{e}; the object will be retried"),
                    None => error!("{e}; fix the cause and run replay again"),
                }
                return ObjectOutcome::Retry(e.to_string());
            }
        };
        if opened.size == Some(0) {
            debug!("{url}: zero bytes, not a log, skipped");
            return ObjectOutcome::Skipped("Empty".into());
        }
        let id = ObjectId {
            bucket: event.bucket.clone(),
            key: event.key.clone(),
            version: opened.version,
        };
        let report = self.forwarder.forward_async(opened.body, id).await;
        let retry = report_object(&report, self.function_name.as_deref());
        if retry {
            return ObjectOutcome::Retry(report.failure_message().unwrap_or_default());
        }
        if let Some(message) = report.failure_message_for(crate::forward::Retrier::for_function(
            self.function_name.as_deref(),
        )) {
            return ObjectOutcome::Unreadable(message);
        }
        if report.summary.transactions == 0 {
            info!("{url}: no transactions to send (all static, disabled or malformed)");
        }
        ObjectOutcome::Forwarded {
            transactions: report.summary.transactions,
        }
    }
}
