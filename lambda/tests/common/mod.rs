//! Shared by the application-layer tests: in-memory fakes of the adapter
//! traits (S3 objects and tags, CloudFront tags, the failure queue), an `App`
//! over them, and generated log objects with their expected transaction ids.
//! Delivery always talks to the real test servers on 127.0.0.1.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use cf_passive::app::{App, Runner};
use cf_passive::aws::s3::{ObjectStore, OpenedObject, StoreError};
use cf_passive::aws::sqs::{FailureQueue, QueueMessage};
use cf_passive::aws::tags::{TagSource, TagState};
use cf_passive::aws::AdapterFuture;
use cf_passive::core::batch::BatchLimits;
use cf_passive::core::checkpoint::batch_fingerprint;
use cf_passive::core::object::ObjectId;
use cf_passive::core::pipeline::{
    process_object, AllowAll, Flow, PipelineOptions, TransactionSink,
};
use cf_passive::delivery::{
    AuthStyle, Compression as BodyCompression, Delivery, SecretSource, Settings,
};
use cf_passive::secret::SecretString;
use cf_passive_testkit::{
    BridgeConfig, BridgeReceiver, FaultScript, OAuthConfig, OAuthTestServer, RunningBridge,
    RunningOAuth,
};
use futures_util::FutureExt;
use serde_json::{json, Value};

/// What the fake S3 holds under a key.
#[derive(Clone)]
pub enum FakeObject {
    Bytes {
        body: Vec<u8>,
        etag: String,
    },
    Denied,
    Throttled,
    /// A body whose first read panics (a bug in a reader).
    Panics,
}

#[derive(Default)]
pub struct FakeStore {
    pub objects: Mutex<HashMap<String, FakeObject>>,
    pub tags: Mutex<HashMap<String, Vec<(String, String)>>>,
    /// Tag calls fail with this (None: they work).
    pub tag_error: Mutex<Option<String>>,
}

impl FakeStore {
    pub fn put(&self, key: &str, body: Vec<u8>) {
        let etag = format!("etag-{}", body.len());
        self.objects
            .lock()
            .unwrap()
            .insert(key.into(), FakeObject::Bytes { body, etag });
    }
    pub fn put_fault(&self, key: &str, object: FakeObject) {
        self.objects.lock().unwrap().insert(key.into(), object);
    }
    pub fn set_tag_for_test(&self, key: &str, checkpoint: &str) {
        self.tags.lock().unwrap().insert(
            key.into(),
            vec![(
                cf_passive::core::checkpoint::CHECKPOINT_TAG.into(),
                checkpoint.into(),
            )],
        );
    }
    pub fn tag(&self, key: &str, name: &str) -> Option<String> {
        self.tags
            .lock()
            .unwrap()
            .get(key)
            .and_then(|t| t.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
    }
}

struct PanickingBody;

impl tokio::io::AsyncRead for PanickingBody {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        panic!("a reader bug");
    }
}

impl ObjectStore for FakeStore {
    fn open<'a>(
        &'a self,
        object: &'a ObjectId,
    ) -> AdapterFuture<'a, Result<OpenedObject, StoreError>> {
        let found = self.objects.lock().unwrap().get(&object.key).cloned();
        async move {
            match found {
                None => Err(StoreError::NotFound {
                    object: object.clone(),
                }),
                Some(FakeObject::Denied) => Err(StoreError::Denied {
                    object: object.clone(),
                    action: "s3:GetObject",
                    message: "Access Denied".into(),
                }),
                Some(FakeObject::Throttled) => Err(StoreError::Transient {
                    object: object.clone(),
                    action: "s3:GetObject",
                    message: "SlowDown".into(),
                }),
                Some(FakeObject::Panics) => Ok(OpenedObject {
                    body: Box::new(PanickingBody),
                    version: "etag-panics".into(),
                    size: Some(10),
                }),
                Some(FakeObject::Bytes { body, etag }) => Ok(OpenedObject {
                    size: Some(body.len() as u64),
                    body: Box::new(std::io::Cursor::new(body)),
                    version: etag,
                }),
            }
        }
        .boxed()
    }

    fn get_tag<'a>(
        &'a self,
        object: &'a ObjectId,
        name: &'a str,
    ) -> AdapterFuture<'a, Result<Option<String>, StoreError>> {
        let result = match self.tag_error.lock().unwrap().clone() {
            Some(message) => Err(StoreError::Transient {
                object: object.clone(),
                action: "s3:GetObjectTagging",
                message,
            }),
            None => Ok(self.tag(&object.key, name)),
        };
        async move { result }.boxed()
    }

    fn set_tag<'a>(
        &'a self,
        object: &'a ObjectId,
        name: &'a str,
        value: Option<&'a str>,
    ) -> AdapterFuture<'a, Result<(), StoreError>> {
        let result = match self.tag_error.lock().unwrap().clone() {
            Some(message) => Err(StoreError::Transient {
                object: object.clone(),
                action: "s3:PutObjectTagging",
                message,
            }),
            None => {
                let mut tags = self.tags.lock().unwrap();
                let set = tags.entry(object.key.clone()).or_default();
                set.retain(|(n, _)| n != name);
                if let Some(value) = value {
                    set.push((name.to_string(), value.to_string()));
                }
                Ok(())
            }
        };
        async move { result }.boxed()
    }
}

