//! `cf-loggen`: writes realistic, deterministic CloudFront standard access logs.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cf_loggen::{
    object_key, parse_realtime_fields, Format, Generator, Hour, KinesisSource, Options,
    RealtimeGenerator, DEFAULT_REALTIME_FIELDS, REALTIME_FIELDS,
};
use clap::Parser;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Writes realistic CloudFront standard access logs. The same seed and flags always give
/// byte-identical output.
#[derive(Debug, Parser)]
#[command(name = "cf-loggen", version, about)]
struct Cli {
    /// Seed of the random generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Log format: legacy (33 fields), legacy24 (older 24-field files), w3c (v2), json (v2).
    #[arg(long, default_value = "legacy")]
    format: Format,

    /// The UTC hour the records fall in, YYYY-MM-DDTHH.
    #[arg(long, default_value = "2024-01-31T23")]
    hour: Hour,

    /// Number of records (default 1000 unless --bytes is given).
    #[arg(long, conflicts_with = "bytes")]
    records: Option<u64>,

    /// Uncompressed size to reach, e.g. 500KB, 100MB, 1GB (decimal) or 64MiB (binary);
    /// the last record goes past it by less than one line.
    #[arg(long, value_parser = parse_size)]
    bytes: Option<u64>,

    /// Gzip the output.
    #[arg(long)]
    gzip: bool,

    /// Write this many concatenated gzip members, each starting with the header lines.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    gzip_members: u64,

    /// Gzip level, 0-9 (6 is gzip's default).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,

    /// Write CloudFront real-time log lines instead (as a Kinesis record's data: tab
    /// separated, no header), with every request header in cs-headers. --format is ignored.
    #[arg(long)]
    realtime: bool,

    /// Comma-separated real-time log fields, in record order (default: the fields the
    /// Terraform configures), or `all` for every field CloudFront can write. Implies
    /// --realtime.
    #[arg(long, value_parser = parse_field_list)]
    realtime_fields: Option<FieldList>,

    /// Print the real-time field list in use (--realtime-fields or the default),
    /// comma-separated as cequence_realtime_fields takes it, and exit.
    #[arg(long)]
    print_realtime_fields: bool,

    /// Write the real-time lines as the Lambda event of a Kinesis event source mapping
    /// (`{"Records": [...]}`, --records of them). Implies --realtime.
    #[arg(long, conflicts_with = "bytes")]
    kinesis_event: bool,

    /// Stream ARN of the generated Kinesis event.
    #[arg(
        long,
        default_value = "arn:aws:kinesis:us-east-1:123456789012:stream/cf-passive-realtime"
    )]
    stream_arn: String,

    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,

    /// Distribution id, for --print-key and the v2 DistributionId field.
    #[arg(long, default_value = "E27FO14I29XXXX")]
    distribution_id: String,

    /// Print a suggested object key (`<ID>.YYYY-MM-DD-HH.<8 hex>[.gz]`, unique part from
    /// the seed) and exit without generating anything.
    #[arg(long)]
    print_key: bool,

    /// Share of requests for static assets (.js, .css, images...), 0.0-1.0.
    #[arg(long, default_value_t = 0.4, value_parser = parse_share)]
    static_share: f64,

    /// Share of requests that carry a cookie, 0.0-1.0. Unset: about 60% of clients
    /// have a cookie and send it with each request.
    #[arg(long, value_parser = parse_share)]
    cookie_share: Option<f64>,

    /// Print records and bytes written (uncompressed) to standard error.
    #[arg(long)]
    stats: bool,
}

/// Parses `123`, `10K`/`10KB`, `100MB`, `1GB` (powers of 1000) or `64KiB`/`64MiB`/`1GiB`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad size {s:?}: expected e.g. 100MB"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        _ => {
            return Err(format!(
                "bad size unit in {s:?}: use B, KB, MB, GB, KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// A share: a number from 0 to 1.
fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "bad share {s:?}: expected a number from 0 to 1, e.g. 0.2"
        )),
    }
}

