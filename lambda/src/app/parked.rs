//! The failure-queue message for one batch the bridge refused (contract §7):
//! enough to send exactly that batch again with `replay --from-dlq`.
//! An S3 batch is named by object, version and batch index ([`ParkedBatch`]);
//! a real-time batch by the Kinesis records it came from, in the shape of the
//! event source mapping's own on-failure record ([`ParkedRecords`]), so one
//! reader of `KinesisBatchInfo` re-reads both from the stream.

use serde::{Deserialize, Serialize};

use crate::core::object::ObjectId;

/// Marks our messages among Lambda's on-failure records on the same queue.
pub const KIND: &str = "cf-passive.refused-batch";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedBatch {
    pub kind: String,
    /// `s3://bucket/key`, for people reading the queue.
    pub object: String,
    pub bucket: String,
    pub key: String,
    /// ETag or version id the batch was cut from.
    pub version: String,
    /// 0-based batch index within the object.
    pub batch: u64,
    /// Fingerprint of the batch settings that cut it.
    pub settings: String,
    /// The bridge's HTTP status.
    pub status: u16,
    /// At most 200 bytes of the bridge's answer.
    pub answer: String,
}

impl ParkedBatch {
    pub fn new(object: &ObjectId, batch: u64, settings: &str, status: u16, answer: &str) -> Self {
        ParkedBatch {
            kind: KIND.into(),
            object: object.to_string(),
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version: object.version.clone(),
            batch,
            settings: settings.into(),
            status,
            answer: answer.into(),
        }
    }

    pub fn object_id(&self) -> ObjectId {
        ObjectId::new(&self.bucket, &self.key).with_version(&self.version)
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a parked batch serialises")
    }

    /// `None` unless the body is one of our parked-batch messages.
    pub fn from_body(body: &str) -> Option<ParkedBatch> {
        serde_json::from_str::<ParkedBatch>(body)
            .ok()
            .filter(|p| p.kind == KIND)
    }
}

/// Marks a refused real-time batch among the on-failure records.
pub const RECORDS_KIND: &str = "cf-passive.refused-records";

/// The sequence range of a refused real-time batch, spelled as the event
/// source mapping spells `KinesisBatchInfo` (see `sources::kinesis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRange {
    pub shard_id: String,
    /// The first record whose transactions the batch held.
    pub start_sequence_number: String,
    /// The last one.
    pub end_sequence_number: String,
    pub stream_arn: String,
    /// Kinesis records from start to end, both included (some may have
    /// been filtered: a replay filters them again).
    pub batch_size: u64,
}

/// What the bridge said, and where the batch was in its invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    pub kind: String,
    /// `kinesis://<stream>/<shard>`, for people reading the queue.
    pub log_object: String,
    /// 0-based bridge batch index within the invocation's shard batch.
    pub batch: u64,
    /// The bridge's HTTP status.
    pub status: u16,
    /// At most 200 bytes of the bridge's answer.
    pub answer: String,
}

/// A refused real-time batch on the failure queue: `KinesisBatchInfo` as
/// Lambda writes it, plus our refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedRecords {
    pub version: String,
    /// When it was parked (RFC 3339, UTC).
    pub timestamp: String,
    #[serde(rename = "KinesisBatchInfo")]
    pub batch_info: RecordRange,
    #[serde(rename = "cfPassive")]
    pub refusal: Refusal,
}

impl ParkedRecords {
    pub fn new(batch_info: RecordRange, refusal: Refusal, now: std::time::SystemTime) -> Self {
        ParkedRecords {
            version: "1.0".into(),
            timestamp: humantime_rfc3339(now),
            batch_info,
            refusal,
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a parked record range serialises")
    }

    /// `None` unless the body is one of our refused real-time batches.
    pub fn from_body(body: &str) -> Option<ParkedRecords> {
        serde_json::from_str::<ParkedRecords>(body)
            .ok()
            .filter(|p| p.refusal.kind == RECORDS_KIND)
    }
}

/// `2026-11-30T09:51:52Z` (seconds; UTC) without a date crate.
fn humantime_rfc3339(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_records_read_back_as_kinesis_batch_info() {
        let range = RecordRange {
            shard_id: "shardId-000000000000".into(),
            start_sequence_number: "7".into(),
            end_sequence_number: "12".into(),
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/s".into(),
            batch_size: 6,
        };
        let refusal = Refusal {
            kind: RECORDS_KIND.into(),
            log_object: "kinesis://s/shardId-000000000000".into(),
            batch: 2,
            status: 400,
            answer: "bad".into(),
        };
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_496_312);
        let parked = ParkedRecords::new(range, refusal, at);
        assert_eq!(parked.timestamp, "2025-11-30T09:51:52Z");
        let body = parked.to_body();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let info = crate::app::sources::kinesis::kinesis_batch_info(&value).unwrap();
        assert_eq!(info.shard_id, "shardId-000000000000");
        assert_eq!(
            (
                info.start_sequence_number.as_str(),
                info.end_sequence_number.as_str()
            ),
            ("7", "12")
        );
        assert_eq!(info.batch_size, Some(6));
        assert_eq!(ParkedRecords::from_body(&body), Some(parked));
        // Neither kind is mistaken for the other.
        assert_eq!(ParkedBatch::from_body(&body), None);
        let s3 = ParkedBatch::new(&ObjectId::new("b", "k"), 0, "00", 400, "").to_body();
        assert_eq!(ParkedRecords::from_body(&s3), None);
    }

    #[test]
    fn round_trip_and_other_messages() {
        let id = ObjectId::new("b", "k/E1.gz").with_version("etag1");
        let p = ParkedBatch::new(&id, 3, "00ff", 400, "bad field");
        let body = p.to_body();
        assert!(body.contains("\"object\":\"s3://b/k/E1.gz\""), "{body}");
        assert_eq!(ParkedBatch::from_body(&body), Some(p.clone()));
        assert_eq!(p.object_id(), id);
        assert_eq!(ParkedBatch::from_body(r#"{"requestPayload":{}}"#), None);
        assert_eq!(ParkedBatch::from_body("not json"), None);
    }
}
