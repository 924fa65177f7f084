//! The failure-queue message for one batch the bridge refused (contract §7):
//! enough to send exactly that batch again with `replay --from-dlq`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