/// A real-time field list (a newtype, so clap takes it as one value).
#[derive(Debug, Clone)]
struct FieldList(Vec<&'static str>);

fn parse_field_list(s: &str) -> Result<FieldList, String> {
    if s.trim() == "all" {
        return Ok(FieldList(REALTIME_FIELDS.to_vec()));
    }
    parse_realtime_fields(s).map(FieldList)
}

/// What to write in total.
#[derive(Clone, Copy)]
enum Amount {
    Records(u64),
    Bytes(u64),
}

/// Splits `total` into `parts` near-equal shares.
fn share(total: u64, parts: u64, i: u64) -> u64 {
    total / parts + u64::from(i < total % parts)
}

/// Writes one section (a gzip member, or the whole plain file): header, then records.
fn write_section(gen: &mut Generator, w: &mut impl Write, amount: Amount) -> io::Result<u64> {
    let mut bytes = gen.write_header(w)?;
    match amount {
        Amount::Records(n) => bytes += gen.write_records(w, n)?,
        Amount::Bytes(target) => bytes += gen.write_until(w, target.saturating_sub(bytes))?.1,
    }
    Ok(bytes)
}

fn run(cli: &Cli) -> io::Result<(u64, u64)> {
    let opts = Options {
        hour: cli.hour,
        distribution_id: cli.distribution_id.clone(),
        static_share: cli.static_share,
        cookie_share: cli.cookie_share,
    };
    let mut gen = Generator::new(cli.seed, cli.format, opts);
    let sink: Box<dyn Write> = match &cli.out {
        Some(path) => Box::new(File::create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 18, sink);
    let amount = match (cli.records, cli.bytes) {
        (_, Some(b)) => Amount::Bytes(b),
        (Some(n), None) => Amount::Records(n),
        (None, None) => Amount::Records(1000),
    };
    let mut bytes = 0;
    if cli.gzip {
        let level = Compression::new(cli.gzip_level);
        for i in 0..cli.gzip_members {
            let part = match amount {
                Amount::Records(n) => Amount::Records(share(n, cli.gzip_members, i)),
                Amount::Bytes(b) => Amount::Bytes(share(b, cli.gzip_members, i)),
            };
            let mut enc = GzEncoder::new(&mut out, level);
            bytes += write_section(&mut gen, &mut enc, part)?;
            enc.finish()?;
        }
    } else {
        bytes = write_section(&mut gen, &mut out, amount)?;
    }
    out.flush()?;
    Ok((gen.records(), bytes))
}

fn write_realtime(gen: &mut RealtimeGenerator, w: &mut impl Write, cli: &Cli) -> io::Result<u64> {
    if cli.kinesis_event {
        let source = KinesisSource {
            stream_arn: cli.stream_arn.clone(),
            ..KinesisSource::default()
        };
        return gen.write_kinesis_event(w, cli.records.unwrap_or(1000), &source);
    }
    match (cli.records, cli.bytes) {
        (_, Some(target)) => gen.write_until(w, target).map(|(_, bytes)| bytes),
        (Some(n), None) => gen.write_records(w, n),
        (None, None) => gen.write_records(w, 1000),
    }
}

/// Writes real-time lines (plain or gzip; there are no header lines).
fn run_realtime(cli: &Cli, fields: &[&str]) -> io::Result<(u64, u64)> {
    // `..default()` even when every field is set: options added to the standard
    // generator later keep their defaults here.
    #[allow(clippy::needless_update)]
    let opts = Options {
        hour: cli.hour,
        distribution_id: cli.distribution_id.clone(),
        ..Options::default()
    };
    let mut gen = RealtimeGenerator::new(cli.seed, opts, fields)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let sink: Box<dyn Write> = match &cli.out {
        Some(path) => Box::new(File::create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 18, sink);
    let bytes = if cli.gzip {
        let mut enc = GzEncoder::new(&mut out, Compression::new(cli.gzip_level));
        let bytes = write_realtime(&mut gen, &mut enc, cli)?;
        enc.finish()?;
        bytes
    } else {
        write_realtime(&mut gen, &mut out, cli)?
    };
    out.flush()?;
    Ok((gen.records(), bytes))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_key {
        println!(
            "{}",
            object_key(&cli.distribution_id, cli.hour, cli.seed, cli.gzip)
        );
        return ExitCode::SUCCESS;
    }
    if cli.print_realtime_fields {
        let fields = match &cli.realtime_fields {
            Some(FieldList(fields)) => fields.as_slice(),
            None => DEFAULT_REALTIME_FIELDS,
        };
        println!("{}", fields.join(","));
        return ExitCode::SUCCESS;
    }
    let result = match (&cli.realtime_fields, cli.realtime) {
        (Some(FieldList(fields)), _) => run_realtime(&cli, fields),
        (None, true) => run_realtime(&cli, DEFAULT_REALTIME_FIELDS),
        (None, false) if cli.kinesis_event => run_realtime(&cli, DEFAULT_REALTIME_FIELDS),
        (None, false) => run(&cli),
    };
    match result {
        Ok((records, bytes)) => {
            if cli.stats {
                eprintln!("cf-loggen: {records} records, {bytes} bytes uncompressed");
            }
            ExitCode::SUCCESS
        }
        // A closed pipe (`cf-loggen | head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cf-loggen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("20mb"), Ok(20_000_000));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("10K"), Ok(10_000));
        assert!(parse_size("MB").is_err());
        assert!(parse_size("10XB").is_err());
    }

    #[test]
    fn parses_shares() {
        assert_eq!(parse_share("0.2"), Ok(0.2));
        assert_eq!(parse_share("1"), Ok(1.0));
        assert_eq!(parse_share("0"), Ok(0.0));
        for bad in ["1.5", "-0.1", "a third", "NaN"] {
            assert!(parse_share(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10, 3), (0, 4), (7, 7), (1_000_001, 5)] {
            assert_eq!(
                (0..parts).map(|i| share(total, parts, i)).sum::<u64>(),
                total
            );
        }
    }
}
