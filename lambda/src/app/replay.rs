//! `replay`: S3 objects again (resuming after their checkpoint unless
//! `--from-start`), and `--from-dlq`: the failure queue drained, with the
//! same forwarding and outcome decision as the Lambda. A message is deleted
//! only once what it names no longer needs a retry.
//!
//! Real-time batches are on the queue as a `KinesisBatchInfo` (the event
//! source mapping's on-failure record, or a batch we parked in the same
//! shape): where the records were, not the records. They are read back from
//! the stream while Kinesis still holds them; records that have expired are
//! named as lost and the message is kept (unless `--drop-expired`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tracing::{error, info, warn};

use super::forward::{App, ObjectOutcome, Plan};
use super::outcome::Disposition;
use super::parked::ParkedBatch;
use super::sources::kinesis::{
    kinesis_batch_info, stream_name, KinesisBatchInfo, KinesisRecord, ShardBatch,
};
use super::sources::{recognise, Input, ObjectEvent};
use crate::aws::kinesis::{
    compare_sequence_numbers, ReadFrom, ShardRange, StreamReadError, StreamReader,
};
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

/// How `replay --from-dlq` treats real-time batches.
#[derive(Clone, Default)]
pub struct DrainOptions {
    /// Where real-time records are read back from (Kinesis). Without it a
    /// `KinesisBatchInfo` message is left in the queue, with an error.
    pub streams: Option<Arc<dyn StreamReader>>,
    /// Delete a message whose records have expired, once the loss is
    /// reported (the run still fails). By default it is kept: it is the
    /// record of what was lost.
    pub drop_expired: bool,
}

impl std::fmt::Debug for DrainOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainOptions")
            .field("streams", &self.streams.is_some())
            .field("drop_expired", &self.drop_expired)
            .finish()
    }
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
    /// Messages naming real-time records Kinesis no longer holds (some or
    /// all of them): those records are lost.
    pub expired: usize,
}

/// Drains the failure queue with the default [`DrainOptions`]: no stream
/// to read real-time records back from (their messages stay).
pub async fn drain_failure_queue(app: &App, queue: &dyn FailureQueue) -> Drained {
    drain_failure_queue_with(app, queue, &DrainOptions::default()).await
}

/// Drains the failure queue: Lambda's on-failure records (and S3 events) are
/// replayed from their checkpoint; parked batches are sent exactly, grouped
/// per object so each object is read once per receive; real-time batches are
/// read back from their stream and sent again.
pub async fn drain_failure_queue_with(
    app: &App,
    queue: &dyn FailureQueue,
    options: &DrainOptions,
) -> Drained {
    let mut drained = Drained::default();
    let mut seen: HashSet<String> = HashSet::new();
    // Parked batches delivered in this run: a batch parked twice (refused on
    // an attempt and on its retry) is sent once.
    let mut replayed: HashSet<(ObjectId, u64)> = HashSet::new();
    // Record ranges sent in this run, and whether the bridge refused part of
    // them again: those were parked anew, and the new message waits for the
    // next run (else a refusal would loop within this one).
    let mut ranges_sent: Vec<(ShardRange, bool)> = Vec::new();
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
            let value: Result<Value, String> =
                serde_json::from_str(&message.body).map_err(|e| e.to_string());
            if let Some(failures) = value.as_ref().ok().map(on_failure_records) {
                if !failures.is_empty() {
                    let verdict = replay_record_ranges(
                        app,
                        &message,
                        &failures,
                        options,
                        &mut ranges_sent,
                        &mut drained,
                    )
                    .await;
                    match verdict {
                        Some(done) => settle(queue, &message, done, &mut drained).await,
                        None => drained.kept += 1, // why was said
                    }
                    continue;
                }
            }
            let input = value.and_then(|v| recognise(&v).map_err(|e| e.to_string()));
            let done = match input {
                Ok(Input::Objects(parsed)) => {
                    let mut outcomes = Vec::new();
                    for object in &parsed.objects {
                        outcomes.push(app.s3_object(object, &Plan::Resume).await);
                    }
                    drained.failures += outcomes
                        .iter()
                        .filter(|o| o.disposition.fails_command())
                        .count();
                    // Deleted when the Lambda would have acknowledged it too.
                    outcomes.iter().all(|o| !o.disposition.fails_invocation())
                }
                // A Kinesis event holds its records: they are sent as they are.
                Ok(Input::Records(batches)) => {
                    let mut done = true;
                    for batch in batches {
                        let outcome = app.forward_shard_batch(batch).await;
                        if outcome.fails_command() {
                            drained.failures += 1;
                        }
                        done &= outcome.retry_from.is_none();
                    }
                    done
                }
                Err(e) => {
                    error!("message {}: {e}; left in the queue", message.id);
                    drained.kept += 1;
                    drained.failures += 1;
                    continue;
                }
            };
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

/// A real-time batch named on the failure queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnFailure {
    pub info: KinesisBatchInfo,
    /// Why Lambda gave up (`RetryAttemptsExhausted`,
    /// `MaximumRecordAgeExceeded`...), or our refusal (`refused by the
    /// bridge (400)`), for the operator.
    pub why: Option<String>,
}

