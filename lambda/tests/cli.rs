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
        stderr.contains(&path.display().to_string()),
        "names the file by its path: {stderr}"
    );
    assert!(
        !stderr.contains("s3://local/"),
        "a local file is not an S3 object: {stderr}"
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
        stderr.contains(LEGACY),
        "the file is named by its path: {stderr}"
    );
    assert!(stderr.contains("400"), "{stderr}");
    assert!(
        stderr.contains("run the command again") && !stderr.contains("will be retried"),
        "the command line says truthfully what happens next: {stderr}"
    );
    assert!(!stderr.contains("Successfully sent"), "{stderr}");
}

fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::process::Stdio;
    let mut child = command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // The binary may stop reading early (a rejected input): ignore EPIPE.
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn pseudo_random_bytes(n: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn a_binary_file_is_not_a_log_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.bin");
    std::fs::write(&path, pseudo_random_bytes(20_000)).unwrap();
    let output = command()
        .args(["process", "--dry-run"])
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&format!("{}: not a CloudFront log", path.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains("malformed"),
        "not reported as rows: {stderr}"
    );
    assert!(!stderr.contains("cequence_log_fields"), "{stderr}");

    // The same bytes gzip-compressed are still not a log.
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&pseudo_random_bytes(20_000)).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let output = command()
        .args(["process", "--dry-run"])
        .arg(&path)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("after gunzip"), "{stderr}");
}

#[test]
fn an_empty_file_is_named_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("E2EXAMPLE1.2024-01-31-23.empty");
    std::fs::write(&path, b"").unwrap();
    let output = command()
        .args(["process", "--dry-run"])
        .arg(&path)
        .arg(LEGACY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: empty", path.display())),
        "{stderr}"
    );
    assert_eq!(
        stdout.lines().count(),
        6,
        "the other file is still processed"
    );
}

#[test]
fn malformed_rows_are_not_a_failure_of_the_run() {
    // The fixture has one malformed row: reported, and the exit status is 0.
    let output = command()
        .args(["process", "--dry-run", LEGACY])
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("malformed=1"), "{stderr}");
    assert!(
        stderr.contains(&format!("object={LEGACY}")) || stderr.contains(LEGACY),
        "{stderr}"
    );
}

