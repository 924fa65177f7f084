//! `replay --from-dlq` of real-time batches, end to end with the compiled
//! binary: moto (SQS and Kinesis), the OAuth test server and the strict
//! bridge receiver. The failure queue holds what the event source mapping's
//! on-failure destination receives (a `KinesisBatchInfo`: shard and sequence
//! range, not the records); the replay reads those records back from the
//! stream and sends exactly them, or says clearly that they have expired.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use aws_config::BehaviorVersion;
use aws_sdk_kinesis::config::{Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use cf_passive_testkit::procs::{moto, unique_name, Moto};
use cf_passive_testkit::{
    BridgeConfig, BridgeReceiver, OAuthConfig, OAuthTestServer, RunningBridge, RunningOAuth,
};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cf-passive-lambda");
const DISTRIBUTION: &str = "E27FO14I29XXXX";

fn fields() -> String {
    cf_loggen::DEFAULT_REALTIME_FIELDS.join(",")
}

/// Real-time lines of the generator (each as one Kinesis record's data).
fn lines(seed: u64, n: usize) -> Vec<String> {
    let options = cf_loggen::Options {
        distribution_id: DISTRIBUTION.into(),
        ..cf_loggen::Options::default()
    };
    cf_loggen::RealtimeGenerator::new(seed, options, cf_loggen::DEFAULT_REALTIME_FIELDS)
        .unwrap()
        .take(n)
        .collect()
}

struct World {
    moto: Moto,
    runtime: tokio::runtime::Runtime,
    sqs: aws_sdk_sqs::Client,
    stream_arn: String,
    shard: String,
    queue_url: String,
    /// The lines put on the stream and their sequence numbers, in order.
    lines: Vec<String>,
    sequences: Vec<String>,
    bridge: RunningBridge,
    oauth: RunningOAuth,
    dir: tempfile::TempDir,
}

/// A one-shard stream holding `n` real-time lines, an empty failure queue,
/// the OAuth server and the bridge receiver.
fn world(n: usize) -> World {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let moto = moto();
    let (sqs, stream_arn, shard, queue_url, sequences, bridge, oauth) = runtime.block_on(async {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&moto.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await;
        let kinesis = aws_sdk_kinesis::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = unique_name("realtime");
        kinesis
            .create_stream()
            .stream_name(&name)
            .shard_count(1)
            .send()
            .await
            .unwrap();
        let stream_arn = kinesis
            .describe_stream_summary()
            .stream_name(&name)
            .send()
            .await
            .unwrap()
            .stream_description_summary()
            .unwrap()
            .stream_arn()
            .to_string();
        let shard = kinesis
            .list_shards()
            .stream_name(&name)
            .send()
            .await
            .unwrap()
            .shards()[0]
            .shard_id()
            .to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(unique_name("failures"))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        let mut sequences = Vec::new();
        for line in lines(11, n) {
            let put = kinesis
                .put_record()
                .stream_name(&name)
                .partition_key("192.0.2.1")
                .data(Blob::new(format!("{line}\n")))
                .send()
                .await
                .unwrap();
            sequences.push(put.sequence_number().to_string());
        }
        let oauth = OAuthTestServer::start(OAuthConfig::default())
            .await
            .unwrap();
        let bridge = BridgeReceiver::start(BridgeConfig::default())
            .await
            .unwrap();
        (sqs, stream_arn, shard, queue_url, sequences, bridge, oauth)
    });
    World {
        moto,
        runtime,
        sqs,
        stream_arn,
        shard,
        queue_url,
        lines: lines(11, n),
        sequences,
        bridge,
        oauth,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    /// The on-failure record Lambda sends to an SQS destination for the
    /// records `first..=last` (as in the AWS Lambda developer guide).
    fn on_failure(&self, start: &str, end: &str, size: usize) -> Value {
        json!({
            "requestContext": {
                "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cequence-cf-passive-lambda",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 3
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-11-30T00:38:06.021Z",
            "KinesisBatchInfo": {
                "shardId": self.shard,
                "startSequenceNumber": start,
                "endSequenceNumber": end,
                "approximateArrivalOfFirstRecord": "2026-11-30T00:38:04.835Z",
                "approximateArrivalOfLastRecord": "2026-11-30T00:38:05.580Z",
                "batchSize": size,
                "streamArn": self.stream_arn
            }
        })
    }

    fn send(&self, body: &str) {
        self.runtime.block_on(async {
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        });
    }

    /// Messages in the queue, visible or hidden by a receive.
    fn queued(&self) -> usize {
        self.runtime.block_on(async {
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(&self.queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
                attributes
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .map(|v| v.parse::<usize>().unwrap())
                    .unwrap_or_default()
            };
            count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                + count(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                )
        })
    }

    fn command(&self) -> Command {
        let oauth = OAuthConfig::default();
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.moto.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("cequence_client_id", &oauth.client_id)
            .env("cequence_client_secret", &oauth.client_secret)
            .env("cequence_auth_endpoint", self.oauth.token_url())
            .env("cequence_edge_endpoint", self.bridge.url())
            .env("cequence_allow_insecure_endpoints", "true")
            .env("cequence_retry_max_elapsed_s", "2")
            .env("cequence_require_enabled_tag", "false")
            .env("cequence_realtime_fields", fields());
        command
    }

    fn replay(&self) -> Output {
        self.command()
            .args(["replay", "--from-dlq", &self.queue_url])
            .output()
            .unwrap()
    }

    /// Transaction ids a dry run of these lines gives.
    fn dry_run_ids(&self, lines: &[String]) -> BTreeSet<String> {
        let path = self.dir.path().join(unique_name("lines"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let out = self
            .command()
            .args(["process", "--realtime", "--dry-run"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["transaction-id"].as_str().unwrap().to_string()
            })
            .collect()
    }

    fn received_ids(&self) -> Vec<String> {
        self.bridge
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
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn on_failure_records_are_read_back_from_the_stream_and_sent_exactly() {
    let w = world(60);
    // Two batches the event source mapping gave up on: one as its SQS
    // destination writes it, one through an SNS destination into SQS.
    let first = w.on_failure(&w.sequences[10], &w.sequences[29], 20);
    w.send(&first.to_string());
    let second = w.on_failure(&w.sequences[40], &w.sequences[49], 10);
    let envelope = json!({
        "Type": "Notification",
        "MessageId": "3d1d2c3e-xmpl",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:cequence-cf-passive-failures",
        "Message": second.to_string()
    });
    w.send(&envelope.to_string());
    assert_eq!(w.queued(), 2);

    let out = w.replay();
    assert!(out.status.success(), "{}", text(&out));

    let mut expected = w.dry_run_ids(&w.lines[10..30]);
    expected.extend(w.dry_run_ids(&w.lines[40..50]));
    assert!(!expected.is_empty());
    let received = w.received_ids();
    assert_eq!(
        received.len(),
        expected.len(),
        "each transaction once: {}",
        text(&out)
    );
    assert_eq!(received.into_iter().collect::<BTreeSet<_>>(), expected);
    for request in w.bridge.requests() {
        assert_eq!(
            request.status, 200,
            "the strict receiver accepted every body"
        );
    }
    assert_eq!(w.queued(), 0, "both messages deleted: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RetryAttemptsExhausted"), "{stderr}");
}

#[test]
fn expired_records_fail_the_run_name_what_was_lost_and_keep_the_message() {
    let w = world(5);
    // The whole range lies before the oldest record the shard holds: as if
    // Kinesis had trimmed it (moto cannot age records out).
    w.send(&w.on_failure("0", "0", 1).to_string());
    let out = w.replay();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for part in [
        "LOST",
        w.stream_arn.as_str(),
        w.shard.as_str(),
        "0 to 0",
        "24 hours",
        "expired",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert!(w.bridge.requests().is_empty(), "nothing to send");
    assert_eq!(w.queued(), 1, "kept as the record of the loss");
}

#[test]
fn drop_expired_deletes_the_message_once_the_loss_is_reported() {
    let w = world(3);
    w.send(&w.on_failure("0", "0", 1).to_string());
    let out = w
        .command()
        .args(["replay", "--from-dlq", &w.queue_url, "--drop-expired"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a loss fails the run: {}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LOST") && stderr.contains("--drop-expired"),
        "{stderr}"
    );
    assert_eq!(w.queued(), 0, "deleted: {}", text(&out));
}

#[test]
fn a_partly_expired_range_sends_what_is_left_and_says_what_is_lost() {
    let w = world(8);
    // From "0": the records before the shard's first one are gone; the rest
    // of the range (the first five records) is still there.
    w.send(&w.on_failure("0", &w.sequences[4], 6).to_string());
    let out = w.replay();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LOST"), "{stderr}");
    assert!(
        stderr.contains(&format!("up to (not including) {}", w.sequences[0])),
        "{stderr}"
    );
    let expected = w.dry_run_ids(&w.lines[0..5]);
    assert_eq!(
        w.received_ids().into_iter().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(w.queued(), 1, "kept as the record of the loss");
}
