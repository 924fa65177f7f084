//! Delivery against real servers on 127.0.0.1: the third-party
//! `oauth2-mock-server` (child process), and our strict token server and
//! strict bridge receiver (in-process, real TCP), which answers 400 to any
//! body that is not a valid v2 batch. See docs/delivery.md.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cf_passive::core::batch::{Batch, BatchLimits, Batcher};
use cf_passive::core::parse::Record;
use cf_passive::core::transaction::{map_record, required, Origin};
use cf_passive::core::wire::Encoder;
use cf_passive::delivery::{
    idempotency_key, AuthStyle, Compression, Delivery, DeliveryReport, ObjectId, Settings,
};
use cf_passive::secret::SecretString;
use cf_passive_testkit::schema::valid_batch;
use cf_passive_testkit::{
    BridgeConfig, BridgeReceiver, OAuth2MockServer, OAuthConfig, OAuthTestServer, RunningBridge,
    RunningOAuth, TestPki,
};
use sha2::{Digest, Sha256};

const SECRET: &str = "test-secret-9f8e7d";

fn settings(auth_endpoint: &str, transactions_url: &str) -> Settings {
    Settings {
        auth_endpoint: auth_endpoint.to_string(),
        client_id: "cf-passive-test".into(),
        client_secret: SecretString::from(SECRET).into(),
        auth_style: AuthStyle::default(),
        transactions_url: transactions_url.to_string(),
        compression: Compression::default(),
        max_in_flight: 4,
        http_timeout: Duration::from_secs(5),
        retry_max_elapsed: Duration::from_secs(60),
        ca_cert_pem: None,
        tls_insecure: false,
    }
}

fn object() -> ObjectId {
    ObjectId {
        bucket: "cf-logs".into(),
        key: "AWSLogs/E27FO14I29XXXX.2024-01-31-23.a1b2c3d4.gz".into(),
        version: "d41d8cd98f00b204e9800998ecf8427e".into(),
    }
}

/// One v2 transaction with `transaction-id` `id`, made by the forwarder's own
/// mapping and encoder.
fn transaction(id: &str) -> Vec<u8> {
    let path = format!("/p/{id}");
    let record = Record::from_pairs([
        ("date", "2024-01-31"),
        ("time", "23:01:02"),
        ("c-ip", "192.0.2.1"),
        ("cs-method", "GET"),
        ("cs-uri-stem", path.as_str()),
        ("sc-status", "200"),
        ("cs-protocol", "https"),
        ("cs(User-Agent)", "curl/8.5.0"),
        ("x-edge-request-id", id),
    ]);
    let fields = required(&record).unwrap();
    let tx = map_record(
        &record,
        fields,
        "E27FO14I29XXXX",
        Origin {
            log_object: "s3://cf-logs/AWSLogs/E27FO14I29XXXX.2024-01-31-23.a1b2c3d4.gz",
            redactor: None,
        },
    );
    let mut out = Vec::new();
    Encoder::default().write_transaction(&mut out, &tx);
    out
}

/// `count` batches of `per_batch` transactions `tx-<batch>-<i>`, cut by the
/// core's batcher; every body is checked against the v2 batch schema.
fn batches(count: u64, per_batch: usize) -> Vec<Batch> {
    batches_named("tx", count, per_batch)
}

fn batches_named(prefix: &str, count: u64, per_batch: usize) -> Vec<Batch> {
    let mut batcher = Batcher::new(BatchLimits {
        max_transactions: per_batch,
        max_bytes: 1 << 20,
    });
    let mut out = Vec::new();
    for b in 0..count {
        for i in 0..per_batch {
            out.extend(batcher.push(&transaction(&format!("{prefix}-{b}-{i}"))));
        }
    }
    out.extend(batcher.take());
    for b in &out {
        assert_eq!(valid_batch(&b.body).len(), b.transactions);
    }
    assert_eq!(out.len() as u64, count);
    out
}

async fn deliver(d: &Delivery, batches: Vec<Batch>) -> DeliveryReport {
    let mut od = d.object(object());
    for b in batches {
        od.send(b).await;
    }
    od.finish().await
}

