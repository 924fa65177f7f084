//! A stand-in for the customer's bridge: receives batches, records every
//! transaction with its `Idempotency-Key`, and misbehaves on request (see
//! [`crate::faults`]). Used in-process by Rust tests ([`BridgeReceiver::start`])
//! and by hand or from scripts (`bridge-receiver` binary).

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::faults::{Fault, FaultScript};
use crate::server::{self, Body, Conn, Running};
use crate::tls::TlsFiles;

/// Largest accepted (decompressed) body.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// How to run a bridge receiver.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Default `127.0.0.1:0` (a free port).
    pub listen: SocketAddr,
    /// Default `/api-transactions`.
    pub path: String,
    /// NDJSON file: one line per received transaction.
    pub out: Option<PathBuf>,
    pub faults: FaultScript,
    /// RFC 7662 introspection URL: bearer tokens it calls inactive get 401.
    pub introspect: Option<String>,
    /// Refuse (415) bodies that are not `Content-Encoding: gzip`.
    pub require_gzip: bool,
    /// Serve HTTPS with this certificate.
    pub tls: Option<TlsFiles>,
    /// Keep every received transaction in memory (for `transactions()` and
    /// the unique counts of `stats()`). Tests want it; a long run into
    /// `--out` does not, since memory would grow with every transaction.
    pub keep_transactions: bool,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            path: "/api-transactions".into(),
            out: None,
            faults: FaultScript::default(),
            introspect: None,
            require_gzip: false,
            tls: None,
            keep_transactions: true,
        }
    }
}

/// One transaction as received.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceivedTransaction {
    #[serde(rename = "idempotency-key")]
    pub idempotency_key: String,
    /// Sequence number of the request that carried it.
    pub request: u64,
    pub transaction: serde_json::Value,
}

/// One POST as received, whatever its fate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// 0-based arrival order.
    pub seq: u64,
    pub idempotency_key: Option<String>,
    /// Status answered (0: connection reset; stalled requests record 503).
    pub status: u16,
    /// The fault applied (`None` for normal handling).
    pub fault: Option<String>,
    /// Transactions recorded from this request (0 unless delivered).
    pub transactions: usize,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub user_agent: Option<String>,
    /// The bearer token sent (test server only; never do this in real code).
    pub bearer: Option<String>,
    /// Milliseconds since the receiver started.
    pub at_ms: u64,
    /// Why the request was refused, when it was.
    pub error: Option<String>,
}

/// Counters returned by `GET /_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BridgeStats {
    pub requests: u64,
    pub transactions: u64,
    /// Distinct `transaction-id` values received.
    pub unique_transaction_ids: u64,
    /// Distinct `Idempotency-Key` values of delivered requests.
    pub unique_idempotency_keys: u64,
    /// Requests per answered status (`"0"` = reset).
    pub per_status: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Log {
    requests: Vec<RequestRecord>,
    transactions: Vec<ReceivedTransaction>,
    sequential: usize,
    /// Replaces `cfg.faults` once set (see `RunningBridge::set_faults`).
    faults: Option<FaultScript>,
}

struct State {
    cfg: BridgeConfig,
    started: Instant,
    log: Mutex<Log>,
    out: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
    http: reqwest::Client,
}

/// Entry point of the in-process receiver.
pub struct BridgeReceiver;

impl BridgeReceiver {
    /// Binds and serves on the current tokio runtime.
    pub async fn start(cfg: BridgeConfig) -> std::io::Result<RunningBridge> {
        let out = match &cfg.out {
            Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
            None => None,
        };
        let state = Arc::new(State {
            started: Instant::now(),
            log: Mutex::new(Log::default()),
            out: Mutex::new(out),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(std::io::Error::other)?,
            cfg,
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
        Ok(RunningBridge { server, state })
    }
}

/// A running receiver. Dropping it stops it too.
pub struct RunningBridge {
    server: Running,
    state: Arc<State>,
}

impl RunningBridge {
    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> String {
        self.server.base_url()
    }
    /// The URL batches are POSTed to (`url()` + path).
    pub fn transactions_url(&self) -> String {
        format!("{}{}", self.url(), self.state.cfg.path)
    }
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }
    pub fn transactions(&self) -> Vec<ReceivedTransaction> {
        self.state.log.lock().unwrap().transactions.clone()
    }
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.log.lock().unwrap().requests.clone()
    }
    pub fn stats(&self) -> BridgeStats {
        stats(&self.state)
    }
    /// Replaces the fault script from the next request on (e.g. "the cause
    /// is fixed" before a replay); its sequential steps start over.
    pub fn set_faults(&self, faults: FaultScript) {
        let mut log = self.state.log.lock().unwrap();
        log.faults = Some(faults);
        log.sequential = 0;
    }
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}

