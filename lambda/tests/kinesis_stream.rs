//! The Kinesis adapter against moto's Kinesis server: a sequence range read
//! back from a stream, page by page, and the expiry error when the stream no
//! longer holds the range.
//!
//! What moto can simulate: a start sequence number below the shard's first
//! record (as if the records before were trimmed), a shard or stream that no
//! longer exists. What it cannot: real trimming by age (moto keeps every
//! record), AWS's `InvalidArgumentException` for a trimmed sequence number
//! (a local stand-in answers that, last test), and the long sequence numbers
//! of AWS (moto's are 1, 2, 3... per shard; the comparison of long ones is
//! unit-tested in `aws::kinesis`).

use aws_config::BehaviorVersion;
use aws_sdk_kinesis::config::{Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use cf_passive::aws::kinesis::{
    KinesisStream, ReadFrom, ShardRange, StreamReadError, StreamReader,
};
use cf_passive_testkit::procs::{moto, unique_name, Moto};

struct Stream {
    _moto: Moto,
    client: aws_sdk_kinesis::Client,
    arn: String,
    shard: String,
    /// Sequence numbers of the records put, in order.
    sequences: Vec<String>,
}

/// A one-shard stream holding `records` lines `line-<n>`.
async fn stream(records: usize) -> Stream {
    let moto = moto();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto.url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    let client = aws_sdk_kinesis::Client::new(&sdk);
    let name = unique_name("realtime");
    client
        .create_stream()
        .stream_name(&name)
        .shard_count(1)
        .send()
        .await
        .expect("create stream");
    let summary = client
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
    let arn = summary
        .stream_description_summary()
        .unwrap()
        .stream_arn()
        .to_string();
    let shard = client
        .list_shards()
        .stream_name(&name)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_string();
    let mut sequences = Vec::new();
    for n in 0..records {
        let put = client
            .put_record()
            .stream_name(&name)
            .partition_key("192.0.2.1")
            .data(Blob::new(format!("line-{n}\n")))
            .send()
            .await
            .unwrap();
        sequences.push(put.sequence_number().to_string());
    }
    Stream {
        _moto: moto,
        client,
        arn,
        shard,
        sequences,
    }
}

impl Stream {
    fn range(&self, start: &str, end: &str) -> ShardRange {
        ShardRange {
            stream_arn: self.arn.clone(),
            shard_id: self.shard.clone(),
            start: start.into(),
            end: end.into(),
        }
    }

    fn reader(&self) -> KinesisStream {
        KinesisStream {
            client: self.client.clone(),
        }
    }
}

fn lines(records: &[cf_passive::aws::kinesis::StreamRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.data.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_sub_range_is_read_back_exactly() {
    let s = stream(30).await;
    let range = s.range(&s.sequences[5], &s.sequences[24]);
    let chunk = s
        .reader()
        .read_range(&range, &ReadFrom::Start, 10_000)
        .await
        .unwrap();
    assert!(chunk.finished && !chunk.end_not_found, "{chunk:?}");
    assert_eq!(chunk.expired_before, None);
    let expected: Vec<String> = (5..=24).map(|n| format!("line-{n}\n")).collect();
    assert_eq!(lines(&chunk.records), expected);
    assert_eq!(
        chunk.records[0].sequence_number, s.sequences[5],
        "each record keeps its sequence number"
    );
    assert_eq!(chunk.records[0].partition_key.as_deref(), Some("192.0.2.1"));
    assert!(chunk.records[0].approximate_arrival_ms.is_some());
}

#[tokio::test]
async fn a_long_range_is_read_in_chunks_that_continue_where_the_last_stopped() {
    let s = stream(25).await;
    let range = s.range(&s.sequences[0], &s.sequences[22]);
    let reader = s.reader();
    let mut from = ReadFrom::Start;
    let mut read = Vec::new();
    let mut chunks = 0;
    loop {
        let chunk = reader.read_range(&range, &from, 10).await.unwrap();
        chunks += 1;
        assert!(chunk.records.len() <= 10);
        read.extend(lines(&chunk.records));
        if chunk.finished {
            break;
        }
        from = ReadFrom::After(chunk.records.last().unwrap().sequence_number.clone());
    }
    assert_eq!(chunks, 3);
    let expected: Vec<String> = (0..=22).map(|n| format!("line-{n}\n")).collect();
    assert_eq!(read, expected);
}

#[tokio::test]
async fn a_range_starting_before_what_the_shard_holds_says_records_expired() {
    let s = stream(10).await;
    // "0" is below the shard's first record: as if the records from 0 on had
    // been trimmed. The rest of the range is still there and is returned.
    let range = s.range("0", &s.sequences[3]);
    let chunk = s
        .reader()
        .read_range(&range, &ReadFrom::Start, 10_000)
        .await
        .unwrap();
    assert_eq!(
        chunk.expired_before.as_deref(),
        Some(s.sequences[0].as_str())
    );
    assert_eq!(lines(&chunk.records).len(), 4);
}

#[tokio::test]
async fn a_range_the_stream_no_longer_holds_is_an_expiry_naming_what_was_lost() {
    let s = stream(10).await;
    // The whole range lies before the oldest record (a start and end of 0).
    let range = s.range("0", "0");
    let err = s
        .reader()
        .read_range(&range, &ReadFrom::Start, 10_000)
        .await
        .unwrap_err();
    let StreamReadError::Expired {
        retention_hours, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*retention_hours, Some(24), "moto's default retention");
    let text = err.to_string();
    for part in [
        s.arn.as_str(),
        s.shard.as_str(),
        "0 to 0",
        "24 hours",
        "lost",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }

    // A shard that no longer exists (deleted after resharding and expiry).
    let gone = ShardRange {
        shard_id: "shardId-000000000042".into(),
        ..s.range(&s.sequences[0], &s.sequences[1])
    };
    let err = s
        .reader()
        .read_range(&gone, &ReadFrom::Start, 10_000)
        .await
        .unwrap_err();
    assert!(matches!(err, StreamReadError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("shardId-000000000042"), "{err}");

    // A stream deleted since: the same, without a retention to read.
    s.client
        .delete_stream()
        .stream_arn(&s.arn)
        .send()
        .await
        .unwrap();
    let err = s
        .reader()
        .read_range(
            &s.range(&s.sequences[0], &s.sequences[1]),
            &ReadFrom::Start,
            10,
        )
        .await
        .unwrap_err();
    let StreamReadError::Expired {
        retention_hours, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*retention_hours, None);
    assert!(
        err.to_string()
            .contains("retention period could not be read"),
        "{err}"
    );
}

#[tokio::test]
async fn a_range_past_the_newest_record_says_its_end_was_not_found() {
    let s = stream(5).await;
    let range = s.range(&s.sequences[2], "999999");
    let chunk = s
        .reader()
        .read_range(&range, &ReadFrom::Start, 10_000)
        .await
        .unwrap();
    assert!(chunk.finished && chunk.end_not_found, "{chunk:?}");
    assert_eq!(lines(&chunk.records), ["line-2\n", "line-3\n", "line-4\n"]);
}

#[tokio::test]
async fn a_range_that_is_not_one_is_refused_before_any_call() {
    let s = stream(0).await;
    for (start, end) in [("5", "4"), ("x", "4"), ("", "1")] {
        let err = s
            .reader()
            .read_range(&s.range(start, end), &ReadFrom::Start, 10)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StreamReadError::BadRange { .. }),
            "{start}..{end}: {err:?}"
        );
    }
}

/// A stand-in for Kinesis that answers as AWS does when a sequence number
/// has been trimmed (moto cannot): `GetShardIterator` fails with
/// `InvalidArgumentException`; `DescribeStreamSummary` gives a retention of
/// 48 hours. Minimal HTTP/1.1 over one local port; awsJson1_1 bodies.
async fn trimmed_kinesis() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    // One request: headers, then Content-Length bytes.
                    let mut chunk = [0u8; 4096];
                    let header_end = loop {
                        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < header_end + length {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buffer.drain(..header_end + length);
                    let (status, body) = if head.contains("describestreamsummary") {
                        (
                            "200 OK",
                            r#"{"StreamDescriptionSummary":{"StreamName":"rt","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/rt","StreamStatus":"ACTIVE","RetentionPeriodHours":48,"StreamCreationTimestamp":1.7E9,"EnhancedMonitoring":[],"OpenShardCount":1}}"#.to_string(),
                        )
                    } else {
                        (
                            "400 Bad Request",
                            r#"{"__type":"InvalidArgumentException","message":"StartingSequenceNumber 100 used in GetShardIterator on shard shardId-000000000000 in stream rt under account 123456789012 is invalid because it did not come from this stream or it is no longer available."}"#.to_string(),
                        )
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nx-amzn-requestid: test\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn aws_answer_for_a_trimmed_sequence_number_is_an_expiry_with_its_message() {
    let url = trimmed_kinesis().await;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    let reader = KinesisStream {
        client: aws_sdk_kinesis::Client::new(&sdk),
    };
    let range = ShardRange {
        stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/rt".into(),
        shard_id: "shardId-000000000000".into(),
        start: "100".into(),
        end: "200".into(),
    };
    let err = reader
        .read_range(&range, &ReadFrom::Start, 10)
        .await
        .unwrap_err();
    let StreamReadError::Expired {
        retention_hours, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*retention_hours, Some(48));
    let text = err.to_string();
    for part in ["100 to 200", "48 hours", "no longer available", "lost"] {
        assert!(text.contains(part), "{part}: {text}");
    }
}
