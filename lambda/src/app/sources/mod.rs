//! Sources: what an invocation's event holds, as inputs for the core.
//!
//! Each input kind is one module here and one arm of [`Input`]; the handler
//! matches on it once: S3 objects (`s3`: S3 events, also wrapped in SQS/SNS
//! or Lambda's on-failure record) and Kinesis records of real-time logs
//! (`kinesis`: the event of a Kinesis event source mapping).

pub mod kinesis;
pub mod s3;

use serde_json::Value;

pub use kinesis::{KinesisEventError, ShardBatch};
pub use s3::{EventError, ObjectEvent, ParsedEvent};

/// An invocation's input, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Log objects in S3 (and records acknowledged without work).
    Objects(ParsedEvent),
    /// Real-time log records, one batch per stream shard (an event source
    /// mapping sends one shard per invocation).
    Records(Vec<ShardBatch>),
}

/// Why an event is not one we can work on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    S3(#[from] EventError),
    #[error(transparent)]
    Kinesis(#[from] KinesisEventError),
}

/// Recognises an event: Kinesis first (its records carry `eventSource:
/// aws:kinesis`), else the S3 shapes.
pub fn recognise(event: &Value) -> Result<Input, SourceError> {
    if kinesis::is_kinesis_event(event) {
        return Ok(Input::Records(kinesis::parse_kinesis_event(event)?));
    }
    Ok(Input::Objects(s3::parse_event(event)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinesis_events_are_routed_first_and_others_as_before() {
        let kinesis = json!({"Records": [{
            "eventSource": "aws:kinesis",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "eventID": "shardId-000000000000:1",
            "kinesis": {"sequenceNumber": "1", "data": "YQ=="}
        }]});
        match recognise(&kinesis).unwrap() {
            Input::Records(shards) => {
                assert_eq!(shards.len(), 1);
                assert_eq!(shards[0].records[0].data.as_deref(), Some(&b"a"[..]));
            }
            other => panic!("{other:?}"),
        }
        let bad = json!({"Records": [{"eventSource": "aws:kinesis", "kinesis": {}}]});
        assert!(matches!(recognise(&bad), Err(SourceError::Kinesis(_))));
        let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent"});
        assert!(matches!(recognise(&test_event), Ok(Input::Objects(_))));
    }
}
