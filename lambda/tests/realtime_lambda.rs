//! Real-time logs end to end, with the function binary served by the Lambda
//! runtime emulator (`cargo lambda watch --only-lambda-apis`), moto for
//! Kinesis and CloudFront, the strict OAuth server and the bridge receiver.
//!
//! moto does not run event source mappings, so each test puts real-time
//! lines on a moto stream, reads them back with `GetRecords`, and builds the
//! Lambda Kinesis event from what it read, as the mapping would.

mod aws_fixtures;
use aws_fixtures::{create_distribution, sdk, ACCOUNT};

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use base64::Engine as _;
use cf_passive::app::sources::kinesis::idempotency_key;
use cf_passive_testkit::procs::{moto, unique_name, Moto};
use cf_passive_testkit::{
    procs::{repo_root, ChildServer},
    BridgeConfig, BridgeReceiver, OAuthConfig, OAuthTestServer, RunningBridge, RunningOAuth,
};
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Every real-time field, in record order (the function's own list).
fn all_fields() -> Vec<&'static str> {
    cf_passive::core::realtime::REALTIME_FIELDS.to_vec()
}

/// A child process killed (by its PID) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The function binary under the runtime emulator.
struct Function {
    emulator: ChildServer,
    _function: Killed,
    http: reqwest::Client,
}

impl Function {
    fn start(env: &[(&str, String)]) -> Function {
        let cargo_lambda = repo_root().join(".venv/bin/cargo-lambda");
        // --only-lambda-apis: the emulator compiles nothing; the function is
        // the binary cargo built for this test.
        let emulator = ChildServer::spawn(
            "cargo lambda watch",
            &cargo_lambda,
            &[
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                "{port}",
            ],
            // Answers 405 to a GET once it serves (other paths hang).
            "/2015-03-31/functions/_/invocations",
            Duration::from_secs(60),
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_cf-passive-lambda"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt", emulator.port()),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "cf-passive-realtime-test")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let function = Killed(command.spawn().expect("start the function binary"));
        Function {
            emulator,
            _function: function,
            // A function that died would leave the invocation waiting.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .unwrap(),
        }
    }

    /// Invokes the function through the emulator's Lambda API, as
    /// `cargo lambda invoke` does.
    async fn invoke(&self, event: &Value) -> Value {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
            self.emulator.port()
        );
        for attempt in 0.. {
            match self.http.post(&url).json(event).send().await {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap();
                    assert!(status.is_success(), "invoke: HTTP {status}: {text}");
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("invoke answer {text:?}: {e}"));
                }
                Err(e) if attempt < 50 => {
                    eprintln!("invoke: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("invoke: {e}"),
            }
        }
        unreachable!()
    }
}

struct Env {
    _moto: Moto,
    moto_url: String,
    sdk: aws_config::SdkConfig,
    bridge: RunningBridge,
    oauth: RunningOAuth,
}

async fn env() -> Env {
    let moto = moto();
    let sdk = sdk(&moto.url).await;
    let oauth = OAuthTestServer::start(OAuthConfig::default())
        .await
        .unwrap();
    let bridge = BridgeReceiver::start(BridgeConfig::default())
        .await
        .unwrap();
    Env {
        moto_url: moto.url.clone(),
        _moto: moto,
        sdk,
        bridge,
        oauth,
    }
}

