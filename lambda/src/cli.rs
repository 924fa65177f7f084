//! The command line: `process` local files (dry run or to the bridge) and
//! `replay` S3 objects. Thin: it parses arguments and calls the library.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::core::object::ObjectId;
use crate::core::pipeline::{
    process_named_object, AllowAll, Flow, PipelineOptions, TransactionSink,
};
use crate::core::reader::{sniff, Content, SNIFF_BYTES};
use crate::core::shard::{process_shard_records, NoDomains};
use crate::core::wire::{ENVELOPE_CLOSE, ENVELOPE_OPEN};
use crate::report;

/// Settings each command reads (its `--help` lists them from settings.tsv).
const LOGGING: &[&str] = &["cequence_log_level", "cequence_log_format"];
const PIPELINE: &[&str] = &[
    "cequence_log_fields",
    "cequence_skip_extensions",
    "cequence_realtime_fields",
];
const BRIDGE: &[&str] = &[
    "cequence_client_id",
    "cequence_client_secret",
    "cequence_client_secret_arn",
    "cequence_auth_endpoint",
    "cequence_auth_style",
    "cequence_edge_endpoint",
    "cequence_edge_path",
    "cequence_allow_insecure_endpoints",
    "cequence_ca_cert_pem",
    "cequence_tls_insecure",
    "cequence_http_timeout_s",
];
const SENDING: &[&str] = &[
    "cequence_batch_size",
    "cequence_batch_max_bytes",
    "cequence_compression",
    "cequence_server_ip",
    "cequence_max_in_flight",
    "cequence_retry_max_elapsed_s",
];
const S3: &[&str] = &[
    "cequence_require_enabled_tag",
    "cequence_tag_cache_s",
    "cequence_max_concurrent_objects",
];
const REALTIME: &[&str] = &["cequence_realtime_fields", "cequence_failure_queue_url"];
const AWS_NOTE: &str = "  AWS credentials and region: the usual AWS_* variables and ~/.aws files\n      (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).\n";

fn settings_help(groups: &[&[&str]], aws: bool) -> String {
    let keys: Vec<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    let mut help = crate::settings::help_section(&keys);
    if aws {
        help.push_str(AWS_NOTE);
    }
    help
}

fn process_help() -> String {
    format!(
        "{}\nWith --dry-run only the logging and pipeline settings are read.\nA FILE of - is standard input. A file that is empty or not a log (binary bytes,\nneither gzip nor text) is reported and makes the exit status 1.\nExit status: 0 all files done, 1 a file failed, 2 a configuration or argument error.",
        settings_help(&[LOGGING, PIPELINE, BRIDGE, SENDING], false)
    )
}

fn replay_help() -> String {
    format!(
        "{}\nThe command line does not retry by itself: when an object fails, fix the cause\nand run replay again (re-sent batches carry the same Idempotency-Key).\nReal-time batches on the queue name their records' sequence range: they are read\nback from the stream while Kinesis holds them; records that expired are reported\nas LOST, the run fails and the message stays (--drop-expired deletes it).\nExit status: 0 all replayed, 1 something was not, 2 a configuration or argument error.",
        settings_help(&[LOGGING, PIPELINE, BRIDGE, SENDING, S3], true)
    )
}

fn invoke_help() -> String {
    format!(
        "{}\nThe answer is the JSON the function would return to Lambda (for Kinesis, the\nbatchItemFailures); it is printed on stdout.\nExit status: 0 an answer was printed, 1 the invocation failed (the error is\nlogged), 2 a configuration or argument error.",
        settings_help(&[LOGGING, PIPELINE, BRIDGE, SENDING, S3, REALTIME], true)
    )
}

