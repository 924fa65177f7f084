//! The Lambda handler: an event in, each input forwarded, the invocation's
//! result from the outcome decision: it fails (so AWS retries the event and,
//! after its retries, hands it to the failure queue) only when an object's
//! disposition is `Retry`. A Kinesis event is answered with
//! `batchItemFailures` instead (contract §7): Lambda retries the shard from
//! the record it names.

use futures_util::stream::{self, StreamExt};
use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use tracing::debug;

use super::forward::{App, ObjectOutcome, Plan};
use super::outcome::Disposition;
use super::shard::ShardOutcome;
use super::sources::kinesis::{BatchItemFailure, BatchResponse};
use super::sources::{recognise, Input};

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Some objects must be processed again (see `outcome`).
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

impl App {
    /// Handles one invocation's event.
    pub async fn handle(&self, event: &Value) -> Result<Value, HandlerError> {
        let input = recognise(event).map_err(|e| HandlerError::BadEvent(e.to_string()))?;
        match input {
            Input::Objects(parsed) => {
                for ignored in &parsed.ignored {
                    debug!("ignored event record: {ignored}");
                }
                let plan = Plan::Resume;
                let outcomes: Vec<ObjectOutcome> = stream::iter(parsed.objects.iter())
                    .map(|object| self.s3_object(object, &plan))
                    .buffer_unordered(self.max_concurrent_objects.max(1))
                    .collect()
                    .await;
                invocation_result(&outcomes, parsed.ignored.len())
            }
            Input::Records(shards) => {
                // One shard per event from an event source mapping; shards
                // of a hand-made event are independent, each answered.
                let mut outcomes = Vec::with_capacity(shards.len());
                for shard in shards {
                    outcomes.push(self.forward_shard_batch(shard).await);
                }
                Ok(batch_response(&outcomes).to_value())
            }
        }
    }
}

/// The answer to a Kinesis event: for each shard batch not fully handled,
/// the record Lambda must retry from; empty when everything was handled.
pub fn batch_response(outcomes: &[ShardOutcome]) -> BatchResponse {
    BatchResponse {
        batch_item_failures: outcomes
            .iter()
            .filter_map(|o| o.retry_from.clone())
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    }
}

/// The invocation's result for the outcomes of its objects.
pub fn invocation_result(
    outcomes: &[ObjectOutcome],
    ignored: usize,
) -> Result<Value, HandlerError> {
    let retries: Vec<&ObjectOutcome> = outcomes
        .iter()
        .filter(|o| o.disposition.fails_invocation())
        .collect();
    if let Some(first) = retries.first() {
        return Err(HandlerError::Retryable {
            failed: retries.len(),
            total: outcomes.len(),
            first: first
                .message
                .clone()
                .unwrap_or_else(|| first.object.to_string()),
        });
    }
    let count = |d: Disposition| outcomes.iter().filter(|o| o.disposition == d).count();
    Ok(json!({
        "objects": outcomes.len(),
        "transactions": outcomes.iter().map(|o| o.transactions).sum::<u64>(),
        "ignored": ignored,
        "skipped": count(Disposition::Skipped),
        "unreadable": count(Disposition::Unreadable),
        "parked_batches": outcomes.iter().map(|o| o.parked.len()).sum::<usize>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(retry_from: Option<&str>) -> ShardOutcome {
        ShardOutcome {
            log_object: "kinesis://s/shardId-000000000000".into(),
            retry_from: retry_from.map(str::to_string),
            transactions: 0,
            parked: Vec::new(),
            message: None,
            summary: Default::default(),
        }
    }

    #[test]
    fn the_kinesis_answer_names_each_shard_to_retry_and_is_empty_when_all_was_handled() {
        assert_eq!(
            batch_response(&[outcome(None)]).to_value(),
            json!({"batchItemFailures": []})
        );
        assert_eq!(
            batch_response(&[outcome(Some("42")), outcome(None), outcome(Some("7"))]).to_value(),
            json!({"batchItemFailures": [{"itemIdentifier": "42"}, {"itemIdentifier": "7"}]})
        );
    }
}
