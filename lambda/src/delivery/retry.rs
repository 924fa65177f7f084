//! Pure retry policy: what a bridge answer means (the contract's status table),
//! `Retry-After` parsing, and capped exponential backoff with full jitter
//! bounded by the object's remaining retry budget. No I/O, no sleeping here.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// What to do after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `2xx`: the batch is delivered.
    Delivered,
    /// `401`: drop the cached token, fetch a new one and retry once.
    Unauthorized,
    /// `408`, `429`, `5xx` (and connection errors, timeouts): retry with backoff.
    Retryable,
    /// Any other status (other `4xx`, unexpected `1xx`/`3xx`): fail the batch, no retry.
    Permanent,
}

/// The contract's status → outcome table.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        401 => Outcome::Unauthorized,
        408 | 429 | 500..=599 => Outcome::Retryable,
        _ => Outcome::Permanent,
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (relative to `now`).
/// A date in the past means "now" (zero). Garbage yields `None` (ignored).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Huge numbers saturate; the budget caps them anyway.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// First backoff step (before jitter).
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Largest backoff step (before jitter).
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Capped exponential backoff (backon's `ExponentialBuilder`: 200 ms × 2ⁿ,
/// capped at 30 s, unbounded count: the time budget is what stops us) with
/// "full jitter" (a uniform draw in `[0, step]`, as in the AWS architecture
/// blog's analysis) applied on top. backon's own jitter adds `[0, step]` to
/// the step, which is not full jitter, so it is left off.
#[derive(Debug)]
pub struct Backoff {
    steps: ExponentialBackoff,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    pub fn new() -> Self {
        Backoff {
            steps: ExponentialBuilder::default()
                .with_min_delay(BACKOFF_MIN)
                .with_max_delay(BACKOFF_MAX)
                .with_factor(2.0)
                .without_max_times()
                .build(),
        }
    }

    /// The next (un-jittered) step.
    pub fn next_step(&mut self) -> Duration {
        self.steps.next().unwrap_or(BACKOFF_MAX)
    }

    /// The next delay, with full jitter.
    pub fn next_delay(&mut self) -> Duration {
        full_jitter(self.next_step(), fastrand::f64())
    }
}

/// Full jitter: `step × r` for a uniform `r` in `[0, 1]`.
pub fn full_jitter(step: Duration, r: f64) -> Duration {
    step.mul_f64(r.clamp(0.0, 1.0))
}

/// How long to wait before the next attempt, or `None` to give up now.
///
/// The wait is the jittered backoff, raised to the server's `Retry-After` when
/// it asks for longer. If that wait does not fit in the remaining budget we
/// give up at once rather than sleep into a retry the budget cannot afford
/// (and never retry earlier than `Retry-After` asked).
pub fn plan_retry(
    backoff: Duration,
    retry_after: Option<Duration>,
    remaining: Duration,
) -> Option<Duration> {
    let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
    (wait < remaining).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(classify(s), Outcome::Delivered, "{s}");
        }
        assert_eq!(classify(401), Outcome::Unauthorized);
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify(s), Outcome::Retryable, "{s}");
        }
        for s in [400, 403, 404, 405, 409, 411, 413, 415, 422, 451, 499] {
            assert_eq!(classify(s), Outcome::Permanent, "{s}");
        }
        for s in [100, 301, 302, 304, 307, 308] {
            assert_eq!(classify(s), Outcome::Permanent, "{s}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(120))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(120));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut b = Backoff::new();
        let steps: Vec<_> = (0..12).map(|_| b.next_step()).collect();
        // backon multiplies by an f32 factor: allow for rounding.
        let near = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_millis(1);
        assert!(near(steps[0], BACKOFF_MIN), "{steps:?}");
        assert!(near(steps[1], BACKOFF_MIN * 2), "{steps:?}");
        assert!(near(steps[2], BACKOFF_MIN * 4), "{steps:?}");
        assert!(steps.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*steps.last().unwrap(), BACKOFF_MAX);
        for _ in 0..100 {
            assert!(b.next_delay() <= BACKOFF_MAX);
        }
    }

    #[test]
    fn full_jitter_spans_zero_to_step() {
        let s = Duration::from_secs(10);
        assert_eq!(full_jitter(s, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(s, 1.0), s);
        assert_eq!(full_jitter(s, 0.5), Duration::from_secs(5));
        assert_eq!(full_jitter(s, 7.0), s);
    }

    #[test]
    fn plan_honours_retry_after_and_budget() {
        let ms = Duration::from_millis;
        assert_eq!(plan_retry(ms(100), None, ms(1000)), Some(ms(100)));
        // Retry-After longer than the backoff wins.
        assert_eq!(plan_retry(ms(100), Some(ms(700)), ms(1000)), Some(ms(700)));
        // ...but never shortens it.
        assert_eq!(plan_retry(ms(900), Some(ms(10)), ms(1000)), Some(ms(900)));
        // Does not fit in the budget: give up now.
        assert_eq!(plan_retry(ms(100), Some(ms(5000)), ms(1000)), None);
        assert_eq!(plan_retry(ms(1000), None, ms(1000)), None);
        assert_eq!(plan_retry(ms(1), None, Duration::ZERO), None);
    }
}