#[test]
fn a_dash_reads_standard_input() {
    let log = std::fs::read(LEGACY).unwrap();
    let output = run_with_stdin(
        &[
            "process",
            "--dry-run",
            "--key",
            "logs/E2EXAMPLE1.2024-01-31-23.a1b2c3d4",
            "-",
        ],
        &log,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 6, "{stderr}");
    assert!(stderr.contains("standard input"), "{stderr}");

    let output = run_with_stdin(&["process", "--dry-run", "-"], b"");
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("standard input: empty"), "{stderr}");

    let output = command()
        .args(["process", "--dry-run", "-", "-"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn replay_checks_its_arguments_before_touching_aws() {
    let started = std::time::Instant::now();
    let output = command()
        .args(["replay", "not-an-s3-url"])
        // Would hang or dump metadata-service errors if AWS were contacted.
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("not-an-s3-url"), "{stderr}");
    assert!(stderr.contains("s3://bucket/key"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(!stderr.contains("retried"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn every_help_lists_the_settings_it_reads() {
    for (command, settings) in [
        (
            "process",
            &[
                "cequence_log_fields",
                "cequence_client_id",
                "cequence_batch_size",
            ][..],
        ),
        (
            "replay",
            &[
                "cequence_require_enabled_tag",
                "cequence_max_concurrent_objects",
                "AWS_PROFILE",
            ][..],
        ),
        (
            "check",
            &["cequence_auth_endpoint", "cequence_ca_cert_pem"][..],
        ),
    ] {
        let output = self::command().args([command, "--help"]).output().unwrap();
        let (stdout, _) = text(&output);
        assert!(output.status.success());
        for setting in settings {
            assert!(
                stdout.contains(setting),
                "{command} --help lacks {setting}:\n{stdout}"
            );
        }
    }
}

#[test]
fn four_configuration_mistakes_are_all_named_at_once() {
    let output = command()
        .args(["check"])
        .env("cequence_client_id", "x")
        .env("cequence_auth_endpoint", "auth.example.com/token")
        .env("cequence_batch_size", "lots")
        .env("cequence_edge_endpiont", "https://edge.example.com")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for named in [
        "cequence_auth_endpoint",
        "cequence_batch_size",
        "cequence_client_secret",
        "cequence_edge_endpoint",
        "cequence_edge_endpiont: is not a setting; did you mean cequence_edge_endpoint?",
    ] {
        assert!(stderr.contains(named), "{named} not named:\n{stderr}");
    }
    assert!(stderr.contains("5 problems"), "{stderr}");
}

/// Runs `check` against a token server and a bridge; returns (exit code, stdout).
fn check(
    oauth: &cf_passive_testkit::RunningOAuth,
    secret: &str,
    bridge_url: &str,
    ca_pem: Option<&str>,
) -> (Option<i32>, String, String) {
    let mut command = command();
    command
        .args(["check"])
        .env("cequence_client_id", OAuthConfig::default().client_id)
        .env("cequence_client_secret", secret)
        .env("cequence_auth_endpoint", oauth.token_url())
        .env("cequence_edge_endpoint", bridge_url)
        .env("cequence_http_timeout_s", "5");
    if let Some(ca) = ca_pem {
        command.env("cequence_ca_cert_pem", ca);
    }
    let output = command.output().unwrap();
    let (stdout, stderr) = text(&output);
    (output.status.code(), stdout, stderr)
}

#[test]
fn check_reports_each_failure_as_what_it_is() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = cf_passive_testkit::TestPki::generate();
    let other_pki = cf_passive_testkit::TestPki::generate();
    let (oauth, bridge) = runtime.block_on(async {
        let oauth = OAuthTestServer::start(OAuthConfig {
            tls: Some((&pki).into()),
            ..OAuthConfig::default()
        })
        .await
        .unwrap();
        let bridge = BridgeReceiver::start(BridgeConfig {
            tls: Some((&pki).into()),
            ..BridgeConfig::default()
        })
        .await
        .unwrap();
        (oauth, bridge)
    });
    let good_secret = OAuthConfig::default().client_secret;

    // Good credentials and the right CA: everything works, nothing is sent.
    let (code, stdout, stderr) = check(&oauth, &good_secret, &bridge.url(), Some(&pki.ca_pem));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("ok      token: got an access token"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok      bridge:") && stdout.contains("TLS verified"),
        "{stdout}"
    );
    assert!(stdout.contains("check passed"), "{stdout}");
    assert!(!stdout.contains(&good_secret) && !stderr.contains(&good_secret));

    // The same settings from a .env file (read as data; deployment keys ignored).
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join(".env");
    std::fs::write(
        &env_file,
        format!(
            "# as .env.example\ntf_auto_approve=false\naws_region=us-east-1\n\
             cequence_client_id={}\ncequence_client_secret=\"{good_secret}\"\n\
             cequence_auth_endpoint={}\ncequence_edge_endpoint={}\ncequence_ca_cert_pem=\"{}\"\n",
            OAuthConfig::default().client_id,
            oauth.token_url(),
            bridge.url(),
            pki.ca_pem.trim_end().replace('\n', "\\n"),
        ),
    )
    .unwrap();
    let output = command()
        .args(["check", "--env-file"])
        .arg(&env_file)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("check passed"), "{stdout}");

    // A wrong secret: the token step names the credentials; the bridge still works.
    let (code, stdout, _) = check(&oauth, "wrong-secret", &bridge.url(), Some(&pki.ca_pem));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  token: wrong client credentials"),
        "{stdout}"
    );
    assert!(stdout.contains("ok      bridge:"), "{stdout}");
    assert!(!stdout.contains("wrong-secret"), "{stdout}");

    // The wrong CA: both endpoints are untrusted, and said so.
    let (code, stdout, _) = check(&oauth, &good_secret, &bridge.url(), Some(&other_pki.ca_pem));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED  token: TLS certificate not trusted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAILED  bridge:") && stdout.contains("TLS certificate not trusted"),
        "{stdout}"
    );

    // An unreachable bridge (nothing listens on the port).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("https://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let (code, stdout, _) = check(&oauth, &good_secret, &closed_url, Some(&pki.ca_pem));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("ok      token:"), "{stdout}");
    assert!(
        stdout.contains("FAILED  bridge:") && stdout.contains("unreachable"),
        "{stdout}"
    );
    assert!(stdout.contains("check failed: 1 of"), "{stdout}");

    assert!(
        bridge.transactions().is_empty(),
        "check never sends a transaction"
    );
    drop(runtime);
}

/// Real-time lines (every field) of distribution E2EXAMPLE1, in a temporary file.
fn realtime_file(records: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let fields = cf_passive::core::realtime::REALTIME_FIELDS;
    let options = cf_loggen::Options {
        distribution_id: "E2EXAMPLE1".into(),
        ..cf_loggen::Options::default()
    };
    let mut generator = cf_loggen::RealtimeGenerator::new(5, options, fields).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("realtime.log");
    let mut file = std::fs::File::create(&path).unwrap();
    generator.write_records(&mut file, records).unwrap();
    (dir, path)
}

#[test]
fn process_realtime_needs_the_field_order_and_names_the_variable() {
    let (_dir, path) = realtime_file(3);
    for args in [
        vec!["process", "--realtime", "--dry-run"],
        vec!["process", "--realtime"],
    ] {
        // Bridge settings that would do, so that only the field order is missing.
        let output = command()
            .args(&args)
            .arg(&path)
            .env("cequence_client_id", "id")
            .env("cequence_client_secret", "secret")
            .env("cequence_auth_endpoint", "https://auth.example.com/token")
            .env("cequence_edge_endpoint", "https://bridge.example.com")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("cequence_realtime_fields"), "{stderr}");
        assert!(stdout.is_empty());
    }
    let output = command()
        .args(["process", "--realtime", "--dry-run"])
        .arg(&path)
        .env("cequence_realtime_fields", "timestamp,c-ip,no-such-field")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cequence_realtime_fields") && stderr.contains("no-such-field"),
        "{stderr}"
    );
}

