//! The Lambda event of a Kinesis event source mapping, and the answer it
//! expects (contract §7–8). Pure: JSON in, plain values out; no AWS calls.
//!
//! An event source mapping hands the function one batch of one shard:
//! `Records[].kinesis.{data (base64), sequenceNumber, partitionKey,
//! approximateArrivalTimestamp}`, `eventSource: "aws:kinesis"`,
//! `eventSourceARN` (the stream) and `eventID` (`<shard id>:<sequence>`).
//! With `ReportBatchItemFailures` the function answers
//! `{"batchItemFailures": [{"itemIdentifier": "<sequence number>"}]}` and
//! Lambda retries the shard from that record; an empty list means the whole
//! batch was handled.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::core::shard::ShardRecord;

/// The `eventSource` of a Kinesis record.
pub const KINESIS_EVENT_SOURCE: &str = "aws:kinesis";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KinesisEventError {
    #[error("not a Kinesis event: {0}")]
    NotKinesis(String),
    #[error("Kinesis record {index} cannot be used: {reason}")]
    BadRecord { index: usize, reason: String },
}

/// One Kinesis record of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisRecord {
    /// The record's sequence number: what `batchItemFailures` names.
    pub sequence_number: String,
    pub partition_key: Option<String>,
    /// When Kinesis accepted the record, epoch milliseconds.
    pub approximate_arrival_ms: Option<i64>,
    /// The decoded data: one real-time log line. `None` when the data was
    /// not valid base64 (count the record as malformed, never fail the batch).
    pub data: Option<Vec<u8>>,
}

/// The records of one shard, in the order Lambda delivered them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBatch {
    /// `arn:aws:kinesis:<region>:<account>:stream/<name>`
    pub stream_arn: String,
    pub stream_name: String,
    /// e.g. `shardId-000000000000`
    pub shard_id: String,
    pub records: Vec<KinesisRecord>,
}

impl ShardBatch {
    /// `txn-meta-data.cloudfront.log-object` of its transactions (contract §3).
    pub fn log_object(&self) -> String {
        format!("kinesis://{}/{}", self.stream_name, self.shard_id)
    }

    /// The records as the core reads them (borrowed, nothing copied).
    pub fn core_records(&self) -> Vec<ShardRecord<'_>> {
        self.records
            .iter()
            .map(|r| ShardRecord {
                sequence_number: &r.sequence_number,
                data: r.data.as_deref(),
            })
            .collect()
    }

    /// The sequence number of the batch's first record, the base of its
    /// idempotency keys.
    pub fn first_sequence_number(&self) -> Option<&str> {
        self.records.first().map(|r| r.sequence_number.as_str())
    }
}

/// Whether `event` is a Kinesis event (its first record comes from Kinesis),
/// so the caller can route it before trying the S3/SQS/SNS shapes.
pub fn is_kinesis_event(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|records| records.first())
        .and_then(|record| record.get("eventSource"))
        .and_then(Value::as_str)
        == Some(KINESIS_EVENT_SOURCE)
}

