//! The only I/O of delivery: sends prepared batches to the bridge, a bounded
//! number at a time, with the token provider and the retry policy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::error::DeliveryError;
use super::request::PreparedBatch;
use super::retry::{classify, parse_retry_after, plan_retry, Backoff, Outcome};
use super::tls::build_client;
use super::token::{describe, TokenProvider};
use super::{Compression, ObjectId, Settings};
use crate::core::batch::Batch;
use crate::core::checkpoint::{BatchSelection, SettledPrefix};
use crate::core::summary::Summary;

/// Delivery to the bridge. Built once per container; cheap to clone.
#[derive(Clone, Debug)]
pub struct Delivery {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    url: reqwest::Url,
    token: TokenProvider,
    compression: Compression,
    /// Set by the first `415` to a compressed body: compression stays off
    /// for the rest of the container's life.
    compression_refused: AtomicBool,
    max_in_flight: usize,
    retry_max_elapsed: Duration,
}

impl Delivery {
    /// Builds the HTTP client (TLS settings, timeouts) and the token provider.
    /// No network I/O happens here; the first token is fetched by the first batch.
    pub fn new(settings: Settings) -> Result<Self, DeliveryError> {
        let url = reqwest::Url::parse(&settings.transactions_url).map_err(|e| {
            DeliveryError::Config(format!(
                "bridge URL {:?} is not a URL: {e}",
                settings.transactions_url
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DeliveryError::Config(format!(
                "bridge URL {:?} must be http(s)",
                settings.transactions_url
            )));
        }
        // Config refuses these at start-up, naming the variable; this keeps
        // credentials out of URLs for any other caller too.
        for (variable, text) in [
            ("cequence_edge_endpoint", settings.transactions_url.as_str()),
            ("cequence_auth_endpoint", settings.auth_endpoint.as_str()),
        ] {
            if reqwest::Url::parse(text)
                .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
            {
                return Err(DeliveryError::Config(format!(
                    "{variable} carries a user name or password; give credentials in \
                     cequence_client_id / cequence_client_secret instead"
                )));
            }
        }
        let http = build_client(&settings)?;
        let token = TokenProvider::new(&settings, http.clone())?;
        Ok(Delivery {
            inner: Arc::new(Inner {
                http,
                url,
                token,
                compression: settings.compression,
                compression_refused: AtomicBool::new(false),
                max_in_flight: settings.max_in_flight.max(1),
                retry_max_elapsed: settings.retry_max_elapsed,
            }),
        })
    }

    /// Starts delivering one S3 object's batches.
    pub fn object(&self, id: ObjectId) -> ObjectDelivery {
        self.object_with(id, BatchSelection::default())
    }

    /// Starts delivering the batches of one object that `selection` names
    /// (a resume after a checkpoint, or a replay of parked batches); the
    /// others are counted as skipped and not sent.
    pub fn object_with(&self, id: ObjectId, selection: BatchSelection) -> ObjectDelivery {
        ObjectDelivery {
            settled: SettledPrefix::starting_at(match &selection {
                BatchSelection::From(first) => *first,
                BatchSelection::Only(_) => 0,
            }),
            selection,
            window: std::collections::VecDeque::new(),
            stalled: false,
            shared: Arc::new(ObjectShared {
                delivery: self.inner.clone(),
                id,
                retry_clock: OnceLock::new(),
                auth_failure: Mutex::new(None),
                budget_spent: Mutex::new(false),
            }),
            slots: Arc::new(Semaphore::new(self.inner.max_in_flight)),
            tasks: JoinSet::new(),
            running: HashMap::new(),
            report: DeliveryReport::default(),
            batches: 0,
        }
    }

    /// The compression the next batch will use.
    pub fn compression(&self) -> Compression {
        self.inner.compression()
    }

    /// The token provider (for tests and diagnostics).
    pub fn token_provider(&self) -> &TokenProvider {
        &self.inner.token
    }
}

impl Inner {
    fn compression(&self) -> Compression {
        if self.compression_refused.load(Ordering::Relaxed) {
            Compression::None
        } else {
            self.compression
        }
    }
}

/// State shared by the batches of one object.
#[derive(Debug)]
struct ObjectShared {
    delivery: Arc<Inner>,
    id: ObjectId,
    /// Started by the object's first retryable failure: the retry budget
    /// (`retry_max_elapsed`) runs from there.
    retry_clock: OnceLock<Instant>,
    /// Set by a permanent token error: later batches fail fast with it.
    auth_failure: Mutex<Option<String>>,
    /// Set when a batch gave up because the budget ran out.
    budget_spent: Mutex<bool>,
}

impl ObjectShared {
    fn remaining_budget(&self) -> Duration {
        let start = *self.retry_clock.get_or_init(Instant::now);
        self.delivery
            .retry_max_elapsed
            .saturating_sub(start.elapsed())
    }
    fn auth_failure(&self) -> Option<String> {
        self.auth_failure.lock().expect("poisoned").clone()
    }
}

/// The batches of one object on their way. `send` them in order, then `finish`.
#[derive(Debug)]
pub struct ObjectDelivery {
    shared: Arc<ObjectShared>,
    slots: Arc<Semaphore>,
    tasks: JoinSet<BatchResult>,
    /// index and transaction count of running tasks, for a task that panics.
    running: HashMap<tokio::task::Id, (u64, usize)>,
    report: DeliveryReport,
    batches: u64,
    selection: BatchSelection,
    /// Batches handed over, from the oldest unsettled one on, and whether
    /// each is settled. A new batch starts only while this holds fewer than
    /// `max_in_flight`: batches then finish at most `max_in_flight - 1`
    /// ahead of the first unsettled one, which bounds what a resume re-sends.
    window: std::collections::VecDeque<(u64, bool)>,
    settled: SettledPrefix,
    /// A batch could not start because failed batches fill the window.
    stalled: bool,
}

/// A batch that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedBatch {
    pub index: u64,
    pub transactions: usize,
    /// Why, in one line (status and bridge message, or transport error, and what was tried).
    pub reason: String,
    /// True when re-processing the object later may deliver it (5xx, timeouts, budget ran out).
    pub retryable: bool,
    /// The bridge's answer to this batch, when it answered (a refusal).
    pub status: Option<u16>,
    /// At most 200 bytes of the bridge's answer, on one line.
    pub answer: String,
}

/// What happened to one object's batches. Every batch `send` was given is
/// either counted in `batches_sent` or listed in `failed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Batches delivered (2xx).
    pub batches_sent: u64,
    /// Transactions in the delivered batches.
    pub transactions_sent: u64,
    /// Extra attempts made (backoff retries and 401 token refreshes).
    pub retries: u64,
    /// Batches not delivered, by index.
    pub failed: Vec<FailedBatch>,
    /// Batches not sent because the selection left them out (already
    /// delivered before a checkpoint, or not asked for by a replay).
    pub skipped_batches: u64,
    pub skipped_transactions: u64,
    /// How many leading batches need no resend: delivered, skipped, or
    /// refused for good (those are parked by the caller, not resent).
    pub settled_prefix: u64,
}