async fn strict_oauth(expires_in: u64) -> RunningOAuth {
    OAuthTestServer::start(OAuthConfig {
        client_secret: SECRET.into(),
        expires_in,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn bridge(cfg: BridgeConfig) -> RunningBridge {
    BridgeReceiver::start(cfg).await.unwrap()
}

fn faults(s: &str) -> cf_passive_testkit::FaultScript {
    s.parse().unwrap()
}

/// Every transaction of `count` × `per_batch` arrived at least once.
fn assert_all_arrived(b: &RunningBridge, count: u64, per_batch: usize) {
    let ids: HashSet<String> = b
        .transactions()
        .iter()
        .map(|t| {
            t.transaction["transaction-id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for bi in 0..count {
        for i in 0..per_batch {
            assert!(ids.contains(&format!("tx-{bi}-{i}")), "tx-{bi}-{i} missing");
        }
    }
}

/// Each failed request's key was later delivered with the same key, and keys
/// are exactly the batches' keys.
fn assert_retries_reuse_keys(b: &RunningBridge, count: u64) {
    let expected: HashSet<String> = (0..count).map(|i| idempotency_key(&object(), i)).collect();
    let reqs = b.requests();
    let seen: HashSet<String> = reqs
        .iter()
        .filter_map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(seen, expected, "only the batches' keys are used");
    for r in reqs.iter().filter(|r| r.status != 200) {
        let k = r.idempotency_key.as_ref().unwrap();
        assert!(
            reqs.iter()
                .any(|x| x.status == 200 && x.seq > r.seq && x.idempotency_key.as_ref() == Some(k)),
            "request {} ({:?}) was not retried with the same key",
            r.seq,
            r.fault
        );
    }
}

#[tokio::test]
async fn happy_path_with_oauth2_mock_server_uncompressed_by_default() {
    let mock = OAuth2MockServer::spawn();
    let b = bridge(BridgeConfig::default()).await;
    let d = Delivery::new(settings(&mock.token_url(), &b.transactions_url())).unwrap();
    let report = deliver(&d, batches(6, 25)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.batches_sent, 6);
    assert_eq!(report.transactions_sent, 150);
    assert_eq!(report.retries, 0);
    assert_eq!(b.stats().transactions, 150);
    assert_eq!(b.stats().unique_transaction_ids, 150);
    assert_all_arrived(&b, 6, 25);
    for r in b.requests() {
        assert_eq!(r.status, 200);
        assert_eq!(r.content_encoding, None, "compression is off by default");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            r.user_agent,
            Some(format!("cf-passive/{}", cf_passive::VERSION))
        );
        let jwt = r.bearer.expect("bearer token");
        assert_eq!(jwt.split('.').count(), 3, "oauth2-mock-server issues JWTs");
    }
    // The key of batch 4, computed independently from the contract's definition.
    let o = object();
    let expected = hex::encode(Sha256::digest(
        format!("{}\n{}\n{}\n{}", o.bucket, o.key, o.version, 4).as_bytes(),
    ));
    let txs = b.transactions();
    let t = txs
        .iter()
        .find(|t| t.transaction["transaction-id"] == "tx-4-0")
        .unwrap();
    assert_eq!(t.idempotency_key, expected);
    // One token for the whole object.
    assert_eq!(d.token_provider().fetch_count(), 1);
}

#[tokio::test]
async fn body_client_auth_by_default_and_basic_when_asked() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig::default()).await;
    let d = Delivery::new(settings(&oauth.token_url(), &b.transactions_url())).unwrap();
    assert!(deliver(&d, batches(3, 4)).await.is_success());
    let stats = oauth.stats();
    assert_eq!((stats.client_auth_body, stats.client_auth_basic), (1, 0));

    let oauth = strict_oauth(300).await;
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    s.auth_style = AuthStyle::Basic;
    let d = Delivery::new(s).unwrap();
    assert!(deliver(&d, batches(3, 4)).await.is_success());
    let stats = oauth.stats();
    assert_eq!((stats.client_auth_body, stats.client_auth_basic), (0, 1));
    assert_all_arrived(&b, 3, 4);
}

#[tokio::test]
async fn gzip_when_asked() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        require_gzip: true,
        ..Default::default()
    })
    .await;
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    s.compression = Compression::Gzip;
    let d = Delivery::new(s).unwrap();
    let report = deliver(&d, batches(3, 4)).await;
    assert!(report.is_success(), "{report:?}");
    for r in b.requests() {
        assert_eq!(r.status, 200);
        assert_eq!(r.content_encoding.as_deref(), Some("gzip"));
    }
    assert_all_arrived(&b, 3, 4);
}

