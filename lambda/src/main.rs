//! `cf-passive-lambda`: the Lambda function (when `AWS_LAMBDA_RUNTIME_API` is
//! set) or the command line. All logic lives in the `cf_passive` library.

use std::process::ExitCode;

use clap::Parser;

use cf_passive::cli::{Cli, Command};
use cf_passive::config::{Config, LogFormat, Needs};

fn main() -> ExitCode {
    if cf_passive::config::under_lambda() {
        return lambda();
    }
    let cli = Cli::parse();
    // Arguments first: nothing touches AWS or the network before they are good.
    let problems = cf_passive::cli::argument_problems(&cli.command);
    if !problems.is_empty() {
        for problem in problems {
            eprintln!("error: {problem}");
        }
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Process {
            dry_run,
            realtime: true,
            stream,
            shard,
            files,
            ..
        } => {
            let needs = if dry_run {
                Needs::NoBridge
            } else {
                Needs::Bridge
            };
            let Some(config) = load(needs) else {
                return ExitCode::from(2);
            };
            if config.pipeline.realtime_fields.is_none() {
                tracing::error!("{}", cf_passive::app::wiring::REALTIME_FIELDS_MISSING);
                return ExitCode::from(2);
            }
            if !dry_run {
                return runtime().block_on(cf_passive::app::wiring::process_realtime(
                    config,
                    &files,
                    &stream,
                    shard.as_deref(),
                ));
            }
            let options = match dry_run_options(&config) {
                Ok(options) => options,
                Err(code) => return code,
            };
            match cf_passive::cli::dry_run_realtime(&options, &files, &stream, shard.as_deref()) {
                0 => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            }
        }
        Command::Process {
            dry_run: true,
            key,
            bucket,
            files,
            ..
        } => {
            let Some(config) = load(Needs::NoBridge) else {
                return ExitCode::from(2);
            };
            // The dry run shows what would be sent, so it redacts too.
            let options = match dry_run_options(&config) {
                Ok(options) => options,
                Err(code) => return code,
            };
            match cf_passive::cli::dry_run(&options, &files, &bucket, key.as_deref()) {
                0 => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            }
        }
        Command::Process {
            dry_run: false,
            key,
            bucket,
            files,
            ..
        } => {
            let Some(config) = load(Needs::Bridge) else {
                return ExitCode::from(2);
            };
            runtime().block_on(cf_passive::app::wiring::process(
                config,
                &files,
                &bucket,
                key.as_deref(),
            ))
        }
        Command::Replay {
            from_dlq,
            from_start,
            drop_expired,
            objects,
        } => {
            let Some(config) = load(Needs::Bridge) else {
                return ExitCode::from(2);
            };
            runtime().block_on(cf_passive::app::wiring::replay(
                config,
                &objects,
                from_dlq.as_deref(),
                from_start,
                drop_expired,
            ))
        }
        Command::Invoke { event } => {
            let Some(config) = load(Needs::Bridge) else {
                return ExitCode::from(2);
            };
            runtime().block_on(cf_passive::app::wiring::invoke(config, &event))
        }
        Command::Check { env_file } => {
            let loaded = match env_file {
                None => load(Needs::Bridge),
                Some(path) => match std::fs::read_to_string(&path) {
                    Ok(text) => load_with(Config::from_env_and_file(Needs::Bridge, &text)),
                    Err(e) => {
                        eprintln!("error: --env-file {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
            };
            let Some(config) = loaded else {
                eprintln!("check failed: fix the configuration above; nothing was contacted.");
                return ExitCode::from(2);
            };
            runtime().block_on(cf_passive::check::command(config))
        }
    }
}

/// Under the Lambda runtime: a configuration error fails the cold start
/// with a message naming the variable.
fn lambda() -> ExitCode {
    let Some(config) = load(Needs::Bridge) else {
        return ExitCode::FAILURE;
    };
    match runtime().block_on(cf_passive::app::wiring::run_lambda(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("the Lambda runtime stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the configuration once and sets up logging from it. A bad setting
/// still gets logging (text, info) so its error is seen.
fn load(needs: Needs) -> Option<Config> {
    load_with(Config::from_env(needs))
}

fn load_with(loaded: Result<Config, cf_passive::config::ConfigErrors>) -> Option<Config> {
    match loaded {
        Ok(config) => {
            cf_passive::telemetry::init(config.log_level, config.log_format);
            Some(config)
        }
        Err(e) => {
            cf_passive::telemetry::init(tracing::Level::INFO, LogFormat::Text);
            tracing::error!("configuration: {e}");
            None
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

/// The pipeline options of a dry run (redaction included, since a dry run
/// shows what would be sent), or exit code 2 after saying why not.
fn dry_run_options(
    config: &Config,
) -> Result<cf_passive::core::pipeline::PipelineOptions, ExitCode> {
    runtime()
        .block_on(cf_passive::app::wiring::pipeline_options(config, None))
        .map_err(|e| {
            tracing::error!("{e}");
            ExitCode::from(2)
        })
}