impl Env {
    /// The function's settings; `extra` adds or overrides.
    fn function_env(&self, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let oauth = OAuthConfig::default();
        let mut env: BTreeMap<&'static str, String> = [
            ("AWS_ENDPOINT_URL", self.moto_url.clone()),
            ("cequence_client_id", oauth.client_id.clone()),
            ("cequence_client_secret", oauth.client_secret.clone()),
            ("cequence_auth_endpoint", self.oauth.token_url()),
            ("cequence_edge_endpoint", self.bridge.url()),
            ("cequence_allow_insecure_endpoints", "true".into()),
            ("cequence_log_format", "text".into()),
            ("cequence_realtime_fields", all_fields().join(",")),
            ("cequence_batch_size", "7".into()),
        ]
        .into_iter()
        .collect();
        for (name, value) in extra {
            let name: &'static str = Box::leak(name.to_string().into_boxed_str());
            env.insert(name, value.to_string());
        }
        env.into_iter().collect()
    }

    async fn distribution(&self, reference: &str, tag: Option<&str>) -> (String, String) {
        let cloudfront = aws_sdk_cloudfront::Client::new(&self.sdk);
        let id = create_distribution(&cloudfront, reference, tag).await;
        let domain = cloudfront
            .get_distribution()
            .id(&id)
            .send()
            .await
            .unwrap()
            .distribution()
            .unwrap()
            .domain_name()
            .to_string();
        (id, domain)
    }
}

/// The viewer's request headers (name, value) of each record, by request id.
type ViewerHeaders = HashMap<String, Vec<(String, String)>>;

/// Generated real-time lines (every field) of `distribution`, with the
/// complete request headers of each, by `x-edge-request-id`.
fn generated_lines(seed: u64, n: usize, distribution: &str) -> (Vec<String>, ViewerHeaders) {
    let fields = all_fields();
    let options = cf_loggen::Options {
        distribution_id: distribution.to_string(),
        static_share: 0.0,
        ..cf_loggen::Options::default()
    };
    let mut generator = cf_loggen::RealtimeGenerator::new(seed, options, &fields).unwrap();
    let id_column = fields
        .iter()
        .position(|f| *f == "x-edge-request-id")
        .unwrap();
    let mut lines = Vec::new();
    let mut headers = HashMap::new();
    for _ in 0..n {
        let mut buf = Vec::new();
        generator.next_line(&mut buf);
        let line = String::from_utf8(buf).unwrap().trim_end().to_string();
        let id = line.split('\t').nth(id_column).unwrap().to_string();
        headers.insert(id, generator.last_headers().to_vec());
        lines.push(line);
    }
    (lines, headers)
}

/// `line` with the value of `field` replaced.
fn with_field(line: &str, field: &str, value: &str) -> String {
    let column = all_fields().iter().position(|f| *f == field).unwrap();
    let mut values: Vec<&str> = line.split('\t').collect();
    values[column] = value;
    values.join("\t")
}

fn field<'a>(line: &'a str, field: &str) -> &'a str {
    let column = all_fields().iter().position(|f| *f == field).unwrap();
    line.split('\t').nth(column).unwrap()
}

/// A moto stream with one shard; returns (stream ARN, shard id).
async fn stream(kinesis: &aws_sdk_kinesis::Client, name: &str) -> (String, String) {
    kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(1)
        .send()
        .await
        .expect("create stream");
    let summary = kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    let arn = summary
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_string();
    let shards = kinesis
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    let shard = shards.shards()[0].shard_id().to_string();
    (arn, shard)
}

/// Puts each line as one record (a trailing newline, as CloudFront writes it).
async fn put_lines(kinesis: &aws_sdk_kinesis::Client, name: &str, lines: &[String]) {
    for (i, line) in lines.iter().enumerate() {
        kinesis
            .put_record()
            .stream_name(name)
            .partition_key(format!("p{i}"))
            .data(Blob::new(format!("{line}\n")))
            .send()
            .await
            .expect("put record");
    }
}

/// Every record of the shard, read back, as (sequence number, data).
async fn read_back(
    kinesis: &aws_sdk_kinesis::Client,
    name: &str,
    shard: &str,
) -> Vec<(String, Vec<u8>)> {
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(name)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_string();
    let records = kinesis
        .get_records()
        .shard_iterator(iterator)
        .limit(10_000)
        .send()
        .await
        .unwrap();
    records
        .records()
        .iter()
        .map(|r| (r.sequence_number().to_string(), r.data().as_ref().to_vec()))
        .collect()
}