#[tokio::test]
async fn a_415_to_gzip_resends_uncompressed_and_turns_compression_off() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        refuse_gzip: true,
        ..Default::default()
    })
    .await;
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    s.compression = Compression::Gzip;
    let out = Captured::default();
    let w = out.clone();
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .finish(),
    );
    let d = Delivery::new(s).unwrap();
    let report = deliver(&d, batches(8, 5)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(d.compression(), Compression::None);
    // A second object of the same container: uncompressed from the start.
    let mut od = d.object(ObjectId {
        key: "AWSLogs/E27FO14I29XXXX.2024-01-31-23.second.gz".into(),
        ..object()
    });
    od.send(batches_named("second", 1, 2).pop().unwrap()).await;
    assert!(od.finish().await.is_success());

    let reqs = b.requests();
    let refused: Vec<_> = reqs.iter().filter(|r| r.status == 415).collect();
    assert!(
        (1..=4).contains(&refused.len()),
        "at most the batches in flight meet the 415: {}",
        refused.len()
    );
    assert!(refused
        .iter()
        .all(|r| r.content_encoding.as_deref() == Some("gzip")));
    let first_415 = refused[0].seq;
    for r in reqs.iter().filter(|r| r.status == 200) {
        assert_eq!(r.content_encoding, None, "request {} after the 415", r.seq);
    }
    assert!(reqs
        .iter()
        .filter(|r| r.seq > first_415 + 4)
        .all(|r| r.content_encoding.is_none()));
    // Every transaction exactly once.
    let ids: Vec<String> = b
        .transactions()
        .iter()
        .map(|t| {
            t.transaction["transaction-id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 42);
    assert_eq!(unique.len(), 42, "no transaction twice");
    assert_all_arrived(&b, 8, 5);
    let logged = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        logged
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("415"))
            .count(),
        1,
        "{logged}"
    );
}

#[tokio::test]
async fn wrong_secret_is_one_clear_permanent_error_not_a_storm() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig::default()).await;
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    let wrong = "wrong-secret-5a5a5a";
    s.client_secret = SecretString::from(wrong).into();
    let d = Delivery::new(s).unwrap();
    let mut od = d.object(object());
    for batch in batches(10, 3) {
        od.send(batch).await;
    }
    assert!(od.is_failing());
    let report = od.finish().await;
    assert_eq!(report.batches_sent, 0);
    assert_eq!(report.failed.len(), 10, "every batch is accounted for");
    assert!(report.failed.iter().all(|f| !f.retryable));
    let err = report.error(&object()).unwrap();
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(msg.contains(&oauth.token_url()), "{msg}");
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(msg.contains("s3://cf-logs/AWSLogs/E27FO14I29XXXX"), "{msg}");
    assert!(!msg.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert_eq!(
        oauth.stats().token_requests,
        1,
        "the token endpoint is asked once"
    );
    assert_eq!(b.stats().requests, 0, "nothing is sent without a token");
}

#[tokio::test]
async fn token_is_reused_for_its_lifetime() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig::default()).await;
    let d = Delivery::new(settings(&oauth.token_url(), &b.transactions_url())).unwrap();
    for _ in 0..3 {
        let report = deliver(&d, batches(12, 2)).await;
        assert!(report.is_success(), "{report:?}");
    }
    assert_eq!(b.stats().requests, 36);
    assert_eq!(oauth.stats().tokens_issued, 1, "one token for 36 requests");
}

#[tokio::test]
async fn short_lived_token_is_refreshed() {
    let oauth = strict_oauth(2).await;
    let b = bridge(BridgeConfig::default()).await;
    let d = Delivery::new(settings(&oauth.token_url(), &b.transactions_url())).unwrap();
    assert!(deliver(&d, batches(2, 1)).await.is_success());
    assert_eq!(oauth.stats().tokens_issued, 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(deliver(&d, batches(2, 1)).await.is_success());
    let issued = oauth.stats().tokens_issued;
    assert!(
        (2..=3).contains(&issued),
        "refreshed after expiry: {issued}"
    );
    let tokens: HashSet<_> = b.requests().into_iter().filter_map(|r| r.bearer).collect();
    assert!(tokens.len() >= 2);
}

#[tokio::test]
async fn revoked_token_gets_401_then_one_refresh_and_delivery() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        introspect: Some(oauth.introspect_url()),
        ..Default::default()
    })
    .await;
    let d = Delivery::new(settings(&oauth.token_url(), &b.transactions_url())).unwrap();
    assert!(deliver(&d, batches(1, 2)).await.is_success());
    oauth.revoke_all();
    let mut od = d.object(object());
    od.send(batches(2, 2).pop().unwrap()).await;
    let report = od.finish().await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.retries, 1);
    assert_eq!(oauth.stats().tokens_issued, 2);
    assert_eq!(b.stats().per_status.get("401"), Some(&1));
    assert_eq!(b.stats().transactions, 4);
}

