//! `cf-passive-lambda check`: is this configuration ready to deploy? It reads
//! the settings (every problem at once, before this runs), fetches a token and
//! opens a TLS connection to the bridge, and says what works and what does
//! not. It never sends a transaction: the bridge only gets a `HEAD`.

use std::fmt;

use std::process::ExitCode;

use crate::config::Config;
use crate::delivery::{tls::build_client, Delivery, SecretSource, Settings, TokenError};
use crate::secret::SecretString;

/// What went wrong talking to an endpoint, as an operator would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The token endpoint refused the client id or secret.
    WrongCredentials(String),
    /// The server's certificate is not trusted (wrong or missing CA).
    UntrustedCertificate(String),
    /// No connection: refused, DNS, no route.
    Unreachable(String),
    TimedOut(String),
    /// Anything else (an HTTP status, an unusable answer).
    Other(String),
}

impl Failure {
    /// Sorts a transport error's text (reqwest's cause chain) into a failure.
    pub fn from_transport(reason: &str) -> Failure {
        let lower = reason.to_ascii_lowercase();
        let reason = reason.to_string();
        if lower.contains("certificate")
            || lower.contains("unknownissuer")
            || lower.contains("invalid peer")
            || lower.contains("tls handshake")
        {
            Failure::UntrustedCertificate(reason)
        } else if lower.contains("timed out") || lower.contains("timeout") {
            Failure::TimedOut(reason)
        } else if lower.contains("connection refused")
            || lower.contains("dns error")
            || lower.contains("failed to lookup")
            || lower.contains("no route")
            || lower.contains("unreachable")
            || lower.contains("connection failed")
        {
            Failure::Unreachable(reason)
        } else {
            Failure::Other(reason)
        }
    }

    fn from_token(error: &TokenError) -> Failure {
        match error {
            TokenError::Rejected { code, .. }
                if matches!(
                    code.as_str(),
                    "invalid_client" | "unauthorized_client" | "invalid_grant"
                ) =>
            {
                Failure::WrongCredentials(error.to_string())
            }
            TokenError::Status {
                status: 400 | 401 | 403,
                ..
            } => Failure::WrongCredentials(error.to_string()),
            TokenError::Transport { reason, .. } => match Failure::from_transport(reason) {
                Failure::Other(_) => Failure::Other(error.to_string()),
                sorted => sorted.with_text(error.to_string()),
            },
            _ => Failure::Other(error.to_string()),
        }
    }

    fn with_text(self, text: String) -> Failure {
        match self {
            Failure::WrongCredentials(_) => Failure::WrongCredentials(text),
            Failure::UntrustedCertificate(_) => Failure::UntrustedCertificate(text),
            Failure::Unreachable(_) => Failure::Unreachable(text),
            Failure::TimedOut(_) => Failure::TimedOut(text),
            Failure::Other(_) => Failure::Other(text),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::WrongCredentials(e) => write!(
                f,
                "wrong client credentials: {e}. Check cequence_client_id and cequence_client_secret"
            ),
            Failure::UntrustedCertificate(e) => write!(
                f,
                "TLS certificate not trusted: {e}. If the server uses a private CA, give it in cequence_ca_cert_pem"
            ),
            Failure::Unreachable(e) => write!(
                f,
                "unreachable: {e}. Check the host name and port, DNS, and firewalls"
            ),
            Failure::TimedOut(e) => write!(
                f,
                "timed out: {e}. Check firewalls, or raise cequence_http_timeout_s"
            ),
            Failure::Other(e) => write!(f, "{e}"),
        }
    }
}

/// The result of each step, in order; `Err` steps are what to fix.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub steps: Vec<(&'static str, Result<String, String>)>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|(_, result)| result.is_ok())
    }

    /// The report as the operator reads it, one line per step.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (step, result) in &self.steps {
            match result {
                Ok(detail) => text.push_str(&format!("ok      {step}: {detail}\n")),
                Err(detail) => text.push_str(&format!("FAILED  {step}: {detail}\n")),
            }
        }
        if self.passed() {
            text.push_str("check passed: the function can get a token and reach the bridge. No transaction was sent.\n");
        } else {
            let failed = self.steps.iter().filter(|(_, r)| r.is_err()).count();
            text.push_str(&format!(
                "check failed: {failed} of {} steps. No transaction was sent.\n",
                self.steps.len()
            ));
        }
        text
    }
}

