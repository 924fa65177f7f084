//! Per-object counts (contract §6), filled by the pipeline and delivery.

use std::collections::BTreeMap;
use std::time::Duration;

/// How many malformed rows are reported individually per object.
pub const MALFORMED_SAMPLES: usize = 5;

/// A malformed row: its 1-based line number and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MalformedRow {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Physical lines read, headers included.
    pub lines: u64,
    /// Transactions produced (before delivery).
    pub transactions: u64,
    pub skipped_static: u64,
    /// Records of distributions whose `cequence-enabled` tag is not `true`.
    pub skipped_disabled: u64,
    /// Records for which neither the key nor a field names a distribution.
    pub no_distribution: u64,
    pub malformed: u64,
    pub malformed_samples: Vec<MalformedRow>,
    /// Transactions per distribution id.
    pub per_distribution: BTreeMap<String, u64>,
    /// The newest record time seen (RFC 3339), for the lag metric.
    pub newest_record: Option<String>,
    pub batches: u64,
    /// Batches not sent this time: delivered before (the checkpoint), or
    /// not asked for (a replay of parked batches).
    pub skipped_batches: u64,
    pub skipped_transactions: u64,
    pub retries: u64,
    pub failed_batches: u64,
    pub failed_transactions: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn record_malformed(&mut self, line: u64, reason: impl Into<String>) -> bool {
        self.malformed += 1;
        if self.malformed_samples.len() < MALFORMED_SAMPLES {
            self.malformed_samples.push(MalformedRow {
                line,
                reason: reason.into(),
            });
            true
        } else {
            false
        }
    }

    /// Counts one transaction of `distribution` (per record: no allocation
    /// once the distribution has been seen).
    pub fn count_transaction(&mut self, distribution: &str) {
        self.transactions += 1;
        match self.per_distribution.get_mut(distribution) {
            Some(count) => *count += 1,
            None => {
                self.per_distribution.insert(distribution.to_string(), 1);
            }
        }
    }

    pub fn record_time(&mut self, timestamp: &str) {
        // RFC 3339 strings of ours compare correctly on their first 19 bytes.
        // Called per record: compare borrowed prefixes, allocate only when newer.
        fn key(t: &str) -> &str {
            t.get(..19).unwrap_or(t)
        }
        match &self.newest_record {
            Some(newest) if key(newest) >= key(timestamp) => {}
            _ => self.newest_record = Some(timestamp.to_string()),
        }
    }
}