#[tokio::test]
async fn a_bridge_refusing_fresh_tokens_fails_the_object_fast() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        faults: faults("401x1000"),
        ..Default::default()
    })
    .await;
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    s.max_in_flight = 1;
    let d = Delivery::new(s).unwrap();
    let mut od = d.object(object());
    for batch in batches(5, 2) {
        od.send(batch).await;
    }
    assert!(od.is_failing());
    let report = od.finish().await;
    assert_eq!(report.failed.len(), 5);
    assert!(report
        .failed
        .iter()
        .all(|f| !f.retryable && f.reason.contains("401")));
    assert_eq!(
        b.stats().requests,
        2,
        "one request, one retry with a new token"
    );
    assert_eq!(oauth.stats().tokens_issued, 2);
}

#[tokio::test]
async fn token_endpoint_errors_are_retried() {
    let oauth = OAuthTestServer::start(OAuthConfig {
        client_secret: SECRET.into(),
        faults: faults("503,reset"),
        ..Default::default()
    })
    .await
    .unwrap();
    let b = bridge(BridgeConfig::default()).await;
    let d = Delivery::new(settings(&oauth.token_url(), &b.transactions_url())).unwrap();
    let report = deliver(&d, batches(1, 3)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(oauth.stats().token_requests, 3);
    assert_eq!(oauth.stats().tokens_issued, 1);
    assert!(report.retries >= 2);
}

#[tokio::test]
async fn faults_are_retried_with_the_same_idempotency_key() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        faults: faults("500,500,429:retry-after=1,401,stall:3,reset,503"),
        ..Default::default()
    })
    .await;
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    s.http_timeout = Duration::from_secs(1);
    s.max_in_flight = 2;
    let d = Delivery::new(s).unwrap();
    let report = deliver(&d, batches(8, 5)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.batches_sent, 8);
    assert!(report.retries >= 7, "{report:?}");
    assert_all_arrived(&b, 8, 5);
    assert_retries_reuse_keys(&b, 8);
    let applied: Vec<String> = b
        .requests()
        .iter()
        .filter_map(|r| r.fault.clone())
        .collect();
    for f in ["500", "429:retry-after=1", "401", "stall:3", "reset", "503"] {
        assert!(
            applied.iter().any(|a| a == f),
            "fault {f} applied: {applied:?}"
        );
    }
    assert_eq!(oauth.stats().tokens_issued, 2, "one refresh after the 401");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        faults: faults("429:retry-after=2"),
        ..Default::default()
    })
    .await;
    let d = Delivery::new(settings(&oauth.token_url(), &b.transactions_url())).unwrap();
    let report = deliver(&d, batches(1, 1)).await;
    assert!(report.is_success(), "{report:?}");
    let reqs = b.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].status, 429);
    assert!(
        reqs[1].at_ms - reqs[0].at_ms >= 2000,
        "retried after {} ms",
        reqs[1].at_ms - reqs[0].at_ms
    );
}

#[tokio::test]
async fn a_400_fails_that_batch_only_and_is_not_retried() {
    let oauth = strict_oauth(300).await;
    let bad = idempotency_key(&object(), 2);
    let b = bridge(BridgeConfig {
        faults: faults(&format!("400@key={bad}")),
        ..Default::default()
    })
    .await;
    let d = Delivery::new(settings(&oauth.token_url(), &b.transactions_url())).unwrap();
    let mut od = d.object(object());
    for batch in batches(5, 3) {
        od.send(batch).await;
    }
    assert!(
        !od.is_failing(),
        "one refused batch does not stop the object"
    );
    let report = od.finish().await;
    assert_eq!(report.batches_sent, 4);
    assert_eq!(report.transactions_sent, 12);
    assert_eq!(report.failed.len(), 1);
    let f = &report.failed[0];
    assert_eq!((f.index, f.transactions, f.retryable), (2, 3, false));
    assert!(f.reason.contains("HTTP 400"), "{}", f.reason);
    assert!(
        f.reason.contains("injected fault 400"),
        "bridge message kept: {}",
        f.reason
    );
    let sent = b
        .requests()
        .iter()
        .filter(|r| r.idempotency_key.as_deref() == Some(bad.as_str()))
        .count();
    assert_eq!(sent, 1, "a 400 is not retried");
    let msg = report.error(&object()).unwrap().to_string();
    assert!(
        msg.contains("s3://cf-logs/") && msg.contains("batch 2") && msg.contains("400"),
        "{msg}"
    );
}

