//! A strict OAuth 2.0 token server for tests (client credentials only).
//!
//! - `POST /token`: `grant_type=client_credentials`, client authenticated by
//!   HTTP Basic or by `client_id`/`client_secret` form fields (both accepted,
//!   not both at once); answers `{"access_token","token_type":"Bearer","expires_in"}`,
//!   or `401 {"error":"invalid_client"}`, `400 {"error":"unsupported_grant_type"}`, ...
//! - `POST /introspect` (RFC 7662, form `token=`): `{"active":bool}`; false
//!   once the token expired or was revoked.
//! - `POST /_revoke-all`: revokes every token issued so far.
//! - `GET /_stats`: counters ([`OAuthStats`]), including which client
//!   authentication style each token request used.
//!
//! A fault script (same syntax as the bridge's, statuses and `reset` only) can
//! make the first token requests fail, to test retries of the token fetch.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::faults::{Fault, FaultScript};
use crate::server::{self, Body, Conn, Running};
use crate::tls::TlsFiles;

/// How to run the token server.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub listen: SocketAddr,
    pub client_id: String,
    pub client_secret: String,
    /// Token lifetime in seconds (`expires_in`).
    pub expires_in: u64,
    /// Leave `expires_in` out of token responses.
    pub omit_expires_in: bool,
    /// Faults applied to successive `POST /token` requests.
    pub faults: FaultScript,
    pub tls: Option<TlsFiles>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "cf-passive-test".into(),
            client_secret: "test-secret".into(),
            expires_in: 300,
            omit_expires_in: false,
            faults: FaultScript::default(),
            tls: None,
        }
    }
}

/// Counters returned by `GET /_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthStats {
    /// Every `POST /token`.
    pub token_requests: u64,
    /// Tokens handed out.
    pub tokens_issued: u64,
    /// Requests refused with `invalid_client`.
    pub invalid_client: u64,
    /// Requests answered by an injected fault.
    pub faults: u64,
    pub introspections: u64,
    pub revocations: u64,
    /// Token requests that authenticated the client with HTTP Basic.
    pub client_auth_basic: u64,
    /// Token requests that sent `client_id`/`client_secret` as form fields.
    pub client_auth_body: u64,
}

struct Issued {
    expires: Instant,
    revoked: bool,
}

struct State {
    cfg: OAuthConfig,
    stats: Mutex<OAuthStats>,
    tokens: Mutex<HashMap<String, Issued>>,
    seq: Mutex<usize>,
}

/// Entry point of the in-process token server.
pub struct OAuthTestServer;

impl OAuthTestServer {
    pub async fn start(cfg: OAuthConfig) -> std::io::Result<RunningOAuth> {
        let state = Arc::new(State {
            cfg,
            stats: Mutex::new(OAuthStats::default()),
            tokens: Mutex::new(HashMap::new()),
            seq: Mutex::new(0),
        });
        let st = state.clone();
        let server = server::start(
            state.cfg.listen,
            state.cfg.tls.as_ref(),
            move |req, conn| {
                let st = st.clone();
                async move { handle(st, req, conn).await }
            },
        )
        .await?;
        Ok(RunningOAuth { server, state })
    }
}

/// A running token server. Dropping it stops it too.
pub struct RunningOAuth {
    server: Running,
    state: Arc<State>,
}

impl RunningOAuth {
    pub fn url(&self) -> String {
        self.server.base_url()
    }
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url())
    }
    pub fn introspect_url(&self) -> String {
        format!("{}/introspect", self.url())
    }
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }
    pub fn stats(&self) -> OAuthStats {
        self.state.stats.lock().unwrap().clone()
    }
    /// Same as `POST /_revoke-all`.
    pub fn revoke_all(&self) {
        revoke_all(&self.state)
    }
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}

fn revoke_all(st: &State) {
    for t in st.tokens.lock().unwrap().values_mut() {
        t.revoked = true;
    }
    st.stats.lock().unwrap().revocations += 1;
}

async fn form(req: Request<Incoming>) -> (hyper::HeaderMap, HashMap<String, String>) {
    let (parts, body) = req.into_parts();
    let bytes = http_body_util::Limited::new(body, 1 << 20)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let map = form_urlencoded::parse(&bytes).into_owned().collect();
    (parts.headers, map)
}

