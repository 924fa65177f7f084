//! Wiring: builds the `App` once (per container or per command) from the
//! `Config`, and runs the Lambda runtime, `process` and `replay` on it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tracing::{error, info, warn};

use super::forward::{App, ObjectOutcome, Runner};
use super::process::{process_files, process_realtime_files};
use super::replay::{drain_failure_queue_with, replay_objects, DrainOptions};
use crate::aws::domains::{CloudFrontDomains, DistributionDomains};
use crate::aws::kinesis::{KinesisStream, StreamReader};
use crate::aws::s3::{ObjectStore, S3Store};
use crate::aws::secrets::{SecretReader, SecretsManager};
use crate::aws::sqs::{FailureQueue, SqsQueue};
use crate::aws::tags::{CloudFrontTags, TagSource};
use crate::config::Config;
use crate::core::checkpoint::batch_fingerprint;
use crate::core::object::ObjectId;
use crate::core::pipeline::PipelineOptions;
use crate::core::redact::Redactor;
use crate::delivery::{Delivery, SecretSource};

/// Any start-up failure, already phrased for the operator.
pub type StartError = String;

/// What a command or the function needs besides delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Local files: no S3, no tag check.
    LocalFiles,
    /// S3 objects, with the tag check as configured.
    S3,
}

/// The pipeline options with the `cequence_redact` redactor built, its key
/// read (from Secrets Manager: once per container or command, here). The
/// dry run uses it too, so that it shows what would be sent.
pub async fn pipeline_options(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<PipelineOptions, StartError> {
    let mut options = config.pipeline.clone();
    let Some(redact) = &config.redact else {
        return Ok(options);
    };
    let key = match &redact.key {
        SecretSource::Value(key) => key.clone(),
        SecretSource::SecretsManager { arn } => {
            let sdk = match sdk {
                Some(sdk) => sdk.clone(),
                None => aws_config::load_defaults(BehaviorVersion::latest()).await,
            };
            let reader = SecretsManager {
                client: aws_sdk_secretsmanager::Client::new(&sdk),
            };
            reader.redact_key(arn).await?
        }
    };
    let redactor = Redactor::new(redact.spec.clone(), &key)
        .map_err(|e| format!("cequence_redact_key_secret_arn: {e}"))?;
    info!("cequence_redact: {}", redactor.spec());
    options.redactor = Some(Arc::new(redactor));
    Ok(options)
}

/// Builds the application from the configuration. AWS clients are made only
/// when something needs them.
pub async fn build_app(
    config: &Config,
    runner: Runner,
    reach: Reach,
    failure_queue_url: Option<&str>,
) -> Result<App, StartError> {
    let settings = config.bridge.clone().ok_or("bridge settings are missing")?;
    let needs_aws = reach == Reach::S3
        || failure_queue_url.is_some()
        || matches!(settings.client_secret, SecretSource::SecretsManager { .. })
        || config
            .redact
            .as_ref()
            .is_some_and(|r| matches!(r.key, SecretSource::SecretsManager { .. }));
    let sdk = if needs_aws {
        Some(aws_config::load_defaults(BehaviorVersion::latest()).await)
    } else {
        None
    };
    let mut settings = settings;
    if let (SecretSource::SecretsManager { arn }, Some(sdk)) = (&settings.client_secret, &sdk) {
        let reader = SecretsManager {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        };
        settings.client_secret = SecretSource::Value(reader.client_secret(arn).await?);
    }
    let delivery = Delivery::new(settings).map_err(|e| e.to_string())?;
    let options = pipeline_options(config, sdk.as_ref()).await?;
    let store: Option<Arc<dyn ObjectStore>> = match (reach, &sdk) {
        (Reach::S3, Some(sdk)) => {
            // Emulators (moto, LocalStack) want path-style addressing.
            let s3 = aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(config.aws_endpoint_override)
                .build();
            Some(Arc::new(S3Store {
                client: aws_sdk_s3::Client::from_conf(s3),
            }))
        }
        _ => None,
    };
    let tags: Option<Arc<dyn TagSource>> = match (reach, &sdk) {
        (Reach::S3, Some(sdk)) if config.require_enabled_tag => {
            Some(Arc::new(CloudFrontTags::new(
                aws_sdk_cloudfront::Client::new(sdk),
                aws_sdk_sts::Client::new(sdk),
                None, // from the first event's function ARN, else STS
                config.tag_cache_ttl,
            )))
        }
        (Reach::S3, _) => {
            warn!(
                "cequence_require_enabled_tag=false: records of every distribution are forwarded"
            );
            None
        }
        (Reach::LocalFiles, _) => None, // the tag check applies to S3 objects
    };
    // cs-host → distribution for real-time records, whether or not the tag
    // is checked (records must name a distribution either way).
    let domains: Option<Arc<dyn DistributionDomains>> = match (reach, &sdk) {
        (Reach::S3, Some(sdk)) => Some(Arc::new(CloudFrontDomains::new(
            aws_sdk_cloudfront::Client::new(sdk),
            config.tag_cache_ttl,
        ))),
        _ => None,
    };
    if let Some((earlier, later)) = options
        .realtime_fields
        .as_ref()
        .and_then(|fields| fields.order_warning())
    {
        warn!("cequence_realtime_fields lists {earlier} before {later}, but CloudFront writes {later} first: values would be read under the wrong names; list the fields in record order (docs/realtime.md)");
    }
    let queue: Option<Arc<dyn FailureQueue>> = match (failure_queue_url, &sdk) {
        (Some(url), Some(sdk)) => Some(Arc::new(SqsQueue {
            client: aws_sdk_sqs::Client::new(sdk),
            url: url.to_string(),
        })),
        _ => None,
    };
    Ok(App {
        fingerprint: batch_fingerprint(&options),
        options,
        delivery,
        store,
        tags,
        domains,
        queue,
        function_name: config.function_name.clone(),
        max_concurrent_objects: config.max_concurrent_objects,
        runner,
    })
}

/// Lambda mode: build everything once, then serve events.
pub async fn run_lambda(config: Config) -> Result<(), lambda_runtime::Error> {
    let queue_url = config.failure_queue_url.clone();
    let app = build_app(&config, Runner::Lambda, Reach::S3, queue_url.as_deref())
        .await
        .map_err(|e| {
            error!("cold start failed: {e}");
            e
        })?;
    if app.queue.is_none() {
        warn!("cequence_failure_queue_url is not set: a batch the bridge refuses fails the invocation instead of being parked");
    }
    let app = Arc::new(app);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            if let Some(tags) = &app.tags {
                tags.learn_from_function_arn(&event.context.invoked_function_arn);
            }
            app.handle(&event.payload).await
        }
    }))
    .await
}