impl DeliveryReport {
    /// Writes what delivery did into the input's summary (the operator's
    /// line and the metrics), the same for objects and shard batches.
    pub fn fill_summary(&self, summary: &mut Summary) {
        summary.batches = self.batches_total();
        summary.skipped_batches = self.skipped_batches;
        summary.skipped_transactions = self.skipped_transactions;
        summary.retries = self.retries;
        summary.failed_batches = self.failed.len() as u64;
        summary.failed_transactions = self.transactions_failed();
    }

    /// All batches delivered?
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
    }

    /// Batches handed to delivery (delivered + failed).
    pub fn batches_total(&self) -> u64 {
        self.batches_sent + self.failed.len() as u64
    }

    /// Transactions that were not delivered.
    pub fn transactions_failed(&self) -> u64 {
        self.failed.iter().map(|f| f.transactions as u64).sum()
    }

    /// `None` when everything was delivered; otherwise an error naming the
    /// object, the failed batch indexes and why. It is retryable only when
    /// every failure is (then failing the invocation lets S3 retry the object,
    /// and the Idempotency-Keys let the bridge drop what it already has).
    pub fn error(&self, object: &ObjectId) -> Option<DeliveryError> {
        if self.failed.is_empty() {
            return None;
        }
        let indexes = self
            .failed
            .iter()
            .map(|f| f.index.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut reasons: Vec<&str> = Vec::new();
        for f in &self.failed {
            if !reasons.contains(&f.reason.as_str()) {
                reasons.push(&f.reason);
            }
        }
        let retryable = self.failed.iter().all(|f| f.retryable);
        Some(DeliveryError::ObjectFailed {
            object: object.to_string(),
            failed: self.failed.len(),
            total: self.batches_total(),
            indexes,
            reason: reasons.join("; "),
            retryable,
            advice: if retryable {
                "the bridge or the network failed for longer than cequence_retry_max_elapsed_s"
            } else {
                "the bridge or the token endpoint refused the request; \
                 check the bridge URL, the OAuth client settings and the bridge logs"
            },
        })
    }
}