/// The stream name of a stream ARN (`...:stream/<name>`).
pub fn stream_name(stream_arn: &str) -> Option<&str> {
    let (prefix, name) = stream_arn.rsplit_once(":stream/")?;
    (prefix.starts_with("arn:") && !name.is_empty() && !name.contains('/')).then_some(name)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKinesis {
    data: Option<String>,
    sequence_number: Option<String>,
    partition_key: Option<String>,
    approximate_arrival_timestamp: Option<f64>,
}

#[derive(Deserialize)]
struct RawRecord {
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    #[serde(rename = "eventSourceARN")]
    event_source_arn: Option<String>,
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    kinesis: Option<RawKinesis>,
}

/// Seconds with a fraction (as Lambda writes `approximateArrivalTimestamp`)
/// to epoch milliseconds; `None` when not a plausible time.
fn seconds_to_millis(seconds: f64) -> Option<i64> {
    let millis = (seconds * 1000.0).round();
    // Up to year 9999; also rejects NaN and infinities.
    (0.0..=253_402_300_799_999.0)
        .contains(&millis)
        .then_some(millis as i64)
}

/// Parses a Kinesis event into its shard batches (one, from an event source
/// mapping; records of several shards, as a hand-made event might hold, are
/// grouped by stream and shard in the order they first appear).
///
/// A record without a sequence number, stream ARN or shard id fails the
/// event: without them no failure can be reported or key computed. A record
/// whose data is not base64 is kept with `data: None`.
pub fn parse_kinesis_event(event: &Value) -> Result<Vec<ShardBatch>, KinesisEventError> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| KinesisEventError::NotKinesis("no Records array".into()))?;
    let mut batches: Vec<ShardBatch> = Vec::new();
    for (index, value) in records.iter().enumerate() {
        let bad = |reason: &str| KinesisEventError::BadRecord {
            index,
            reason: reason.to_string(),
        };
        // From the borrowed value: no copy of the record's (large) data.
        let raw =
            RawRecord::deserialize(value).map_err(|e| bad(&format!("unexpected shape: {e}")))?;
        if raw.event_source.as_deref() != Some(KINESIS_EVENT_SOURCE) {
            return Err(KinesisEventError::NotKinesis(format!(
                "record {index} comes from {:?}",
                raw.event_source.unwrap_or_default()
            )));
        }
        let kinesis = raw.kinesis.ok_or_else(|| bad("no kinesis object"))?;
        let sequence_number = kinesis
            .sequence_number
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad("no usable kinesis.sequenceNumber"))?;
        let stream_arn = raw
            .event_source_arn
            .ok_or_else(|| bad("no eventSourceARN"))?;
        let name = stream_name(&stream_arn)
            .ok_or_else(|| bad("eventSourceARN is not a Kinesis stream ARN"))?
            .to_string();
        let shard_id = raw
            .event_id
            .as_deref()
            .and_then(|id| id.split_once(':'))
            .map(|(shard, _)| shard)
            .filter(|shard| shard.starts_with("shardId-"))
            .ok_or_else(|| bad("eventID is not <shard id>:<sequence number>"))?
            .to_string();
        let record = KinesisRecord {
            data: kinesis
                .data
                .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok()),
            sequence_number,
            partition_key: kinesis.partition_key,
            approximate_arrival_ms: kinesis
                .approximate_arrival_timestamp
                .and_then(seconds_to_millis),
        };
        match batches
            .iter_mut()
            .find(|b| b.stream_arn == stream_arn && b.shard_id == shard_id)
        {
            Some(batch) => batch.records.push(record),
            None => batches.push(ShardBatch {
                stream_arn,
                stream_name: name,
                shard_id,
                records: vec![record],
            }),
        }
    }
    Ok(batches)
}

/// `Idempotency-Key` of bridge batch `batch_index` of a Kinesis batch
/// (contract §2): lowercase hex SHA-256 of
/// `stream-arn "\n" shard-id "\n" first-sequence-number "\n" batch-index`.
pub fn idempotency_key(
    stream_arn: &str,
    shard_id: &str,
    first_sequence_number: &str,
    batch_index: u64,
) -> String {
    let mut h = Sha256::new();
    h.update(stream_arn.as_bytes());
    h.update(b"\n");
    h.update(shard_id.as_bytes());
    h.update(b"\n");
    h.update(first_sequence_number.as_bytes());
    h.update(b"\n");
    h.update(batch_index.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// One entry of `batchItemFailures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    /// The sequence number Lambda retries the shard from.
    pub item_identifier: String,
}

/// The function's answer to a Kinesis event (`ReportBatchItemFailures`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

impl BatchResponse {
    /// Every record was handled (delivered, filtered, or counted malformed).
    pub fn all_handled() -> BatchResponse {
        BatchResponse::default()
    }

    /// Lambda must retry from `sequence_number`: the first record of the
    /// first bridge batch that was not delivered. Records before it are not
    /// sent again; none after it is skipped.
    pub fn retry_from(sequence_number: impl Into<String>) -> BatchResponse {
        BatchResponse {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: sequence_number.into(),
            }],
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "batchItemFailures": self
                .batch_item_failures
                .iter()
                .map(|f| serde_json::json!({"itemIdentifier": f.item_identifier}))
                .collect::<Vec<_>>()
        })
    }
}

/// What the event source mapping's on-failure destination receives when a
/// batch's retries or record age run out: where the records were, not the
/// records (`replay --from-dlq` reads them back while Kinesis keeps them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub stream_arn: String,
    #[serde(default)]
    pub batch_size: Option<u64>,
    #[serde(default)]
    pub approximate_arrival_of_first_record: Option<String>,
    #[serde(default)]
    pub approximate_arrival_of_last_record: Option<String>,
}

