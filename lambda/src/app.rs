//! Wiring: builds clients once (per container or per command) and runs the
//! Lambda runtime, `process` and `replay`. Everything here is I/O glue.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tracing::{error, info, warn};

use crate::aws::event::{parse_event, ObjectEvent};
use crate::aws::handler::{Handler, ObjectOutcome};
use crate::aws::s3::S3Store;
use crate::aws::secrets::{read_client_secret, read_redact_key};
use crate::aws::tags::{account_from_function_arn, CloudFrontTags};
use crate::cli::{open_object, Opened};
use crate::config::{Config, SecretSource};
use crate::core::redact::Redactor;
use crate::delivery::{Delivery, ObjectId};
use crate::forward::{report_object, Forwarder, NoTags};

/// Any start-up failure, already phrased for the operator.
pub type StartError = String;

async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// S3 with path-style addressing when an endpoint override (an emulator) is set.
fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The delivery, with the secret resolved (Secrets Manager read once here).
async fn build_delivery(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<Delivery, StartError> {
    let bridge = config
        .bridge
        .as_ref()
        .ok_or("bridge settings are missing")?;
    let secret = match &bridge.client_secret {
        SecretSource::Value(secret) => secret.clone(),
        SecretSource::SecretsManager { arn } => {
            let sdk = match sdk {
                Some(sdk) => sdk.clone(),
                None => aws_config().await,
            };
            read_client_secret(&aws_sdk_secretsmanager::Client::new(&sdk), arn).await?
        }
    };
    Delivery::new(bridge.delivery_settings(secret)).map_err(|e| e.to_string())
}

/// Builds the `cequence_redact` redactor into the pipeline options, reading
/// its key (from Secrets Manager: once per container, here). Nothing to do
/// when redaction is off.
pub async fn resolve_redactor(
    config: &mut Config,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<(), StartError> {
    let Some(redact) = &config.redact else {
        return Ok(());
    };
    let key = match &redact.key {
        SecretSource::Value(key) => key.clone(),
        SecretSource::SecretsManager { arn } => {
            let sdk = match sdk {
                Some(sdk) => sdk.clone(),
                None => aws_config().await,
            };
            read_redact_key(&aws_sdk_secretsmanager::Client::new(&sdk), arn).await?
        }
    };
    let redactor = Redactor::new(redact.spec.clone(), &key)
        .map_err(|e| format!("cequence_redact_key_secret_arn: {e}"))?;
    info!("cequence_redact: {:?}", redactor.spec());
    config.pipeline.redactor = Some(Arc::new(redactor));
    Ok(())
}

fn tags(config: &Config, sdk: &aws_config::SdkConfig) -> Option<Arc<CloudFrontTags>> {
    if !config.require_enabled_tag {
        warn!("cequence_require_enabled_tag=false: records of every distribution are forwarded");
        return None;
    }
    Some(Arc::new(CloudFrontTags::new(
        aws_sdk_cloudfront::Client::new(sdk),
        aws_sdk_sts::Client::new(sdk),
        None, // from the first event's function ARN, else STS
        config.tag_cache_ttl,
    )))
}

/// The handler over real S3 and CloudFront, as the Lambda and `replay` use it.
fn s3_handler(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    delivery: Delivery,
    function_name: Option<String>,
) -> Handler<S3Store, CloudFrontTags> {
    Handler {
        store: S3Store {
            client: s3_client(sdk),
        },
        forwarder: Forwarder {
            options: config.pipeline.clone(),
            delivery,
            tags: tags(config, sdk),
        },
        max_concurrent_objects: config.max_concurrent_objects,
        function_name,
    }
}

/// Lambda mode: build everything once, then serve events.
pub async fn run_lambda(mut config: Config) -> Result<(), lambda_runtime::Error> {
    let sdk = aws_config().await;
    resolve_redactor(&mut config, Some(&sdk))
        .await
        .map_err(|e| {
            error!("cold start failed: {e}");
            e
        })?;
    let delivery = build_delivery(&config, Some(&sdk)).await.map_err(|e| {
        error!("cold start failed: {e}");
        e
    })?;
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    let handler = Arc::new(s3_handler(&config, &sdk, delivery, function_name));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            if let (Some(tags), Some(account)) = (
                &handler.forwarder.tags,
                account_from_function_arn(&event.context.invoked_function_arn),
            ) {
                tags.learn_account_id(account);
            }
            handler.handle(&event.payload).await
        }
    }))
    .await
}