/// The Lambda Kinesis event of records of one shard, as an event source
/// mapping sends it.
fn kinesis_event(arn: &str, shard: &str, records: &[(String, Vec<u8>)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(seq, data)| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "p",
                    "sequenceNumber": seq,
                    "data": B64.encode(data),
                    "approximateArrivalTimestamp": 1_706_742_502.5
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": format!("arn:aws:iam::{ACCOUNT}:role/cf-passive"),
                "awsRegion": "us-east-1",
                "eventSourceARN": arn
            })
        })
        .collect();
    json!({ "Records": records })
}

/// `process --realtime --dry-run` of `lines`, as `kinesis://stream/shard`.
fn dry_run(lines: &[String], stream: &str, shard: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("realtime.log");
    let mut file = std::fs::File::create(&path).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    drop(file);
    let output = Command::new(env!("CARGO_BIN_EXE_cf-passive-lambda"))
        .env_clear()
        .env("cequence_realtime_fields", all_fields().join(","))
        .env("AWS_LAMBDA_FUNCTION_NAME", "cf-passive-realtime-test")
        .args(["process", "--realtime", "--dry-run", "--stream", stream])
        .args(["--shard", shard])
        .arg(Path::new(&path))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn transaction_id(t: &Value) -> String {
    t["transaction-id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_batch_under_the_lambda_emulator_is_sent_as_a_dry_run_shows_it() {
    let env = env().await;
    let kinesis = aws_sdk_kinesis::Client::new(&env.sdk);
    let (enabled, enabled_domain) = env.distribution(&unique_name("on"), Some("true")).await;
    let (disabled, _) = env.distribution(&unique_name("off"), Some("false")).await;
    let name = unique_name("realtime");
    let (arn, shard) = stream(&kinesis, &name).await;

    let (mut lines, headers) = generated_lines(7, 40, &enabled);
    let template = lines[0].clone();
    // A record of a disabled distribution, a static asset, a malformed line,
    // and one that names its distribution only by cs-host.
    let disabled_line = with_field(
        &with_field(&template, "primary-distribution-id", &disabled),
        "x-edge-request-id",
        "disabled-record",
    );
    let static_line = with_field(
        &with_field(&template, "cs-uri-stem", "/assets/logo.png"),
        "x-edge-request-id",
        "static-record",
    );
    let by_host = with_field(
        &with_field(
            &with_field(&template, "primary-distribution-id", "-"),
            "cs-host",
            &enabled_domain,
        ),
        "x-edge-request-id",
        "by-host-record",
    );
    lines.insert(5, disabled_line);
    lines.insert(11, static_line);
    lines.insert(17, "this is not a real-time log line".to_string());
    lines.insert(23, by_host.clone());
    put_lines(&kinesis, &name, &lines).await;
    let records = read_back(&kinesis, &name, &shard).await;
    assert_eq!(records.len(), lines.len());
    let event = kinesis_event(&arn, &shard, &records);

    let function = Function::start(&env.function_env(&[]));
    let answer = function.invoke(&event).await;
    assert_eq!(answer, json!({"batchItemFailures": []}), "{answer}");

    let received: Vec<Value> = env
        .bridge
        .transactions()
        .into_iter()
        .map(|t| t.transaction)
        .collect();
    // What the dry run shows of the same lines, less what only the Lambda
    // can know: the disabled distribution's tag, and cs-host's distribution
    // (the dry run looks nothing up, so that record has none there).
    let expected: Vec<Value> = dry_run(&lines, &name, &shard)
        .into_iter()
        .filter(|t| t["txn-meta-data"]["cloudfront"]["distribution-id"] != disabled.as_str())
        .collect();
    let (by_host_sent, others): (Vec<Value>, Vec<Value>) = received
        .iter()
        .cloned()
        .partition(|t| transaction_id(t) == "by-host-record");
    // A few generated lines may be static assets or lack a field: the dry
    // run decides, as it does for the Lambda.
    assert!(expected.len() >= 30, "{} transactions", expected.len());
    // Batches travel concurrently (cequence_max_in_flight): compare as sets.
    let sorted = |mut v: Vec<Value>| {
        v.sort_by_key(transaction_id);
        v
    };
    let (others, expected) = (sorted(others), sorted(expected));
    assert_eq!(others.len(), expected.len());
    for (got, want) in others.iter().zip(&expected) {
        assert_eq!(got, want, "received != dry run");
    }
    assert_eq!(
        by_host_sent.len(),
        1,
        "the record named by cs-host is sent once"
    );
    let cloudfront = &by_host_sent[0]["txn-meta-data"];
    assert_eq!(
        cloudfront["cloudfront"]["distribution-id"],
        enabled.as_str()
    );
    assert_eq!(cloudfront["source_info"]["pool_id"], enabled.as_str());
    for t in &received {
        let id = transaction_id(t);
        assert!(!["disabled-record", "static-record"].contains(&id.as_str()));
        assert_eq!(
            t["txn-meta-data"]["cloudfront"]["log-object"],
            format!("kinesis://{name}/{shard}")
        );
    }

    // cs-headers: every header sent decodes to exactly what the viewer sent
    // (a header cut by the 800-byte truncation is left out, never half).
    let mut extra_headers = 0;
    for t in &received {
        let Some(original) = headers.get(&transaction_id(t)) else {
            continue;
        };
        let fixed = [
            "host",
            "user-agent",
            "referer",
            "cookie",
            "x-forwarded-for",
            "accept",
            "accept-encoding",
        ];
        for header in t["request"]["headers"].as_array().unwrap() {
            let (name, value) = header.as_str().unwrap().split_once(':').unwrap();
            if fixed.contains(&name) {
                continue;
            }
            let value = B64.decode(value).unwrap();
            let sent = original
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .unwrap_or_else(|| panic!("{name} was not among the viewer's headers"));
            assert_eq!(value, sent.1.trim().as_bytes(), "header {name}");
            extra_headers += 1;
        }
    }
    assert!(
        extra_headers > 40,
        "headers from cs-headers: {extra_headers}"
    );
    assert_eq!(field(&by_host, "cs-host"), enabled_domain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_not_delivered_is_retried_from_its_first_record_and_nothing_before_it() {
    let env = env().await;
    let kinesis = aws_sdk_kinesis::Client::new(&env.sdk);
    let (enabled, _) = env.distribution(&unique_name("on"), Some("true")).await;
    let name = unique_name("realtime");
    let (arn, shard) = stream(&kinesis, &name).await;
    let (lines, _) = generated_lines(11, 50, &enabled);
    put_lines(&kinesis, &name, &lines).await;
    let records = read_back(&kinesis, &name, &shard).await;
    assert_eq!(records.len(), 50);

    // Which records become transactions (some generated lines are static
    // assets): the dry run says, in order; 7 per bridge batch.
    let id = |i: usize| field(&lines[i], "x-edge-request-id").to_string();
    let sent: Vec<String> = dry_run(&lines, &name, &shard)
        .iter()
        .map(transaction_id)
        .collect();
    assert!(sent.len() > 28, "{} transactions", sent.len());
    let record_of = |tx: &str| (0..lines.len()).find(|i| id(*i) == tx).unwrap();
    let first_failed = record_of(&sent[14]);

    // Batch 2 fails until the retry budget runs out.
    let max_in_flight = 2;
    let refused = idempotency_key(&arn, &shard, &records[0].0, 2);
    env.bridge
        .set_faults(format!("503@key={refused}").parse().unwrap());
    let function = Function::start(&env.function_env(&[
        ("cequence_retry_max_elapsed_s", "1"),
        ("cequence_max_in_flight", "2"),
    ]));
    let answer = function
        .invoke(&kinesis_event(&arn, &shard, &records))
        .await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": records[first_failed].0}]}),
        "{answer}"
    );
    let first_round: Vec<String> = env
        .bridge
        .transactions()
        .iter()
        .map(|t| transaction_id(&t.transaction))
        .collect();
    // Everything before the failed batch arrived (two batches travel at
    // once, so in either order), none of it, and at most the batch in
    // flight beside it after it.
    for tx in &sent[..14] {
        assert_eq!(first_round.iter().filter(|t| *t == tx).count(), 1, "{tx}");
    }
    let after: Vec<&String> = first_round
        .iter()
        .filter(|t| !sent[..14].contains(t))
        .collect();
    assert!(
        after.iter().all(|t| sent[21..28].contains(t)),
        "only the next batch may have been in flight: {after:?}"
    );
    assert!(env
        .bridge
        .requests()
        .iter()
        .any(|r| r.idempotency_key.as_deref() == Some(refused.as_str()) && r.status == 503));

    // Lambda retries from the record named: the rest is delivered.
    let answer = function
        .invoke(&kinesis_event(&arn, &shard, &records[first_failed..]))
        .await;
    assert_eq!(answer, json!({"batchItemFailures": []}), "{answer}");
    let all: Vec<String> = env
        .bridge
        .transactions()
        .iter()
        .map(|t| transaction_id(&t.transaction))
        .collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in &all {
        *counts.entry(id.clone()).or_default() += 1;
    }
    for (n, tx) in sent.iter().enumerate() {
        let times = counts.get(tx).copied().unwrap_or(0);
        if n < 14 {
            assert_eq!(
                times, 1,
                "{tx} (before the failed batch) sent {times} times"
            );
        } else {
            assert!((1..=2).contains(&times), "{tx} sent {times} times");
        }
    }
    assert_eq!(counts.len(), sent.len(), "nothing else was sent");
    // Sent twice: only what was in flight next to the failed batch.
    let twice = counts.values().filter(|n| **n == 2).count();
    assert!(
        twice <= (max_in_flight - 1) * 7,
        "{twice} records sent twice, more than the in-flight bound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_parked_as_the_records_it_came_from_and_the_rest_goes_on() {
    let env = env().await;
    let kinesis = aws_sdk_kinesis::Client::new(&env.sdk);
    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(unique_name("failures"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let (enabled, _) = env.distribution(&unique_name("on"), Some("true")).await;
    let name = unique_name("realtime");
    let (arn, shard) = stream(&kinesis, &name).await;
    let (lines, _) = generated_lines(23, 30, &enabled);
    put_lines(&kinesis, &name, &lines).await;
    let records = read_back(&kinesis, &name, &shard).await;
    let id = |i: usize| field(&lines[i], "x-edge-request-id").to_string();
    let sent: Vec<String> = dry_run(&lines, &name, &shard)
        .iter()
        .map(transaction_id)
        .collect();
    let record_of = |tx: &str| (0..lines.len()).find(|i| id(*i) == tx).unwrap();

    // The bridge refuses batch 1 (transactions 7..14) for good.
    let refused = idempotency_key(&arn, &shard, &records[0].0, 1);
    env.bridge
        .set_faults(format!("400@key={refused}").parse().unwrap());
    let function =
        Function::start(&env.function_env(&[("cequence_failure_queue_url", queue_url.as_str())]));
    let answer = function
        .invoke(&kinesis_event(&arn, &shard, &records))
        .await;
    assert_eq!(answer, json!({"batchItemFailures": []}), "{answer}");

    let delivered: Vec<String> = env
        .bridge
        .transactions()
        .iter()
        .map(|t| transaction_id(&t.transaction))
        .collect();
    let mut want: Vec<String> = sent[..7].iter().chain(&sent[14..]).cloned().collect();
    let mut got = delivered.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "everything but the refused batch, once");

    let messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Value> = messages
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let info = cf_passive::app::sources::kinesis::kinesis_batch_info(&bodies[0])
        .expect("the message reads as the event source mapping's KinesisBatchInfo");
    let (first, last) = (record_of(&sent[7]), record_of(&sent[13]));
    assert_eq!(info.stream_arn, arn);
    assert_eq!(info.shard_id, shard);
    assert_eq!(info.start_sequence_number, records[first].0);
    assert_eq!(info.end_sequence_number, records[last].0);
    assert_eq!(info.batch_size, Some((last - first + 1) as u64));
    assert_eq!(bodies[0]["cfPassive"]["status"], 400);
    assert_eq!(bodies[0]["cfPassive"]["batch"], 1);
}