fn check_help() -> String {
    format!(
        "{}\nExit status: 0 ready, 1 a network check failed, 2 the configuration has problems.",
        settings_help(&[LOGGING, BRIDGE], true)
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "cf-passive-lambda",
    version,
    about = "Forwards CloudFront standard access logs to an API-protection bridge.\n\nUnder AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it serves S3 events; otherwise it is this command line.",
    after_help = "Settings are environment variables (the list, with defaults: lambda/settings.tsv);\neach command's --help lists the ones it reads. A cequence_* variable that is not\na setting is an error, with the closest setting's name."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process local log files (plain or gzip): print transactions (--dry-run) or send them.
    #[command(after_help = process_help())]
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
        /// The files hold real-time log lines (one Kinesis record's data per line, field
        /// order from cequence_realtime_fields), forwarded as the Lambda forwards a shard.
        #[arg(long, conflicts_with_all = ["key"])]
        realtime: bool,
        /// With --realtime: the stream name in `log-object` (kinesis://STREAM/SHARD).
        #[arg(long, default_value = "local", requires = "realtime")]
        stream: String,
        /// With --realtime: the shard id in `log-object` (default: the file's path).
        #[arg(long, requires = "realtime")]
        shard: Option<String>,
        /// Log files to process; - reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Reprocess S3 objects, or the events in the failure queue, with the Lambda's code.
    #[command(after_help = replay_help())]
    Replay {
        /// Drain the failure queue (default: cequence_failure_queue_url): Lambda's failed
        /// events are replayed, parked batches sent exactly, real-time batches read back
        /// from their Kinesis stream; a message is deleted only once what it names was
        /// delivered.
        #[arg(long, value_name = "QUEUE_URL", num_args = 0..=1, default_missing_value = "")]
        from_dlq: Option<String>,
        /// Send objects from their first batch, ignoring their checkpoint tag.
        #[arg(long)]
        from_start: bool,
        /// With --from-dlq: delete a message whose real-time records have expired from
        /// the stream, after reporting them as lost (kept by default).
        #[arg(long, requires = "from_dlq")]
        drop_expired: bool,
        /// Objects to reprocess, as s3://bucket/key.
        #[arg(value_name = "S3_URL", required_unless_present = "from_dlq")]
        objects: Vec<String>,
    },
    /// Run one Lambda invocation here: the function's handler on an event read
    /// from a JSON file (S3, SQS, SNS or Kinesis), sending to the bridge.
    #[command(after_help = invoke_help())]
    Invoke {
        /// The event, as Lambda would pass it (`{"Records":[...]}`); - reads standard input.
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
    },
    /// Check the configuration, then get a token and connect to the bridge; sends no transaction.
    #[command(after_help = check_help())]
    Check {
        /// Also read the function settings of this .env file (as data: it is
        /// never run); its values win over the environment's.
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
    },
}

/// Argument problems found before anything touches the network or AWS.
pub fn argument_problems(command: &Command) -> Vec<String> {
    match command {
        Command::Replay {
            from_dlq, objects, ..
        } => {
            let mut problems: Vec<String> = objects
                .iter()
                .filter_map(|url| url.parse::<ObjectId>().err())
                .collect();
            // An empty value: --from-dlq without a URL, the configured queue.
            if let Some(queue) = from_dlq.as_deref().filter(|q| !q.is_empty()) {
                if !queue.starts_with("https://") && !queue.starts_with("http://") {
                    problems.push(format!(
                        "--from-dlq {queue:?}: expected the queue URL (the Terraform output failure_queue_url, https://sqs...)"
                    ));
                }
            }
            problems
        }
        Command::Process { files, .. } => {
            let stdin_uses = files.iter().filter(|f| is_stdin(f)).count();
            if stdin_uses > 1 {
                vec!["- (standard input) can be given only once".to_string()]
            } else {
                Vec::new()
            }
        }
        Command::Invoke { event } => {
            if is_stdin(event) || event.is_file() {
                Vec::new()
            } else {
                vec![format!("--event {}: no such file", event.display())]
            }
        }
        Command::Check { env_file } => env_file
            .iter()
            .filter(|path| !path.is_file())
            .map(|path| format!("--env-file {}: no such file", path.display()))
            .collect(),
    }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
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

/// A local file (or standard input) standing for the S3 object `s3://bucket/key`.
pub struct LocalObject {
    /// The object it stands for. Its version is a stable stand-in for an
    /// ETag: the same unchanged file gives the same Idempotency-Keys.
    pub id: ObjectId,
    /// How messages name it: the path as given, or "standard input".
    pub name: String,
    pub reader: Progress<Box<dyn Read + Send>>,
}

/// What opening a local file as an object gave.
pub enum Opened {
    Object(LocalObject),
    /// Could not be opened, is empty, or is not a log: the message is logged
    /// and it counts as a failure (exit status 1).
    Failed,
}

/// Opens `path` (or `-`, standard input) as the object it stands for, and
/// refuses an empty input or one that is not a log before any parsing.
pub fn open_object(path: &Path, bucket: &str, key: Option<&str>) -> Opened {
    let stdin = is_stdin(path);
    let name = if stdin {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let (source, size, version): (Box<dyn Read + Send>, Option<u64>, String) = if stdin {
        // Unique per run: standard input has no identity to deduplicate on.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        (Box::new(std::io::stdin()), None, format!("stdin-{nanos}"))
    } else {
        let opened = File::open(path).and_then(|file| Ok((file.metadata()?, file)));
        let (metadata, file) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                tracing::error!("{name}: cannot open: {e}");
                return Opened::Failed;
            }
        };
        if metadata.is_dir() {
            tracing::error!("{name}: is a directory, not a log file");
            return Opened::Failed;
        }
        let modified = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let size = metadata.len();
        (
            Box::new(file),
            Some(size),
            format!("local-{size}-{modified}"),
        )
    };
    let mut source = source;
    let mut prefix = Vec::with_capacity(SNIFF_BYTES);
    if let Err(e) = (&mut source)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut prefix)
    {
        tracing::error!("{name}: cannot read: {e}");
        return Opened::Failed;
    }
    match sniff(&prefix) {
        Content::Text => {}
        Content::Empty => {
            tracing::error!("{name}: empty: no log records in it, nothing was processed");
            return Opened::Failed;
        }
        Content::Binary { offset } => {
            tracing::error!(
                "{name}: not a CloudFront log: binary bytes (the first at byte {offset}{}), where a log is gzip or text (W3C with #Fields, JSON lines, or plain rows). Nothing was processed; check the file",
                if prefix.starts_with(&[0x1f, 0x8b]) { " after gunzip" } else { "" }
            );
            return Opened::Failed;
        }
    }
    let bar = match size {
        Some(size) => progress_bar(size, &name),
        None => ProgressBar::hidden(),
    };
    bar.inc(prefix.len() as u64);
    let reader: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(prefix).chain(source));
    Opened::Object(LocalObject {
        id: ObjectId::new(bucket, local_key(path, key)).with_version(version),
        name,
        reader: Progress { inner: reader, bar },
    })
}

