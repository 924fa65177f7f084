//! The bearer token: OAuth 2.0 client credentials (RFC 6749 §4.4) through the
//! `oauth2` crate, cached for the life of the container.
//!
//! - refreshed 60 s before `expires_in` runs out (no `expires_in`: 300 s); for
//!   lifetimes of 2 minutes or less, at half-life instead, so a short-lived
//!   token is still reused rather than fetched for every request;
//! - one refresh at a time: concurrent callers wait for it and share its
//!   result, success or error (no thundering herd on the token endpoint);
//! - a permanent refusal (`invalid_client`, ...) is remembered for
//!   [`PERMANENT_ERROR_COOLDOWN`], so a wrong secret costs one token request,
//!   not one per batch;
//! - [`TokenProvider::invalidate`] drops a token the bridge answered 401 to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse, TokenResponse, TokenUrl,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{DeliveryError, TokenError};
use super::{AuthStyle, Settings};
use crate::secret::{ExposeSecret, SecretString};

pub use oauth2::AccessToken;

/// Refresh this long before the token expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime assumed when the server sends no `expires_in`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// How long a permanent token error is served from memory.
pub const PERMANENT_ERROR_COOLDOWN: Duration = Duration::from_secs(30);

/// When to refresh a token that lives `lifetime`, counted from its receipt.
pub fn refresh_after(lifetime: Option<Duration>) -> Duration {
    let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME);
    if lifetime > REFRESH_MARGIN * 2 {
        lifetime - REFRESH_MARGIN
    } else {
        lifetime / 2
    }
}

#[derive(Debug)]
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    token: Option<Cached>,
    /// The last fetch's error, with the fetch generation that produced it.
    last_error: Option<(u64, TokenError, Instant)>,
}

/// Gets and caches bearer tokens. Built once per container (inside `Delivery`).
pub struct TokenProvider {
    http: reqwest::Client,
    endpoint: String,
    token_url: TokenUrl,
    client_id: ClientId,
    client_secret: SecretString,
    auth_type: AuthType,
    state: Mutex<State>,
    /// Number of finished fetches (successful or not).
    generation: AtomicU64,
    fetched: AtomicU64,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id.as_str())
            .field("auth_type", &self.auth_type)
            .field("fetched", &self.fetched.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// `http` must not follow redirects (see `tls::build_client`).
    pub fn new(settings: &Settings, http: reqwest::Client) -> Result<Self, DeliveryError> {
        let token_url = TokenUrl::new(settings.auth_endpoint.clone()).map_err(|e| {
            DeliveryError::Config(format!(
                "cequence_auth_endpoint {:?} is not a URL: {e}",
                settings.auth_endpoint
            ))
        })?;
        Ok(TokenProvider {
            http,
            endpoint: settings.auth_endpoint.clone(),
            token_url,
            client_id: ClientId::new(settings.client_id.clone()),
            client_secret: match &settings.client_secret {
                super::SecretSource::Value(secret) => secret.clone(),
                super::SecretSource::SecretsManager { arn } => {
                    return Err(DeliveryError::Config(format!(
                        "the client secret {arn} must be read before delivery is built"
                    )))
                }
            },
            auth_type: match settings.auth_style {
                AuthStyle::Basic => AuthType::BasicAuth,
                AuthStyle::Body => AuthType::RequestBody,
            },
            state: Mutex::new(State::default()),
            generation: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
        })
    }

    /// The token endpoint URL (for messages).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How many token requests this provider has made.
    pub fn fetch_count(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one, or a fresh one (one fetch at a time).
    pub async fn get(&self) -> Result<AccessToken, TokenError> {
        let seen = self.generation.load(Ordering::Acquire);
        let mut st = self.state.lock().await;
        let now = Instant::now();
        if let Some(c) = &st.token {
            if now < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        if let Some((gen, err, at)) = &st.last_error {
            // A fetch finished while we waited for the lock: share its error.
            // A permanent error is also served for the cool-down period.
            let shared = *gen > seen;
            let cooling = !err.is_retryable() && now.duration_since(*at) < PERMANENT_ERROR_COOLDOWN;
            if shared || cooling {
                return Err(err.clone());
            }
        }
        let result = self.fetch().await;
        let gen = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        match result {
            Ok((token, lifetime)) => {
                st.token = Some(Cached {
                    token: token.clone(),
                    refresh_at: Instant::now() + refresh_after(lifetime),
                });
                st.last_error = None;
                Ok(token)
            }
            Err(e) => {
                st.token = None;
                st.last_error = Some((gen, e.clone(), Instant::now()));
                Err(e)
            }
        }
    }

    /// Forgets `stale` (the token the bridge just refused with 401), unless it
    /// was already replaced by another caller's refresh.
    pub async fn invalidate(&self, stale: &AccessToken) {
        let mut st = self.state.lock().await;
        if st
            .token
            .as_ref()
            .is_some_and(|c| c.token.secret() == stale.secret())
        {
            st.token = None;
        }
    }

    async fn fetch(&self) -> Result<(AccessToken, Option<Duration>), TokenError> {
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let client = BasicClient::new(self.client_id.clone())
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(self.auth_type.clone())
            .set_token_uri(self.token_url.clone());
        let http = self.http.clone();
        let call = move |req: HttpRequest| {
            let http = http.clone();
            async move { send(&http, req).await }
        };
        let started = Instant::now();
        let res = client
            .exchange_client_credentials()
            .request_async(&call)
            .await;
        let endpoint = &self.endpoint;
        match res {
            Ok(resp) => {
                tracing::debug!(
                    token_endpoint = %endpoint,
                    expires_in_s = resp.expires_in().map(|d| d.as_secs()),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "🔑 got an access token"
                );
                Ok((resp.access_token().clone(), resp.expires_in()))
            }
            Err(e) => Err(classify_error(endpoint, e)),
        }
    }
}

/// Our transport for `oauth2`: reqwest (no redirects), plus a status check so
/// that an HTTP error without an OAuth error body (a proxy's 503 page, a 404,
/// a redirect) keeps its status code instead of becoming a parse error.
#[derive(Debug, thiserror::Error)]
enum Transport {
    #[error("{0}")]
    Reqwest(String),
    #[error("HTTP {0}")]
    Status(u16),
}

async fn send(http: &reqwest::Client, req: HttpRequest) -> Result<HttpResponse, Transport> {
    let req = reqwest::Request::try_from(req).map_err(|e| Transport::Reqwest(describe(&e)))?;
    let resp = http
        .execute(req)
        .await
        .map_err(|e| Transport::Reqwest(describe(&e)))?;
    let status = resp.status();
    let mut builder = oauth2::http::Response::builder().status(status.as_u16());
    for (name, value) in resp.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| Transport::Reqwest(describe(&e)))?;
    // RFC 6749 §5.2 errors come as 400/401 with a JSON `error`; anything else
    // that is not a success keeps its status (5xx stays retryable).
    let oauth_error = status.is_client_error() && is_oauth_error_body(&body);
    if !status.is_success() && !oauth_error {
        return Err(Transport::Status(status.as_u16()));
    }
    builder
        .body(body.to_vec())
        .map_err(|e| Transport::Reqwest(e.to_string()))
}

fn is_oauth_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").map(|e| e.is_string()))
        .unwrap_or(false)
}