/// `invoke --event FILE`: one invocation of the Lambda's handler, built as
/// the Lambda builds it, on an event from a file; prints its answer.
pub async fn invoke(config: Config, event_path: &Path) -> ExitCode {
    let text = if event_path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(event_path)
    };
    let event: Value = match text
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}")))
    {
        Ok(event) => event,
        Err(e) => {
            error!("--event {}: {e}", event_path.display());
            return ExitCode::from(2);
        }
    };
    let queue_url = config.failure_queue_url.clone();
    let app = match build_app(&config, Runner::Lambda, Reach::S3, queue_url.as_deref()).await {
        Ok(app) => app,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match app.handle(&event).await {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("the invocation failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn exit_code(failures: usize) -> ExitCode {
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn command_failures(outcomes: &[ObjectOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| o.disposition.fails_command())
        .count()
}

/// The app of a command that sends local files, or the exit code of why not.
async fn local_files_app(config: &Config) -> Result<App, ExitCode> {
    let queue_url = config.failure_queue_url.clone();
    build_app(
        config,
        Runner::Command,
        Reach::LocalFiles,
        queue_url.as_deref(),
    )
    .await
    .map_err(|e| {
        error!("{e}");
        ExitCode::FAILURE
    })
}

/// `process FILE...` to the bridge: exit 0 only when every transaction was accepted.
pub async fn process(
    config: Config,
    files: &[PathBuf],
    bucket: &str,
    key: Option<&str>,
) -> ExitCode {
    let app = match local_files_app(&config).await {
        Ok(app) => app,
        Err(code) => return code,
    };
    let (outcomes, unopened) = process_files(&app, files, bucket, key).await;
    exit_code(command_failures(&outcomes) + unopened)
}

/// `process --realtime FILE...` to the bridge: files of real-time lines
/// standing for a Kinesis shard; exit 0 only when every record was handled
/// and nothing was parked.
pub async fn process_realtime(
    config: Config,
    files: &[PathBuf],
    stream: &str,
    shard: Option<&str>,
) -> ExitCode {
    if config.pipeline.realtime_fields.is_none() {
        error!("{REALTIME_FIELDS_MISSING}");
        return ExitCode::from(2);
    }
    let app = match local_files_app(&config).await {
        Ok(app) => app,
        Err(code) => return code,
    };
    let (outcomes, failed) = process_realtime_files(&app, files, stream, shard).await;
    exit_code(outcomes.iter().filter(|o| o.fails_command()).count() + failed)
}

/// What `process --realtime` says when the field order is not configured.
pub const REALTIME_FIELDS_MISSING: &str = "process --realtime needs cequence_realtime_fields: the comma-separated fields of the real-time log configuration, in record order (the Terraform output or the realtime_fields variable)";

/// `replay [--from-start] S3_URL... [--from-dlq [QUEUE_URL] [--drop-expired]]`.
pub async fn replay(
    config: Config,
    urls: &[String],
    from_dlq: Option<&str>,
    from_start: bool,
    drop_expired: bool,
) -> ExitCode {
    // `--from-dlq` without a URL drains the configured failure queue.
    let dlq = from_dlq.map(|url| {
        Some(url)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .or_else(|| config.failure_queue_url.clone())
    });
    if let Some(None) = dlq {
        error!("--from-dlq needs a queue URL, or cequence_failure_queue_url set");
        return ExitCode::from(2);
    }
    let mut objects = Vec::new();
    for url in urls {
        match url.parse::<ObjectId>() {
            Ok(object) => objects.push(object),
            Err(e) => {
                error!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let queue_url = dlq
        .clone()
        .flatten()
        .or_else(|| config.failure_queue_url.clone());
    let app = match build_app(&config, Runner::Command, Reach::S3, queue_url.as_deref()).await {
        Ok(app) => app,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failures = command_failures(&replay_objects(&app, &objects, from_start).await);
    if dlq.is_some() {
        if let Some(queue) = &app.queue {
            // Real-time batches are read back from their stream (the one
            // Kinesis client of the command; AWS_ENDPOINT_URL applies).
            let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
            let streams: Arc<dyn StreamReader> = Arc::new(KinesisStream {
                client: aws_sdk_kinesis::Client::new(&sdk),
            });
            let options = DrainOptions {
                streams: Some(streams),
                drop_expired,
            };
            let drained = drain_failure_queue_with(&app, queue.as_ref(), &options).await;
            tracing::info!(
                deleted = drained.deleted,
                kept = drained.kept,
                expired = drained.expired,
                "failure queue drained"
            );
            if drained.expired > 0 {
                error!(
                    "{} message(s) named real-time records that Kinesis no longer holds: those records are lost (see LOST above)",
                    drained.expired
                );
            }
            failures += drained.failures;
        }
    }
    if failures > 0 {
        error!("{failures} object(s) or message(s) not fully delivered; fix the cause and run replay again");
    }
    exit_code(failures)
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
        let config = Config::from_lookup(
            |name| match name {
                "cequence_redact" => Some("cookie-values,header:authorization".into()),
                "cequence_redact_key" => Some(KEY.into()),
                _ => None,
            },
            Needs::NoBridge,
        )
        .unwrap();
        let options = tracing::subscriber::with_default(subscriber, || {
            let options = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(super::pipeline_options(&config, None))
                .unwrap();
            tracing::debug!("configuration: {config:?}; options: {options:?}");
            options
        });
        assert!(options.redactor.is_some());
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            logged.contains("cookie-values,header:authorization"),
            "{logged}"
        );
        assert!(!logged.contains(KEY), "{logged}");
    }
}
