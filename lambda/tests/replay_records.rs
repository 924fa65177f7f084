//! `replay --from-dlq` of real-time batches at the application layer: the
//! failure queue and the stream are in-memory fakes, delivery talks to the
//! real OAuth server and bridge receiver. What happens to a message when the
//! bridge refuses its records again, when delivery fails, when there is no
//! stream to read from, and to a Kinesis event on the queue.

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cf_passive::app::replay::{drain_failure_queue_with, DrainOptions, Drained};
use cf_passive::app::{App, Runner};
use cf_passive::aws::kinesis::{
    compare_sequence_numbers, RangeChunk, ReadFrom, ShardRange, StreamReadError, StreamReader,
    StreamRecord,
};
use cf_passive::aws::AdapterFuture;
use cf_passive::core::filter::StaticFilter;
use cf_passive::core::realtime::RealtimeFields;
use common::{FakeQueue, Parts, Servers};
use futures_util::FutureExt;
use serde_json::{json, Value};

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/cequence-cf-passive-realtime";
const SHARD: &str = "shardId-000000000000";

/// A shard in memory: records with sequence numbers 100, 110, 120...
struct FakeStream {
    records: Vec<StreamRecord>,
}

impl FakeStream {
    fn new(lines: &[String]) -> FakeStream {
        FakeStream {
            records: lines
                .iter()
                .enumerate()
                .map(|(i, line)| StreamRecord {
                    sequence_number: (100 + 10 * i).to_string(),
                    partition_key: Some("192.0.2.1".into()),
                    approximate_arrival_ms: Some(1_700_000_000_000),
                    data: format!("{line}\n").into_bytes(),
                })
                .collect(),
        }
    }
}

impl StreamReader for FakeStream {
    fn read_range<'a>(
        &'a self,
        range: &'a ShardRange,
        from: &'a ReadFrom,
        max_records: usize,
    ) -> AdapterFuture<'a, Result<RangeChunk, StreamReadError>> {
        let after = |r: &&StreamRecord| match from {
            ReadFrom::Start => {
                compare_sequence_numbers(&r.sequence_number, &range.start) != Ordering::Less
            }
            ReadFrom::After(seq) => {
                compare_sequence_numbers(&r.sequence_number, seq) == Ordering::Greater
            }
        };
        let within: Vec<StreamRecord> = self
            .records
            .iter()
            .filter(after)
            .filter(|r| {
                compare_sequence_numbers(&r.sequence_number, &range.end) != Ordering::Greater
            })
            .cloned()
            .collect();
        let finished = within.len() <= max_records;
        let chunk = RangeChunk {
            records: within.into_iter().take(max_records).collect(),
            finished,
            expired_before: None,
            end_not_found: false,
        };
        async move { Ok(chunk) }.boxed()
    }
}

/// Real-time lines, every one a transaction (no static filter).
fn lines(n: usize) -> Vec<String> {
    let options = cf_loggen::Options {
        distribution_id: "E27FO14I29XXXX".into(),
        ..cf_loggen::Options::default()
    };
    cf_loggen::RealtimeGenerator::new(5, options, cf_loggen::DEFAULT_REALTIME_FIELDS)
        .unwrap()
        .take(n)
        .collect()
}

/// The transaction ids of lines (their `x-edge-request-id`).
fn ids(lines: &[String]) -> BTreeSet<String> {
    let column = cf_loggen::DEFAULT_REALTIME_FIELDS
        .iter()
        .position(|f| *f == "x-edge-request-id")
        .unwrap();
    lines
        .iter()
        .map(|l| l.split('\t').nth(column).unwrap().to_string())
        .collect()
}

fn app(servers: &Servers, queue: &Arc<FakeQueue>, budget: Duration) -> App {
    let parts = Parts {
        store: None,
        tags: None,
        queue: Some(queue.clone()),
    };
    let mut app = common::app(servers, &parts, Runner::Command, 2, budget, 500);
    app.options.static_filter = StaticFilter::parse("");
    app.options.realtime_fields =
        Some(RealtimeFields::parse(&cf_loggen::DEFAULT_REALTIME_FIELDS.join(",")).unwrap());
    app.fingerprint = cf_passive::core::checkpoint::batch_fingerprint(&app.options);
    app
}

fn on_failure(start: &str, end: &str) -> String {
    json!({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-30T00:38:06.021Z",
        "KinesisBatchInfo": {"shardId": SHARD, "startSequenceNumber": start,
            "endSequenceNumber": end, "batchSize": 1, "streamArn": ARN}
    })
    .to_string()
}

fn options(stream: FakeStream) -> DrainOptions {
    DrainOptions {
        streams: Some(Arc::new(stream)),
        drop_expired: false,
    }
}

