//! The compiled binary's command line: exit codes, NDJSON, the operator's
//! lines, and sending to real local servers.

use std::io::Write;
use std::process::{Command, Output};

use cf_passive_testkit::schema::valid_transaction;
use cf_passive_testkit::{BridgeConfig, BridgeReceiver, OAuthConfig, OAuthTestServer};
use flate2::write::GzEncoder;
use flate2::Compression;

const BIN: &str = env!("CARGO_BIN_EXE_cf-passive-lambda");
const LEGACY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/E2EXAMPLE1.2024-01-31-23.a1b2c3d4"
);

/// The binary with a clean environment: only what the test gives it.
fn command() -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn dry_run_writes_one_transaction_per_line_and_a_summary() {
    let output = command()
        .args(["process", "--dry-run", LEGACY])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    // One v2 transaction per line, no envelope.
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| valid_transaction(l.as_bytes()))
        .collect();
    assert_eq!(lines.len(), 6);
    assert!(!stdout.contains("\"data\""));
    assert_eq!(lines[0]["timestamp"], "1706742062.000");
    assert_eq!(
        lines[0]["txn-meta-data"]["source_info"]["instance_id"],
        "cf-passive-cli"
    );
    assert!(
        stderr.contains("summary")
            && stderr.contains("transactions=6")
            && stderr.contains("malformed=1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line=8"),
        "the malformed row is named by line: {stderr}"
    );
}

#[test]
fn debug_level_shows_each_static_skip() {
    let output = command()
        .args(["process", "--dry-run", LEGACY])
        .env("cequence_log_level", "debug")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(
        stderr.contains("⏩ 🚫 Skipping request with static extension for /static/app.JS"),
        "{stderr}"
    );
    assert!(
        stderr.contains("⏩ 🚫 Skipping request with static extension for /img/logo.png"),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_object_fails_the_run_after_emitting_what_it_could() {
    let mut text_log = Vec::new();
    let mut generator =
        cf_loggen::Generator::new(5, cf_loggen::Format::Legacy, cf_loggen::Options::default());
    generator.write_header(&mut text_log).unwrap();
    generator.write_records(&mut text_log, 3000).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&text_log).unwrap();
    let gz = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("E27FO14I29XXXX.2024-01-31-23.cut.gz");
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let output = command()
        .args([
            "process",
            "--dry-run",
            "--key",
            "logs/E27FO14I29XXXX.2024-01-31-23.cut.gz",
        ])
        .arg(&path)
        .arg(LEGACY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.lines().count() > 100,
        "records before the fault are emitted"
    );
    for line in stdout.lines() {
        valid_transaction(line.as_bytes());
    }
    assert!(
        stderr.contains("s3://local/logs/E27FO14I29XXXX.2024-01-31-23.cut.gz"),
        "names the object: {stderr}"
    );
    assert!(stderr.contains("read failed after line"), "{stderr}");

    let missing = command()
        .args(["process", "--dry-run", "/nonexistent/file.gz"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn wire_settings_reach_the_transactions() {
    let output = command()
        .args(["process", "--dry-run", LEGACY])
        .env("cequence_server_ip", "198.51.100.10")
        .env("AWS_LAMBDA_FUNCTION_NAME", "cequence-cf-passive")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let first = valid_transaction(stdout.lines().next().unwrap().as_bytes());
    assert_eq!(first["request"]["connection"]["server-ip"], "198.51.100.10");
    assert_eq!(
        first["txn-meta-data"]["source_info"]["instance_id"],
        "cequence-cf-passive"
    );
}

#[test]
fn configuration_errors_name_the_variable() {
    let output = command()
        .args(["process", "--dry-run", LEGACY])
        .env("cequence_batch_size", "lots")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("cequence_batch_size"), "{stderr}");

    let output = command()
        .args(["process", LEGACY])
        .env("cequence_client_id", "x")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("cequence_auth_endpoint") || stderr.contains("cequence_client_secret"),
        "{stderr}"
    );

    // Settings that v2 removed or restricted are refused, naming the variable.
    for (name, value, hint) in [
        ("cequence_gzip", "true", "cequence_compression"),
        (
            "cequence_tls_insecure",
            "true",
            "cequence_allow_insecure_endpoints",
        ),
    ] {
        let output = command()
            .args(["process", LEGACY])
            .env("cequence_client_id", "x")
            .env("cequence_client_secret", "y")
            .env("cequence_auth_endpoint", "https://auth.example.com/token")
            .env("cequence_edge_endpoint", "https://edge.example.com")
            .env(name, value)
            .output()
            .unwrap();
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains(hint), "{stderr}");
    }
}

fn send(faults: &str) -> (Output, Vec<cf_passive_testkit::ReceivedTransaction>, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let oauth_config = OAuthConfig::default();
    let (oauth, bridge) = runtime.block_on(async {
        let oauth = OAuthTestServer::start(OAuthConfig::default())
            .await
            .unwrap();
        let bridge = BridgeReceiver::start(BridgeConfig {
            faults: faults.parse().unwrap(),
            ..BridgeConfig::default()
        })
        .await
        .unwrap();
        (oauth, bridge)
    });
    let secret = "cli-test-secret-value";
    let output = command()
        .args([
            "process",
            "--key",
            "logs/E2EXAMPLE1.2024-01-31-23.a1b2c3d4",
            LEGACY,
        ])
        .env("cequence_client_id", &oauth_config.client_id)
        .env("cequence_client_secret", &oauth_config.client_secret)
        .env("cequence_auth_endpoint", oauth.token_url())
        .env("cequence_edge_endpoint", bridge.url())
        .env("cequence_allow_insecure_endpoints", "true")
        .env("cequence_retry_max_elapsed_s", "2")
        .env("cequence_batch_size", "2")
        .env("unrelated_secret_marker", secret)
        .output()
        .unwrap();
    let received = bridge.transactions();
    for r in &received {
        cf_passive_testkit::schema::assert_valid_transaction(&r.transaction);
    }
    drop(runtime);
    (output, received, oauth_config.client_secret)
}

#[test]
fn process_sends_to_the_bridge_and_prints_the_success_line() {
    let (output, received, secret) = send("");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(received.len(), 6);
    assert!(
        stderr.contains("✅ Successfully sent 6 transactions for CF Distribution E2EXAMPLE1"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "nothing on stdout outside Lambda");
    assert!(
        !stderr.contains(&secret),
        "the client secret never reaches a log line"
    );
}

#[test]
fn a_refused_batch_fails_the_run_and_names_the_object_and_batch() {
    // The first request is refused with 400; the others (batches of 2) go through.
    let (output, received, _) = send("400");
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(received.len(), 4, "other batches are still delivered");
    assert!(
        stderr.contains("s3://local/logs/E2EXAMPLE1.2024-01-31-23.a1b2c3d4"),
        "{stderr}"
    );
    assert!(stderr.contains("400"), "{stderr}");
    assert!(!stderr.contains("Successfully sent"), "{stderr}");
}
