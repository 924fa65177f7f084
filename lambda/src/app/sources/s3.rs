//! The S3 source: incoming events → the S3 objects to process. Accepts an S3
//! event, the same event wrapped in SQS or SNS messages (or SNS inside SQS),
//! and the Lambda on-failure destination record (`requestPayload`), so a
//! queue can be put in front later, and `replay --from-dlq` can reuse it,
//! without a code change.

use aws_lambda_events::event::s3::S3Event;
use serde_json::Value;

use crate::core::object::ObjectId;

/// One object-created notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// Bucket and key (URL-decoded: `+` is a space in S3 event keys).
    pub object: ObjectId,
    /// Size from the event, when present (0 → not a log).
    pub size: Option<u64>,
}

/// What an event turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedEvent {
    pub objects: Vec<ObjectEvent>,
    /// Records acknowledged and ignored: `s3:TestEvent`, non-create events.
    pub ignored: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event is not an S3, SQS or SNS event: {0}")]
    Unrecognised(String),
    #[error("an S3 event record could not be read: {0}")]
    BadS3Record(String),
}

/// Decodes an S3 event key: `+` is a space, then percent-decoding. Malformed
/// escapes are kept as written.
pub fn decode_event_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    crate::core::decode::percent_decode(&spaced).into_owned()
}

/// Parses any supported event shape.
pub fn parse_event(event: &Value) -> Result<ParsedEvent, EventError> {
    let mut parsed = ParsedEvent::default();
    collect(event, &mut parsed, 0)?;
    Ok(parsed)
}

fn collect(event: &Value, out: &mut ParsedEvent, depth: u8) -> Result<(), EventError> {
    if depth > 3 {
        return Err(EventError::Unrecognised("nested too deeply".into()));
    }
    // s3:TestEvent, sent when a notification is configured: no Records.
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        out.ignored.push("s3:TestEvent".into());
        return Ok(());
    }
    // Lambda on-failure destination record: the original event is requestPayload.
    if let Some(payload) = event.get("requestPayload") {
        return collect(payload, out, depth + 1);
    }
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Err(EventError::Unrecognised(shape(event)));
    };
    for record in records {
        let source = record
            .get("eventSource")
            .or_else(|| record.get("EventSource"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        match source {
            "aws:s3" => collect_s3(record, out)?,
            "aws:sqs" => {
                let body = record
                    .get("body")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                collect(&json_text(body)?, out, depth + 1)?;
            }
            "aws:sns" => {
                let message = record
                    .pointer("/Sns/Message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                collect(&json_text(message)?, out, depth + 1)?;
            }
            other => {
                return Err(EventError::Unrecognised(format!("a record from {other:?}")));
            }
        }
    }
    // An SNS notification delivered raw into SQS has Type/Message at the top.
    Ok(())
}

/// Parses the text of an SQS body or SNS message; an SNS envelope (an SQS
/// subscription without raw delivery) is unwrapped to its `Message`.
fn json_text(text: &str) -> Result<Value, EventError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| EventError::Unrecognised(format!("a message body that is not JSON: {e}")))?;
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        if let Some(message) = value.get("Message").and_then(Value::as_str) {
            return json_text(message);
        }
    }
    Ok(value)
}

fn collect_s3(record: &Value, out: &mut ParsedEvent) -> Result<(), EventError> {
    let wrapped = serde_json::json!({ "Records": [record] });
    let event: S3Event =
        serde_json::from_value(wrapped).map_err(|e| EventError::BadS3Record(e.to_string()))?;
    for record in event.records {
        let name = record.event_name.unwrap_or_default();
        if !name.starts_with("ObjectCreated:") && !name.starts_with("s3:ObjectCreated:") {
            out.ignored.push(name);
            continue;
        }
        let bucket = record.s3.bucket.name.unwrap_or_default();
        let Some(raw_key) = record.s3.object.key else {
            return Err(EventError::BadS3Record(
                "an S3 record without object.key".into(),
            ));
        };
        out.objects.push(ObjectEvent {
            object: ObjectId::new(bucket, decode_event_key(&raw_key)),
            size: record.s3.object.size.and_then(|s| u64::try_from(s).ok()),
        });
    }
    Ok(())
}

