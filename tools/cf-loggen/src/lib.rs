//! Deterministic generator of realistic CloudFront standard access logs.
//!
//! The same seed, format and options always give byte-identical output, on any platform
//! (ChaCha8 from `rand_chacha`, and only `rand` 0.8's value-stable sampling).
//! The record stream does not depend on the format: seed 7 in `legacy` and seed 7 in
//! `json` describe the same requests, so tests can compare formats row by row.
//!
//! ```
//! use cf_loggen::{Format, Generator, Hour, Options};
//! let opts = Options { hour: Hour::parse("2024-01-31T23").unwrap(), ..Options::default() };
//! let mut gen = Generator::new(42, Format::Legacy, opts);
//! let mut out = Vec::new();
//! gen.write_header(&mut out).unwrap();
//! gen.write_records(&mut out, 10).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap().lines().count(), 12);
//! ```

mod field;
mod pools;
mod realtime;
mod text;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use field::Field;
use pools::{Pools, RouteKind};
pub use realtime::{
    parse_realtime_fields, sequence_number, KinesisSource, RealtimeGenerator,
    DEFAULT_REALTIME_FIELDS, HEADERS_LIMIT, REALTIME_FIELDS,
};
pub use text::cf_escape;
use text::{push_2, push_base64ish, push_fixed3, push_u64};

/// Output format of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Legacy standard logs: `#Version: 1.0`, `#Fields:` with today's 33 fields, tab separated.
    Legacy,
    /// Older legacy files: the same headers with only the first 24 fields.
    Legacy24,
    /// Standard logging v2, W3C output: a `#Fields:` line (no `#Version`), v2 fields.
    W3c,
    /// Standard logging v2, JSON output: one object per line, every value a string.
    Json,
}

impl Format {
    /// All formats, in CLI order.
    pub const ALL: [Format; 4] = [Format::Legacy, Format::Legacy24, Format::W3c, Format::Json];

    /// The CLI name of the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Legacy => "legacy",
            Format::Legacy24 => "legacy24",
            Format::W3c => "w3c",
            Format::Json => "json",
        }
    }

    /// The fields each record carries, in order.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Format::Legacy => &field::LEGACY[..],
            Format::Legacy24 => &field::LEGACY[..24],
            Format::W3c | Format::Json => &field::V2[..],
        }
    }

    /// The header lines (each ending in `\n`) written at the start of the file and of
    /// each gzip member; empty for JSON.
    pub fn header(self) -> String {
        let names: Vec<&str> = self.fields().iter().map(|f| f.name()).collect();
        match self {
            Format::Legacy | Format::Legacy24 => {
                format!("#Version: 1.0\n#Fields: {}\n", names.join(" "))
            }
            Format::W3c => format!("#Fields: {}\n", names.join(" ")),
            Format::Json => String::new(),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format {s:?} (expected legacy, legacy24, w3c or json)"))
    }
}

/// A UTC hour, the one the generated records fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hour {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
}

impl Hour {
    /// Parses `YYYY-MM-DDTHH` (e.g. `2024-01-31T23`).
    pub fn parse(s: &str) -> Result<Hour, String> {
        let err = || format!("bad hour {s:?}: expected YYYY-MM-DDTHH, e.g. 2024-01-31T23");
        let b = s.as_bytes();
        if b.len() != 13 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, String> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            part.parse().map_err(|_| err())
        };
        let (year, month, day, hour) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?);
        let month = u8::try_from(month).map_err(|_| err())?;
        let day = u8::try_from(day).map_err(|_| err())?;
        let hour = u8::try_from(hour).map_err(|_| err())?;
        if !(1970..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
        {
            return Err(err());
        }
        Ok(Hour {
            year,
            month,
            day,
            hour,
        })
    }

    /// Milliseconds since the Unix epoch at the start of the hour.
    pub fn epoch_millis(self) -> u64 {
        let days = days_from_civil(i64::from(self.year), self.month.into(), self.day.into());
        let secs = days * 86_400 + i64::from(self.hour) * 3600;
        u64::try_from(secs).unwrap_or(0) * 1000
    }

    /// `YYYY-MM-DD-HH`, as in object keys.
    pub fn key_part(self) -> String {
        format!(
            "{:04}-{:02}-{:02}-{:02}",
            self.year, self.month, self.day, self.hour
        )
    }
}

impl Default for Hour {
    fn default() -> Self {
        Hour {
            year: 2024,
            month: 1,
            day: 31,
            hour: 23,
        }
    }
}

impl FromStr for Hour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hour::parse(s)
    }
}

