//! The test servers as scripts see them (binaries: one `listening on` line,
//! SIGTERM stops them) and the child-process helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cf_passive_testkit::procs::http_probe;
use cf_passive_testkit::schema::sample_transaction;
use cf_passive_testkit::{BridgeConfig, BridgeReceiver, MotoServer, OAuth2MockServer};
use serde_json::json;

/// Starts a binary, returns it and the URL from its single stdout line.
fn start(bin: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

/// SIGTERM by PID, then the exit status and stderr.
fn terminate(mut child: Child) -> (std::process::ExitStatus, String) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn bridge_receiver_binary_records_ndjson_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("bridge-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.ndjson");
    let (child, url) = start(
        env!("CARGO_BIN_EXE_bridge-receiver"),
        &[
            "--out",
            out.to_str().unwrap(),
            "--faults",
            "503",
            "--require-gzip",
        ],
    );
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>, gz: bool| {
        let mut rb = http
            .post(format!("{url}/api-transactions"))
            .bearer_auth("t")
            .header("content-type", "application/json")
            .header("idempotency-key", "k1")
            .body(body);
        if gz {
            rb = rb.header("content-encoding", "gzip");
        }
        rb.send()
    };
    let batch =
        serde_json::to_vec(&json!({"data": [sample_transaction("a"), sample_transaction("b")]}))
            .unwrap();
    let batch = &batch[..];
    assert_eq!(
        post(gzip(batch), true).await.unwrap().status(),
        503,
        "fault script"
    );
    assert_eq!(
        post(batch.to_vec(), false).await.unwrap().status(),
        415,
        "gzip required"
    );
    assert_eq!(post(gzip(batch), true).await.unwrap().status(), 200);
    let stats: serde_json::Value = http
        .get(format!("{url}/_stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["transactions"], 2);
    assert_eq!(stats["unique_transaction_ids"], 2);
    assert_eq!(stats["per_status"]["503"], 1);
    let (status, err) = terminate(child);
    assert!(status.success(), "{status:?} {err}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["idempotency-key"], "k1");
    assert_eq!(lines[1]["transaction"]["transaction-id"], "b");
    let _ = std::fs::remove_dir_all(dir);
}

/// The receiver is as strict as a validating bridge: 400 with the reason.
#[tokio::test]
async fn strict_receiver_refuses_what_a_validating_bridge_refuses() {
    let bridge = BridgeReceiver::start(BridgeConfig::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = bridge.transactions_url();
    let post = |body: Vec<u8>, encoding: Option<&'static str>| {
        let mut rb = http
            .post(&url)
            .bearer_auth("t")
            .header("content-type", "application/json")
            .header("idempotency-key", "k")
            .body(body);
        if let Some(e) = encoding {
            rb = rb.header("content-encoding", e);
        }
        rb.send()
    };
    let v1 = json!([{
        "version": "1.0",
        "transaction-id": "v1",
        "timestamp": "2024-01-31T23:01:02Z",
        "request": {"client-ip": "192.0.2.1", "http-method": "GET", "path": "/",
                    "uri-query-fragment": "/", "headers": [{"name": "host", "value": "x"}]},
        "response": {"status": 200},
        "txn-meta-data": {"source_info": {"type": "cloudfront-standard-log", "version": "0.1.0"},
                          "distribution-id": "E1", "log-object": "s3://b/k"}
    }]);
    let mut no_server_ip = sample_transaction("n");
    no_server_ip["request"]["connection"]
        .as_object_mut()
        .unwrap()
        .remove("server-ip");
    let mut bad_header = sample_transaction("h");
    bad_header["request"]["headers"] = json!(["host:www.example.com"]);
    let envelope = |t: serde_json::Value| serde_json::to_vec(&json!({"data": [t]})).unwrap();
    let cases: Vec<(&str, Vec<u8>, Option<&'static str>, &str)> = vec![
        (
            "a v1 body",
            serde_json::to_vec(&v1).unwrap(),
            None,
            "bare JSON array",
        ),
        (
            "a v1 transaction in an envelope",
            serde_json::to_vec(&json!({"data": v1})).unwrap(),
            None,
            "not a v2 batch",
        ),
        (
            "a bare array of v2 transactions",
            serde_json::to_vec(&json!([sample_transaction("a")])).unwrap(),
            None,
            "bare JSON array",
        ),
        ("no server-ip", envelope(no_server_ip), None, "server-ip"),
        (
            "a header that is not name:base64",
            envelope(bad_header),
            None,
            "/request/headers/0",
        ),
        (
            "an empty batch",
            serde_json::to_vec(&json!({"data": []})).unwrap(),
            None,
            "not a v2 batch",
        ),
        ("not JSON", b"{data".to_vec(), None, "not JSON"),
        (
            "gzip without Content-Encoding",
            gzip(&envelope(sample_transaction("g"))),
            None,
            "Content-Encoding",
        ),
        (
            "bad gzip",
            b"\x1f\x8b not really".to_vec(),
            Some("gzip"),
            "bad gzip",
        ),
    ];
    for (what, body, encoding, reason) in cases {
        let resp = post(body, encoding).await.unwrap();
        assert_eq!(resp.status(), 400, "{what}");
        let answer: serde_json::Value = resp.json().await.unwrap();
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(reason), "{what}: {error}");
    }
    let ok = post(gzip(&envelope(sample_transaction("ok"))), Some("gzip"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        bridge.stats().transactions,
        1,
        "only the valid batch is recorded"
    );
    assert!(bridge
        .requests()
        .iter()
        .filter(|r| r.status == 400)
        .all(|r| r.error.is_some() && r.transactions == 0));

    // A bridge without compression support answers 415 to gzip bodies.
    let plain_only = BridgeReceiver::start(BridgeConfig {
        refuse_gzip: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let send = |body: Vec<u8>, gz: bool| {
        let mut rb = http
            .post(plain_only.transactions_url())
            .bearer_auth("t")
            .header("content-type", "application/json")
            .header("idempotency-key", "k")
            .body(body);
        if gz {
            rb = rb.header("content-encoding", "gzip");
        }
        rb.send()
    };
    let body = envelope(sample_transaction("p"));
    assert_eq!(send(gzip(&body), true).await.unwrap().status(), 415);
    assert_eq!(send(body, false).await.unwrap().status(), 200);
}

#[tokio::test]
async fn oauth_test_server_binary_issues_introspects_and_revokes() {
    let (child, url) = start(
        env!("CARGO_BIN_EXE_oauth-test-server"),
        &["--client-id", "demo", "--expires-in", "60"],
    );
    let http = reqwest::Client::new();
    let token = |secret: &'static str| {
        http.post(format!("{url}/token"))
            .basic_auth("demo", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let bad = token("nope").await.unwrap();
    assert_eq!(bad.status(), 401);
    let bad: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(bad["error"], "invalid_client");
    let ok: serde_json::Value = token("test-secret").await.unwrap().json().await.unwrap();
    assert_eq!(ok["token_type"], "Bearer");
    assert_eq!(ok["expires_in"], 60);
    let t = ok["access_token"].as_str().unwrap().to_string();
    let active = |t: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let v: serde_json::Value = http
                .post(format!("{url}/introspect"))
                .form(&[("token", t)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["active"].as_bool().unwrap()
        }
    };
    assert!(active(t.clone()).await);
    assert!(!active("forged".into()).await);
    http.post(format!("{url}/_revoke-all"))
        .send()
        .await
        .unwrap();
    assert!(!active(t).await);
    // Client credentials in the body are accepted too.
    let body = http
        .post(format!("{url}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo"),
            ("client_secret", "test-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 200);
    let stats: serde_json::Value = http
        .get(format!("{url}/_stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["tokens_issued"], 2);
    assert_eq!(stats["invalid_client"], 1);
    // Which client authentication each token request used.
    assert_eq!(stats["client_auth_basic"], 2);
    assert_eq!(stats["client_auth_body"], 1);
    let (status, _) = terminate(child);
    assert!(status.success());
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

#[test]
fn oauth2_mock_server_runs_and_is_killed_on_drop() {
    let mock = OAuth2MockServer::spawn();
    let pid = mock.pid();
    let addr = mock.url().trim_start_matches("http://").parse().unwrap();
    assert_eq!(
        http_probe(addr, "/.well-known/openid-configuration"),
        Some(200)
    );
    drop(mock);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(pid), "killed by PID on drop");
}

#[test]
fn moto_server_runs_and_is_killed_on_drop() {
    let moto = MotoServer::spawn();
    let pid = moto.pid();
    let url = moto.endpoint_url();
    assert!(url.starts_with("http://127.0.0.1:"));
    let addr = url.trim_start_matches("http://").parse().unwrap();
    assert!(http_probe(addr, "/moto-api/").is_some());
    moto.reset();
    drop(moto);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(pid), "killed by PID on drop");
}