#[tokio::test]
async fn retry_budget_bounds_an_object() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        faults: faults("503x100000"),
        ..Default::default()
    })
    .await;
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    s.retry_max_elapsed = Duration::from_secs(2);
    let d = Delivery::new(s).unwrap();
    let started = Instant::now();
    let mut od = d.object(object());
    for batch in batches(6, 2) {
        od.send(batch).await;
    }
    let report = tokio::time::timeout(Duration::from_secs(20), od.finish())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(report.failed.len(), 6);
    assert!(report.failed.iter().all(|f| f.retryable), "{report:?}");
    assert!(
        report.failed[0].reason.contains("503"),
        "{}",
        report.failed[0].reason
    );
    let err = report.error(&object()).unwrap();
    assert!(err.is_retryable());
    assert!(err.to_string().contains("batch 0, 1, 2, 3, 4, 5"), "{err}");
    assert_eq!(b.stats().transactions, 0);
}

/// Captures `tracing` output of the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tls_self_signed_bridge_needs_its_ca_or_insecure() {
    let pki = TestPki::generate();
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig {
        tls: Some((&pki).into()),
        ..Default::default()
    })
    .await;
    assert!(b.transactions_url().starts_with("https://127.0.0.1:"));

    // Without the CA: the certificate is refused; nothing reaches the bridge.
    let mut s = settings(&oauth.token_url(), &b.transactions_url());
    s.retry_max_elapsed = Duration::from_secs(1);
    let report = deliver(&Delivery::new(s.clone()).unwrap(), batches(1, 1)).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let reason = &report.failed[0].reason;
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
    assert_eq!(b.stats().requests, 0);

    // With the CA: delivered.
    let mut with_ca = s.clone();
    with_ca.ca_cert_pem = Some(pki.ca_pem.clone());
    let report = deliver(&Delivery::new(with_ca).unwrap(), batches(2, 1)).await;
    assert!(report.is_success(), "{report:?}");

    // Insecure: delivered, with a warning at construction.
    let mut insecure = s.clone();
    insecure.tls_insecure = true;
    let out = Captured::default();
    let w = out.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .finish();
    let d = tracing::subscriber::with_default(sub, || Delivery::new(insecure).unwrap());
    let logged = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("WARN") && logged.contains("tls_insecure"),
        "{logged}"
    );
    let report = deliver(&d, batches(2, 1)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(b.stats().transactions, 4);
}

#[tokio::test]
async fn secrets_and_tokens_never_appear_in_debug_or_errors() {
    let oauth = strict_oauth(300).await;
    let b = bridge(BridgeConfig::default()).await;
    let s = settings(&oauth.token_url(), &b.transactions_url());
    assert!(!format!("{s:?}").contains(SECRET));
    let d = Delivery::new(s).unwrap();
    assert!(deliver(&d, batches(1, 1)).await.is_success());
    let token = b.requests()[0].bearer.clone().unwrap();
    let dbg = format!("{d:?}");
    assert!(!dbg.contains(SECRET) && !dbg.contains(&token), "{dbg}");
    let t = d.token_provider().get().await.unwrap();
    assert!(!format!("{t:?}").contains(&token));
    assert!(!format!("{:?}", d.token_provider()).contains(&token));

    // A failure report names neither.
    let mut nowhere = settings(&oauth.token_url(), "http://127.0.0.1:9/nowhere");
    nowhere.retry_max_elapsed = Duration::from_millis(300);
    let bad = Delivery::new(nowhere).unwrap();
    let mut od = bad.object(object());
    od.send(batches(1, 1).pop().unwrap()).await;
    let report = od.finish().await;
    let err = report.error(&object()).unwrap();
    for text in [err.to_string(), format!("{err:?}"), format!("{report:?}")] {
        assert!(!text.contains(SECRET) && !text.contains(&token), "{text}");
    }
}

#[test]
fn bad_settings_are_config_errors() {
    let s = settings("not a url", "http://127.0.0.1:1/x");
    let e = Delivery::new(s).unwrap_err();
    assert!(e.to_string().contains("cequence_auth_endpoint"), "{e}");
    let mut s = settings("http://127.0.0.1:1/token", "http://127.0.0.1:1/x");
    s.ca_cert_pem = Some("not pem".into());
    let e = Delivery::new(s).unwrap_err();
    assert!(e.to_string().contains("cequence_ca_cert_pem"), "{e}");
    let s = settings("http://127.0.0.1:1/token", "http://u:pw-1234@127.0.0.1:1/x");
    let e = Delivery::new(s).unwrap_err().to_string();
    assert!(
        e.contains("cequence_edge_endpoint") && !e.contains("pw-1234"),
        "{e}"
    );
}
