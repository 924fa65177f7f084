//! `replay`: S3 objects again (resuming after their checkpoint unless
//! `--from-start`), and `--from-dlq`: the failure queue drained, with the
//! same forwarding and outcome decision as the Lambda. A message is deleted
//! only once what it names no longer needs a retry.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use tracing::{error, info};

use super::forward::{App, ObjectOutcome, Plan};
use super::outcome::Disposition;
use super::parked::ParkedBatch;
use super::sources::{recognise, Input, ObjectEvent};
use crate::aws::sqs::{FailureQueue, QueueMessage};
use crate::core::object::ObjectId;

/// How long a received message stays hidden while we work on it (seconds):
/// longer than one object can take, so no second reader picks it up.
const HIDE_S: i32 = 900;

/// Replays objects given as `s3://bucket/key`. Returns each one's outcome.
pub async fn replay_objects(
    app: &App,
    objects: &[ObjectId],
    from_start: bool,
) -> Vec<ObjectOutcome> {
    let plan = if from_start {
        Plan::FromStart
    } else {
        Plan::Resume
    };
    let mut outcomes = Vec::new();
    for object in objects {
        let event = ObjectEvent {
            object: object.clone(),
            size: None,
        };
        outcomes.push(app.s3_object(&event, &plan).await);
    }
    outcomes
}

/// What draining the failure queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages handled and deleted.
    pub deleted: usize,
    /// Messages left in the queue (not delivered, unreadable, or not ours).
    pub kept: usize,
    /// Objects or message groups that count as a failure of the command.
    pub failures: usize,
}

/// Drains the failure queue: Lambda's on-failure records (and S3 events) are
/// replayed from their checkpoint; parked batches are sent exactly, grouped
/// per object so each object is read once per receive.
pub async fn drain_failure_queue(app: &App, queue: &dyn FailureQueue) -> Drained {
    let mut drained = Drained::default();
    let mut seen: HashSet<String> = HashSet::new();
    // Parked batches delivered in this run: a batch parked twice (refused on
    // an attempt and on its retry) is sent once.
    let mut replayed: HashSet<(ObjectId, u64)> = HashSet::new();
    loop {
        let messages = match queue.receive(10, HIDE_S).await {
            Ok(messages) => messages,
            Err(e) => {
                error!("{e}");
                drained.failures += 1;
                return drained;
            }
        };
        // A message kept earlier in this run comes back only after HIDE_S;
        // seeing it again means the queue holds nothing new.
        let fresh: Vec<QueueMessage> = messages
            .into_iter()
            .filter(|m| seen.insert(m.id.clone()))
            .collect();
        if fresh.is_empty() {
            return drained;
        }
        let mut parked: BTreeMap<(ObjectId, String), Vec<(QueueMessage, u64)>> = BTreeMap::new();
        for message in fresh {
            if let Some(batch) = ParkedBatch::from_body(&message.body) {
                parked
                    .entry((batch.object_id(), batch.settings.clone()))
                    .or_default()
                    .push((message, batch.batch));
                continue;
            }
            let input = serde_json::from_str(&message.body)
                .map_err(|e| e.to_string())
                .and_then(|v| recognise(&v).map_err(|e| e.to_string()));
            let outcomes = match input {
                Ok(Input::Objects(parsed)) => {
                    let mut outcomes = Vec::new();
                    for object in &parsed.objects {
                        outcomes.push(app.s3_object(object, &Plan::Resume).await);
                    }
                    outcomes
                }
                // Real-time records are re-read from their stream, not from an event.
                Ok(Input::Records(_)) => {
                    error!(
                        "message {}: a Kinesis event cannot be replayed from the queue; left in the queue",
                        message.id
                    );
                    drained.kept += 1;
                    drained.failures += 1;
                    continue;
                }
                Err(e) => {
                    error!("message {}: {e}; left in the queue", message.id);
                    drained.kept += 1;
                    drained.failures += 1;
                    continue;
                }
            };
            drained.failures += outcomes
                .iter()
                .filter(|o| o.disposition.fails_command())
                .count();
            // Deleted when the Lambda would have acknowledged it too.
            let done = outcomes.iter().all(|o| !o.disposition.fails_invocation());
            settle(queue, &message, done, &mut drained).await;
        }
        for ((object, settings), messages) in parked {
            let batches: BTreeSet<u64> = messages
                .iter()
                .map(|(_, b)| *b)
                .filter(|b| !replayed.contains(&(object.clone(), *b)))
                .collect();
            let done = if batches.is_empty() {
                true
            } else {
                let plan = Plan::Parked {
                    batches: batches.clone(),
                    version: object.version.clone(),
                    settings,
                };
                let event = ObjectEvent {
                    object: object.clone(),
                    size: None,
                };
                let outcome = app.s3_object(&event, &plan).await;
                outcome.disposition == Disposition::Delivered
            };
            if done {
                replayed.extend(batches.into_iter().map(|b| (object.clone(), b)));
            } else {
                drained.failures += 1;
            }
            for (message, _) in &messages {
                settle(queue, message, done, &mut drained).await;
            }
        }
    }
}

async fn settle(
    queue: &dyn FailureQueue,
    message: &QueueMessage,
    done: bool,
    drained: &mut Drained,
) {
    if !done {
        error!(
            "message {}: not delivered yet; left in the queue",
            message.id
        );
        drained.kept += 1;
        return;
    }
    match queue.delete(&message.receipt).await {
        Ok(()) => {
            info!("message {}: replayed, deleted from the queue", message.id);
            drained.deleted += 1;
        }
        Err(e) => {
            error!("message {}: replayed but not deleted: {e}", message.id);
            drained.kept += 1;
            drained.failures += 1;
        }
    }
}