/// Distribution tags from a map; an id not in it fails the lookup.
pub struct FakeTags(pub HashMap<String, TagState>);

impl TagSource for FakeTags {
    fn tag_state<'a>(&'a self, id: &'a str) -> AdapterFuture<'a, Result<TagState, String>> {
        let state = self
            .0
            .get(id)
            .copied()
            .ok_or_else(|| format!("ListTagsForResource {id}: ServiceUnavailable"));
        async move { state }.boxed()
    }
}

/// A queue in memory: received messages stay hidden until deleted.
#[derive(Default)]
pub struct FakeQueue {
    /// (id, body, hidden)
    pub messages: Mutex<Vec<(String, String, bool)>>,
    next: Mutex<u64>,
}

impl FakeQueue {
    pub fn bodies(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b, _)| b.clone())
            .collect()
    }
    /// Makes every message visible again (its hiding time passed).
    pub fn unhide(&self) {
        for m in self.messages.lock().unwrap().iter_mut() {
            m.2 = false;
        }
    }
    pub fn push(&self, body: &str) {
        let mut next = self.next.lock().unwrap();
        *next += 1;
        self.messages
            .lock()
            .unwrap()
            .push((format!("m{next}"), body.to_string(), false));
    }
}

impl FailureQueue for FakeQueue {
    fn name(&self) -> &str {
        "fake://failures"
    }
    fn send<'a>(&'a self, body: &'a str) -> AdapterFuture<'a, Result<(), String>> {
        self.push(body);
        async { Ok(()) }.boxed()
    }
    fn receive(
        &self,
        max: i32,
        _hide_s: i32,
    ) -> AdapterFuture<'_, Result<Vec<QueueMessage>, String>> {
        let mut out = Vec::new();
        for (id, body, hidden) in self.messages.lock().unwrap().iter_mut() {
            if !*hidden && out.len() < max as usize {
                *hidden = true;
                out.push(QueueMessage {
                    id: id.clone(),
                    receipt: id.clone(),
                    body: body.clone(),
                });
            }
        }
        async move { Ok(out) }.boxed()
    }
    fn delete<'a>(&'a self, receipt: &'a str) -> AdapterFuture<'a, Result<(), String>> {
        self.messages
            .lock()
            .unwrap()
            .retain(|(id, _, _)| id != receipt);
        async { Ok(()) }.boxed()
    }
}

pub const BUCKET: &str = "logs";

pub struct Servers {
    pub bridge: RunningBridge,
    pub oauth: RunningOAuth,
}