/// A reqwest error in one line, with its cause chain (connection refused, ...).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.ends_with(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

type OAuthError = oauth2::RequestTokenError<
    Transport,
    oauth2::StandardErrorResponse<oauth2::basic::BasicErrorResponseType>,
>;

fn classify_error(endpoint: &str, e: OAuthError) -> TokenError {
    let endpoint = endpoint.to_string();
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => TokenError::Rejected {
            endpoint,
            code: r.error().as_ref().to_string(),
            description: r.error_description().cloned(),
        },
        oauth2::RequestTokenError::Request(Transport::Status(status)) => {
            TokenError::Status { endpoint, status }
        }
        oauth2::RequestTokenError::Request(Transport::Reqwest(reason)) => {
            TokenError::Transport { endpoint, reason }
        }
        // Only the JSON path is reported: the body may hold a token.
        oauth2::RequestTokenError::Parse(e, _) => TokenError::InvalidResponse {
            endpoint,
            reason: format!("cannot parse it as a token response (at `{}`)", e.path()),
        },
        oauth2::RequestTokenError::Other(reason) => {
            TokenError::InvalidResponse { endpoint, reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_schedule() {
        let s = Duration::from_secs;
        assert_eq!(refresh_after(Some(s(3600))), s(3540));
        assert_eq!(refresh_after(Some(s(300))), s(240));
        assert_eq!(refresh_after(None), s(240));
        assert_eq!(refresh_after(Some(s(121))), s(61));
        assert_eq!(refresh_after(Some(s(120))), s(60));
        assert_eq!(refresh_after(Some(s(2))), s(1));
        assert_eq!(refresh_after(Some(s(0))), s(0));
    }

    #[test]
    fn oauth_error_bodies() {
        assert!(is_oauth_error_body(br#"{"error":"invalid_client"}"#));
        assert!(!is_oauth_error_body(b"<html>502 Bad Gateway</html>"));
        assert!(!is_oauth_error_body(br#"{"message":"nope"}"#));
    }

    #[test]
    fn token_errors_are_classified() {
        let e = "https://auth/token".to_string();
        let rejected = TokenError::Rejected {
            endpoint: e.clone(),
            code: "invalid_client".into(),
            description: None,
        };
        assert!(!rejected.is_retryable());
        assert_eq!(
            rejected.to_string(),
            "token endpoint https://auth/token rejected the client credentials request: invalid_client"
        );
        assert!(TokenError::Status {
            endpoint: e.clone(),
            status: 503
        }
        .is_retryable());
        assert!(TokenError::Status {
            endpoint: e.clone(),
            status: 429
        }
        .is_retryable());
        assert!(!TokenError::Status {
            endpoint: e.clone(),
            status: 404
        }
        .is_retryable());
        assert!(!TokenError::Status {
            endpoint: e.clone(),
            status: 302
        }
        .is_retryable());
        assert!(TokenError::Transport {
            endpoint: e,
            reason: "refused".into()
        }
        .is_retryable());
    }
}
