//! The settings the application layer reads through `Config`: the failure
//! queue, the function name and the emulator endpoint (nothing else reads
//! the environment).

use std::collections::HashMap;

use cf_passive::config::{Config, Needs};

fn config(pairs: &[(&str, &str)]) -> Result<Config, cf_passive::config::ConfigErrors> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned(), Needs::NoBridge)
}

#[test]
fn failure_queue_function_name_and_endpoint_come_from_config() {
    let c = config(&[]).unwrap();
    assert_eq!(
        (
            c.failure_queue_url,
            c.function_name,
            c.aws_endpoint_override
        ),
        (None, None, false)
    );
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/cequence-cf-passive-failures-ab";
    let c = config(&[
        ("cequence_failure_queue_url", url),
        ("AWS_LAMBDA_FUNCTION_NAME", "cequence-cf-passive-lambda-ab"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ])
    .unwrap();
    assert_eq!(c.failure_queue_url.as_deref(), Some(url));
    assert_eq!(
        c.function_name.as_deref(),
        Some("cequence-cf-passive-lambda-ab")
    );
    assert!(c.aws_endpoint_override);
    let err = config(&[("cequence_failure_queue_url", "failures")]).unwrap_err();
    assert_eq!(err.variables(), ["cequence_failure_queue_url"]);
}