pub async fn servers(faults: &str) -> Servers {
    let oauth = OAuthTestServer::start(OAuthConfig::default())
        .await
        .unwrap();
    let bridge = BridgeReceiver::start(BridgeConfig {
        faults: faults.parse().expect("fault script"),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    Servers { bridge, oauth }
}

impl Servers {
    pub fn set_faults(&self, faults: &str) {
        self.bridge
            .set_faults(faults.parse::<FaultScript>().expect("fault script"));
    }

    pub fn settings(&self, max_in_flight: usize, budget: Duration) -> Settings {
        let oauth = OAuthConfig::default();
        Settings {
            auth_endpoint: self.oauth.token_url(),
            client_id: oauth.client_id.clone(),
            client_secret: SecretSource::Value(SecretString::from(oauth.client_secret.clone())),
            auth_style: AuthStyle::Basic,
            transactions_url: self.bridge.transactions_url(),
            compression: BodyCompression::Gzip,
            max_in_flight,
            http_timeout: Duration::from_secs(1),
            retry_max_elapsed: budget,
            ca_cert_pem: None,
            tls_insecure: false,
        }
    }

    /// Transaction ids received, with how often each arrived.
    pub fn received(&self) -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for t in self.bridge.transactions() {
            let id = t.transaction["transaction-id"]
                .as_str()
                .unwrap()
                .to_string();
            *ids.entry(id).or_insert(0) += 1;
        }
        ids
    }

    /// How many requests with this Idempotency-Key were delivered (200).
    pub fn delivered(&self, key: &str) -> usize {
        self.bridge
            .requests()
            .iter()
            .filter(|r| r.status == 200 && r.idempotency_key.as_deref() == Some(key))
            .count()
    }

    pub fn attempts(&self, key: &str) -> usize {
        self.bridge
            .requests()
            .iter()
            .filter(|r| r.idempotency_key.as_deref() == Some(key))
            .count()
    }
}

pub fn options(batch_size: usize) -> PipelineOptions {
    PipelineOptions {
        batch_limits: BatchLimits {
            max_transactions: batch_size,
            max_bytes: 1 << 20,
        },
        ..PipelineOptions::default()
    }
}

pub struct Parts {
    pub store: Option<Arc<FakeStore>>,
    pub tags: Option<Arc<FakeTags>>,
    pub queue: Option<Arc<FakeQueue>>,
}

pub fn app(
    servers: &Servers,
    parts: &Parts,
    runner: Runner,
    max_in_flight: usize,
    budget: Duration,
    batch_size: usize,
) -> App {
    let options = options(batch_size);
    App {
        fingerprint: batch_fingerprint(&options),
        options,
        delivery: Delivery::new(servers.settings(max_in_flight, budget)).unwrap(),
        store: parts.store.clone().map(|s| s as Arc<dyn ObjectStore>),
        tags: parts.tags.clone().map(|t| t as Arc<dyn TagSource>),
        domains: None,
        queue: parts.queue.clone().map(|q| q as Arc<dyn FailureQueue>),
        function_name: None,
        max_concurrent_objects: 3,
        runner,
    }
}

pub const DISTRIBUTION: &str = "E27FO14I29XXXX";

pub fn key(name: &str) -> String {
    format!("cloudfront-logs/{DISTRIBUTION}.2024-01-31-23.{name}.gz")
}

pub fn generated(seed: u64, records: u64) -> Vec<u8> {
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

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The ids (in order) a dry run of `text` under `key` yields.
pub fn expected_ids(text: &[u8], key: &str) -> Vec<String> {
    struct Ids(Vec<String>);
    impl TransactionSink for Ids {
        fn accept(&mut self, encoded: &[u8]) -> Flow {
            let v: Value = serde_json::from_slice(encoded).unwrap();
            self.0
                .push(v["transaction-id"].as_str().unwrap().to_string());
            Flow::Continue
        }
    }
    let mut ids = Ids(Vec::new());
    process_object(
        std::io::Cursor::new(text.to_vec()),
        &ObjectId::new(BUCKET, key),
        &PipelineOptions::default(),
        &mut AllowAll,
        &mut ids,
    );
    ids.0
}

pub fn id_set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// An S3 event for these keys.
pub fn event(keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2024-02-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:TEST"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "T", "x-amz-id-2": "T"},
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "cequence",
                       "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "T"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
                       "object": {"key": key, "size": 100, "eTag": "0", "sequencer": "0"}}
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Lambda's on-failure destination record for an event.
pub fn on_failure_record(event: &Value) -> String {
    json!({
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
    })
    .to_string()
}
