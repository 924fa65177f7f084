//! Kinesis: reading a range of one shard back from the stream, for
//! `replay --from-dlq` of a real-time batch whose on-failure record names
//! only where the records were (shard, first and last sequence number).
//!
//! `GetShardIterator(AT_SEQUENCE_NUMBER)`, then `GetRecords` page by page
//! until past the range's end or the end of the shard. Kinesis keeps records
//! for the stream's retention period (24 h by default) only: when the range
//! is older, this says so ([`StreamReadError::Expired`]), naming what was
//! lost, instead of returning whatever the stream holds now.

use std::cmp::Ordering;
use std::time::Duration;

use aws_sdk_kinesis::config::Region;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::types::ShardIteratorType;
use futures_util::FutureExt;

use super::{describe_sdk_error, AdapterFuture};

/// Records per `GetRecords` call (Kinesis allows up to 10,000; a real-time
/// record is about 1 KB, so a page stays near 1 MB).
const PAGE_RECORDS: i32 = 1000;
/// `GetRecords` calls for one range before giving up: Kinesis may answer
/// with empty pages while it walks over trimmed or sparse parts of a shard.
const MAX_CALLS: usize = 2000;
/// Pause after an empty page (a shard serves 5 `GetRecords` calls a second).
const EMPTY_PAGE_PAUSE: Duration = Duration::from_millis(200);

/// Orders two Kinesis sequence numbers: decimal digit strings of up to 129
/// digits, so longer than any machine integer. Compared as numbers (leading
/// zeros ignored). Both must be digits only ([`is_sequence_number`]).
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Whether `text` is a sequence number: 1 to 129 decimal digits.
pub fn is_sequence_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 129 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A range of records of one shard, both ends inclusive (what a
/// `KinesisBatchInfo` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    /// `arn:aws:kinesis:<region>:<account>:stream/<name>`
    pub stream_arn: String,
    pub shard_id: String,
    pub start: String,
    pub end: String,
}

impl std::fmt::Display for ShardRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stream {}, shard {}, sequence numbers {} to {}",
            self.stream_arn, self.shard_id, self.start, self.end
        )
    }
}

/// Where a read of a range begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFrom {
    /// The range's first record (`range.start`); checked for expiry.
    Start,
    /// Right after this record: the continuation of a read that stopped at
    /// its record limit.
    After(String),
}

/// One record as the stream holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub sequence_number: String,
    pub partition_key: Option<String>,
    /// When Kinesis accepted the record, epoch milliseconds.
    pub approximate_arrival_ms: Option<i64>,
    pub data: Vec<u8>,
}

/// What one read of a range gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeChunk {
    /// In stream order, all within the range.
    pub records: Vec<StreamRecord>,
    /// `false` when the read stopped at its record limit: read on
    /// [`ReadFrom::After`] the last record.
    pub finished: bool,
    /// Some records at the start of the range have expired: this is the
    /// first sequence number the shard still holds (after `range.start`).
    /// Only a read from [`ReadFrom::Start`] can tell.
    pub expired_before: Option<String>,
    /// The shard ended, or its newest record was reached, before any record
    /// at or after `range.end`: the range's end is not in the stream.
    pub end_not_found: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamReadError {
    /// Nothing of the range is in the stream any more: its records are lost.
    #[error(
        "{range}: these records have expired, Kinesis no longer holds them ({retention}; {detail}). \
         They never reached the bridge and cannot be replayed: they are lost. \
         Replay the failure queue sooner than the retention period, or raise it (realtime_retention_hours)",
        retention = retention_text(*.retention_hours)
    )]
    Expired {
        range: ShardRange,
        /// The stream's retention period, when it could be read.
        retention_hours: Option<i32>,
        /// What Kinesis said, or what we saw.
        detail: String,
    },
    /// The range itself is not usable (not sequence numbers, end before start).
    #[error("{range}: not a range of records: {reason}")]
    BadRange { range: ShardRange, reason: String },
    /// Access denied, throttling, network: worth another try later.
    #[error("{range}: kinesis:{action} failed: {message}")]
    Failed {
        range: ShardRange,
        action: &'static str,
        message: String,
    },
}

fn retention_text(hours: Option<i32>) -> String {
    match hours {
        Some(hours) => format!("the stream keeps records {hours} hours"),
        None => {
            "its retention period could not be read; Kinesis keeps records 24 hours unless raised"
                .to_string()
        }
    }
}