fn is_leap(y: u16) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Generator options besides the seed and format.
#[derive(Debug, Clone)]
pub struct Options {
    /// The hour every record's timestamp falls in.
    pub hour: Hour,
    /// Distribution id, written in the v2 `DistributionId` field and used by [`object_key`].
    pub distribution_id: String,
    /// Share of requests for static assets, 0.0–1.0 (default 0.4).
    pub static_share: f64,
    /// Share of requests that carry a cookie, 0.0–1.0. `None` (the default) keeps the
    /// per-client cookies: about 60% of clients have one, so the request share varies.
    pub cookie_share: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hour: Hour::default(),
            distribution_id: "E27FO14I29XXXX".to_owned(),
            static_share: pools::STATIC_SHARE,
            cookie_share: None,
        }
    }
}

/// A suggested S3 object key for a generated file:
/// `<DistributionId>.YYYY-MM-DD-HH.<8 hex digits from the seed>[.gz]`.
pub fn object_key(distribution_id: &str, hour: Hour, seed: u64, gzip: bool) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6b65_795f_6b65_795f);
    let unique: u32 = rng.gen();
    let ext = if gzip { ".gz" } else { "" };
    format!("{distribution_id}.{}.{unique:08x}{ext}", hour.key_part())
}

/// Streams CloudFront log records. Holds pre-built pools of values and one reusable
/// line buffer: memory use does not grow with the number of records.
pub struct Generator {
    rng: ChaCha8Rng,
    format: Format,
    opts: Options,
    pools: Pools,
    hour_millis: u64,
    /// `YYYY-MM-DD` and `HH:` of the hour.
    date: String,
    hour_prefix: String,
    sink: Sink,
    records: u64,
}