/// Runs the network checks for a configuration that already validated.
/// `read_secret` resolves a Secrets Manager ARN (only called for one).
pub async fn run<F, Fut>(bridge: &Settings, read_secret: F) -> CheckReport
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<SecretString, String>>,
{
    let mut report = CheckReport::default();
    report.steps.push((
        "configuration",
        Ok(format!(
            "token endpoint {}, bridge {}",
            bridge.auth_endpoint, bridge.transactions_url
        )),
    ));
    let secret = match &bridge.client_secret {
        SecretSource::Value(secret) => {
            report
                .steps
                .push(("client secret", Ok("from cequence_client_secret".into())));
            Some(secret.clone())
        }
        SecretSource::SecretsManager { arn } => match read_secret(arn.clone()).await {
            Ok(secret) => {
                report.steps.push((
                    "client secret",
                    Ok(format!("read from Secrets Manager ({arn})")),
                ));
                Some(secret)
            }
            Err(e) => {
                report.steps.push(("client secret", Err(e)));
                None
            }
        },
    };
    let have_secret = secret.is_some();
    let mut settings = bridge.clone();
    settings.client_secret =
        SecretSource::Value(secret.unwrap_or_else(|| SecretString::from(String::new())));
    // Without a secret there is no token to ask for; the bridge is still probed.
    if have_secret {
        report.steps.push(("token", token_step(&settings).await));
    }
    report.steps.push(("bridge", bridge_step(&settings).await));
    report
}

async fn token_step(settings: &Settings) -> Result<String, String> {
    let delivery = Delivery::new(settings.clone()).map_err(|e| e.to_string())?;
    match delivery.token_provider().get().await {
        Ok(_) => Ok(format!(
            "got an access token from {} for client {}",
            settings.auth_endpoint, settings.client_id
        )),
        Err(e) => Err(Failure::from_token(&e).to_string()),
    }
}

/// Connects to the bridge (TLS verified as for delivery) with a `HEAD` of the
/// transactions URL: any HTTP answer proves the connection and the trust.
async fn bridge_step(settings: &Settings) -> Result<String, String> {
    let client = build_client(settings).map_err(|e| e.to_string())?;
    let url = &settings.transactions_url;
    let tls = if url.to_ascii_lowercase().starts_with("https://") {
        "TLS verified, "
    } else {
        "plain http (lab only), "
    };
    match client.head(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let meaning = match status {
                404 => return Err(format!(
                    "{url} answered HEAD with 404: the bridge is reachable ({tls}) but has no such path; check cequence_edge_path"
                )),
                405 => "405 to HEAD: the path exists and takes POST".to_string(),
                401 | 403 => format!("{status} to an unauthenticated HEAD: the bridge is there"),
                other => format!("HTTP {other} to HEAD"),
            };
            Ok(format!("{url}: {tls}{meaning}"))
        }
        Err(e) => {
            let reason = crate::delivery::token::describe(&e);
            Err(format!("{url}: {}", Failure::from_transport(&reason)))
        }
    }
}

/// `cf-passive-lambda check` for a configuration that validated: prints one
/// line per step. Exit 0 only if everything works.
pub async fn command(config: Config) -> ExitCode {
    let Some(bridge) = config.bridge.as_ref() else {
        return ExitCode::from(2);
    };
    let report = run(bridge, |arn| async move {
        use crate::aws::secrets::{SecretReader, SecretsManager};
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let reader = SecretsManager {
            client: aws_sdk_secretsmanager::Client::new(&sdk),
        };
        reader.client_secret(&arn).await
    })
    .await;
    print!("{}", report.render());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_are_sorted_by_what_to_fix() {
        let cases = [
            ("connection failed: error trying to connect: tcp connect error: Connection refused (os error 111)", "unreachable"),
            ("connection failed: error trying to connect: dns error: failed to lookup address information", "unreachable"),
            ("connection failed: error trying to connect: invalid peer certificate: UnknownIssuer", "TLS certificate not trusted"),
            ("timed out", "timed out"),
        ];
        for (reason, expected) in cases {
            let text = Failure::from_transport(reason).to_string();
            assert!(text.starts_with(expected), "{reason} -> {text}");
        }
    }

    #[test]
    fn a_rejected_client_is_wrong_credentials() {
        let rejected = TokenError::Rejected {
            endpoint: "https://a/token".into(),
            code: "invalid_client".into(),
            description: None,
        };
        assert!(matches!(
            Failure::from_token(&rejected),
            Failure::WrongCredentials(_)
        ));
        let status = TokenError::Status {
            endpoint: "e".into(),
            status: 401,
        };
        assert!(matches!(
            Failure::from_token(&status),
            Failure::WrongCredentials(_)
        ));
        let server = TokenError::Status {
            endpoint: "e".into(),
            status: 503,
        };
        assert!(matches!(Failure::from_token(&server), Failure::Other(_)));
    }

    #[test]
    fn the_report_says_what_failed() {
        let report = CheckReport {
            steps: vec![("token", Ok("fine".into())), ("bridge", Err("down".into()))],
        };
        let text = report.render();
        assert!(text.contains("ok      token: fine"), "{text}");
        assert!(text.contains("FAILED  bridge: down"), "{text}");
        assert!(text.contains("check failed: 1 of 2 steps"), "{text}");
        assert!(!report.passed());
    }
}