/// The object key a local file stands for.
pub fn local_key(path: &std::path::Path, key: Option<&str>) -> String {
    key.map(str::to_string).unwrap_or_else(|| {
        if is_stdin(path) {
            return "stdin".to_string();
        }
        let path = path.to_string_lossy();
        path.trim_start_matches("./")
            .trim_start_matches('/')
            .to_string()
    })
}

/// `process --dry-run`: every file's transactions to stdout. Returns the
/// number of inputs that failed (unreadable, empty, not a log, cut short).
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
            Opened::Failed => {
                failures += 1;
                continue;
            }
        };
        let bar = object.reader.bar_handle();
        let processed = process_named_object(
            object.reader,
            &object.id,
            &object.name,
            options,
            &mut AllowAll,
            &mut sink,
        );
        bar.finish_and_clear();
        report::log_summary(&object.name, &processed.summary);
        if let Some(error) = processed.error {
            tracing::error!("{error}. The transactions before the fault were printed; the rest of the file is unreadable (a cut-off or corrupt gzip?)");
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

/// `process --realtime --dry-run`: every file's real-time lines through the
/// same shard path as the Lambda, each transaction printed exactly as it
/// would be sent. Returns the number of inputs that failed.
pub fn dry_run_realtime(
    options: &PipelineOptions,
    files: &[PathBuf],
    stream: &str,
    shard: Option<&str>,
) -> usize {
    let Some(fields) = options.realtime_fields.as_ref() else {
        tracing::error!("{}", crate::app::wiring::REALTIME_FIELDS_MISSING);
        return files.len().max(1);
    };
    // One transaction per batch: its body is then exactly the envelope
    // around the transaction as it would be sent.
    let mut options = options.clone();
    options.batch_limits.max_transactions = 1;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut write_error: Option<std::io::Error> = None;
    let mut failures = 0;
    'files: for path in files {
        let Opened::Object(local) = open_object(path, "local", None) else {
            failures += 1;
            continue;
        };
        let shard = shard.map_or_else(|| local.id.key.clone(), str::to_string);
        let bar = local.reader.bar_handle();
        let mut file = match crate::app::process::RealtimeFile::open(local, stream, &shard) {
            Ok(file) => file,
            Err(e) => {
                tracing::error!("{e}");
                failures += 1;
                continue;
            }
        };
        loop {
            let batch = match file.next_batch() {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!("{e}");
                    failures += 1;
                    break;
                }
            };
            let records = batch.core_records();
            let log_object = batch.log_object();
            let processed = process_shard_records(
                &records,
                &log_object,
                fields,
                &options,
                &mut NoDomains,
                &mut AllowAll,
                |record_batch| {
                    let body = &record_batch.batch.body;
                    let transaction = &body[ENVELOPE_OPEN.len()..body.len() - ENVELOPE_CLOSE.len()];
                    match out
                        .write_all(transaction)
                        .and_then(|_| out.write_all(b"\n"))
                    {
                        Ok(()) => Flow::Continue,
                        Err(e) => {
                            write_error = Some(e);
                            Flow::Stop
                        }
                    }
                },
            );
            report::log_summary(&log_object, &processed.summary);
            if write_error.is_some() {
                break 'files;
            }
        }
        bar.finish_and_clear();
    }
    let flushed = match write_error {
        Some(e) => Err(e),
        None => out.flush(),
    };
    if let Err(e) = flushed {
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
    fn replay_arguments_are_checked_before_anything_else() {
        let command = Command::Replay {
            from_dlq: Some("my-queue".into()),
            from_start: false,
            drop_expired: false,
            objects: vec!["s3://b/k".into(), "not-an-s3-url".into()],
        };
        let problems = argument_problems(&command);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("not-an-s3-url"));
        assert!(problems[1].contains("--from-dlq"));
    }

    #[test]
    fn every_help_lists_the_settings_it_reads() {
        assert!(process_help().contains("cequence_log_fields"));
        assert!(process_help().contains("cequence_batch_size [default: 500]"));
        assert!(replay_help().contains("cequence_require_enabled_tag"));
        assert!(replay_help().contains("AWS_PROFILE"));
        assert!(check_help().contains("cequence_auth_endpoint [required]"));
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
