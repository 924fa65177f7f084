//! Logging: `tracing` to stderr (CloudWatch under Lambda), JSON or text,
//! our crate at the configured level and dependencies at `warn`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(level: tracing::Level, format: LogFormat) {
    let level = level.to_string().to_ascii_lowercase();
    let filter = EnvFilter::new(format!("warn,cf_passive={level},cf_passive_lambda={level}"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