#[derive(Debug)]
struct BatchResult {
    index: u64,
    transactions: usize,
    retries: u64,
    failure: Option<(String, bool)>,
    /// Status and answer excerpt of a refusal by the bridge.
    refusal: Option<(u16, String)>,
}

impl ObjectDelivery {
    /// Hands over the next batch. Waits for a free slot (at most
    /// `max_in_flight` batches are on the wire at once, which bounds memory
    /// while the reader keeps streaming), then delivers it in the background,
    /// with its retries. Never blocks on the whole object.
    pub async fn send(&mut self, batch: Batch) {
        if !self.selection.includes(batch.index) {
            self.report.skipped_batches += 1;
            self.report.skipped_transactions += batch.transactions as u64;
            return;
        }
        let max_in_flight = self.shared.delivery.max_in_flight;
        while self.window.len() >= max_in_flight {
            match self.tasks.join_next_with_id().await {
                Some(res) => self.record(res),
                None => {
                    // Nothing running and the window still full: its oldest
                    // batches failed. The object will be resumed from them;
                    // sending further ahead would only be re-sent. The batch
                    // is accounted for as failed, for the same reason.
                    self.stalled = true;
                    let (reason, retryable) = match self.shared.auth_failure() {
                        Some(reason) => (reason, false),
                        None => (
                            "not sent: an earlier batch of the object was not delivered".into(),
                            true,
                        ),
                    };
                    self.report.failed.push(FailedBatch {
                        index: batch.index,
                        transactions: batch.transactions,
                        reason,
                        retryable,
                        status: None,
                        answer: String::new(),
                    });
                    return;
                }
            }
        }
        self.batches += 1;
        self.window.push_back((batch.index, false));
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        self.reap_finished();
        let shared = self.shared.clone();
        let (index, transactions) = (batch.index, batch.transactions);
        let handle = self
            .tasks
            .spawn(async move { deliver_batch(shared, batch, permit).await });
        self.running.insert(handle.id(), (index, transactions));
    }

    /// True when sending more batches of this object is pointless: the token
    /// endpoint refused our credentials, or the retry budget ran out (the
    /// bridge is down). The caller may then stop reading; the object is failed
    /// either way, and what was not sent is sent when the object is retried.
    /// A single batch refused with a 4xx does not make the object failing.
    pub fn is_failing(&self) -> bool {
        self.stalled
            || self.shared.auth_failure().is_some()
            || *self.shared.budget_spent.lock().expect("poisoned")
    }