/// The `KinesisBatchInfo` records of a message body: the event source
/// mapping's on-failure record as its SQS destination receives it, the same
/// through an SNS destination (the notification's `Message`, raw or wrapped
/// in an SQS or SNS event), and our own parked real-time batches. Empty when
/// the message is something else.
pub fn on_failure_records(body: &Value) -> Vec<OnFailure> {
    let mut out = Vec::new();
    collect_on_failure(body, &mut out, 0);
    out
}

fn collect_on_failure(value: &Value, out: &mut Vec<OnFailure>, depth: u8) {
    if depth > 3 {
        return;
    }
    if let Some(info) = kinesis_batch_info(value) {
        let condition = value
            .pointer("/requestContext/condition")
            .and_then(Value::as_str)
            .map(
                |condition| match value.pointer("/requestContext/approximateInvokeCount") {
                    Some(count) => format!("{condition} after {count} attempt(s)"),
                    None => condition.to_string(),
                },
            );
        let refusal = value
            .pointer("/cfPassive/status")
            .and_then(Value::as_u64)
            .map(|status| format!("refused by the bridge ({status})"));
        out.push(OnFailure {
            info,
            why: condition.or(refusal),
        });
        return;
    }
    // A JSON text inside: an SNS notification's Message, an SQS record's body.
    let nested =
        |text: Option<&Value>| -> Option<Value> { serde_json::from_str(text?.as_str()?).ok() };
    for inner in [
        nested(value.get("Message")),
        nested(value.get("body")),
        nested(value.pointer("/Sns/Message")),
    ]
    .into_iter()
    .flatten()
    {
        collect_on_failure(&inner, out, depth + 1);
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        for record in records {
            collect_on_failure(record, out, depth + 1);
        }
    }
}

/// The most records sent as one shard batch: an event source mapping's
/// largest batch, so a range it reported is sent as one batch, with the
/// same Idempotency-Keys on every replay.
const MAX_REPLAY_RECORDS: usize = 10_000;

/// Reads the ranges of one message back from their streams and forwards
/// them. Returns whether the message can be deleted, or `None` when it is
/// kept as the record of a loss (already said).
async fn replay_record_ranges(
    app: &App,
    message: &QueueMessage,
    failures: &[OnFailure],
    options: &DrainOptions,
    ranges_sent: &mut Vec<(ShardRange, bool)>,
    drained: &mut Drained,
) -> Option<bool> {
    let mut done = true;
    let mut expired = false;
    for failure in failures {
        let info = &failure.info;
        let range = ShardRange {
            stream_arn: info.stream_arn.clone(),
            shard_id: info.shard_id.clone(),
            start: info.start_sequence_number.clone(),
            end: info.end_sequence_number.clone(),
        };
        let why = failure
            .why
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        info!(
            "message {}: real-time records{why}: {range}{}",
            message.id,
            info.batch_size
                .map(|n| format!(", {n} record(s)"))
                .unwrap_or_default()
        );
        if let Some((_, refused)) = ranges_sent.iter().find(|(sent, _)| contains(sent, &range)) {
            if *refused {
                warn!(
                    "message {}: these records were sent in this run and refused again; left in the queue for the next run",
                    message.id
                );
                done = false;
            } else {
                info!(
                    "message {}: these records were delivered earlier in this run",
                    message.id
                );
            }
            continue;
        }
        let Some(streams) = &options.streams else {
            error!(
                "message {}: no Kinesis client to read the records back; left in the queue",
                message.id
            );
            drained.failures += 1;
            done = false;
            continue;
        };
        match replay_range(app, streams.as_ref(), message, &range).await {
            RangeReplay::Delivered { refused } => {
                if refused {
                    drained.failures += 1;
                }
                ranges_sent.push((range, refused));
            }
            RangeReplay::Expired { delivered } => {
                // Kept or dropped below, whether or not anything was left.
                expired = true;
                drained.failures += 1;
                if delivered {
                    ranges_sent.push((range, false));
                }
            }
            RangeReplay::NotDelivered => {
                drained.failures += 1;
                done = false;
            }
        }
    }
    if expired {
        drained.expired += 1;
        if options.drop_expired {
            warn!(
                "message {}: --drop-expired: deleted after reporting what was lost",
                message.id
            );
        } else {
            error!(
                "message {}: kept in the queue as the record of what was lost; delete it with `replay --from-dlq --drop-expired` once noted",
                message.id
            );
            return None;
        }
    }
    Some(done)
}