fn shape(event: &Value) -> String {
    match event.as_object() {
        Some(map) => format!("keys {:?}", map.keys().take(8).collect::<Vec<_>>()),
        None => "not a JSON object".into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A complete S3 event record, as S3 sends it (every field the typed
    /// event needs is present).
    pub fn s3_record(bucket: &str, key: &str, size: u64, event_name: &str) -> Value {
        json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2024-01-31T23:59:59.000Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "cequence",
                "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {"key": key, "size": size, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901"}
            }
        })
    }

    #[test]
    fn every_record_of_an_s3_event_is_used_and_keys_are_decoded() {
        let event = json!({"Records": [
            s3_record("b", "logs/E1ABC.2024-01-31-23.a.gz", 10, "ObjectCreated:Put"),
            s3_record("b", "logs/with+space/caf%C3%A9+%2B.gz", 20, "ObjectCreated:CompleteMultipartUpload"),
            s3_record("b", "logs/gone.gz", 0, "ObjectRemoved:Delete"),
        ]});
        let parsed = parse_event(&event).unwrap();
        assert_eq!(parsed.objects.len(), 2);
        assert_eq!(
            parsed.objects[1].object.key,
            "logs/with space/caf\u{e9} +.gz"
        );
        assert_eq!(parsed.objects[1].size, Some(20));
        assert_eq!(parsed.ignored, ["ObjectRemoved:Delete"]);
    }

    #[test]
    fn test_event_is_acknowledged() {
        let event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-01-31T23:59:59.000Z", "Bucket": "b", "RequestId": "x", "HostId": "y"});
        let parsed = parse_event(&event).unwrap();
        assert!(parsed.objects.is_empty());
        assert_eq!(parsed.ignored, ["s3:TestEvent"]);
    }

    #[test]
    fn sqs_sns_and_failure_destination_wrappers() {
        let s3 = json!({"Records": [s3_record("b", "k1", 5, "ObjectCreated:Put")]});
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "1", "body": s3.to_string()}]});
        assert_eq!(parse_event(&sqs).unwrap().objects[0].object.key, "k1");
        let sns =
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": s3.to_string()}}]});
        assert_eq!(parse_event(&sns).unwrap().objects[0].object.key, "k1");
        let envelope = json!({"Type": "Notification", "Message": s3.to_string()});
        let sns_in_sqs =
            json!({"Records": [{"eventSource": "aws:sqs", "body": envelope.to_string()}]});
        assert_eq!(
            parse_event(&sns_in_sqs).unwrap().objects[0].object.key,
            "k1"
        );
        let failure = json!({"version": "1.0", "requestContext": {"condition": "RetriesExhausted"}, "requestPayload": s3});
        assert_eq!(parse_event(&failure).unwrap().objects[0].object.key, "k1");
        let test_in_sqs = json!({"Records": [{"eventSource": "aws:sqs", "body": "{\"Event\":\"s3:TestEvent\"}"}]});
        assert_eq!(parse_event(&test_in_sqs).unwrap().ignored, ["s3:TestEvent"]);
    }

    #[test]
    fn unknown_shapes_are_errors_not_panics() {
        for bad in [
            json!({}),
            json!([]),
            json!("x"),
            json!({"Records": [{"eventSource": "aws:kinesis"}]}),
            json!({"Records": [{"eventSource": "aws:sqs", "body": "not json"}]}),
            json!({"Records": [{"eventSource": "aws:s3"}]}),
        ] {
            assert!(parse_event(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_key_decoding_table() {
        for (raw, want) in [
            ("a+b", "a b"),
            ("a%2Bb", "a+b"),
            ("%E2%9C%93", "\u{2713}"),
            ("100%", "100%"),
            ("plain/key.gz", "plain/key.gz"),
        ] {
            assert_eq!(decode_event_key(raw), want);
        }
    }
}