    /// Batches handed over so far.
    pub fn batches_queued(&self) -> u64 {
        self.batches
    }

    /// Waits for every batch in flight and returns the report.
    pub async fn finish(mut self) -> DeliveryReport {
        while let Some(res) = self.tasks.join_next_with_id().await {
            self.record(res);
        }
        self.report.failed.sort_by_key(|f| f.index);
        self.report.settled_prefix = self.settled.prefix();
        self.report
    }

    fn reap_finished(&mut self) {
        while let Some(res) = self.tasks.try_join_next_with_id() {
            self.record(res);
        }
    }

    fn record(&mut self, res: Result<(tokio::task::Id, BatchResult), tokio::task::JoinError>) {
        let r = match res {
            Ok((id, r)) => {
                self.running.remove(&id);
                r
            }
            Err(e) => {
                let (index, transactions) = self.running.remove(&e.id()).unwrap_or((u64::MAX, 0));
                BatchResult {
                    index,
                    transactions,
                    retries: 0,
                    failure: Some((format!("delivery task failed: {e}"), true)),
                    refusal: None,
                }
            }
        };
        self.report.retries += r.retries;
        // Delivered, or refused by the bridge for good (the caller parks it):
        // either way a resume need not send it again.
        let settled = r.failure.is_none() || r.refusal.is_some();
        if settled {
            self.settled.settle(r.index);
            if let Some(slot) = self.window.iter_mut().find(|(i, _)| *i == r.index) {
                slot.1 = true;
            }
        }
        while self.window.front().is_some_and(|(_, done)| *done) {
            self.window.pop_front();
        }
        match r.failure {
            None => {
                self.report.batches_sent += 1;
                self.report.transactions_sent += r.transactions as u64;
            }
            Some((reason, retryable)) => {
                let (status, answer) = r.refusal.unzip();
                self.report.failed.push(FailedBatch {
                    index: r.index,
                    transactions: r.transactions,
                    reason,
                    retryable,
                    status,
                    answer: answer.unwrap_or_default(),
                })
            }
        }
    }
}