/// Whether `outer` covers all of `inner`.
fn contains(outer: &ShardRange, inner: &ShardRange) -> bool {
    outer.stream_arn == inner.stream_arn
        && outer.shard_id == inner.shard_id
        && compare_sequence_numbers(&outer.start, &inner.start) != Ordering::Greater
        && compare_sequence_numbers(&outer.end, &inner.end) != Ordering::Less
}

enum RangeReplay {
    /// Every record still in the stream was sent (or handled); `refused`:
    /// the bridge refused some again, and they were parked anew.
    Delivered { refused: bool },
    /// Some or all records have expired (logged); `delivered`: what was
    /// left of the range was sent.
    Expired { delivered: bool },
    /// A read or a delivery failed: run again later.
    NotDelivered,
}

/// Reads one range back, a chunk of at most [`MAX_REPLAY_RECORDS`] at a
/// time, and forwards each chunk as a shard batch.
async fn replay_range(
    app: &App,
    streams: &dyn StreamReader,
    message: &QueueMessage,
    range: &ShardRange,
) -> RangeReplay {
    let Some(name) = stream_name(&range.stream_arn) else {
        error!(
            "message {}: {:?} is not a Kinesis stream ARN; left in the queue",
            message.id, range.stream_arn
        );
        return RangeReplay::NotDelivered;
    };
    let mut from = ReadFrom::Start;
    let (mut expired, mut refused) = (false, false);
    let (mut records, mut transactions) = (0usize, 0u64);
    loop {
        let chunk = match streams.read_range(range, &from, MAX_REPLAY_RECORDS).await {
            Ok(chunk) => chunk,
            Err(e @ StreamReadError::Expired { .. }) => {
                error!("message {}: LOST: {e}", message.id);
                return RangeReplay::Expired { delivered: false };
            }
            Err(e) => {
                error!("message {}: {e}; left in the queue", message.id);
                return RangeReplay::NotDelivered;
            }
        };
        if let Some(first_held) = &chunk.expired_before {
            expired = true;
            error!(
                "message {}: LOST: {range}: the records from {} up to (not including) {first_held} have expired, Kinesis no longer holds them; they never reached the bridge. The records from {first_held} on are sent",
                message.id, range.start
            );
        }
        if chunk.end_not_found {
            warn!(
                "message {}: {range}: the shard holds no record at or after the end of the range (read up to {}); what it holds was sent",
                message.id,
                chunk
                    .records
                    .last()
                    .map(|r| r.sequence_number.as_str())
                    .unwrap_or("its start")
            );
        }
        let next = chunk.records.last().map(|r| r.sequence_number.clone());
        if !chunk.records.is_empty() {
            records += chunk.records.len();
            let batch = ShardBatch {
                stream_arn: range.stream_arn.clone(),
                stream_name: name.to_string(),
                shard_id: range.shard_id.clone(),
                records: chunk
                    .records
                    .into_iter()
                    .map(|r| KinesisRecord {
                        sequence_number: r.sequence_number,
                        partition_key: r.partition_key,
                        approximate_arrival_ms: r.approximate_arrival_ms,
                        data: Some(r.data),
                    })
                    .collect(),
            };
            let outcome = app.forward_shard_batch(batch).await;
            transactions += outcome.transactions;
            if let Some(retry_from) = &outcome.retry_from {
                error!(
                    "message {}: {range}: not delivered from record {retry_from} on; left in the queue, run replay again once the cause is fixed",
                    message.id
                );
                return RangeReplay::NotDelivered;
            }
            if !outcome.parked.is_empty() {
                // Parked again as a new message: this one is done.
                refused = true;
                error!(
                    "message {}: {range}: bridge batch(es) {:?} refused again and parked anew",
                    message.id, outcome.parked
                );
            }
        }
        match (chunk.finished, next) {
            (false, Some(last)) => from = ReadFrom::After(last),
            _ => break,
        }
    }
    info!(
        "message {}: {records} record(s) read back from {name}/{}, {transactions} transaction(s) delivered",
        message.id, range.shard_id
    );
    if expired {
        RangeReplay::Expired { delivered: true }
    } else {
        RangeReplay::Delivered { refused }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/cf-passive-realtime";

    /// The on-failure record as Lambda writes it for a Kinesis event source
    /// mapping (AWS Lambda developer guide, "Kinesis: on-failure destinations").
    fn lambda_record() -> Value {
        json!({
            "requestContext": {
                "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cf-passive",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 3
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-11-30T00:38:06.021Z",
            "KinesisBatchInfo": {
                "shardId": "shardId-000000000001",
                "startSequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                "endSequenceNumber": "49590338271490256608559692540925702759324208523137515618",
                "approximateArrivalOfFirstRecord": "2026-11-30T00:38:04.835Z",
                "approximateArrivalOfLastRecord": "2026-11-30T00:38:05.580Z",
                "batchSize": 500,
                "streamArn": ARN
            }
        })
    }

    #[test]
    fn on_failure_records_are_found_in_every_wrapping() {
        let record = lambda_record();
        let sns_envelope = json!({
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:failures",
            "Message": record.to_string()
        });
        let sns_event = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": record.to_string()}}]});
        let sqs_event =
            json!({"Records": [{"eventSource": "aws:sqs", "body": record.to_string()}]});
        for body in [&record, &sns_envelope, &sns_event, &sqs_event] {
            let found = on_failure_records(body);
            assert_eq!(found.len(), 1, "{body}");
            assert_eq!(found[0].info.shard_id, "shardId-000000000001");
            assert_eq!(found[0].info.stream_arn, ARN);
            assert_eq!(found[0].info.batch_size, Some(500));
            assert_eq!(
                found[0].why.as_deref(),
                Some("RetryAttemptsExhausted after 3 attempt(s)")
            );
        }
    }

    #[test]
    fn our_parked_records_say_the_bridge_refused_them() {
        let parked = json!({
            "version": "1.0",
            "timestamp": "2026-11-30T09:51:52Z",
            "KinesisBatchInfo": {"shardId": "shardId-000000000000", "startSequenceNumber": "7",
                "endSequenceNumber": "9", "streamArn": ARN, "batchSize": 3},
            "cfPassive": {"kind": "cf-passive.refused-records", "logObject": "kinesis://cf-passive-realtime/shardId-000000000000",
                "batch": 1, "status": 400, "answer": "bad field"}
        });
        let found = on_failure_records(&parked);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].why.as_deref(), Some("refused by the bridge (400)"));
        assert_eq!(found[0].info.start_sequence_number, "7");
    }

    #[test]
    fn other_messages_hold_no_on_failure_record() {
        for body in [
            json!({"Records": [{"eventSource": "aws:s3", "s3": {}}]}),
            json!({"version": "1.0", "requestPayload": {"Records": []}}),
            json!({"Type": "Notification", "Message": "not json"}),
            json!({"KinesisBatchInfo": {"shardId": "x"}}),
            json!("text"),
        ] {
            assert!(on_failure_records(&body).is_empty(), "{body}");
        }
    }

    #[test]
    fn a_range_contains_its_sub_ranges() {
        let range = |start: &str, end: &str| ShardRange {
            stream_arn: ARN.into(),
            shard_id: "shardId-000000000000".into(),
            start: start.into(),
            end: end.into(),
        };
        assert!(contains(&range("5", "100"), &range("5", "100")));
        assert!(contains(&range("5", "100"), &range("9", "10")));
        assert!(!contains(&range("5", "100"), &range("4", "10")));
        assert!(!contains(&range("5", "100"), &range("50", "101")));
        let other_shard = ShardRange {
            shard_id: "shardId-000000000001".into(),
            ..range("9", "10")
        };
        assert!(!contains(&range("5", "100"), &other_shard));
    }
}