fn oauth_error(status: u16, code: &str, description: &str) -> Response<Body> {
    let mut r = server::json(
        status,
        &json!({"error": code, "error_description": description}),
    );
    r.headers_mut()
        .insert("cache-control", "no-store".parse().unwrap());
    if status == 401 {
        r.headers_mut().insert(
            "www-authenticate",
            "Basic realm=\"cf-passive-test\"".parse().unwrap(),
        );
    }
    r
}

async fn handle(st: Arc<State>, req: Request<Incoming>, conn: Conn) -> Response<Body> {
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/_stats") => server::json(
            200,
            &serde_json::to_value(st.stats.lock().unwrap().clone()).unwrap(),
        ),
        (Method::POST, "/_revoke-all") => {
            revoke_all(&st);
            server::json(200, &json!({"revoked": true}))
        }
        (Method::POST, "/introspect") => {
            let (_, f) = form(req).await;
            st.stats.lock().unwrap().introspections += 1;
            let active = f.get("token").is_some_and(|t| {
                st.tokens
                    .lock()
                    .unwrap()
                    .get(t)
                    .is_some_and(|i| !i.revoked && Instant::now() < i.expires)
            });
            server::json(200, &json!({"active": active}))
        }
        (Method::POST, "/token") => token(st, req, conn).await,
        _ => server::json(404, &json!({"error": "not found"})),
    }
}

async fn token(st: Arc<State>, req: Request<Incoming>, conn: Conn) -> Response<Body> {
    st.stats.lock().unwrap().token_requests += 1;
    let fault = {
        let mut seq = st.seq.lock().unwrap();
        *seq += 1;
        st.cfg.faults.step(*seq - 1)
    };
    match fault {
        Fault::Ok => {}
        Fault::Reset => {
            st.stats.lock().unwrap().faults += 1;
            conn.abort();
            std::future::pending::<()>().await;
        }
        Fault::Stall(d) => {
            st.stats.lock().unwrap().faults += 1;
            tokio::time::sleep(d).await;
            return server::json(503, &json!({"error": "stalled"}));
        }
        Fault::Status {
            status,
            retry_after,
        } => {
            st.stats.lock().unwrap().faults += 1;
            let mut r = server::respond(status, "text/html", "<html>injected fault</html>");
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            return r;
        }
    }
    let (headers, f) = form(req).await;
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':').map(|(i, p)| {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
                let dec = |x: &str| {
                    form_urlencoded::parse(format!("x={x}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (dec(i), dec(p))
            })
        });
    let body_creds = match (f.get("client_id"), f.get("client_secret")) {
        (Some(i), Some(p)) => Some((i.clone(), p.clone())),
        _ => None,
    };
    let creds = match (basic, body_creds) {
        (Some(_), Some(_)) => {
            return oauth_error(
                400,
                "invalid_request",
                "use one client authentication method",
            )
        }
        (Some(c), None) => {
            st.stats.lock().unwrap().client_auth_basic += 1;
            c
        }
        (None, Some(c)) => {
            st.stats.lock().unwrap().client_auth_body += 1;
            c
        }
        (None, None) => {
            st.stats.lock().unwrap().invalid_client += 1;
            return oauth_error(401, "invalid_client", "client authentication missing");
        }
    };
    if creds.0 != st.cfg.client_id || creds.1 != st.cfg.client_secret {
        st.stats.lock().unwrap().invalid_client += 1;
        return oauth_error(401, "invalid_client", "client authentication failed");
    }
    match f.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => return oauth_error(400, "unsupported_grant_type", "only client_credentials"),
        None => return oauth_error(400, "invalid_request", "grant_type missing"),
    }
    let n = {
        let mut s = st.stats.lock().unwrap();
        s.tokens_issued += 1;
        s.tokens_issued
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let token = format!("test-token-{n}-{nanos:x}");
    st.tokens.lock().unwrap().insert(
        token.clone(),
        Issued {
            expires: Instant::now() + Duration::from_secs(st.cfg.expires_in),
            revoked: false,
        },
    );
    let mut body = json!({"access_token": token, "token_type": "Bearer"});
    if !st.cfg.omit_expires_in {
        body["expires_in"] = json!(st.cfg.expires_in);
    }
    let mut r = server::json(200, &body);
    r.headers_mut()
        .insert("cache-control", "no-store".parse().unwrap());
    r
}
