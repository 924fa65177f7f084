//! The Lambda handler against real servers on 127.0.0.1: moto for S3 and
//! CloudFront, the strict OAuth test server and the bridge receiver. Each
//! test uses its own bucket, so one moto (CF_PASSIVE_MOTO_URL, started by
//! scripts/test.sh) can serve them all; without it each test starts its own.

mod aws_fixtures;
use aws_fixtures::{create_distribution, sdk, ACCOUNT};

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use cf_passive::app::forward::Plan;
use cf_passive::app::parked::ParkedBatch;
use cf_passive::app::replay::drain_failure_queue;
use cf_passive::app::sources::ObjectEvent;
use cf_passive::app::{App, Disposition, HandlerError, Runner};
use cf_passive::aws::s3::{ObjectStore, S3Store};
use cf_passive::aws::sqs::{FailureQueue, SqsQueue};
use cf_passive::aws::tags::{CloudFrontTags, TagSource};
use cf_passive::core::checkpoint::{batch_fingerprint, CHECKPOINT_TAG};
use cf_passive::core::object::ObjectId;
use cf_passive::core::pipeline::PipelineOptions;
use cf_passive::delivery::{
    AuthStyle, Compression as BodyCompression, Delivery, SecretSource, Settings,
};
use cf_passive::secret::SecretString;
use cf_passive_testkit::procs::{moto, unique_name, Moto};
use cf_passive_testkit::{
    BridgeConfig, BridgeReceiver, OAuthConfig, OAuthTestServer, RunningBridge, RunningOAuth,
};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

struct Env {
    /// Held so a test's own moto lives as long as the test.
    _moto: Moto,
    sdk: aws_config::SdkConfig,
    bucket: String,
    bridge: RunningBridge,
    oauth: RunningOAuth,
}