/// The `KinesisBatchInfo` of an on-failure record (an SQS message body),
/// or `None` when the message is something else.
pub fn kinesis_batch_info(message: &Value) -> Option<KinesisBatchInfo> {
    serde_json::from_value(message.get("KinesisBatchInfo")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/cf-passive-realtime";
    const SEQ: &str = "49590338271490256608559692538361571095921575989136588898";

    fn record(shard: &str, seq: &str, data: &str) -> Value {
        json!({
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "192.0.2.1",
                "sequenceNumber": seq,
                "data": data,
                "approximateArrivalTimestamp": 1_575_493_352.25
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": format!("{shard}:{seq}"),
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
            "awsRegion": "us-east-1",
            "eventSourceARN": ARN
        })
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn a_lambda_kinesis_event_is_read() {
        let event = json!({"Records": [
            record("shardId-000000000000", SEQ, &b64("1575493351.123\t192.0.2.1\n")),
            record("shardId-000000000000", "49590338271490256608559692538361571095921575989136588899", "not base64!"),
        ]});
        assert!(is_kinesis_event(&event));
        let batches = parse_kinesis_event(&event).unwrap();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.stream_arn, ARN);
        assert_eq!(batch.stream_name, "cf-passive-realtime");
        assert_eq!(batch.shard_id, "shardId-000000000000");
        assert_eq!(
            batch.log_object(),
            "kinesis://cf-passive-realtime/shardId-000000000000"
        );
        assert_eq!(batch.first_sequence_number(), Some(SEQ));
        assert_eq!(batch.records.len(), 2);
        let first = &batch.records[0];
        assert_eq!(
            first.data.as_deref(),
            Some(&b"1575493351.123\t192.0.2.1\n"[..])
        );
        assert_eq!(first.partition_key.as_deref(), Some("192.0.2.1"));
        assert_eq!(first.approximate_arrival_ms, Some(1_575_493_352_250));
        assert_eq!(
            batch.records[1].data, None,
            "bad base64 is the record's problem, not the batch's"
        );
    }

    #[test]
    fn records_of_several_shards_are_grouped_in_order() {
        let event = json!({"Records": [
            record("shardId-000000000001", "1", &b64("a")),
            record("shardId-000000000002", "2", &b64("b")),
            record("shardId-000000000001", "3", &b64("c")),
        ]});
        let batches = parse_kinesis_event(&event).unwrap();
        let shape: Vec<(&str, Vec<&str>)> = batches
            .iter()
            .map(|b| {
                (
                    b.shard_id.as_str(),
                    b.records
                        .iter()
                        .map(|r| r.sequence_number.as_str())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("shardId-000000000001", vec!["1", "3"]),
                ("shardId-000000000002", vec!["2"])
            ]
        );
    }

    #[test]
    fn unusable_events_are_refused_with_the_reason() {
        let s3 = json!({"Records": [{"eventSource": "aws:s3", "s3": {}}]});
        assert!(!is_kinesis_event(&s3));
        assert!(matches!(
            parse_kinesis_event(&s3),
            Err(KinesisEventError::NotKinesis(_))
        ));
        assert!(!is_kinesis_event(&json!({})));
        assert!(matches!(
            parse_kinesis_event(&json!({})),
            Err(KinesisEventError::NotKinesis(_))
        ));

        type Breaker = fn(&mut Value);
        let cases: [(&str, Breaker); 5] = [
            ("sequenceNumber", |r| {
                r["kinesis"]["sequenceNumber"] = json!(null)
            }),
            ("sequenceNumber", |r| {
                r["kinesis"]["sequenceNumber"] = json!("12a")
            }),
            ("eventSourceARN", |r| {
                r["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:1:q")
            }),
            ("eventID", |r| r["eventID"] = json!("no-colon")),
            ("kinesis", |r| {
                r.as_object_mut().unwrap().remove("kinesis");
            }),
        ];
        for (what, break_it) in cases {
            let mut good = record("shardId-000000000000", SEQ, &b64("x"));
            break_it(&mut good);
            let event = json!({"Records": [record("shardId-000000000000", "1", &b64("x")), good]});
            let err = parse_kinesis_event(&event).unwrap_err();
            assert!(
                matches!(err, KinesisEventError::BadRecord { index: 1, .. }),
                "{what}: {err}"
            );
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
    }

    proptest! {
        #[test]
        fn odd_events_never_panic(
            data in ".{0,40}",
            seq in ".{0,30}",
            arn in prop_oneof![Just(ARN.to_string()), ".{0,40}"],
            id in ".{0,40}",
            arrival in any::<f64>(),
        ) {
            let event = json!({"Records": [{
                "eventSource": "aws:kinesis",
                "eventSourceARN": arn,
                "eventID": id,
                "kinesis": {"data": data, "sequenceNumber": seq, "approximateArrivalTimestamp": arrival}
            }]});
            if let Ok(batches) = parse_kinesis_event(&event) {
                prop_assert_eq!(batches.len(), 1);
                prop_assert!(batches[0].log_object().starts_with("kinesis://"));
            }
            let _ = kinesis_batch_info(&event);
        }
    }

    #[test]
    fn generated_events_parse_into_real_time_records() {
        use crate::core::fields::Field;
        use crate::core::realtime::{epoch_millis, RealtimeFields};
        let fields = RealtimeFields::parse(&cf_loggen::DEFAULT_REALTIME_FIELDS.join(",")).unwrap();
        let mut gen = cf_loggen::RealtimeGenerator::new(
            4,
            cf_loggen::Options::default(),
            cf_loggen::DEFAULT_REALTIME_FIELDS,
        )
        .unwrap();
        let mut out = Vec::new();
        let source = cf_loggen::KinesisSource::default();
        gen.write_kinesis_event(&mut out, 500, &source).unwrap();
        let event: Value = serde_json::from_slice(&out).unwrap();
        assert!(is_kinesis_event(&event));
        let batches = parse_kinesis_event(&event).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].stream_arn, source.stream_arn);
        assert_eq!(batches[0].records.len(), 500);
        for record in &batches[0].records {
            let data = record.data.as_deref().unwrap();
            let line = fields.parse_data(data).unwrap();
            assert_eq!(line.columns, fields.len());
            let text = line.record.get(Field::Timestamp).unwrap();
            assert!(epoch_millis(text).is_some());
            for field in [
                Field::ClientIp,
                Field::Method,
                Field::UriStem,
                Field::Status,
            ] {
                assert!(line.record.get(field).is_some(), "{field:?}");
            }
        }
    }

    #[test]
    fn stream_names_come_from_the_arn() {
        assert_eq!(stream_name(ARN), Some("cf-passive-realtime"));
        assert_eq!(
            stream_name("arn:aws-cn:kinesis:cn-north-1:1:stream/s"),
            Some("s")
        );
        assert_eq!(stream_name("cf-passive-realtime"), None);
        assert_eq!(stream_name("arn:aws:kinesis:us-east-1:1:stream/"), None);
    }

    #[test]
    fn arrival_times_are_bounded() {
        assert_eq!(seconds_to_millis(1.0015), Some(1002));
        assert_eq!(seconds_to_millis(f64::NAN), None);
        assert_eq!(seconds_to_millis(-1.0), None);
        assert_eq!(seconds_to_millis(1e300), None);
    }

    #[test]
    fn idempotency_key_test_vector() {
        // Computed independently: printf '<arn>\n<shard>\n<seq>\n0' | sha256sum
        assert_eq!(
            idempotency_key(ARN, "shardId-000000000000", SEQ, 0),
            "289995817c65a5754be9c32199bf585307098835e631c69183305045d93bf525"
        );
        assert_eq!(
            idempotency_key(ARN, "shardId-000000000000", SEQ, 3),
            "e1e4a7b50245522077e001232de955acaf75e1dfe9429e2b383be8baaaacf90d"
        );
        assert_ne!(
            idempotency_key(ARN, "shardId-000000000001", SEQ, 0),
            idempotency_key(ARN, "shardId-000000000000", SEQ, 0)
        );
    }

    #[test]
    fn batch_responses_serialize_as_lambda_expects() {
        assert_eq!(
            serde_json::to_value(BatchResponse::all_handled()).unwrap(),
            json!({"batchItemFailures": []})
        );
        let retry = BatchResponse::retry_from(SEQ);
        assert_eq!(
            serde_json::to_value(&retry).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": SEQ}]})
        );
        assert_eq!(retry.to_value(), serde_json::to_value(&retry).unwrap());
        let back: BatchResponse = serde_json::from_value(retry.to_value()).unwrap();
        assert_eq!(back, retry);
    }

    #[test]
    fn on_failure_records_name_the_shard_and_sequence_range() {
        let message = json!({
            "requestContext": {
                "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cf-passive",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 3
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-11-30T00:38:06.021Z",
            "KinesisBatchInfo": {
                "shardId": "shardId-000000000000",
                "startSequenceNumber": SEQ,
                "endSequenceNumber": "49590338271490256608559692540925702759324208523137515618",
                "approximateArrivalOfFirstRecord": "2026-11-30T00:38:04.835Z",
                "approximateArrivalOfLastRecord": "2026-11-30T00:38:05.580Z",
                "batchSize": 500,
                "streamArn": ARN
            }
        });
        let info = kinesis_batch_info(&message).unwrap();
        assert_eq!(info.shard_id, "shardId-000000000000");
        assert_eq!(info.start_sequence_number, SEQ);
        assert_eq!(info.stream_arn, ARN);
        assert_eq!(info.batch_size, Some(500));
        assert_eq!(kinesis_batch_info(&json!({"Records": []})), None);
    }
}