/// Delivers one batch: token, POST, and the retry table, until delivered,
/// refused, or out of budget.
async fn deliver_batch(
    obj: Arc<ObjectShared>,
    batch: Batch,
    _permit: OwnedSemaphorePermit,
) -> BatchResult {
    let d = obj.delivery.clone();
    let mut prepared = PreparedBatch::new(&obj.id, batch, d.compression());
    let mut result = BatchResult {
        index: prepared.index,
        transactions: prepared.transactions,
        retries: 0,
        failure: None,
        refusal: None,
    };
    let mut backoff = Backoff::new();
    let mut refreshed_after_401 = false;
    let mut attempts = 0u32;
    loop {
        if let Some(reason) = obj.auth_failure() {
            result.failure = Some((reason, false));
            return result;
        }
        // Another batch's 415 turned compression off while this one waited.
        if prepared.is_compressed() && d.compression() == Compression::None {
            prepared.drop_compression();
        }
        // One attempt: what went wrong (if anything) and any Retry-After.
        let (reason, retry_after) = match d.token.get().await {
            Err(e) if !e.is_retryable() => {
                let reason = e.to_string();
                *obj.auth_failure.lock().expect("poisoned") = Some(reason.clone());
                tracing::error!(object = %obj.id.key, batch = prepared.index, "❌ {reason}");
                result.failure = Some((reason, false));
                return result;
            }
            Err(e) => (e.to_string(), None),
            Ok(token) => {
                attempts += 1;
                let req = prepared.request(&d.http, &d.url, token.secret());
                match req.send().await {
                    Err(e) => (format!("bridge {}: {}", d.url, describe(&e)), None),
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        if status == 415 && prepared.is_compressed() {
                            let _ = resp.bytes().await;
                            if !d.compression_refused.swap(true, Ordering::Relaxed) {
                                tracing::warn!(
                                    bridge = %d.url,
                                    batch = prepared.index,
                                    "bridge answered 415 to a gzip body: sending uncompressed from now on \
                                     (set cequence_compression=none to avoid this round trip)"
                                );
                            }
                            prepared.drop_compression();
                            result.retries += 1;
                            continue;
                        }
                        match classify(status) {
                            Outcome::Delivered => {
                                // Drain the (small) body so the connection is reused.
                                let _ = resp.bytes().await;
                                tracing::debug!(
                                    batch = prepared.index,
                                    status,
                                    attempts,
                                    "batch delivered"
                                );
                                return result;
                            }
                            Outcome::Unauthorized if !refreshed_after_401 => {
                                let _ = resp.bytes().await;
                                tracing::info!(
                                    batch = prepared.index,
                                    "🔑 bridge answered 401: refreshing the token and retrying once"
                                );
                                d.token.invalidate(&token).await;
                                refreshed_after_401 = true;
                                result.retries += 1;
                                continue;
                            }
                            Outcome::Unauthorized => {
                                let answer = body_excerpt(resp).await;
                                let msg = snippet(&answer);
                                let reason = format!(
                                    "bridge {} answered 401 to a freshly issued token{msg}: \
                                     the bridge does not accept tokens from {}",
                                    d.url,
                                    d.token.endpoint()
                                );
                                // It will refuse the next batches' tokens too: fail them fast
                                // instead of fetching a token for each.
                                *obj.auth_failure.lock().expect("poisoned") = Some(reason.clone());
                                tracing::error!(object = %obj.id.key, batch = prepared.index, "❌ {reason}");
                                result.failure = Some((reason, false));
                                result.refusal = Some((status, answer));
                                return result;
                            }
                            Outcome::Permanent => {
                                let answer = body_excerpt(resp).await;
                                let msg = snippet(&answer);
                                result.failure = Some((
                                    format!(
                                        "bridge {} answered HTTP {status}{msg} (not retried)",
                                        d.url
                                    ),
                                    false,
                                ));
                                result.refusal = Some((status, answer));
                                return result;
                            }
                            Outcome::Retryable => {
                                let ra = resp
                                    .headers()
                                    .get(reqwest::header::RETRY_AFTER)
                                    .and_then(|v| v.to_str().ok())
                                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                                let _ = resp.bytes().await;
                                (format!("bridge {} answered HTTP {status}", d.url), ra)
                            }
                        }
                    }
                }
            }
        };
        let remaining = obj.remaining_budget();
        match plan_retry(backoff.next_delay(), retry_after, remaining) {
            Some(wait) => {
                tracing::warn!(
                    batch = prepared.index,
                    wait_ms = wait.as_millis() as u64,
                    "↻ {reason}; retrying"
                );
                tokio::time::sleep(wait).await;
                result.retries += 1;
            }
            None => {
                *obj.budget_spent.lock().expect("poisoned") = true;
                let why = match retry_after {
                    Some(ra) if ra >= remaining => format!(
                        "Retry-After {}s exceeds the remaining retry budget",
                        ra.as_secs()
                    ),
                    _ => format!(
                        "retry budget of {}s spent",
                        d.retry_max_elapsed.as_secs_f64()
                    ),
                };
                result.failure = Some((
                    format!("{reason}; gave up after {attempts} attempt(s): {why}"),
                    true,
                ));
                return result;
            }
        }
    }
}

/// The body on one line, cut to at most 200 bytes (on a char boundary).
async fn body_excerpt(resp: reqwest::Response) -> String {
    let text = resp.text().await.unwrap_or_default();
    let mut one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut = one_line.len().min(200);
    while !one_line.is_char_boundary(cut) {
        cut -= 1;
    }
    one_line.truncate(cut);
    one_line
}

/// `: <excerpt>` or nothing.
fn snippet(answer: &str) -> String {
    if answer.is_empty() {
        String::new()
    } else {
        format!(": {answer}")
    }
}
