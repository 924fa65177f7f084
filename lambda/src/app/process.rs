//! `process FILE...` to the bridge: local files standing for S3 objects,
//! forwarded and decided exactly as the Lambda forwards an object; and
//! `process --realtime FILE...`: files of real-time log lines standing for
//! a Kinesis shard, forwarded exactly as the Lambda forwards a shard batch.

use std::path::PathBuf;

use tracing::{info, warn};

use super::forward::{App, ObjectOutcome};
use super::shard::ShardOutcome;
use super::sources::kinesis::{KinesisRecord, ShardBatch};
use crate::cli::{open_object, LocalObject, Opened};
use crate::core::reader::{LineReader, RawLine, MAX_LINE_BYTES};

/// Forwards every file. Returns the outcomes and how many files could not
/// be opened.
pub async fn process_files(
    app: &App,
    files: &[PathBuf],
    bucket: &str,
    key: Option<&str>,
) -> (Vec<ObjectOutcome>, usize) {
    let mut outcomes = Vec::new();
    let mut unopened = 0;
    for path in files {
        let local = match open_object(path, bucket, key) {
            Opened::Object(local) => local,
            Opened::Failed => {
                unopened += 1;
                continue;
            }
        };
        // The messages below name the object the file stands for.
        info!("{}: sent as {}", local.name, local.id);
        let bar = local.reader.bar_handle();
        outcomes.push(app.local_object(local.id, local.reader).await);
        bar.finish_and_clear();
    }
    (outcomes, unopened)
}

/// Lines per shard batch when a file stands for a stream: Lambda's largest
/// Kinesis batch, so that bridge batches are cut as in the Lambda.
pub const REALTIME_CHUNK: usize = 10_000;

/// A file of real-time lines (plain or gzip) read as the shard batches of
/// `kinesis://<stream>/<shard>`, [`REALTIME_CHUNK`] lines at a time. A
/// record's sequence number is its 1-based line number, so messages name
/// lines and the same file gives the same Idempotency-Keys.
pub struct RealtimeFile {
    reader: Option<LineReader>,
    pub name: String,
    stream: String,
    shard: String,
}

impl RealtimeFile {
    pub fn open(local: LocalObject, stream: &str, shard: &str) -> Result<RealtimeFile, String> {
        let reader = LineReader::with_inflate_thread(local.reader, false)
            .map_err(|e| format!("{}: cannot read: {e}", local.name))?;
        Ok(RealtimeFile {
            reader: Some(reader),
            name: local.name,
            stream: stream.to_string(),
            shard: shard.to_string(),
        })
    }

    /// The next shard batch; `Ok(None)` at the end. Blank lines are not
    /// records; a line too long to be one is reported and skipped.
    pub fn next_batch(&mut self) -> Result<Option<ShardBatch>, String> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        let mut records = Vec::new();
        while records.len() < REALTIME_CHUNK {
            let line = match reader.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.reader = None;
                    break;
                }
                Err(e) => {
                    let line = reader.line_number();
                    self.reader = None;
                    return Err(format!("{}: read failed after line {line}: {e}", self.name));
                }
            };
            let data = match line {
                RawLine::Text(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
                RawLine::Text(bytes) => bytes.to_vec(),
                RawLine::TooLong => {
                    warn!(
                        "{} line {}: longer than {MAX_LINE_BYTES} bytes, not a real-time record; skipped",
                        self.name,
                        reader.line_number()
                    );
                    continue;
                }
            };
            records.push(KinesisRecord {
                sequence_number: reader.line_number().to_string(),
                partition_key: None,
                approximate_arrival_ms: None,
                data: Some(data),
            });
        }
        if records.is_empty() {
            return Ok(None);
        }
        Ok(Some(ShardBatch {
            stream_arn: format!("arn:aws:kinesis:local:000000000000:stream/{}", self.stream),
            stream_name: self.stream.clone(),
            shard_id: self.shard.clone(),
            records,
        }))
    }
}

/// Forwards every file of real-time lines. Returns the outcomes (one per
/// shard batch) and how many files could not be opened or read.
pub async fn process_realtime_files(
    app: &App,
    files: &[PathBuf],
    stream: &str,
    shard: Option<&str>,
) -> (Vec<ShardOutcome>, usize) {
    let mut outcomes = Vec::new();
    let mut failed = 0;
    for path in files {
        let Opened::Object(local) = open_object(path, "local", None) else {
            failed += 1;
            continue;
        };
        let shard = shard.map_or_else(|| local.id.key.clone(), str::to_string);
        let bar = local.reader.bar_handle();
        let mut file = match RealtimeFile::open(local, stream, &shard) {
            Ok(file) => file,
            Err(e) => {
                tracing::error!("{e}");
                failed += 1;
                continue;
            }
        };
        info!("{}: sent as kinesis://{stream}/{shard}", file.name);
        loop {
            match file.next_batch() {
                Ok(Some(batch)) => {
                    let outcome = app.forward_shard_batch(batch).await;
                    // Later lines wait until these are delivered, as in a shard.
                    let stop = outcome.retry_from.is_some();
                    outcomes.push(outcome);
                    if stop {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!("{e}");
                    failed += 1;
                    break;
                }
            }
        }
        bar.finish_and_clear();
    }
    (outcomes, failed)
}