/// Reads records back from a Kinesis stream (Kinesis in production; a map
/// in tests).
pub trait StreamReader: Send + Sync {
    /// The records of `range` from `from` on, at most `max_records` of them
    /// (at least one is always returned when there is one), in stream order.
    fn read_range<'a>(
        &'a self,
        range: &'a ShardRange,
        from: &'a ReadFrom,
        max_records: usize,
    ) -> AdapterFuture<'a, Result<RangeChunk, StreamReadError>>;
}

/// The real Kinesis.
#[derive(Debug, Clone)]
pub struct KinesisStream {
    pub client: aws_sdk_kinesis::Client,
}

/// The region of a stream ARN (`arn:aws:kinesis:<region>:...`).
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

impl KinesisStream {
    /// A stream in another region than the client's is read in its own region
    /// (otherwise Kinesis would answer "not found", as if it had expired).
    fn region_override(&self, range: &ShardRange) -> Option<aws_sdk_kinesis::config::Builder> {
        let region = arn_region(&range.stream_arn)?;
        if self.client.config().region().map(Region::as_ref) == Some(region) {
            return None;
        }
        Some(aws_sdk_kinesis::config::Builder::default().region(Region::new(region.to_string())))
    }

    /// The stream's retention period, for the expiry message (best effort).
    async fn retention_hours(&self, range: &ShardRange) -> Option<i32> {
        let mut call = self
            .client
            .describe_stream_summary()
            .stream_arn(&range.stream_arn)
            .customize();
        if let Some(config) = self.region_override(range) {
            call = call.config_override(config);
        }
        let summary = call.send().await.ok()?;
        summary
            .stream_description_summary()
            .map(|s| s.retention_period_hours())
    }

    async fn expired(&self, range: &ShardRange, detail: String) -> StreamReadError {
        StreamReadError::Expired {
            range: range.clone(),
            retention_hours: self.retention_hours(range).await,
            detail,
        }
    }

    async fn read(
        &self,
        range: &ShardRange,
        from: &ReadFrom,
        max_records: usize,
    ) -> Result<RangeChunk, StreamReadError> {
        let bad = |reason: &str| StreamReadError::BadRange {
            range: range.clone(),
            reason: reason.to_string(),
        };
        if !is_sequence_number(&range.start) || !is_sequence_number(&range.end) {
            return Err(bad("the sequence numbers must be decimal digits"));
        }
        if compare_sequence_numbers(&range.start, &range.end) == Ordering::Greater {
            return Err(bad("the end comes before the start"));
        }
        let (kind, position) = match from {
            ReadFrom::Start => (ShardIteratorType::AtSequenceNumber, range.start.as_str()),
            ReadFrom::After(sequence) if is_sequence_number(sequence) => {
                (ShardIteratorType::AfterSequenceNumber, sequence.as_str())
            }
            ReadFrom::After(_) => return Err(bad("the continuation is not a sequence number")),
        };
        let mut call = self
            .client
            .get_shard_iterator()
            .stream_arn(&range.stream_arn)
            .shard_id(&range.shard_id)
            .shard_iterator_type(kind)
            .starting_sequence_number(position)
            .customize();
        if let Some(config) = self.region_override(range) {
            call = call.config_override(config);
        }
        let mut iterator = match call.send().await {
            Ok(out) => out.shard_iterator().map(str::to_string),
            // A trimmed sequence number (InvalidArgument: "StartingSequenceNumber
            // ... is no longer available"), or a shard or stream deleted since.
            Err(e)
                if matches!(
                    e.code(),
                    Some("InvalidArgumentException" | "ResourceNotFoundException")
                ) =>
            {
                let detail = format!("GetShardIterator: {}", describe_sdk_error(&e));
                return Err(self.expired(range, detail).await);
            }
            Err(e) => {
                return Err(StreamReadError::Failed {
                    range: range.clone(),
                    action: "GetShardIterator",
                    message: describe_sdk_error(&e),
                })
            }
        };

        let max_records = max_records.max(1);
        let mut chunk = RangeChunk::default();
        let mut first_seen: Option<String> = None;
        let mut calls = 0usize;
        while let Some(current) = iterator.take() {
            calls += 1;
            if calls > MAX_CALLS {
                return Err(StreamReadError::Failed {
                    range: range.clone(),
                    action: "GetRecords",
                    message: format!("no end of the range after {MAX_CALLS} calls"),
                });
            }
            let wanted = (max_records - chunk.records.len()).min(PAGE_RECORDS as usize);
            let mut call = self
                .client
                .get_records()
                .stream_arn(&range.stream_arn)
                .shard_iterator(current)
                .limit(wanted as i32)
                .customize();
            if let Some(config) = self.region_override(range) {
                call = call.config_override(config);
            }
            let page = call.send().await.map_err(|e| StreamReadError::Failed {
                range: range.clone(),
                action: "GetRecords",
                message: describe_sdk_error(&e),
            })?;
            for record in page.records() {
                let sequence = record.sequence_number();
                if first_seen.is_none() {
                    first_seen = Some(sequence.to_string());
                    if *from == ReadFrom::Start {
                        if compare_sequence_numbers(sequence, &range.end) == Ordering::Greater {
                            let detail = format!(
                                "the oldest record the shard still holds is {sequence}, after the range"
                            );
                            return Err(self.expired(range, detail).await);
                        }
                        if compare_sequence_numbers(sequence, &range.start) == Ordering::Greater {
                            chunk.expired_before = Some(sequence.to_string());
                        }
                    }
                }
                if compare_sequence_numbers(sequence, &range.end) == Ordering::Greater {
                    chunk.finished = true;
                    return Ok(chunk);
                }
                chunk.records.push(StreamRecord {
                    sequence_number: sequence.to_string(),
                    partition_key: record.partition_key().map(str::to_string),
                    approximate_arrival_ms: record
                        .approximate_arrival_timestamp()
                        .and_then(|t| t.to_millis().ok()),
                    data: record.data().as_ref().to_vec(),
                });
                if compare_sequence_numbers(sequence, &range.end) != Ordering::Less {
                    chunk.finished = true;
                    return Ok(chunk);
                }
                if chunk.records.len() >= max_records {
                    return Ok(chunk);
                }
            }
            let at_tip = page.millis_behind_latest() == Some(0) && page.records().is_empty();
            iterator = page.next_shard_iterator().map(str::to_string);
            if iterator.is_none() || at_tip {
                break; // the shard is closed and read to its end, or no newer record exists
            }
            if page.records().is_empty() {
                tokio::time::sleep(EMPTY_PAGE_PAUSE).await;
            }
        }
        if first_seen.is_none() && *from == ReadFrom::Start {
            let detail = "the shard holds no record at or after the range's start".to_string();
            return Err(self.expired(range, detail).await);
        }
        chunk.finished = true;
        chunk.end_not_found = true;
        Ok(chunk)
    }
}

