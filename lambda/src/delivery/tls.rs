//! Building the one HTTP client of a container: reqwest over rustls, keep-alive
//! connection reuse, the request timeout, and the TLS trust settings.
//!
//! Certificates are always verified against the built-in Mozilla roots
//! (webpki-roots) plus the optional `ca_cert_pem`. `tls_insecure` turns
//! verification off for lab use and says so at every construction (cold start).

use std::time::Duration;

use super::error::DeliveryError;
use super::request::user_agent;
use super::Settings;

/// Connect timeout, capped by the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle keep-alive connections are kept this long (warm Lambda invocations reuse them).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Parses `ca_cert_pem` (one or more PEM certificates) into reqwest roots.
pub fn parse_ca_pem(pem: &str) -> Result<Vec<reqwest::Certificate>, DeliveryError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
        DeliveryError::Config(format!("cequence_ca_cert_pem is not valid PEM: {e}"))
    })?;
    if certs.is_empty() {
        return Err(DeliveryError::Config(
            "cequence_ca_cert_pem holds no `BEGIN CERTIFICATE` block".into(),
        ));
    }
    Ok(certs)
}

/// The HTTP client shared by the token provider and the bridge requests.
/// Redirects are never followed (a redirected POST would lose its body or,
/// worse, hand the credentials to another host).
pub fn build_client(settings: &Settings) -> Result<reqwest::Client, DeliveryError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(user_agent())
        .timeout(settings.http_timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(settings.http_timeout))
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(30))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = settings.ca_cert_pem.as_deref() {
        for cert in parse_ca_pem(pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    if settings.tls_insecure {
        tracing::warn!(
            bridge = %settings.transactions_url,
            token_endpoint = %settings.auth_endpoint,
            "⚠️ cequence_tls_insecure=true: TLS certificates are NOT verified. Lab use only; \
             give the bridge's CA in cequence_ca_cert_pem instead"
        );
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| DeliveryError::Client(e.to_string()))
}