impl Generator {
    /// A generator for `format`, seeded with `seed`.
    pub fn new(seed: u64, format: Format, opts: Options) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pools = Pools::new(&mut rng, opts.cookie_share.is_some());
        let h = opts.hour;
        Generator {
            rng,
            format,
            hour_millis: h.epoch_millis(),
            date: format!("{:04}-{:02}-{:02}", h.year, h.month, h.day),
            hour_prefix: format!("{:02}:", h.hour),
            opts,
            pools,
            sink: Sink {
                buf: Vec::with_capacity(2048),
                spans: [(0, 0); field::COUNT],
            },
            records: 0,
        }
    }

    /// The format this generator writes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Records generated so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the header lines (nothing for JSON); returns the bytes written.
    pub fn write_header(&mut self, w: &mut impl Write) -> io::Result<u64> {
        let h = self.format.header();
        w.write_all(h.as_bytes())?;
        Ok(h.len() as u64)
    }

    /// Appends the next record, one line ending in `\n`, to `buf`.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) {
        self.fill();
        self.serialize(buf);
    }

    /// Writes `n` records; returns the bytes written.
    pub fn write_records(&mut self, w: &mut impl Write, n: u64) -> io::Result<u64> {
        write_lines(w, n, |buf| self.next_line(buf))
    }

    /// Writes records until at least `target` bytes have been written (the last record
    /// may go past it by less than one line); returns `(records, bytes)`.
    pub fn write_until(&mut self, w: &mut impl Write, target: u64) -> io::Result<(u64, u64)> {
        write_lines_until(w, target, |buf| self.next_line(buf))
    }

    fn serialize(&self, out: &mut Vec<u8>) {
        let fields = self.format.fields();
        let sink = &self.sink;
        match self.format {
            Format::Json => {
                out.push(b'{');
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'"');
                    out.extend_from_slice(f.name().as_bytes());
                    out.extend_from_slice(b"\":\"");
                    // Values are CloudFront-escaped: no `"`, `\` or control bytes remain.
                    out.extend_from_slice(sink.get(*f));
                    out.push(b'"');
                }
                out.extend_from_slice(b"}\n");
            }
            _ => {
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b'\t');
                    }
                    out.extend_from_slice(sink.get(*f));
                }
                out.push(b'\n');
            }
        }
    }

    /// Draws the next record into `sink`.
    #[allow(clippy::too_many_lines)]
    fn fill(&mut self) {
        self.records += 1;
        let Generator {
            rng,
            pools,
            sink,
            hour_millis,
            date,
            hour_prefix,
            opts,
            ..
        } = self;
        sink.buf.clear();

        // Who, what, and how it went.
        let client = pools.pick_client(rng);
        let route = pools.pick_route(rng, opts.static_share);
        let kind = route.kind;
        let method = route.pick_method(rng);
        let status = pools::pick_status(rng, kind, method);
        let result = pools::pick_result(rng, kind, status);

        // Timestamp within the hour; CloudFront files are not in time order.
        let offset_ms: u64 = rng.gen_range(0..3_600_000);
        sink.put(Field::Date, date.as_bytes());
        let s = sink.begin();
        let secs = offset_ms / 1000;
        sink.buf.extend_from_slice(hour_prefix.as_bytes());
        push_2(&mut sink.buf, secs / 60);
        sink.buf.push(b':');
        push_2(&mut sink.buf, secs % 60);
        sink.end(Field::Time, s);
        sink.put_u64(Field::TimestampMs, *hour_millis + offset_ms);
        sink.put(
            Field::EdgeLocation,
            pools.edges[rng.gen_range(0..pools.edges.len())].as_bytes(),
        );

        // Response body and its headers.
        let body = pools::pick_body(rng, route, status, method);
        let hdr_bytes: u64 = rng.gen_range(220..620);
        let sc_bytes = if status == 0 {
            0
        } else {
            hdr_bytes + body.sent
        };
        sink.put_u64(Field::ScBytes, sc_bytes);
        sink.put(Field::CIp, client.ip.as_bytes());
        sink.put(Field::CsMethod, method.as_bytes());
        sink.put(Field::CsHost, pools.cf_domain.as_bytes());

        // Path, with ids filled in.
        let s = sink.begin();
        for (i, part) in route.stem.iter().enumerate() {
            if i > 0 {
                push_u64(&mut sink.buf, pools::pick_id(rng));
            }
            sink.buf.extend_from_slice(part.as_bytes());
        }
        sink.end(Field::CsUriStem, s);

        if status == 0 {
            sink.put(Field::ScStatus, b"000");
        } else {
            sink.put_u64(Field::ScStatus, u64::from(status));
        }
        let referer: &str = if kind == RouteKind::Static || rng.gen_bool(0.3) {
            &client.referer
        } else {
            "-"
        };
        sink.put(Field::CsReferer, referer.as_bytes());
        sink.put(Field::CsUserAgent, client.ua.as_bytes());

        // Query string, numbers filled in.
        let s = sink.begin();
        if route.queries.is_empty() || rng.gen_bool(route.no_query) {
            sink.buf.push(b'-');
        } else {
            let q = &route.queries[rng.gen_range(0..route.queries.len())];
            for (i, part) in q.iter().enumerate() {
                if i > 0 {
                    push_u64(&mut sink.buf, rng.gen_range(1..200));
                }
                sink.buf.extend_from_slice(part.as_bytes());
            }
        }
        sink.end(Field::CsUriQuery, s);

        // With a fixed share every client has a cookie and the request decides; the
        // extra draw only happens then, so default output stays as it was.
        let cookie: &str = match opts.cookie_share {
            Some(share) if !rng.gen_bool(share) => "-",
            _ => &client.cookie,
        };
        sink.put(Field::CsCookie, cookie.as_bytes());
        sink.put(Field::EdgeResultType, result.edge.as_bytes());
        let s = sink.begin();
        // 40 bytes in base64: 53 free characters, one with 2 bits, then `==`.
        push_base64ish(&mut sink.buf, rng, 53);
        sink.buf.push(b"AQgw"[rng.gen_range(0..4)]);
        sink.buf.extend_from_slice(b"==");
        sink.end(Field::EdgeRequestId, s);
        sink.put(Field::HostHeader, pools.hosts[route.host].as_bytes());

        // Transport.
        let (proto, tls) = pools::pick_protocol(rng, kind, method);
        sink.put(Field::CsProtocol, proto.as_bytes());
        let cs_bytes = match method {
            "POST" | "PUT" => rng.gen_range(400..6000),
            _ => rng.gen_range(60..1400),
        };
        sink.put_u64(Field::CsBytes, cs_bytes);
        let t = pools::pick_timings(rng, result);
        sink.put_secs(Field::TimeTaken, t.taken);
        sink.put(Field::XForwardedFor, client.xff.as_bytes());
        let (ssl_p, ssl_c) = if tls {
            pools::pick_tls(rng)
        } else {
            ("-", "-")
        };
        sink.put(Field::SslProtocol, ssl_p.as_bytes());
        sink.put(Field::SslCipher, ssl_c.as_bytes());
        sink.put(Field::EdgeResponseResultType, result.response.as_bytes());
        sink.put(
            Field::CsProtocolVersion,
            pools::pick_http_version(rng, proto).as_bytes(),
        );
        sink.put(Field::FleStatus, b"-");
        sink.put(Field::FleEncryptedFields, b"-");
        sink.put_u64(Field::CPort, rng.gen_range(1024..65536));
        if status == 0 {
            sink.put(Field::TimeToFirstByte, b"-");
        } else {
            sink.put_secs(Field::TimeToFirstByte, t.ttfb);
        }
        sink.put(Field::EdgeDetailedResultType, result.detailed.as_bytes());
        sink.put(Field::ScContentType, body.content_type.as_bytes());
        sink.put_opt(Field::ScContentLen, body.content_len);
        sink.put_opt(Field::ScRangeStart, body.range.map(|r| r.0));
        sink.put_opt(Field::ScRangeEnd, body.range.map(|r| r.1));

        // v2-only fields.
        sink.put_opt_secs(Field::OriginFbl, t.origin_fbl);
        sink.put_opt_secs(Field::OriginLbl, t.origin_lbl);
        sink.put_u64(Field::Asn, u64::from(client.asn));
        sink.put(Field::CCountry, client.country.as_bytes());
        sink.put(Field::CacheBehaviorPathPattern, route.behavior.as_bytes());
        sink.put(Field::DistributionId, opts.distribution_id.as_bytes());
    }
}