async fn env(faults: &str) -> Env {
    let moto = moto();
    let sdk = sdk(&moto.url).await;
    let bucket = unique_name("logs");
    s3(&sdk)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let oauth = OAuthTestServer::start(OAuthConfig::default())
        .await
        .unwrap();
    let bridge = BridgeReceiver::start(BridgeConfig {
        faults: faults.parse().expect("fault script"),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    Env {
        _moto: moto,
        sdk,
        bucket,
        bridge,
        oauth,
    }
}

impl Env {
    fn delivery(&self) -> Delivery {
        let oauth = OAuthConfig::default();
        Delivery::new(Settings {
            auth_endpoint: self.oauth.token_url(),
            client_id: oauth.client_id.clone(),
            client_secret: SecretSource::Value(SecretString::from(oauth.client_secret.clone())),
            auth_style: AuthStyle::default(),
            transactions_url: self.bridge.transactions_url(),
            compression: BodyCompression::default(),
            max_in_flight: 4,
            http_timeout: Duration::from_secs(5),
            retry_max_elapsed: Duration::from_secs(3),
            ca_cert_pem: None,
            tls_insecure: false,
        })
        .unwrap()
    }

    fn handler(&self, tags: Option<Arc<dyn TagSource>>) -> App {
        self.app(tags, None, Runner::Lambda)
    }

    fn app(
        &self,
        tags: Option<Arc<dyn TagSource>>,
        queue: Option<Arc<dyn FailureQueue>>,
        runner: Runner,
    ) -> App {
        let options = PipelineOptions {
            batch_limits: cf_passive::core::batch::BatchLimits {
                max_transactions: 200,
                max_bytes: 1 << 20,
            },
            ..PipelineOptions::default()
        };
        App {
            fingerprint: batch_fingerprint(&options),
            options,
            delivery: self.delivery(),
            store: Some(Arc::new(S3Store {
                client: s3(&self.sdk),
            })),
            tags,
            domains: None,
            queue,
            function_name: Some("cf-passive-test".into()),
            max_concurrent_objects: 3,
            runner,
        }
    }

    /// A fresh SQS queue on moto.
    async fn queue(&self) -> Arc<SqsQueue> {
        let client = aws_sdk_sqs::Client::new(&self.sdk);
        let url = client
            .create_queue()
            .queue_name(unique_name("failures"))
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .unwrap()
            .to_string();
        Arc::new(SqsQueue { client, url })
    }

    async fn put(&self, key: &str, body: Vec<u8>) {
        s3(&self.sdk)
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object");
    }

    fn keys(&self) -> std::collections::BTreeSet<String> {
        self.bridge
            .requests()
            .iter()
            .filter_map(|r| r.idempotency_key.clone())
            .collect()
    }

    fn ids(&self) -> std::collections::BTreeSet<String> {
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

fn legacy_fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/E2EXAMPLE1.2024-01-31-23.a1b2c3d4"
    ))
    .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn generated(seed: u64, records: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut g = cf_loggen::Generator::new(
        seed,
        cf_loggen::Format::Legacy,
        cf_loggen::Options::default(),
    );
    g.write_header(&mut out).unwrap();
    g.write_records(&mut out, records).unwrap();
    out
}

/// The ids a dry run of `text` yields: the expectation for the bridge.
fn expected_ids(text: &[u8], key: &str) -> std::collections::BTreeSet<String> {
    struct Ids(std::collections::BTreeSet<String>);
    impl cf_passive::core::pipeline::TransactionSink for Ids {
        fn accept(&mut self, encoded: &[u8]) -> cf_passive::core::pipeline::Flow {
            let v: Value = serde_json::from_slice(encoded).unwrap();
            self.0
                .insert(v["transaction-id"].as_str().unwrap().to_string());
            cf_passive::core::pipeline::Flow::Continue
        }
    }
    let mut ids = Ids(Default::default());
    cf_passive::core::pipeline::process_object(
        std::io::Cursor::new(text.to_vec()),
        &ObjectId::new("b", key),
        &PipelineOptions::default(),
        &mut cf_passive::core::pipeline::AllowAll,
        &mut ids,
    );
    ids.0
}

/// A complete S3 record, the key URL-encoded as S3 does (`+` for space).
fn record(bucket: &str, key: &str, size: usize) -> Value {
    let encoded: String = key
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-02-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:TEST"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "T", "x-amz-id-2": "T"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "cequence",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "T"}, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encoded, "size": size, "eTag": "0", "sequencer": "0"}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_a_large_object_and_delivers_every_transaction() {
    let env = env("").await;
    let text = generated(3, 60_000); // ~20 MB uncompressed
    let key = "cloudfront-logs/E27FO14I29XXXX.2024-01-31-23.large.gz";
    env.put(key, gzip(&text)).await;
    let handler = env.handler(None);
    let out = handler
        .handle(&json!({"Records": [record(&env.bucket, key, 1)]}))
        .await
        .unwrap();
    let expected = expected_ids(&text, key);
    assert!(expected.len() > 30_000);
    assert_eq!(out["transactions"], expected.len());
    assert_eq!(env.ids(), expected);
    let keys: std::collections::BTreeSet<String> = env.keys();
    assert_eq!(
        keys.len() as u64,
        (expected.len() as u64).div_ceil(200),
        "one key per batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_spaces_and_unicode_are_decoded() {
    let env = env("").await;
    let key =
        "cloudfront-logs/my logs/caf\u{e9} \u{2713}+plus/E2EXAMPLE1.2024-01-31-23.a1b2c3d4.gz";
    let text = legacy_fixture();
    env.put(key, gzip(&text)).await;
    let handler = env.handler(None);
    handler
        .handle(&json!({"Records": [record(&env.bucket, key, 10)]}))
        .await
        .unwrap();
    let received = env.bridge.transactions();
    assert_eq!(received.len(), 6);
    assert_eq!(
        received[0].transaction["txn-meta-data"]["cloudfront"]["log-object"],
        format!("s3://{}/{key}", env.bucket)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_is_skipped_with_a_warning_not_retried() {
    let env = env("").await;
    let handler = env.handler(None);
    let key = "cloudfront-logs/E2EXAMPLE1.2024-01-31-23.gone.gz";
    let outcome = handler
        .s3_object(
            &ObjectEvent {
                object: ObjectId::new(&env.bucket, key),
                size: Some(10),
            },
            &Plan::Resume,
        )
        .await;
    assert_eq!(outcome.disposition, Disposition::Skipped, "{outcome:?}");
    assert!(handler
        .handle(&json!({"Records": [record(&env.bucket, key, 10)]}))
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_a_multi_record_event_and_an_sqs_wrapped_one() {
    let env = env("").await;
    let mut expected = std::collections::BTreeSet::new();
    let mut records = Vec::new();
    for seed in 0..3u64 {
        let key = format!("cloudfront-logs/E27FO14I29XXXX.2024-01-31-2{seed}.multi{seed}.gz");
        let text = generated(100 + seed, 500);
        expected.extend(expected_ids(&text, &key));
        env.put(&key, gzip(&text)).await;
        records.push(record(&env.bucket, &key, 1));
    }
    env.put("cloudfront-logs/", Vec::new()).await;
    records.push(record(&env.bucket, "cloudfront-logs/", 0));
    env.put(
        "cloudfront-logs/E27FO14I29XXXX.2024-01-31-23.empty.gz",
        Vec::new(),
    )
    .await;
    records.push(record(
        &env.bucket,
        "cloudfront-logs/E27FO14I29XXXX.2024-01-31-23.empty.gz",
        0,
    ));
    let handler = env.handler(None);
    let direct = json!({"Records": records[..2]});
    let out = handler.handle(&direct).await.unwrap();
    assert_eq!(out["objects"], 2);
    let rest = json!({"Records": records[2..]});
    let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": rest.to_string()}]});
    let out = handler.handle(&sqs).await.unwrap();
    assert_eq!(
        out["skipped"], 2,
        "folder marker and zero-byte object: {out}"
    );
    assert_eq!(env.ids(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_is_acknowledged_and_sends_nothing() {
    let env = env("").await;
    let handler = env.handler(None);
    let out = handler
        .handle(&json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-02-01T00:00:00.000Z", "Bucket": env.bucket, "RequestId": "x", "HostId": "y"}))
        .await
        .unwrap();
    assert_eq!(out["objects"], 0);
    assert!(env.bridge.requests().is_empty());
    assert_eq!(
        env.oauth.stats().tokens_issued,
        0,
        "no token fetched for nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_distributions_tagged_enabled_are_forwarded() {
    let env = env("").await;
    let cloudfront = aws_sdk_cloudfront::Client::new(&env.sdk);
    let enabled = create_distribution(&cloudfront, &unique_name("enabled"), Some("true")).await;
    let disabled = create_distribution(&cloudfront, &unique_name("disabled"), Some("false")).await;
    let untagged = create_distribution(&cloudfront, &unique_name("untagged"), None).await;
    let text = legacy_fixture();
    let mut records = Vec::new();
    for id in [&enabled, &disabled, &untagged] {
        let key = format!("cloudfront-logs/{id}.2024-01-31-23.a1b2c3d4.gz");
        env.put(&key, gzip(&text)).await;
        records.push(record(&env.bucket, &key, 10));
    }
    // No account id given: it is found with sts:GetCallerIdentity, as under `cargo lambda watch`.
    let tags = Arc::new(CloudFrontTags::new(
        cloudfront,
        aws_sdk_sts::Client::new(&env.sdk),
        None,
        Duration::from_secs(300),
    ));
    let handler = env.handler(Some(tags as Arc<dyn TagSource>));
    handler.handle(&json!({"Records": records})).await.unwrap();
    let distributions: std::collections::BTreeSet<String> = env
        .bridge
        .transactions()
        .iter()
        .map(|t| {
            t.transaction["txn-meta-data"]["cloudfront"]["distribution-id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(distributions, [enabled].into_iter().collect());
    assert_eq!(env.bridge.transactions().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tag_lookup_fails_the_invocation_and_forwards_nothing() {
    let env = env("").await;
    let key = "cloudfront-logs/E27FO14I29XXXX.2024-01-31-23.tagfail.gz";
    env.put(key, gzip(&generated(9, 100))).await;
    // A CloudFront endpoint that refuses connections: the lookup fails.
    let dead = sdk("http://127.0.0.1:9").await;
    let tags = Arc::new(CloudFrontTags::new(
        aws_sdk_cloudfront::Client::new(&dead),
        aws_sdk_sts::Client::new(&dead),
        Some(&format!(
            "arn:aws:lambda:us-east-1:{ACCOUNT}:function:cf-passive"
        )),
        Duration::from_secs(300),
    ));
    let handler = env.handler(Some(tags as Arc<dyn TagSource>));
    let err = handler
        .handle(&json!({"Records": [record(&env.bucket, key, 1)]}))
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Retryable { .. }), "{err}");
    assert!(err.to_string().contains(key), "names the object: {err}");
    assert!(env.bridge.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_parked_on_sqs_and_replayed_from_it() {
    let env = env("").await;
    let key = "cloudfront-logs/E27FO14I29XXXX.2024-01-31-23.refused.gz";
    let text = generated(21, 700);
    env.put(key, gzip(&text)).await;
    let head = s3(&env.sdk)
        .head_object()
        .bucket(&env.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let etag = head.e_tag().unwrap().trim_matches('"').to_string();
    let refused = cf_passive::delivery::idempotency_key(
        &ObjectId::new(&env.bucket, key).with_version(&etag),
        1,
    );
    env.bridge
        .set_faults(format!("400@key={refused}").parse().unwrap());
    let queue = env.queue().await;
    let handler = env.app(None, Some(queue.clone()), Runner::Lambda);
    let event = json!({"Records": [record(&env.bucket, key, 1)]});
    let out = handler
        .handle(&event)
        .await
        .expect("a 400 is not retried by AWS");
    assert_eq!(out["parked_batches"], 1, "{out}");
    let attempts = env
        .bridge
        .requests()
        .iter()
        .filter(|r| r.idempotency_key.as_deref() == Some(refused.as_str()))
        .count();
    assert_eq!(attempts, 1);

    // The message on SQS names the object, its ETag, the batch, the status.
    let messages = queue.receive(10, 0).await.unwrap();
    assert_eq!(messages.len(), 1);
    let parked = ParkedBatch::from_body(&messages[0].body).unwrap();
    assert_eq!(parked.object, format!("s3://{}/{key}", env.bucket));
    assert_eq!(
        (parked.version.as_str(), parked.batch, parked.status),
        (etag.as_str(), 1, 400)
    );

    // Fixed: replay --from-dlq sends exactly that batch and deletes the message.
    env.bridge.set_faults(Default::default());
    let before = env.bridge.requests().len();
    let operator = env.app(None, Some(queue.clone()), Runner::Command);
    let drained = drain_failure_queue(&operator, queue.as_ref()).await;
    assert_eq!((drained.deleted, drained.failures), (1, 0), "{drained:?}");
    assert_eq!(env.bridge.requests().len(), before + 1);
    assert_eq!(env.ids(), expected_ids(&text, key));
    assert!(queue.receive(10, 0).await.unwrap().is_empty(), "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_tags_on_s3_keep_the_owners_tags() {
    let env = env("").await;
    let key = "cloudfront-logs/E27FO14I29XXXX.2024-01-31-23.tags.gz";
    env.put(key, gzip(&legacy_fixture())).await;
    let store = S3Store {
        client: s3(&env.sdk),
    };
    let object = ObjectId::new(&env.bucket, key);
    assert_eq!(store.get_tag(&object, CHECKPOINT_TAG).await.unwrap(), None);
    store
        .set_tag(&object, "owner", Some("team-a"))
        .await
        .unwrap();
    store
        .set_tag(&object, CHECKPOINT_TAG, Some("3:00ff00ff00ff00ff"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_tag(&object, CHECKPOINT_TAG)
            .await
            .unwrap()
            .as_deref(),
        Some("3:00ff00ff00ff00ff")
    );
    store.set_tag(&object, CHECKPOINT_TAG, None).await.unwrap();
    assert_eq!(store.get_tag(&object, CHECKPOINT_TAG).await.unwrap(), None);
    assert_eq!(
        store.get_tag(&object, "owner").await.unwrap().as_deref(),
        Some("team-a")
    );
    // Our tag alone: removing it leaves no tag set (DeleteObjectTagging).
    store.set_tag(&object, "owner", None).await.unwrap();
    store
        .set_tag(&object, CHECKPOINT_TAG, Some("1:ab"))
        .await
        .unwrap();
    store.set_tag(&object, CHECKPOINT_TAG, None).await.unwrap();
    let left = s3(&env.sdk)
        .get_object_tagging()
        .bucket(&env.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert!(left.tag_set().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_outage_leaves_a_checkpoint_on_s3_and_the_retry_resumes_there() {
    let env = env("").await;
    let key = "cloudfront-logs/E27FO14I29XXXX.2024-01-31-23.outage.gz";
    let text = generated(31, 1500);
    env.put(key, gzip(&text)).await;
    let etag = s3(&env.sdk)
        .head_object()
        .bucket(&env.bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let id = ObjectId::new(&env.bucket, key).with_version(&etag);
    let failing = cf_passive::delivery::idempotency_key(&id, 3);
    env.bridge
        .set_faults(format!("503@key={failing}").parse().unwrap());
    let handler = env.handler(None);
    let event = json!({"Records": [record(&env.bucket, key, 1)]});
    let err = handler.handle(&event).await.unwrap_err();
    assert!(matches!(err, HandlerError::Retryable { .. }), "{err}");
    let store = S3Store {
        client: s3(&env.sdk),
    };
    let tag = store.get_tag(&id, CHECKPOINT_TAG).await.unwrap().unwrap();
    assert!(tag.starts_with("3:"), "{tag}");

    env.bridge.set_faults(Default::default());
    handler.handle(&event).await.unwrap();
    assert_eq!(store.get_tag(&id, CHECKPOINT_TAG).await.unwrap(), None);
    assert_eq!(env.ids(), expected_ids(&text, key));
    for index in 0..3 {
        let key = cf_passive::delivery::idempotency_key(&id, index);
        let sent = env
            .bridge
            .requests()
            .iter()
            .filter(|r| r.idempotency_key.as_deref() == Some(key.as_str()))
            .count();
        assert_eq!(sent, 1, "batch {index} is not sent again");
    }
}