impl StreamReader for KinesisStream {
    fn read_range<'a>(
        &'a self,
        range: &'a ShardRange,
        from: &'a ReadFrom,
        max_records: usize,
    ) -> AdapterFuture<'a, Result<RangeChunk, StreamReadError>> {
        self.read(range, from, max_records).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sequence_numbers_compare_as_big_numbers() {
        let long = "49590338271490256608559692538361571095921575989136588898";
        let next = "49590338271490256608559692538361571095921575989136588899";
        assert_eq!(compare_sequence_numbers(long, next), Ordering::Less);
        assert_eq!(compare_sequence_numbers(next, long), Ordering::Greater);
        assert_eq!(compare_sequence_numbers("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence_numbers("007", "7"), Ordering::Equal);
        assert_eq!(compare_sequence_numbers("0", "000"), Ordering::Equal);
        assert_eq!(compare_sequence_numbers(long, "2"), Ordering::Greater);
        assert!(is_sequence_number(long));
        assert!(!is_sequence_number(""));
        assert!(!is_sequence_number("12a"));
        assert!(!is_sequence_number(&"1".repeat(130)));
    }

    proptest! {
        #[test]
        fn comparison_agrees_with_u128(a in any::<u128>(), b in any::<u128>(), pad in 0usize..3) {
            let a_text = format!("{}{a}", "0".repeat(pad));
            prop_assert_eq!(compare_sequence_numbers(&a_text, &b.to_string()), a.cmp(&b));
        }
    }

    #[test]
    fn regions_come_from_the_stream_arn() {
        assert_eq!(
            arn_region("arn:aws:kinesis:eu-west-1:123456789012:stream/s"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("not-an-arn"), None);
    }

    #[test]
    fn the_expiry_message_names_what_was_lost() {
        let range = ShardRange {
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/rt".into(),
            shard_id: "shardId-000000000001".into(),
            start: "100".into(),
            end: "200".into(),
        };
        let text = StreamReadError::Expired {
            range: range.clone(),
            retention_hours: Some(24),
            detail: "GetShardIterator: StartingSequenceNumber 100 is no longer available".into(),
        }
        .to_string();
        for part in [
            "stream/rt",
            "shardId-000000000001",
            "100 to 200",
            "24 hours",
            "expired",
            "lost",
            "no longer available",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let unknown = StreamReadError::Expired {
            range,
            retention_hours: None,
            detail: String::new(),
        }
        .to_string();
        assert!(unknown.contains("24 hours unless raised"), "{unknown}");
    }
}
