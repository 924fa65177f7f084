//! Delivery errors. None of them carries a secret or a token: messages are
//! built from endpoints, status codes and OAuth error codes only.

use thiserror::Error;

/// Why the token endpoint did not give us a token.
#[derive(Debug, Clone, Error)]
pub enum TokenError {
    /// The authorization server refused us with an OAuth error (RFC 6749 §5.2),
    /// e.g. `invalid_client` for a wrong client id or secret. Permanent, except
    /// for the codes `temporarily_unavailable` and `server_error`.
    #[error(
        "token endpoint {endpoint} rejected the client credentials request: {code}{}{}",
        .description.as_deref().map(|_| ": ").unwrap_or(""),
        .description.as_deref().unwrap_or("")
    )]
    Rejected {
        endpoint: String,
        code: String,
        description: Option<String>,
    },
    /// The endpoint answered a non-OAuth HTTP error (408/429/5xx are retryable).
    #[error("token endpoint {endpoint} answered HTTP {status}{}", hint(.status))]
    Status { endpoint: String, status: u16 },
    /// Connection refused/reset, DNS, TLS or timeout talking to the endpoint.
    #[error("token endpoint {endpoint} could not be reached: {reason}")]
    Transport { endpoint: String, reason: String },
    /// A 2xx answer that is not a usable token response.
    #[error("token endpoint {endpoint} returned an unusable token response: {reason}")]
    InvalidResponse { endpoint: String, reason: String },
}

fn hint(status: &u16) -> &'static str {
    match *status {
        300..=399 => " (a redirect; redirects are not followed: check cequence_auth_endpoint)",
        404 => " (check cequence_auth_endpoint: it must be the full token URL)",
        _ => "",
    }
}

impl TokenError {
    /// Worth retrying later (inside the retry budget)?
    pub fn is_retryable(&self) -> bool {
        match self {
            TokenError::Rejected { code, .. } => {
                matches!(code.as_str(), "temporarily_unavailable" | "server_error")
            }
            TokenError::Status { status, .. } => {
                matches!(status, 408 | 429 | 500..=599)
            }
            TokenError::Transport { .. } => true,
            TokenError::InvalidResponse { .. } => false,
        }
    }
}

/// Errors of the delivery module.
#[derive(Debug, Error)]
pub enum DeliveryError {
    /// A setting cannot be used (bad URL, unreadable CA certificate, ...).
    #[error("delivery settings: {0}")]
    Config(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A token could not be obtained.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Some batches of an object were not delivered (see `DeliveryReport::error`).
    #[error(
        "{object}: {failed} of {total} batches not delivered (batch {indexes}): {reason}; {advice}"
    )]
    ObjectFailed {
        /// `s3://bucket/key`
        object: String,
        failed: usize,
        total: u64,
        /// Comma-separated batch indexes.
        indexes: String,
        /// The first failure's reason (all distinct reasons, `; `-joined).
        reason: String,
        /// True when every failure is retryable: re-processing the object may succeed.
        retryable: bool,
        advice: &'static str,
    },
}

impl DeliveryError {
    /// Whether re-running the same work may succeed (drives the Lambda's
    /// "fail the invocation so S3 retries" decision).
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Config(_) | DeliveryError::Client(_) => false,
            DeliveryError::Token(t) => t.is_retryable(),
            DeliveryError::ObjectFailed { retryable, .. } => *retryable,
        }
    }
}