fn delivered_ids(servers: &Servers) -> Vec<String> {
    servers
        .bridge
        .transactions()
        .iter()
        .map(|t| {
            t.transaction["transaction-id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_refused_again_is_parked_anew_and_waits_for_the_next_run() {
    let servers = common::servers("400").await;
    let queue = Arc::new(FakeQueue::default());
    let lines = lines(20);
    queue.push(&on_failure("100", "290"));
    let app = app(&servers, &queue, Duration::from_secs(2));

    let drained =
        drain_failure_queue_with(&app, queue.as_ref(), &options(FakeStream::new(&lines))).await;
    assert!(drained.failures >= 1, "{drained:?}");
    assert_eq!(drained.deleted, 1, "the original is done: {drained:?}");
    assert_eq!(
        servers.bridge.requests().len(),
        1,
        "the re-parked batch is not sent again in the same run"
    );
    let bodies = queue.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let parked: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(parked["KinesisBatchInfo"]["startSequenceNumber"], "100");
    assert_eq!(parked["KinesisBatchInfo"]["endSequenceNumber"], "290");

    // Fixed: the next run sends the re-parked records and deletes it.
    servers.set_faults("");
    queue.unhide();
    let drained =
        drain_failure_queue_with(&app, queue.as_ref(), &options(FakeStream::new(&lines))).await;
    assert_eq!(
        drained,
        Drained {
            deleted: 1,
            ..Drained::default()
        }
    );
    assert!(queue.bodies().is_empty());
    let delivered = delivered_ids(&servers);
    assert_eq!(delivered.len(), 20, "each once");
    assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), ids(&lines));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_range_stays_in_the_queue() {
    let servers = common::servers("503x50").await;
    let queue = Arc::new(FakeQueue::default());
    queue.push(&on_failure("110", "150"));
    let app = app(&servers, &queue, Duration::from_millis(300));
    let drained =
        drain_failure_queue_with(&app, queue.as_ref(), &options(FakeStream::new(&lines(10)))).await;
    assert_eq!((drained.deleted, drained.kept), (0, 1), "{drained:?}");
    assert!(drained.failures >= 1);
    assert_eq!(queue.bodies().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_stream_to_read_from_the_message_stays() {
    let servers = common::servers("").await;
    let queue = Arc::new(FakeQueue::default());
    queue.push(&on_failure("100", "100"));
    let app = app(&servers, &queue, Duration::from_secs(2));
    let drained = drain_failure_queue_with(&app, queue.as_ref(), &DrainOptions::default()).await;
    assert_eq!((drained.deleted, drained.kept, drained.failures), (0, 1, 1));
    assert!(servers.bridge.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_named_twice_is_sent_once_and_both_messages_deleted() {
    let servers = common::servers("").await;
    let queue = Arc::new(FakeQueue::default());
    let lines = lines(30);
    queue.push(&on_failure("100", "390"));
    // The same range again (an SNS destination and its retry, say).
    queue.push(&on_failure("100", "390"));
    let app = app(&servers, &queue, Duration::from_secs(2));
    let drained =
        drain_failure_queue_with(&app, queue.as_ref(), &options(FakeStream::new(&lines))).await;
    assert_eq!(
        drained,
        Drained {
            deleted: 2,
            ..Drained::default()
        }
    );
    let delivered = delivered_ids(&servers);
    assert_eq!(delivered.len(), 30, "each transaction once");
    assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), ids(&lines));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_event_on_the_queue_is_sent_as_it_is() {
    use base64::Engine as _;
    let servers = common::servers("").await;
    let queue = Arc::new(FakeQueue::default());
    let lines = lines(3);
    let records: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            json!({
                "kinesis": {"data": base64::engine::general_purpose::STANDARD.encode(format!("{line}\n")),
                    "sequenceNumber": (500 + i).to_string(), "partitionKey": "k",
                    "approximateArrivalTimestamp": 1_700_000_000.5},
                "eventSource": "aws:kinesis", "eventSourceARN": ARN,
                "eventID": format!("{SHARD}:{}", 500 + i)
            })
        })
        .collect();
    queue.push(&json!({ "Records": records }).to_string());
    let app = app(&servers, &queue, Duration::from_secs(2));
    let drained = drain_failure_queue_with(&app, queue.as_ref(), &DrainOptions::default()).await;
    assert_eq!((drained.deleted, drained.failures), (1, 0), "{drained:?}");
    let delivered: HashMap<String, usize> =
        delivered_ids(&servers)
            .into_iter()
            .fold(HashMap::new(), |mut m, id| {
                *m.entry(id).or_default() += 1;
                m
            });
    assert_eq!(
        delivered.keys().cloned().collect::<BTreeSet<_>>(),
        ids(&lines)
    );
    assert!(delivered.values().all(|n| *n == 1));
}
