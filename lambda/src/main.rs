//! `cf-passive-lambda`: the Lambda function (when `AWS_LAMBDA_RUNTIME_API` is
//! set) or the command line. All logic lives in the `cf_passive` library.

use std::process::ExitCode;

use clap::Parser;

use cf_passive::cli::{Cli, Command};
use cf_passive::config::{Config, Needs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Process {
            dry_run: true,
            key,
            bucket,
            files,
        } => {
            init_logging(Needs::NoBridge);
            let failures = cf_passive::cli::dry_run(&files, &bucket, key.as_deref());
            if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Process { dry_run: false, .. } => {
            init_logging(Needs::Bridge);
            tracing::error!("sending to the bridge is not wired yet");
            ExitCode::FAILURE
        }
    }
}

/// Logging is configured from the same variables as everything else; a bad
/// level still gets logging (at info) so the configuration error is seen.
fn init_logging(needs: Needs) {
    match Config::from_env(needs) {
        Ok(config) => cf_passive::telemetry::init(config.log_level, config.log_format),
        Err(_) => {
            cf_passive::telemetry::init(tracing::Level::INFO, cf_passive::config::LogFormat::Text)
        }
    }
}