/// Field values of the current record, concatenated; `spans[f]` indexes into `buf`.
struct Sink {
    buf: Vec<u8>,
    spans: [(u32, u32); field::COUNT],
}

impl Sink {
    fn get(&self, f: Field) -> &[u8] {
        let (s, e) = self.spans[f as usize];
        &self.buf[s as usize..e as usize]
    }

    fn begin(&self) -> usize {
        self.buf.len()
    }

    fn end(&mut self, f: Field, start: usize) {
        // A record is well under 4 GiB.
        self.spans[f as usize] = (start as u32, self.buf.len() as u32);
    }

    fn put(&mut self, f: Field, v: &[u8]) {
        let s = self.begin();
        self.buf.extend_from_slice(v);
        self.end(f, s);
    }

    fn put_u64(&mut self, f: Field, v: u64) {
        let s = self.begin();
        push_u64(&mut self.buf, v);
        self.end(f, s);
    }

    fn put_opt(&mut self, f: Field, v: Option<u64>) {
        match v {
            Some(v) => self.put_u64(f, v),
            None => self.put(f, b"-"),
        }
    }

    /// Seconds with three decimals, from milliseconds.
    fn put_secs(&mut self, f: Field, millis: u64) {
        let s = self.begin();
        push_fixed3(&mut self.buf, millis);
        self.end(f, s);
    }

    fn put_opt_secs(&mut self, f: Field, millis: Option<u64>) {
        match millis {
            Some(v) => self.put_secs(f, v),
            None => self.put(f, b"-"),
        }
    }
}

impl Iterator for Generator {
    type Item = String;

    /// The next record as one line, without its `\n`. Never ends.
    fn next(&mut self) -> Option<String> {
        let mut buf = Vec::with_capacity(512);
        self.next_line(&mut buf);
        buf.pop();
        // Every value is ASCII: escaping leaves no other bytes.
        Some(String::from_utf8(buf).unwrap_or_default())
    }
}

/// Writes `n` lines made by `next` into `w`, reusing one buffer; returns the
/// bytes written. Shared by the standard and the real-time generators.
pub(crate) fn write_lines(
    w: &mut impl Write,
    n: u64,
    mut next: impl FnMut(&mut Vec<u8>),
) -> io::Result<u64> {
    let mut line = Vec::with_capacity(4096);
    let mut written = 0u64;
    for _ in 0..n {
        written += write_line(w, &mut line, &mut next)?;
    }
    Ok(written)
}

/// Writes lines made by `next` until at least `target` bytes are written;
/// returns `(lines, bytes)`.
pub(crate) fn write_lines_until(
    w: &mut impl Write,
    target: u64,
    mut next: impl FnMut(&mut Vec<u8>),
) -> io::Result<(u64, u64)> {
    let mut line = Vec::with_capacity(4096);
    let (mut lines, mut written) = (0u64, 0u64);
    while written < target {
        written += write_line(w, &mut line, &mut next)?;
        lines += 1;
    }
    Ok((lines, written))
}

fn write_line(
    w: &mut impl Write,
    line: &mut Vec<u8>,
    next: &mut impl FnMut(&mut Vec<u8>),
) -> io::Result<u64> {
    line.clear();
    next(line);
    w.write_all(line)?;
    Ok(line.len() as u64)
}