#[test]
fn process_realtime_sends_what_its_dry_run_prints() {
    let (_dir, path) = realtime_file(40);
    let fields = cf_passive::core::realtime::REALTIME_FIELDS.join(",");
    let dry = command()
        .args(["process", "--realtime", "--dry-run", "--stream", "s1"])
        .arg(&path)
        .env("cequence_realtime_fields", &fields)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&dry);
    assert!(dry.status.success(), "{stderr}");
    let mut printed: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(printed.len() > 20, "{} transactions", printed.len());
    for t in &printed {
        cf_passive_testkit::schema::assert_valid_transaction(t);
        assert_eq!(
            t["txn-meta-data"]["cloudfront"]["log-object"],
            format!(
                "kinesis://s1/{}",
                path.to_string_lossy().trim_start_matches('/')
            )
        );
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let oauth_config = OAuthConfig::default();
    let (oauth, bridge) = runtime.block_on(async {
        (
            OAuthTestServer::start(OAuthConfig::default())
                .await
                .unwrap(),
            BridgeReceiver::start(BridgeConfig::default())
                .await
                .unwrap(),
        )
    });
    let output = command()
        .args(["process", "--realtime", "--stream", "s1"])
        .arg(&path)
        .env("cequence_realtime_fields", &fields)
        .env("cequence_client_id", &oauth_config.client_id)
        .env("cequence_client_secret", &oauth_config.client_secret)
        .env("cequence_auth_endpoint", oauth.token_url())
        .env("cequence_edge_endpoint", bridge.url())
        .env("cequence_allow_insecure_endpoints", "true")
        .env("cequence_batch_size", "7")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let mut received: Vec<serde_json::Value> = bridge
        .transactions()
        .into_iter()
        .map(|r| r.transaction)
        .collect();
    let key = |t: &serde_json::Value| t["transaction-id"].as_str().unwrap().to_string();
    printed.sort_by_key(key);
    received.sort_by_key(key);
    assert_eq!(received, printed);
    assert!(
        stderr.contains(&format!(
            "✅ Successfully sent {} transactions for CF Distribution E2EXAMPLE1",
            printed.len()
        )),
        "{stderr}"
    );
    drop(runtime);
}