/// `process FILE...` to the bridge: exit 0 only when every transaction was accepted.
pub async fn process_files(
    mut config: Config,
    files: &[PathBuf],
    bucket: &str,
    key: Option<&str>,
) -> ExitCode {
    if let Err(e) = resolve_redactor(&mut config, None).await {
        error!("{e}");
        return ExitCode::FAILURE;
    }
    let delivery = match build_delivery(&config, None).await {
        Ok(delivery) => delivery,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // Local files are not S3 objects: the enabled-tag check applies to S3 only.
    let forwarder: Forwarder<NoTags> = Forwarder {
        options: config.pipeline.clone(),
        delivery,
        tags: None,
    };
    let mut failed = 0;
    for path in files {
        let object = match open_object(path, bucket, key) {
            Opened::Object(object) => object,
            Opened::NotALog => continue,
            Opened::Failed => {
                failed += 1;
                continue;
            }
        };
        let id = ObjectId {
            bucket: bucket.to_string(),
            key: object.key,
            version: object.version,
        };
        let bar = object.reader.bar_handle();
        let report = forwarder.forward(object.reader, id).await;
        bar.finish_and_clear();
        report_object(&report, None);
        if report.failure_message().is_some() {
            failed += 1;
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Splits `s3://bucket/key`.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

/// `replay`: reprocess S3 objects, or the events in the failure queue, with
/// the same code as the Lambda, from an operator's machine.
pub async fn replay(mut config: Config, urls: &[String], from_dlq: Option<&str>) -> ExitCode {
    let sdk = aws_config().await;
    if let Err(e) = resolve_redactor(&mut config, Some(&sdk)).await {
        error!("{e}");
        return ExitCode::FAILURE;
    }
    let delivery = match build_delivery(&config, Some(&sdk)).await {
        Ok(delivery) => delivery,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let handler = s3_handler(&config, &sdk, delivery, None);
    let mut failed = 0usize;
    for url in urls {
        let Some((bucket, key)) = parse_s3_url(url) else {
            error!("{url}: expected s3://bucket/key");
            failed += 1;
            continue;
        };
        let outcome = handler
            .handle_object(&ObjectEvent {
                bucket,
                key,
                size: None,
            })
            .await;
        if matches!(
            outcome,
            ObjectOutcome::Retry(_) | ObjectOutcome::Unreadable(_)
        ) {
            failed += 1;
        }
    }
    if let Some(queue_url) = from_dlq {
        failed += replay_queue(&handler, &aws_sdk_sqs::Client::new(&sdk), queue_url).await;
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        error!("{failed} object(s) or message(s) not replayed; fix the cause and run replay again");
        ExitCode::FAILURE
    }
}

/// Drains the failure queue: each message's objects are forwarded, and the
/// message is deleted only after all of them were. Returns the failures.
async fn replay_queue<T: crate::forward::TagSource>(
    handler: &Handler<S3Store, T>,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> usize {
    let mut failed = 0;
    let mut kept_receipts = std::collections::HashSet::new();
    loop {
        let received = match sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(900)
            .send()
            .await
        {
            Ok(received) => received,
            Err(e) => {
                error!("cannot read {queue_url}: {e}");
                return failed + 1;
            }
        };
        let messages = received.messages();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let id = message.message_id().unwrap_or("?").to_string();
            if !kept_receipts.insert(id.clone()) {
                continue; // seen in this run and kept: do not loop on it
            }
            let body = message.body().unwrap_or_default();
            let objects = match serde_json::from_str::<Value>(body)
                .map_err(|e| e.to_string())
                .and_then(|v| parse_event(&v).map_err(|e| e.to_string()))
            {
                Ok(parsed) => parsed.objects,
                Err(e) => {
                    error!("message {id}: {e}; left in the queue");
                    failed += 1;
                    continue;
                }
            };
            let mut all_done = true;
            for object in &objects {
                let outcome = handler.handle_object(object).await;
                if matches!(outcome, ObjectOutcome::Retry(_)) {
                    all_done = false;
                }
            }
            if !all_done {
                error!("message {id}: not every object was delivered; left in the queue");
                failed += 1;
                continue;
            }
            if let Some(receipt) = message.receipt_handle() {
                match sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                {
                    Ok(_) => info!(
                        "message {id}: {} object(s) replayed, deleted from the queue",
                        objects.len()
                    ),
                    Err(e) => {
                        error!("message {id}: replayed but not deleted: {e}");
                        failed += 1;
                    }
                }
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Needs};

    #[test]
    fn the_redaction_key_is_never_logged() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        const KEY: &str = "the-redaction-key-0123456789";
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let mut config = Config::from_lookup(
            |name| match name {
                "cequence_redact" => Some("cookie-values,header:authorization".into()),
                "cequence_redact_key" => Some(KEY.into()),
                _ => None,
            },
            Needs::NoBridge,
        )
        .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(super::resolve_redactor(&mut config, None))
                .unwrap();
            tracing::debug!("configuration: {config:?}");
        });
        assert!(config.pipeline.redactor.is_some());
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("authorization"), "{logged}");
        assert!(!logged.contains(KEY), "{logged}");
    }

    #[test]
    fn s3_urls() {
        assert_eq!(
            super::parse_s3_url("s3://b/k/x.gz"),
            Some(("b".into(), "k/x.gz".into()))
        );
        assert_eq!(super::parse_s3_url("s3://b/"), None);
        assert_eq!(super::parse_s3_url("https://b/k"), None);
    }
}
