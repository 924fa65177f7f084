//! The command line: `process` local files (dry run or to the bridge) and
//! `replay` S3 objects. Thin: it parses arguments and calls the library.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::core::filter::not_a_log;
use crate::core::object::ObjectId;
use crate::core::pipeline::{process_object, AllowAll, Flow, PipelineOptions, TransactionSink};
use crate::report;

#[derive(Debug, Parser)]
#[command(
    name = "cf-passive-lambda",
    version,
    about = "Forwards CloudFront standard access logs to an API-protection bridge.\n\nUnder AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it serves S3 events; otherwise it is this command line."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process local log files (plain or gzip).
    Process {
        /// Write transactions to stdout as NDJSON instead of sending them; needs no bridge settings.
        #[arg(long)]
        dry_run: bool,
        /// The S3 key each file stands for (default: the file's path). It decides the distribution id.
        #[arg(long)]
        key: Option<String>,
        /// The bucket name used in `log-object` and the Idempotency-Key.
        #[arg(long, default_value = "local")]
        bucket: String,
        /// Log files to process.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Reprocess S3 objects, or the events in the failure queue, with the Lambda's code.
    Replay {
        /// Drain the failure queue (default: cequence_failure_queue_url): Lambda's failed
        /// events are replayed, parked batches sent exactly; a message is deleted only
        /// once what it names was delivered.
        #[arg(long, value_name = "QUEUE_URL", num_args = 0..=1, default_missing_value = "")]
        from_dlq: Option<String>,
        /// Send objects from their first batch, ignoring their checkpoint tag.
        #[arg(long)]
        from_start: bool,
        /// Objects to reprocess, as s3://bucket/key.
        #[arg(value_name = "S3_URL", required_unless_present = "from_dlq")]
        objects: Vec<String>,
    },
}

/// NDJSON to a writer: one transaction per line.
pub struct NdjsonSink<W: Write> {
    out: W,
    error: Option<std::io::Error>,
}

impl<W: Write> NdjsonSink<W> {
    pub fn new(out: W) -> Self {
        NdjsonSink { out, error: None }
    }

    pub fn into_result(mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

impl<W: Write> TransactionSink for NdjsonSink<W> {
    fn accept(&mut self, encoded: &[u8]) -> Flow {
        let written = self
            .out
            .write_all(encoded)
            .and_then(|_| self.out.write_all(b"\n"));
        match written {
            Ok(()) => Flow::Continue,
            Err(e) => {
                // A closed stdout (e.g. `| head`) ends the run quietly.
                self.error = Some(e);
                Flow::Stop
            }
        }
    }
}

/// A reader that advances a progress bar as bytes are read.
pub struct Progress<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R> Progress<R> {
    /// The bar, to clear it when the reader has moved into the pipeline.
    pub fn bar_handle(&self) -> ProgressBar {
        self.bar.clone()
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub fn progress_bar(total_bytes: u64, label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_string());
    bar
}

/// A local file standing for the S3 object `s3://bucket/key`.
pub struct LocalObject {
    /// The object it stands for. Its version is a stable stand-in for an
    /// ETag: the same unchanged file gives the same Idempotency-Keys.
    pub id: ObjectId,
    pub reader: Progress<File>,
}

/// What opening a local file as an object gave.
pub enum Opened {
    Object(LocalObject),
    /// Not a log (zero bytes, folder key): skipped with a DEBUG line.
    NotALog,
    /// Could not be opened: logged, and counts as a failure.
    Failed,
}

/// Opens `path` as the object it stands for, with a single `stat`.
pub fn open_object(path: &Path, bucket: &str, key: Option<&str>) -> Opened {
    let id = ObjectId::new(bucket, local_key(path, key));
    let opened = File::open(path).and_then(|file| Ok((file.metadata()?, file)));
    let (metadata, file) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!("{id}: cannot open {}: {e}", path.display());
            return Opened::Failed;
        }
    };
    let size = metadata.len();
    if let Some(reason) = not_a_log(&id.key, Some(size)) {
        tracing::debug!("{id}: not a log ({reason:?}), skipped");
        return Opened::NotALog;
    }
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let bar = progress_bar(size, &path.display().to_string());
    Opened::Object(LocalObject {
        id: id.with_version(format!("local-{size}-{modified}")),
        reader: Progress { inner: file, bar },
    })
}

/// The object key a local file stands for.
pub fn local_key(path: &std::path::Path, key: Option<&str>) -> String {
    key.map(str::to_string).unwrap_or_else(|| {
        let path = path.to_string_lossy();
        path.trim_start_matches("./")
            .trim_start_matches('/')
            .to_string()
    })
}

/// `process --dry-run`: every file's transactions to stdout. Returns the
/// number of objects that could not be read.
pub fn dry_run(
    options: &PipelineOptions,
    files: &[PathBuf],
    bucket: &str,
    key: Option<&str>,
) -> usize {
    let stdout = std::io::stdout();
    let mut sink = NdjsonSink::new(BufWriter::with_capacity(256 * 1024, stdout.lock()));
    let mut failures = 0;
    for path in files {
        let object = match open_object(path, bucket, key) {
            Opened::Object(object) => object,
            Opened::NotALog => continue,
            Opened::Failed => {
                failures += 1;
                continue;
            }
        };
        let bar = object.reader.bar_handle();
        let processed =
            process_object(object.reader, &object.id, options, &mut AllowAll, &mut sink);
        bar.finish_and_clear();
        report::log_summary(&object.id, &processed.summary);
        if let Some(error) = processed.error {
            tracing::error!("{error}. The records before the fault were emitted; fix or re-upload the object and run again.");
            failures += 1;
        }
        if processed.stopped_early {
            break;
        }
    }
    if let Err(e) = sink.into_result() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::error!("writing to stdout failed: {e}");
            failures += 1;
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn local_keys() {
        assert_eq!(local_key(std::path::Path::new("./a/b.gz"), None), "a/b.gz");
        assert_eq!(
            local_key(std::path::Path::new("a/b.gz"), Some("k/E1.x")),
            "k/E1.x"
        );
    }
}