/// `invoke --event` runs the Lambda's handler on a Kinesis event file: it
/// answers as the function would, and the bridge receives what `process
/// --realtime --dry-run` prints for the same records.
#[test]
fn invoke_runs_the_handler_on_an_event_file() {
    use base64::Engine as _;
    let fields = cf_passive::core::realtime::REALTIME_FIELDS;
    let options = cf_loggen::Options {
        distribution_id: "E2EXAMPLE1".into(),
        ..cf_loggen::Options::default()
    };
    let mut generator = cf_loggen::RealtimeGenerator::new(9, options, fields).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut event = Vec::new();
    let source = cf_loggen::KinesisSource::default();
    generator
        .write_kinesis_event(&mut event, 30, &source)
        .unwrap();
    let event_path = dir.path().join("event.json");
    std::fs::write(&event_path, &event).unwrap();
    // The same records as lines, for the dry run.
    let parsed: serde_json::Value = serde_json::from_slice(&event).unwrap();
    let mut lines = Vec::new();
    for record in parsed["Records"].as_array().unwrap() {
        let data = record["kinesis"]["data"].as_str().unwrap();
        lines.extend(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        );
        if lines.last() != Some(&b'\n') {
            lines.push(b'\n');
        }
    }
    let lines_path = dir.path().join("records.log");
    std::fs::write(&lines_path, &lines).unwrap();
    let fields = fields.join(",");
    let dry = command()
        .args(["process", "--realtime", "--dry-run"])
        .arg(&lines_path)
        .env("cequence_realtime_fields", &fields)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&dry);
    assert!(dry.status.success(), "{stderr}");
    let id = |t: &serde_json::Value| t["transaction-id"].as_str().unwrap().to_string();
    let mut printed: Vec<String> = stdout
        .lines()
        .map(|l| id(&serde_json::from_str(l).unwrap()))
        .collect();
    assert!(printed.len() > 10, "{} transactions", printed.len());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let oauth_config = OAuthConfig::default();
    let (oauth, bridge) = runtime.block_on(async {
        (
            OAuthTestServer::start(OAuthConfig::default())
                .await
                .unwrap(),
            BridgeReceiver::start(BridgeConfig::default())
                .await
                .unwrap(),
        )
    });
    let output = command()
        .args(["invoke", "--event"])
        .arg(&event_path)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("cequence_realtime_fields", &fields)
        .env("cequence_require_enabled_tag", "false")
        .env("cequence_client_id", &oauth_config.client_id)
        .env("cequence_client_secret", &oauth_config.client_secret)
        .env("cequence_auth_endpoint", oauth.token_url())
        .env("cequence_edge_endpoint", bridge.url())
        .env("cequence_allow_insecure_endpoints", "true")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), r#"{"batchItemFailures":[]}"#, "{stderr}");
    let mut received: Vec<String> = bridge
        .transactions()
        .into_iter()
        .map(|r| id(&r.transaction))
        .collect();
    printed.sort();
    received.sort();
    assert_eq!(received, printed);

    let missing = command()
        .args(["invoke", "--event"])
        .arg(dir.path().join("nothing.json"))
        .output()
        .unwrap();
    let (_, stderr) = text(&missing);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing.json: no such file"), "{stderr}");
    drop(runtime);
}