fn stats(st: &State) -> BridgeStats {
    let log = st.log.lock().unwrap();
    let mut per_status = BTreeMap::new();
    for r in &log.requests {
        *per_status.entry(r.status.to_string()).or_insert(0) += 1;
    }
    let ids: HashSet<&str> = log
        .transactions
        .iter()
        .filter_map(|t| t.transaction.get("transaction-id").and_then(|v| v.as_str()))
        .collect();
    let keys: HashSet<&str> = log
        .transactions
        .iter()
        .map(|t| t.idempotency_key.as_str())
        .collect();
    BridgeStats {
        requests: log.requests.len() as u64,
        // Counted from the requests, so it is right when transactions are not kept.
        transactions: log
            .requests
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.transactions as u64)
            .sum(),
        unique_transaction_ids: ids.len() as u64,
        unique_idempotency_keys: keys.len() as u64,
        per_status,
    }
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(st: Arc<State>, req: Request<Incoming>, conn: Conn) -> Response<Body> {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET && path == "/_stats" {
        return server::json(200, &serde_json::to_value(stats(&st)).unwrap());
    }
    if path.trim_end_matches('/') != st.cfg.path.trim_end_matches('/') {
        return server::json(404, &json!({"error": "not found", "path": path}));
    }
    if req.method() != Method::POST {
        return server::json(405, &json!({"error": "use POST"}));
    }
    let key = header(&req, "idempotency-key");
    let mut rec = RequestRecord {
        seq: 0,
        idempotency_key: key.clone(),
        status: 0,
        fault: None,
        transactions: 0,
        content_type: header(&req, "content-type"),
        content_encoding: header(&req, "content-encoding"),
        user_agent: header(&req, "user-agent"),
        bearer: header(&req, "authorization")
            .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string)),
        at_ms: st.started.elapsed().as_millis() as u64,
        error: None,
    };
    // Pick the fault and take a sequence number, atomically.
    let fault = {
        let mut log = st.log.lock().unwrap();
        rec.seq = log.requests.len() as u64;
        let faults = log.faults.as_ref().unwrap_or(&st.cfg.faults);
        let (fault, sequential) = match faults.targeted_for(key.as_deref()) {
            Some(f) => (f.clone(), false),
            None => (faults.step(log.sequential), true),
        };
        if sequential {
            log.sequential += 1;
        }
        fault
    };
    if fault != Fault::Ok {
        rec.fault = Some(fault.to_string());
    }
    match fault {
        Fault::Reset => {
            let mut body = req.into_body();
            let _ = tokio::time::timeout(Duration::from_secs(5), body.frame()).await;
            push(&st, rec);
            conn.abort();
            std::future::pending::<()>().await;
            unreachable!()
        }
        Fault::Stall(d) => {
            rec.status = 503;
            push(&st, rec);
            tokio::time::sleep(d).await;
            server::json(503, &json!({"error": "stalled"}))
        }
        Fault::Status {
            status,
            retry_after,
        } => {
            let _ = read_body(req.into_body()).await;
            rec.status = status;
            push(&st, rec);
            let mut resp = server::json(
                status,
                &json!({"error": format!("injected fault {status}")}),
            );
            if let Some(s) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Fault::Ok => deliver(st, req, rec).await,
    }
}

fn push(st: &State, rec: RequestRecord) {
    st.log.lock().unwrap().requests.push(rec);
}

fn refuse(st: &State, mut rec: RequestRecord, status: u16, why: &str) -> Response<Body> {
    rec.status = status;
    rec.error = Some(why.to_string());
    push(st, rec);
    server::json(status, &json!({"error": why}))
}

async fn read_body(body: Incoming) -> Result<bytes::Bytes, String> {
    http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("cannot read the body: {e}"))
}

async fn deliver(st: Arc<State>, req: Request<Incoming>, rec: RequestRecord) -> Response<Body> {
    let Some(token) = rec.bearer.clone() else {
        return refuse(&st, rec, 401, "missing bearer token");
    };
    if let Some(url) = &st.cfg.introspect {
        match introspect(&st.http, url, &token).await {
            Ok(true) => {}
            Ok(false) => return refuse(&st, rec, 401, "token inactive (introspection)"),
            Err(e) => return refuse(&st, rec, 503, &format!("introspection failed: {e}")),
        }
    }
    let Some(key) = rec.idempotency_key.clone() else {
        return refuse(&st, rec, 400, "missing Idempotency-Key");
    };
    if !rec
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return refuse(&st, rec, 415, "Content-Type must be application/json");
    }
    let gzip = match rec.content_encoding.as_deref() {
        None | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(_) => return refuse(&st, rec, 415, "unsupported Content-Encoding"),
    };
    if st.cfg.require_gzip && !gzip {
        return refuse(&st, rec, 415, "Content-Encoding: gzip required");
    }
    let raw = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return refuse(&st, rec, 400, &e),
    };
    let body = if gzip {
        let mut out = Vec::new();
        let r = flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_BODY as u64)
            .read_to_end(&mut out);
        if let Err(e) = r {
            return refuse(&st, rec, 400, &format!("bad gzip body: {e}"));
        }
        out
    } else {
        raw.to_vec()
    };
    let txs: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(_) => return refuse(&st, rec, 400, "body is not a JSON array"),
        Err(e) => return refuse(&st, rec, 400, &format!("body is not JSON: {e}")),
    };
    let n = txs.len();
    {
        let mut log = st.log.lock().unwrap();
        let mut rec = rec;
        rec.status = 200;
        rec.transactions = n;
        let seq = rec.seq;
        let mut out = st.out.lock().unwrap();
        for t in txs {
            let r = ReceivedTransaction {
                idempotency_key: key.clone(),
                request: seq,
                transaction: t,
            };
            if let Some(w) = out.as_mut() {
                let _ = serde_json::to_writer(&mut *w, &r);
                let _ = w.write_all(b"\n");
            }
            if st.cfg.keep_transactions {
                log.transactions.push(r);
            }
        }
        if let Some(w) = out.as_mut() {
            let _ = w.flush();
        }
        log.requests.push(rec);
    }
    server::json(200, &json!({"accepted": n}))
}

async fn introspect(http: &reqwest::Client, url: &str, token: &str) -> Result<bool, String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    let resp = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let v: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    Ok(v.get("active").and_then(|a| a.as_bool()).unwrap_or(false))
}
