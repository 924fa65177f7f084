//! Delivery to the bridge (contract sections 1–2): OAuth token, HTTP sink,
//! retries, TLS. Only this module does network I/O to the bridge.

use std::time::Duration;

use crate::secret::SecretString;

/// How the client authenticates at the token endpoint (`cequence_auth_style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthStyle {
    /// HTTP Basic `client_id:client_secret` (the default).
    #[default]
    Basic,
    /// `client_id` / `client_secret` as form fields.
    Body,
}

/// Where the OAuth client secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// `cequence_client_secret` (or the secret once read), held redacted.
    Value(SecretString),
    /// `cequence_client_secret_arn`: read from Secrets Manager once per
    /// container, by the wiring, before delivery is built.
    SecretsManager { arn: String },
}

impl From<SecretString> for SecretSource {
    fn from(secret: SecretString) -> Self {
        SecretSource::Value(secret)
    }
}

/// The delivery settings: read and validated by `Config::from_env()`, and
/// the only description of how to reach the bridge.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Full token URL (`cequence_auth_endpoint`).
    pub auth_endpoint: String,
    pub client_id: String,
    pub client_secret: SecretSource,
    pub auth_style: AuthStyle,
    /// `cequence_edge_endpoint` joined with `cequence_edge_path`, slashes normalised.
    pub transactions_url: String,
    /// `cequence_gzip` (default true).
    pub gzip: bool,
    /// `cequence_max_in_flight` (default 4).
    pub max_in_flight: usize,
    /// `cequence_http_timeout_s` (default 30 s).
    pub http_timeout: Duration,
    /// `cequence_retry_max_elapsed_s` (default 120 s): retry budget per object.
    pub retry_max_elapsed: Duration,
    /// `cequence_ca_cert_pem`, resolved to PEM text (a path has been read already).
    pub ca_cert_pem: Option<String>,
    /// `cequence_tls_insecure` (lab use only).
    pub tls_insecure: bool,
}

/// The object a batch came from; feeds the `Idempotency-Key`.
pub use crate::core::object::ObjectId;

pub mod error;
pub mod request;
pub mod retry;
pub mod service;
pub mod tls;
pub mod token;

pub use error::{DeliveryError, TokenError};
pub use request::{idempotency_key, join_url};
pub use retry::classify;
pub use service::{Delivery, DeliveryReport, FailedBatch, ObjectDelivery};
