//! `Config::from_env()`: reads and validates every `cequence_*` variable once,
//! at start-up, and reports every problem at once, each naming its variable
//! (a `cequence_*` variable that is not a setting gets a "did you mean").
//! Names are the contract's lowercase ones, listed in `lambda/settings.tsv`;
//! the upper-case spelling is accepted as a fallback.

use std::time::Duration;

use crate::core::batch::BatchLimits;
use crate::core::filter::{StaticFilter, DEFAULT_SKIP_EXTENSIONS};
use crate::core::pipeline::PipelineOptions;
use crate::core::reader::InflateThread;
use crate::core::realtime::RealtimeFields;
use crate::core::redact::{RedactSpec, MIN_KEY_BYTES};
use crate::core::wire::{WireOptions, CLI_INSTANCE_ID, DEFAULT_SERVER_IP};
pub use crate::delivery::SecretSource;
use crate::delivery::{join_url, AuthStyle, Compression, Settings};
use crate::secret::SecretString;

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

fn problem(variable: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.into(),
        problem: problem.into(),
    }
}

/// Every configuration problem found, so one run names them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The variables at fault, in the order they were checked.
    pub fn variables(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.variable.as_str()).collect()
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems:", all.len())?;
                for e in all {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// Collects problems while every setting is read, so none hides another.
#[derive(Debug, Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    /// The value, or `None` with the problem recorded.
    fn ok<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// The value, or `fallback` with the problem recorded.
    fn or<T>(&mut self, result: Result<T, ConfigError>, fallback: T) -> T {
        self.ok(result).unwrap_or(fallback)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// `cequence_redact` and where its HMAC key comes from.
#[derive(Debug, Clone)]
pub struct RedactConfig {
    pub spec: RedactSpec,
    /// `cequence_redact_key` (local runs) or `cequence_redact_key_secret_arn`.
    pub key: SecretSource,
}

/// Everything the program is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub log_level: tracing::Level,
    pub log_format: LogFormat,
    pub pipeline: PipelineOptions,
    /// `None` for a dry run that needs no bridge.
    pub bridge: Option<Settings>,
    pub require_enabled_tag: bool,
    pub tag_cache_ttl: Duration,
    /// How many records of one S3 event are processed at once.
    pub max_concurrent_objects: usize,
    /// `cequence_failure_queue_url`: where refused batches are parked (and
    /// what `replay --from-dlq` drains by default).
    pub failure_queue_url: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`: names the metrics; set only under Lambda.
    pub function_name: Option<String>,
    /// `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3` is set (an emulator):
    /// S3 is then addressed path-style.
    pub aws_endpoint_override: bool,
    /// `None` unless `cequence_redact` names something to redact.
    pub redact: Option<RedactConfig>,
}

/// Whether bridge settings are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Bridge,
    NoBridge,
}

struct Vars<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The variable's value, trimmed; empty counts as unset.
    fn get(&self, name: &'static str) -> Option<String> {
        (self.lookup)(name)
            .or_else(|| (self.lookup)(&name.to_ascii_uppercase()))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| problem(name, "is required but not set"))
    }

    fn bool(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(problem(
                name,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    fn number(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        let value: u64 = text
            .parse()
            .map_err(|_| problem(name, format!("expected a whole number, got {text:?}")))?;
        if !(min..=max).contains(&value) {
            return Err(problem(name, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    fn url(&self, name: &'static str, allow_http: bool) -> Result<String, ConfigError> {
        let value = self.required(name)?;
        let lower = value.to_ascii_lowercase();
        let rest = if let Some(rest) = lower.strip_prefix("https://") {
            rest
        } else if let Some(rest) = lower.strip_prefix("http://") {
            if !allow_http {
                return Err(problem(
                    name,
                    "must be an https:// URL (set cequence_allow_insecure_endpoints=true for a local test bridge)",
                ));
            }
            rest
        } else {
            return Err(problem(
                name,
                format!("expected an https:// URL, got {value:?}"),
            ));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(problem(name, format!("the URL {value:?} has no host")));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            // The value is not echoed: it holds a password.
            return Err(problem(
                name,
                "the URL carries a user name or password; remove it (credentials go in cequence_client_id and cequence_client_secret)",
            ));
        }
        Ok(value)
    }
}

/// `cequence_ca_cert_pem` is PEM text, or a path to a PEM file.
fn ca_cert(value: Option<String>) -> Result<Option<String>, ConfigError> {
    const NAME: &str = "cequence_ca_cert_pem";
    let Some(value) = value else { return Ok(None) };
    let pem = if value.contains("-----BEGIN") {
        value.replace("\\n", "\n")
    } else {
        std::fs::read_to_string(&value).map_err(|e| {
            problem(
                NAME,
                format!("not PEM text, and reading it as a file failed: {e}"),
            )
        })?
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(problem(
            NAME,
            "contains no -----BEGIN CERTIFICATE----- block",
        ));
    }
    Ok(Some(pem))
}

/// Whether the process runs under the Lambda runtime
/// (`AWS_LAMBDA_RUNTIME_API` set): decides between function and command line.
pub fn under_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

impl Config {
    /// Reads the process environment. Call once, at start-up. Every problem
    /// is reported at once, including `cequence_*` variables that are not
    /// settings (with the closest setting's name).
    pub fn from_env(needs: Needs) -> Result<Config, ConfigErrors> {
        let unknown =
            unknown_variables(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()));
        match Config::from_lookup(|name| std::env::var(name).ok(), needs) {
            Ok(config) if unknown.is_empty() => Ok(config),
            Ok(_) => Err(ConfigErrors(unknown)),
            Err(ConfigErrors(mut problems)) => {
                problems.extend(unknown);
                Err(ConfigErrors(problems))
            }
        }
    }

    /// Reads the process environment with the settings of a `.env` file on
    /// top (for `check --env-file .env`, before a deployment). The file's
    /// function settings win; its Terraform and script settings are ignored.
    pub fn from_env_and_file(needs: Needs, text: &str) -> Result<Config, ConfigErrors> {
        let (file, mut problems) = parse_env_file(text);
        let environment =
            unknown_variables(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()));
        let lookup = |name: &str| file.get(name).cloned().or_else(|| std::env::var(name).ok());
        match Config::from_lookup(lookup, needs) {
            Ok(config) if problems.is_empty() && environment.is_empty() => Ok(config),
            Ok(_) => {
                problems.extend(environment);
                Err(ConfigErrors(problems))
            }
            Err(ConfigErrors(mut found)) => {
                found.extend(problems);
                found.extend(environment);
                Err(ConfigErrors(found))
            }
        }
    }

    /// Reads from any lookup function (tests pass a map).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        needs: Needs,
    ) -> Result<Config, ConfigErrors> {
        let vars = Vars { lookup };
        let mut problems = Problems::default();
        let log_level = match vars
            .get("cequence_log_level")
            .map(|l| l.to_ascii_lowercase())
            .as_deref()
        {
            None => tracing::Level::INFO,
            Some("error") => tracing::Level::ERROR,
            Some("warn" | "warning") => tracing::Level::WARN,
            Some("info") => tracing::Level::INFO,
            Some("debug") => tracing::Level::DEBUG,
            Some("trace") => tracing::Level::TRACE,
            Some(other) => {
                problems.0.push(problem(
                    "cequence_log_level",
                    format!("expected error, warn, info, debug or trace, got {other:?}"),
                ));
                tracing::Level::INFO
            }
        };
        let in_lambda = (vars.lookup)("AWS_LAMBDA_RUNTIME_API").is_some();
        let log_format = match vars
            .get("cequence_log_format")
            .map(|l| l.to_ascii_lowercase())
            .as_deref()
        {
            None if in_lambda => LogFormat::Json,
            None => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                problems.0.push(problem(
                    "cequence_log_format",
                    format!("expected json or text, got {other:?}"),
                ));
                LogFormat::Text
            }
        };
        let skip_extensions = vars
            .get("cequence_skip_extensions")
            .unwrap_or_else(|| DEFAULT_SKIP_EXTENSIONS.to_string());
        let plain_fields: Vec<String> = vars
            .get("cequence_log_fields")
            .map(|f| {
                f.split([' ', ',', '\t'])
                    .filter(|n| !n.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let inflate_thread = match vars.get("cequence_inflate_thread") {
            None => InflateThread::Auto,
            Some(value) => InflateThread::parse(&value).unwrap_or_else(|| {
                problems.0.push(problem(
                    "cequence_inflate_thread",
                    format!("expected auto, on or off, got {value:?}"),
                ));
                InflateThread::Auto
            }),
        };
        // Lambda may show two vCPUs at any memory size but gives a full one only
        // at 1,769 MB: up to there a second thread only adds work.
        let lambda_memory_mb = (vars.lookup)("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .and_then(|mb| mb.trim().parse::<u32>().ok());
        let inflate_thread = match (inflate_thread, lambda_memory_mb) {
            (InflateThread::Auto, Some(mb)) if mb <= 1769 => InflateThread::Off,
            (chosen, _) => chosen,
        };
        let realtime_fields = match vars.get("cequence_realtime_fields") {
            None => None,
            Some(spec) => match RealtimeFields::parse(&spec) {
                Ok(fields) => Some(fields),
                Err(e) => {
                    let text = e.to_string();
                    let text = text.trim_start_matches("cequence_realtime_fields: ");
                    problems.0.push(problem("cequence_realtime_fields", text));
                    None
                }
            },
        };
        let pipeline = PipelineOptions {
            static_filter: StaticFilter::parse(&skip_extensions),
            batch_limits: BatchLimits {
                max_transactions: problems
                    .or(vars.number("cequence_batch_size", 500, 1, 100_000), 500)
                    as usize,
                max_bytes: problems.or(
                    vars.number("cequence_batch_max_bytes", 1 << 20, 1024, 64 << 20),
                    1 << 20,
                ) as usize,
            },
            plain_fields,
            inflate_thread,
            wire: problems.or(Config::wire(&vars), WireOptions::default()),
            // Built by the app once the key is read (app::resolve_redactor).
            redactor: None,
            realtime_fields,
        };
        let require_enabled_tag =
            problems.or(vars.bool("cequence_require_enabled_tag", true), true);
        let tag_cache_ttl = Duration::from_secs(
            problems.or(vars.number("cequence_tag_cache_s", 300, 0, 86_400), 300),
        );
        let max_concurrent_objects =
            problems.or(vars.number("cequence_max_concurrent_objects", 4, 1, 64), 4) as usize;
        let failure_queue_url = match vars.get("cequence_failure_queue_url") {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => Some(url),
            Some(other) => {
                problems.0.push(problem(
                    "cequence_failure_queue_url",
                    format!("expected an SQS queue URL, got {other:?}"),
                ));
                None
            }
            None => None,
        };
        let bridge = match needs {
            Needs::NoBridge => None,
            Needs::Bridge => Config::bridge(&vars, &mut problems),
        };
        let redact = problems.ok(Config::redact(&vars, in_lambda)).flatten();
        if !problems.0.is_empty() {
            return Err(ConfigErrors(problems.0));
        }
        Ok(Config {
            log_level,
            log_format,
            pipeline,
            bridge,
            require_enabled_tag,
            tag_cache_ttl,
            max_concurrent_objects,
            failure_queue_url,
            function_name: (vars.lookup)("AWS_LAMBDA_FUNCTION_NAME").filter(|n| !n.is_empty()),
            aws_endpoint_override: ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
                .iter()
                .any(|name| (vars.lookup)(name).is_some_and(|v| !v.is_empty())),
            redact,
        })
    }

    /// Settings of the wire format: `cequence_server_ip`, and the function
    /// name (`AWS_LAMBDA_FUNCTION_NAME`, set by Lambda) as `instance_id`.
    fn wire<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<WireOptions, ConfigError> {
        let server_ip = match vars.get("cequence_server_ip") {
            None => DEFAULT_SERVER_IP.to_string(),
            Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => ip,
            Some(other) => {
                return Err(problem(
                    "cequence_server_ip",
                    format!("expected an IPv4 or IPv6 address, got {other:?}"),
                ))
            }
        };
        let instance_id = (vars.lookup)("AWS_LAMBDA_FUNCTION_NAME")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| CLI_INSTANCE_ID.to_string());
        Ok(WireOptions {
            server_ip,
            instance_id,
        })
    }

    /// `cequence_redact` and its key. In the Lambda the key must come from
    /// Secrets Manager (an environment variable would show it in the
    /// function's configuration); a local run may give it directly.
    fn redact<F: Fn(&str) -> Option<String>>(
        vars: &Vars<F>,
        in_lambda: bool,
    ) -> Result<Option<RedactConfig>, ConfigError> {
        const SPEC: &str = "cequence_redact";
        const ARN: &str = "cequence_redact_key_secret_arn";
        const KEY: &str = "cequence_redact_key";
        let spec = RedactSpec::parse(&vars.get(SPEC).unwrap_or_default())
            .map_err(|e| problem(SPEC, e.to_string()))?;
        if spec.is_empty() {
            return Ok(None);
        }
        let key = match (vars.get(ARN), vars.get(KEY)) {
            (Some(arn), _) if arn.starts_with("arn:") => SecretSource::SecretsManager { arn },
            (Some(arn), _) => return Err(problem(ARN, format!("expected an arn:..., got {arn:?}"))),
            (None, _) if in_lambda => {
                return Err(problem(
                    ARN,
                    "is required when cequence_redact is set (the key is read from Secrets Manager; cequence_redact_key is for local runs only)",
                ))
            }
            (None, Some(key)) if key.len() < MIN_KEY_BYTES => {
                return Err(problem(
                    KEY,
                    format!("must be at least {MIN_KEY_BYTES} bytes (a random 32-byte hex string is a good choice)"),
                ))
            }
            (None, Some(key)) => SecretSource::Value(SecretString::from(key)),
            (None, None) => {
                return Err(problem(
                    KEY,
                    "is required when cequence_redact is set (or cequence_redact_key_secret_arn)",
                ))
            }
        };
        Ok(Some(RedactConfig { spec, key }))
    }

    /// The bridge settings, or `None` with every problem recorded.
    fn bridge<F: Fn(&str) -> Option<String>>(
        vars: &Vars<F>,
        problems: &mut Problems,
    ) -> Option<Settings> {
        let allow_http = problems.or(vars.bool("cequence_allow_insecure_endpoints", false), false);
        let auth_endpoint = problems.ok(vars.url("cequence_auth_endpoint", allow_http));
        let edge_endpoint = problems.ok(vars.url("cequence_edge_endpoint", allow_http));
        let edge_path = vars
            .get("cequence_edge_path")
            .unwrap_or_else(|| "/api-transactions".to_string());
        let client_id = problems.ok(vars.required("cequence_client_id"));
        let client_secret = match (
            vars.get("cequence_client_secret_arn"),
            vars.get("cequence_client_secret"),
        ) {
            (Some(arn), _) if arn.starts_with("arn:") => Some(SecretSource::SecretsManager { arn }),
            (Some(arn), _) => problems.ok(Err(problem(
                "cequence_client_secret_arn",
                format!("expected an arn:..., got {arn:?}"),
            ))),
            (None, Some(secret)) => Some(SecretSource::Value(SecretString::from(secret))),
            (None, None) => problems.ok(Err(problem(
                "cequence_client_secret",
                "is required (or set cequence_client_secret_arn to a Secrets Manager secret)",
            ))),
        };
        let auth_style = match vars
            .get("cequence_auth_style")
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("body") => Some(AuthStyle::Body),
            Some("basic") => Some(AuthStyle::Basic),
            Some(other) => problems.ok(Err(problem(
                "cequence_auth_style",
                format!("expected basic or body, got {other:?}"),
            ))),
        };
        let compression = match vars
            .get("cequence_compression")
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("none") => Some(Compression::None),
            Some("gzip") => Some(Compression::Gzip),
            Some(other) => problems.ok(Err(problem(
                "cequence_compression",
                format!("expected none or gzip, got {other:?}"),
            ))),
        };
        let max_in_flight = problems.ok(vars.number("cequence_max_in_flight", 4, 1, 64));
        let http_timeout = problems.ok(vars.number("cequence_http_timeout_s", 30, 1, 900));
        let retry_max_elapsed =
            problems.ok(vars.number("cequence_retry_max_elapsed_s", 120, 0, 3600));
        let ca_cert_pem = problems.ok(ca_cert(vars.get("cequence_ca_cert_pem")));
        let tls_insecure = problems.ok(vars.bool("cequence_tls_insecure", false));
        if tls_insecure == Some(true) && !allow_http {
            problems.0.push(problem(
                "cequence_tls_insecure",
                "turns certificate checks off and is for lab use only: it is refused unless \
                 cequence_allow_insecure_endpoints=true is also set (give the bridge's CA in \
                 cequence_ca_cert_pem instead)",
            ));
        }
        Some(Settings {
            auth_endpoint: auth_endpoint?,
            client_id: client_id?,
            client_secret: client_secret?,
            auth_style: auth_style?,
            transactions_url: join_url(&edge_endpoint?, &edge_path),
            compression: compression?,
            max_in_flight: max_in_flight? as usize,
            http_timeout: Duration::from_secs(http_timeout?),
            retry_max_elapsed: Duration::from_secs(retry_max_elapsed?),
            ca_cert_pem: ca_cert_pem?,
            tls_insecure: tls_insecure?,
        })
    }
}

/// The function settings of a `.env` file, read as data (the syntax of
/// `.env.example`: `key=value`, `#` comments, values optionally in matching
/// quotes, `\n` a newline inside double quotes). Keys are reported when they
/// are not settings at all; `allow_insecure_endpoints` becomes the function's
/// `cequence_allow_insecure_endpoints`, as Terraform passes it.
pub fn parse_env_file(text: &str) -> (std::collections::HashMap<String, String>, Vec<ConfigError>) {
    let mut values = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            problems.push(problem(
                format!(".env line {}", index + 1),
                "expected key=value",
            ));
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let value = match value.as_bytes() {
            [b'"', .., b'"'] if value.len() >= 2 => value[1..value.len() - 1].replace("\\n", "\n"),
            [b'\'', .., b'\''] if value.len() >= 2 => value[1..value.len() - 1].to_string(),
            _ => value.to_string(),
        };
        match crate::settings::find(key) {
            Some(setting) if setting.read_by_function() => {
                values.insert(key.to_string(), value);
            }
            Some(_) if key == "allow_insecure_endpoints" => {
                values.insert("cequence_allow_insecure_endpoints".to_string(), value);
            }
            Some(_) => {} // a Terraform or script setting
            None => {
                problems.push(problem(
                    format!(".env line {}: {key}", index + 1),
                    not_a_setting(key),
                ));
            }
        }
    }
    (values, problems)
}

/// Settings that existed once, with what replaced them.
const REMOVED: &[(&str, &str)] = &[(
    "cequence_gzip",
    "was removed with wire contract v2: bodies are uncompressed by default; \
     set cequence_compression=gzip to compress them, and remove cequence_gzip",
)];

/// Why `name` is refused: a removed setting's replacement, or the closest
/// real setting.
fn not_a_setting(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some((_, why)) = REMOVED.iter().find(|(key, _)| *key == lower) {
        return why.to_string();
    }
    match crate::settings::did_you_mean(name) {
        Some(close) => format!("is not a setting; did you mean {close}?"),
        None => "is not a setting (the list is in lambda/settings.tsv)".to_string(),
    }
}

/// Environment variables that look like settings (`cequence_*`, any case)
/// but are not ones the function reads, each with the closest real name.
pub fn unknown_variables(names: impl Iterator<Item = String>) -> Vec<ConfigError> {
    let mut unknown: Vec<ConfigError> = names
        .filter(|name| name.to_ascii_lowercase().starts_with("cequence_"))
        .filter(|name| {
            !crate::settings::find(&name.to_ascii_lowercase()).is_some_and(|s| s.read_by_function())
        })
        .map(|name| problem(name.clone(), not_a_setting(&name)))
        .collect();
    unknown.sort_by(|a, b| a.variable.cmp(&b.variable));
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)], needs: Needs) -> Result<Config, ConfigErrors> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned(), needs)
    }

    const BRIDGE: &[(&str, &str)] = &[
        ("cequence_client_id", "id"),
        ("cequence_client_secret", "s3cr3t-value"),
        ("cequence_auth_endpoint", "https://auth.example.com/token"),
        ("cequence_edge_endpoint", "https://edge.example.com/"),
    ];

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(BRIDGE, Needs::Bridge).unwrap();
        let b = c.bridge.as_ref().unwrap();
        assert_eq!(
            b.transactions_url,
            "https://edge.example.com/api-transactions"
        );
        assert_eq!(b.auth_style, AuthStyle::Body);
        assert_eq!(b.compression, Compression::None);
        assert_eq!(c.pipeline.wire, WireOptions::default());
        assert_eq!(b.max_in_flight, 4);
        assert_eq!(b.http_timeout, Duration::from_secs(30));
        assert_eq!(b.retry_max_elapsed, Duration::from_secs(120));
        assert!(!b.tls_insecure);
        assert_eq!(
            c.pipeline.batch_limits,
            BatchLimits {
                max_transactions: 500,
                max_bytes: 1 << 20
            }
        );
        assert!(c.require_enabled_tag);
        assert_eq!(c.tag_cache_ttl, Duration::from_secs(300));
        assert_eq!(c.log_level, tracing::Level::INFO);
        assert!(c.pipeline.static_filter.is_static("/a.woff2"));
    }

    #[test]
    fn inflate_thread_is_auto_unless_set() {
        let c = config(&[], Needs::NoBridge).unwrap();
        assert_eq!(c.pipeline.inflate_thread, InflateThread::Auto);
        let c = config(&[("cequence_inflate_thread", "Off")], Needs::NoBridge).unwrap();
        assert_eq!(c.pipeline.inflate_thread, InflateThread::Off);
        let err = config(&[("cequence_inflate_thread", "2")], Needs::NoBridge).unwrap_err();
        assert_eq!(err.variables(), ["cequence_inflate_thread"]);
    }

    #[test]
    fn auto_inflate_thread_is_off_up_to_one_full_lambda_vcpu() {
        let memory = |mb: &str, setting: Option<&str>| {
            let mut pairs = vec![("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb)];
            pairs.extend(setting.map(|s| ("cequence_inflate_thread", s)));
            config(&pairs, Needs::NoBridge)
                .unwrap()
                .pipeline
                .inflate_thread
        };
        assert_eq!(memory("128", None), InflateThread::Off);
        assert_eq!(memory("1769", None), InflateThread::Off);
        assert_eq!(memory("3008", None), InflateThread::Auto);
        assert_eq!(memory("128", Some("on")), InflateThread::On);
    }

    #[test]
    fn every_error_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("cequence_log_level", "loud")], "cequence_log_level"),
            (&[("cequence_log_format", "xml")], "cequence_log_format"),
            (&[("cequence_batch_size", "0")], "cequence_batch_size"),
            (&[("cequence_batch_size", "ten")], "cequence_batch_size"),
            (
                &[("cequence_batch_max_bytes", "-1")],
                "cequence_batch_max_bytes",
            ),
            (
                &[("cequence_require_enabled_tag", "maybe")],
                "cequence_require_enabled_tag",
            ),
            (&[("cequence_tag_cache_s", "1e3")], "cequence_tag_cache_s"),
        ];
        for (pairs, variable) in cases {
            let err = config(pairs, Needs::NoBridge).unwrap_err();
            assert_eq!(err.variables(), [*variable], "{pairs:?}");
            assert!(err.to_string().starts_with(variable));
        }
        let bridge_cases: &[(&str, &str, &str)] = &[
            (
                "cequence_auth_endpoint",
                "http://auth.example.com/token",
                "cequence_auth_endpoint",
            ),
            (
                "cequence_edge_endpoint",
                "ftp://edge",
                "cequence_edge_endpoint",
            ),
            (
                "cequence_edge_endpoint",
                "https://",
                "cequence_edge_endpoint",
            ),
            ("cequence_auth_style", "digest", "cequence_auth_style"),
            ("cequence_compression", "brotli", "cequence_compression"),
            ("cequence_tls_insecure", "true", "cequence_tls_insecure"),
            (
                "cequence_edge_endpoint",
                "https://user:pw@edge.example.com",
                "cequence_edge_endpoint",
            ),
            (
                "cequence_auth_endpoint",
                "https://client@auth.example.com/token",
                "cequence_auth_endpoint",
            ),
            ("cequence_max_in_flight", "0", "cequence_max_in_flight"),
            ("cequence_http_timeout_s", "0", "cequence_http_timeout_s"),
            (
                "cequence_ca_cert_pem",
                "/nonexistent/ca.pem",
                "cequence_ca_cert_pem",
            ),
            (
                "cequence_client_secret_arn",
                "not-an-arn",
                "cequence_client_secret_arn",
            ),
            ("cequence_client_id", "", "cequence_client_id"),
        ];
        for (name, value, variable) in bridge_cases {
            let mut pairs: Vec<(&str, &str)> =
                BRIDGE.iter().filter(|(k, _)| k != name).copied().collect();
            pairs.push((name, value));
            let err = config(&pairs, Needs::Bridge).unwrap_err();
            assert_eq!(err.variables(), [*variable], "{name}={value}");
        }
        let err = config(&BRIDGE[..3], Needs::Bridge).unwrap_err();
        assert_eq!(err.variables(), ["cequence_edge_endpoint"]);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        // Four mistakes: two missing, one malformed URL, one bad number.
        let pairs = [
            ("cequence_client_id", "id"),
            ("cequence_auth_endpoint", "auth.example.com/token"),
            ("cequence_batch_size", "lots"),
        ];
        let err = config(&pairs, Needs::Bridge).unwrap_err();
        let mut variables = err.variables();
        variables.sort_unstable();
        assert_eq!(
            variables,
            [
                "cequence_auth_endpoint",
                "cequence_batch_size",
                "cequence_client_secret",
                "cequence_edge_endpoint"
            ]
        );
        let message = err.to_string();
        assert!(message.starts_with("4 problems:"), "{message}");
        assert_eq!(message.lines().count(), 5, "{message}");
    }

    #[test]
    fn unknown_cequence_variables_get_a_did_you_mean() {
        let names = [
            "cequence_batchsize",
            "CEQUENCE_LOG_LEVEL",
            "PATH",
            "cequence_zzz",
        ];
        let unknown = unknown_variables(names.iter().map(|n| n.to_string()));
        let messages: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(
            messages[0],
            "cequence_batchsize: is not a setting; did you mean cequence_batch_size?"
        );
        assert!(messages[1].starts_with("cequence_zzz: is not a setting"));
    }

    #[test]
    fn a_dotenv_file_is_read_as_data_with_its_function_settings() {
        let text = "# comment\ncequence_client_id=id\ncequence_ca_cert_pem=\"a\\nb\"\n\
                    aws_region=us-east-1\nallow_insecure_endpoints='true'\ncequence_batchsize=1\nnonsense\n";
        let (values, problems) = parse_env_file(text);
        assert_eq!(values["cequence_client_id"], "id");
        assert_eq!(values["cequence_ca_cert_pem"], "a\nb");
        assert_eq!(values["cequence_allow_insecure_endpoints"], "true");
        assert!(!values.contains_key("aws_region"));
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                ".env line 6: cequence_batchsize: is not a setting; did you mean cequence_batch_size?",
                ".env line 7: expected key=value"
            ]
        );
    }

    #[test]
    fn config_reads_exactly_the_function_settings_of_settings_tsv() {
        use std::cell::RefCell;
        let read = RefCell::new(std::collections::BTreeSet::new());
        for needs in [Needs::Bridge, Needs::NoBridge] {
            let _ = Config::from_lookup(
                |name| {
                    read.borrow_mut().insert(name.to_string());
                    None
                },
                needs,
            );
        }
        let read: std::collections::BTreeSet<String> = read
            .into_inner()
            .into_iter()
            .filter(|n| n.starts_with("cequence_"))
            .collect();
        let listed = |keep: &dyn Fn(&crate::settings::Setting) -> bool| {
            crate::settings::all()
                .iter()
                .filter(|s| s.read_by_function() && keep(s))
                .map(|s| s.key.to_string())
                .collect::<std::collections::BTreeSet<String>>()
        };
        let all_listed = listed(&|_| true);
        let unlisted: Vec<&String> = read.difference(&all_listed).collect();
        assert!(
            unlisted.is_empty(),
            "Config reads settings that settings.tsv does not list: {unlisted:?}"
        );
        // Every setting a user can set in .env takes effect. (An internal row
        // may belong to a mode whose settings are not wired in yet.)
        let settable = listed(&|s| s.scope == crate::settings::Scope::Function);
        let ignored: Vec<&String> = settable.difference(&read).collect();
        assert!(
            ignored.is_empty(),
            "settings.tsv lists function settings that Config never reads: {ignored:?}"
        );
    }

    #[test]
    fn settings_tsv_defaults_are_the_code_defaults() {
        let c = config(BRIDGE, Needs::Bridge).unwrap();
        let b = c.bridge.as_ref().unwrap();
        let default = |key: &str| {
            crate::settings::find(key)
                .and_then(|s| s.default)
                .unwrap_or_else(|| panic!("{key} has no default in settings.tsv"))
                .to_string()
        };
        let actual = [
            (
                "cequence_log_level",
                c.log_level.to_string().to_ascii_lowercase(),
            ),
            (
                "cequence_edge_path",
                b.transactions_url
                    .trim_start_matches("https://edge.example.com")
                    .to_string(),
            ),
            (
                "cequence_auth_style",
                format!("{:?}", b.auth_style).to_ascii_lowercase(),
            ),
            (
                "cequence_batch_size",
                c.pipeline.batch_limits.max_transactions.to_string(),
            ),
            (
                "cequence_batch_max_bytes",
                c.pipeline.batch_limits.max_bytes.to_string(),
            ),
            (
                "cequence_compression",
                format!("{:?}", b.compression).to_ascii_lowercase(),
            ),
            ("cequence_server_ip", c.pipeline.wire.server_ip.clone()),
            ("cequence_max_in_flight", b.max_in_flight.to_string()),
            (
                "cequence_max_concurrent_objects",
                c.max_concurrent_objects.to_string(),
            ),
            (
                "cequence_http_timeout_s",
                b.http_timeout.as_secs().to_string(),
            ),
            (
                "cequence_retry_max_elapsed_s",
                b.retry_max_elapsed.as_secs().to_string(),
            ),
            (
                "cequence_require_enabled_tag",
                c.require_enabled_tag.to_string(),
            ),
            (
                "cequence_tag_cache_s",
                c.tag_cache_ttl.as_secs().to_string(),
            ),
            ("cequence_tls_insecure", b.tls_insecure.to_string()),
            ("cequence_allow_insecure_endpoints", "false".to_string()),
        ];
        for (key, value) in actual {
            assert_eq!(default(key), value, "{key}: settings.tsv default vs code");
        }
        let lambda = Config::from_lookup(
            |name| (name == "AWS_LAMBDA_RUNTIME_API").then(|| "x".to_string()),
            Needs::NoBridge,
        )
        .unwrap();
        assert_eq!(lambda.log_format, LogFormat::Json);
        assert_eq!(default("cequence_log_format"), "json");
    }

    #[test]
    fn http_endpoints_need_an_explicit_opt_in() {
        let mut pairs = vec![
            ("cequence_client_id", "id"),
            ("cequence_client_secret", "x"),
            ("cequence_auth_endpoint", "http://127.0.0.1:1/token"),
            ("cequence_edge_endpoint", "http://127.0.0.1:2"),
        ];
        assert!(config(&pairs, Needs::Bridge).is_err());
        pairs.push(("cequence_allow_insecure_endpoints", "true"));
        assert!(config(&pairs, Needs::Bridge).is_ok());
    }

    #[test]
    fn the_removed_gzip_setting_points_to_its_replacement() {
        let unknown = unknown_variables(["cequence_gzip".to_string()].into_iter());
        assert_eq!(unknown.len(), 1);
        assert!(
            unknown[0].to_string().contains("cequence_compression=gzip"),
            "{}",
            unknown[0]
        );
        let (_, problems) = parse_env_file("cequence_gzip=true\n");
        assert!(problems[0].to_string().contains("cequence_compression"));
    }

    #[test]
    fn v2_settings() {
        let mut pairs = BRIDGE.to_vec();
        pairs.extend([
            ("cequence_compression", "GZIP"),
            ("cequence_auth_style", "basic"),
            ("cequence_server_ip", "2001:db8::1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "cequence-cf-passive"),
        ]);
        let c = config(&pairs, Needs::Bridge).unwrap();
        let b = c.bridge.as_ref().unwrap();
        assert_eq!(b.compression, Compression::Gzip);
        assert_eq!(b.auth_style, AuthStyle::Basic);
        assert_eq!(c.pipeline.wire.server_ip, "2001:db8::1");
        assert_eq!(c.pipeline.wire.instance_id, "cequence-cf-passive");
        let err = config(&[("cequence_server_ip", "edge-1")], Needs::NoBridge).unwrap_err();
        assert_eq!(err.variables(), ["cequence_server_ip"]);
        // A URL's password is never echoed in the error.
        let mut pairs = BRIDGE.to_vec();
        pairs.retain(|(k, _)| *k != "cequence_edge_endpoint");
        pairs.push((
            "cequence_edge_endpoint",
            "https://u:hunter2@edge.example.com/",
        ));
        let err = config(&pairs, Needs::Bridge).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // Insecure TLS is accepted only together with the lab switch.
        let mut pairs = BRIDGE.to_vec();
        pairs.extend([
            ("cequence_tls_insecure", "true"),
            ("cequence_allow_insecure_endpoints", "true"),
        ]);
        assert!(
            config(&pairs, Needs::Bridge)
                .unwrap()
                .bridge
                .unwrap()
                .tls_insecure
        );
    }

    #[test]
    fn dry_run_needs_no_bridge_settings() {
        let c = config(&[], Needs::NoBridge).unwrap();
        assert!(c.bridge.is_none());
    }

    #[test]
    fn secret_arn_wins_and_secrets_never_show_in_debug() {
        let mut pairs = BRIDGE.to_vec();
        let c = config(&pairs, Needs::Bridge).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
        pairs.push((
            "cequence_client_secret_arn",
            "arn:aws:secretsmanager:us-east-1:1:secret:x",
        ));
        let c = config(&pairs, Needs::Bridge).unwrap();
        assert!(matches!(
            c.bridge.unwrap().client_secret,
            SecretSource::SecretsManager { .. }
        ));
    }

    #[test]
    fn redaction_is_off_by_default_and_validated_at_start_up() {
        assert!(config(&[], Needs::NoBridge).unwrap().redact.is_none());
        let key = ("cequence_redact_key", "a-local-key-0123456789");
        let c = config(
            &[("cequence_redact", "cookie-values,query:token"), key],
            Needs::NoBridge,
        )
        .unwrap();
        let redact = c.redact.unwrap();
        assert!(redact.spec.cookie_values);
        assert_eq!(redact.spec.query_params, ["token"]);
        assert!(matches!(redact.key, SecretSource::Value(_)));
        let debug = format!("{redact:?}");
        assert!(!debug.contains("a-local-key"), "{debug}");

        let lambda = ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        let arn = (
            "cequence_redact_key_secret_arn",
            "arn:aws:secretsmanager:us-east-1:1:secret:k",
        );
        let c = config(
            &[("cequence_redact", "header:authorization"), arn, lambda],
            Needs::NoBridge,
        )
        .unwrap();
        assert!(matches!(
            c.redact.unwrap().key,
            SecretSource::SecretsManager { .. }
        ));

        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("cequence_redact", "cookies"), key], "cequence_redact"),
            (&[("cequence_redact", "query:")], "cequence_redact"),
            (
                &[("cequence_redact", "cookie-values")],
                "cequence_redact_key",
            ),
            (
                &[
                    ("cequence_redact", "cookie-values"),
                    ("cequence_redact_key", "short"),
                ],
                "cequence_redact_key",
            ),
            (
                &[("cequence_redact", "cookie-values"), key, lambda],
                "cequence_redact_key_secret_arn",
            ),
            (
                &[
                    ("cequence_redact", "cookie-values"),
                    ("cequence_redact_key_secret_arn", "k"),
                ],
                "cequence_redact_key_secret_arn",
            ),
        ];
        for (pairs, variable) in cases {
            let err = config(pairs, Needs::NoBridge).unwrap_err();
            assert_eq!(err.variables(), [*variable], "{pairs:?}");
            assert!(!err.to_string().contains("short"), "{err}");
        }
        let err = config(
            &[("cequence_redact", "cookie-values,cookies"), key],
            Needs::NoBridge,
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"cookies\""), "{err}");
    }

    #[test]
    fn ca_cert_accepts_pem_text_with_escaped_newlines() {
        let pem = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----";
        let mut pairs = BRIDGE.to_vec();
        pairs.push(("cequence_ca_cert_pem", pem));
        let c = config(&pairs, Needs::Bridge).unwrap();
        assert!(c.bridge.unwrap().ca_cert_pem.unwrap().contains("\nMIIB\n"));
    }
}
