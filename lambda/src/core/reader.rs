//! Streaming line reader over a log object: plain text or gzip (one or many
//! members, detected by magic bytes), `\n` or `\r\n` endings. Memory is
//! bounded by the buffer plus the longest accepted line, never by object size.

use std::io::{self, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use flate2::bufread::MultiGzDecoder;

/// Lines longer than this are reported as malformed and skipped: a real
/// CloudFront line is a few KiB; this bounds memory on hostile input.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The longest line kept, counting its `\r\n`.
const MAX_RAW_LINE: usize = MAX_LINE_BYTES + 2;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BUFFER_BYTES: usize = 256 * 1024;

/// One physical line of the (decompressed) object.
#[derive(Debug, PartialEq, Eq)]
pub enum RawLine<'a> {
    /// The line's bytes without the line ending.
    Text(&'a [u8]),
    /// The line exceeded [`MAX_LINE_BYTES`]; its bytes were discarded.
    TooLong,
}

/// Reads lines from a plain or gzip stream, numbering them from 1.
///
/// Lines are handed out as slices of one buffer that the inflater writes into
/// directly: no copy per line. The buffer grows only for a line that does not
/// fit (up to [`MAX_LINE_BYTES`]).
pub struct LineReader {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// `buf[start..end]` holds bytes read but not yet returned.
    start: usize,
    end: usize,
    /// Where the search for the next `\n` resumes (`start..scanned` has none).
    scanned: usize,
    /// The current line is too long: its bytes are dropped until its `\n`.
    discarding: bool,
    eof: bool,
    line_number: u64,
    compressed: bool,
}

impl std::fmt::Debug for LineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader")
            .field("line_number", &self.line_number)
            .field("compressed", &self.compressed)
            .finish()
    }
}

/// Whether gzip is inflated on a second thread, ahead of the parser
/// (`cequence_inflate_thread`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InflateThread {
    /// Only when more than one CPU is available (Lambda: 1,769 MB and up).
    #[default]
    Auto,
    On,
    Off,
}

impl InflateThread {
    /// Parses `auto`, `on` or `off` (any case).
    pub fn parse(value: &str) -> Option<InflateThread> {
        match value.to_ascii_lowercase().as_str() {
            "auto" => Some(InflateThread::Auto),
            "on" => Some(InflateThread::On),
            "off" => Some(InflateThread::Off),
            _ => None,
        }
    }

    /// Whether to use the thread on this machine.
    pub fn enabled(self) -> bool {
        match self {
            InflateThread::Auto => std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            InflateThread::On => true,
            InflateThread::Off => false,
        }
    }
}

impl LineReader {
    /// Wraps `source`, sniffing the gzip magic bytes without consuming them.
    pub fn new<R: Read + Send + 'static>(source: R) -> io::Result<LineReader> {
        LineReader::with_inflate_thread(source, false)
    }

    /// Like [`LineReader::new`]; with `threaded`, gzip is inflated on a
    /// second thread while this one parses. The lines are the same.
    pub fn with_inflate_thread<R: Read + Send + 'static>(
        source: R,
        threaded: bool,
    ) -> io::Result<LineReader> {
        // Sniff the magic bytes even from a source that returns one byte per
        // read, then put them back in front of the rest.
        let mut source = source;
        let mut magic = [0u8; 2];
        let mut got = 0;
        while got < magic.len() {
            match source.read(&mut magic[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let compressed = magic[..got] == GZIP_MAGIC;
        let buffered = BufReader::with_capacity(
            BUFFER_BYTES,
            io::Cursor::new(magic[..got].to_vec()).chain(source),
        );
        let inner: Box<dyn Read + Send> = match (compressed, threaded) {
            (true, true) => inflate_ahead(MultiGzDecoder::new(buffered)),
            (true, false) => Box::new(MultiGzDecoder::new(buffered)),
            (false, _) => Box::new(buffered),
        };
        Ok(LineReader {
            inner,
            buf: vec![0; BUFFER_BYTES],
            start: 0,
            end: 0,
            scanned: 0,
            discarding: false,
            eof: false,
            line_number: 0,
            compressed,
        })
    }

    /// Whether the object is gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The 1-based number of the line last returned.
    pub fn line_number(&self) -> u64 {
        self.line_number
    }

    /// The next line, `Ok(None)` at the end. On an I/O or gzip error the
    /// partial line is discarded: every complete line before it was returned.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.scanned..self.end]) {
                let newline = self.scanned + pos;
                let line_start = self.start;
                self.start = newline + 1;
                self.scanned = self.start;
                self.line_number += 1;
                if std::mem::take(&mut self.discarding) || newline + 1 - line_start > MAX_RAW_LINE {
                    return Ok(Some(RawLine::TooLong));
                }
                let mut line_end = newline;
                if line_end > line_start && self.buf[line_end - 1] == b'\r' {
                    line_end -= 1;
                }
                return Ok(Some(RawLine::Text(&self.buf[line_start..line_end])));
            }
            self.scanned = self.end;
            if self.end - self.start > MAX_RAW_LINE {
                self.discarding = true;
            }
            if self.eof {
                return Ok(self.last_line());
            }
            self.make_room();
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.start = self.end;
                    self.scanned = self.end;
                    self.discarding = false;
                    return Err(e);
                }
            }
        }
    }

    /// At the end of input: the last line if it had no trailing newline.
    fn last_line(&mut self) -> Option<RawLine<'_>> {
        let discarded = std::mem::take(&mut self.discarding);
        if self.start == self.end && !discarded {
            return None;
        }
        let (line_start, line_end) = (self.start, self.end);
        self.start = self.end;
        self.scanned = self.end;
        self.line_number += 1;
        if discarded {
            return Some(RawLine::TooLong);
        }
        // Without a newline there is no line ending to strip.
        Some(RawLine::Text(&self.buf[line_start..line_end]))
    }

    /// Moves the pending partial line to the front of the buffer, and grows
    /// the buffer when that line fills it.
    fn make_room(&mut self) {
        if self.discarding {
            // The rest of a too-long line: none of it is kept.
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // One byte over the limit is enough to tell that a line is too long.
            let grown = (self.buf.len() * 2).min(MAX_RAW_LINE + 1);
            self.buf.resize(grown, 0);
        }
    }
}

/// Bytes inflated per hand-over between the threads.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks waiting for the parser: bounds memory at a few chunks.
const CHUNKS_AHEAD: usize = 2;

type Chunk = io::Result<Vec<u8>>;

/// Reads inflated chunks from the inflating thread.
struct InflateAhead {
    chunks: Receiver<Chunk>,
    /// Read chunks go back to the thread for reuse.
    spare: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

/// Starts a thread that reads `decoder` ahead; falls back to reading it on
/// this thread if no thread can be started.
fn inflate_ahead<D: Read + Send + 'static>(decoder: D) -> Box<dyn Read + Send> {
    let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(CHUNKS_AHEAD);
    let (spare_tx, spare_rx) = sync_channel::<Vec<u8>>(CHUNKS_AHEAD + 2);
    // Shared so that, if no thread starts, this thread can take it back.
    let shared = std::sync::Arc::new(std::sync::Mutex::new(Some(decoder)));
    let for_thread = std::sync::Arc::clone(&shared);
    let spawned = std::thread::Builder::new()
        .name("inflate".into())
        .spawn(move || {
            let taken = for_thread.lock().ok().and_then(|mut d| d.take());
            if let Some(mut decoder) = taken {
                inflate_chunks(&mut decoder, &chunk_tx, &spare_rx);
            }
        });
    if spawned.is_err() {
        if let Some(decoder) = shared.lock().ok().and_then(|mut d| d.take()) {
            return Box::new(decoder);
        }
    }
    Box::new(InflateAhead {
        chunks: chunk_rx,
        spare: spare_tx,
        current: Vec::new(),
        pos: 0,
    })
}

/// The inflating thread: fills chunks until the end, an error, or until the
/// reader is dropped (a send fails).
fn inflate_chunks(decoder: &mut impl Read, chunks: &SyncSender<Chunk>, spare: &Receiver<Vec<u8>>) {
    loop {
        let mut chunk = spare.try_recv().unwrap_or_default();
        chunk.resize(CHUNK_BYTES, 0);
        let mut filled = 0;
        let mut failure = None;
        while filled < CHUNK_BYTES {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        chunk.truncate(filled);
        let at_end = filled < CHUNK_BYTES;
        if filled > 0 && chunks.send(Ok(chunk)).is_err() {
            return;
        }
        if let Some(e) = failure {
            let _ = chunks.send(Err(e));
            return;
        }
        if at_end {
            return; // dropping the sender ends the stream
        }
    }
}

impl Read for InflateAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.current.len() {
                let n = buf.len().min(self.current.len() - self.pos);
                buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if !self.current.is_empty() {
                let _ = self.spare.try_send(std::mem::take(&mut self.current));
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
    }
}

/// How many leading bytes [`sniff`] looks at (after gunzip, if gzip).
pub const SNIFF_BYTES: usize = 8 * 1024;

/// What the start of an input looks like, before any parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// No bytes at all (or a gzip of nothing).
    Empty,
    /// Text: a log, or at worst rows the parser will call malformed.
    Text,
    /// Binary bytes: not a CloudFront log of any format (the offset is of the
    /// first NUL or control byte, in the decompressed text if gzip).
    Binary { offset: usize },
}

/// Tells a non-log input and an empty one apart from a log, from its first
/// bytes (`prefix`: at least [`SNIFF_BYTES`], or the whole input if shorter).
/// Every CloudFront format is text: W3C, JSON and plain lines never hold NUL
/// or control bytes other than tab, CR and LF.
pub fn sniff(prefix: &[u8]) -> Content {
    if prefix.is_empty() {
        return Content::Empty;
    }
    let decoded;
    let text: &[u8] = if prefix.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::with_capacity(SNIFF_BYTES);
        // A prefix of a gzip stream decodes up to where it was cut: that is
        // enough, so the expected UnexpectedEof is ignored. A corrupt header
        // decodes nothing and is left to the reader to report.
        let _ = MultiGzDecoder::new(prefix)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut out);
        if out.is_empty() {
            return if prefix.len() < SNIFF_BYTES && gzip_of_nothing(prefix) {
                Content::Empty
            } else {
                Content::Text
            };
        }
        decoded = out;
        &decoded
    } else {
        prefix
    };
    let control =
        |b: &u8| *b == 0 || (*b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || *b == 0x7f;
    let count = text.iter().filter(|b| control(b)).count();
    // One stray control byte in a log row is a malformed row, not a binary file.
    if text.contains(&0) || count * 100 > text.len() {
        let offset = text.iter().position(control).unwrap_or(0);
        return Content::Binary { offset };
    }
    Content::Text
}

/// A complete gzip stream (or several) that decodes to no bytes.
fn gzip_of_nothing(data: &[u8]) -> bool {
    let mut out = Vec::new();
    MultiGzDecoder::new(data).read_to_end(&mut out).is_ok() && out.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use proptest::strategy::Just;
    use std::io::Write;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn all_lines(reader: &mut LineReader) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        while let Some(line) = reader.next_line()? {
            match line {
                RawLine::Text(t) => out.push(String::from_utf8_lossy(t).into_owned()),
                RawLine::TooLong => out.push("<too long>".into()),
            }
        }
        Ok(out)
    }

    #[test]
    fn plain_lf_and_crlf() {
        let mut r = LineReader::new(io::Cursor::new(b"a\r\nb\nc".to_vec())).unwrap();
        assert!(!r.is_compressed());
        assert_eq!(all_lines(&mut r).unwrap(), ["a", "b", "c"]);
        assert_eq!(r.line_number(), 3);
    }

    #[test]
    fn multi_member_gzip_is_read_to_the_end() {
        let mut data = gzip(b"one\ntwo\n");
        data.extend(gzip(b"three\n"));
        let mut r = LineReader::new(io::Cursor::new(data)).unwrap();
        assert!(r.is_compressed());
        assert_eq!(all_lines(&mut r).unwrap(), ["one", "two", "three"]);
    }

    #[test]
    fn truncated_gzip_yields_complete_lines_then_an_error() {
        let body: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let full = gzip(body.as_bytes());
        let truncated = full[..full.len() / 2].to_vec();
        let mut r = LineReader::new(io::Cursor::new(truncated)).unwrap();
        let mut got = Vec::new();
        let err = loop {
            match r.next_line() {
                Ok(Some(RawLine::Text(t))) => got.push(String::from_utf8(t.to_vec()).unwrap()),
                Ok(Some(RawLine::TooLong)) => panic!("unexpected"),
                Ok(None) => panic!("a truncated gzip must not end quietly"),
                Err(e) => break e,
            }
        };
        assert!(!got.is_empty());
        for (i, line) in got.iter().enumerate() {
            assert_eq!(line, &format!("line {i}"), "only complete lines, in order");
        }
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn overlong_lines_are_flagged_and_reading_continues() {
        let mut data = vec![b'x'; MAX_LINE_BYTES + 10];
        data.extend_from_slice(b"\nnext\n");
        let mut r = LineReader::new(io::Cursor::new(data)).unwrap();
        assert_eq!(all_lines(&mut r).unwrap(), ["<too long>", "next"]);
    }

    /// A source that returns at most `chunk` bytes per read.
    struct Trickle {
        data: io::Cursor<Vec<u8>>,
        chunk: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk);
            self.data.read(&mut buf[..n])
        }
    }

    /// What the reader must return for lines under the limit: split on `\n`,
    /// one `\r` before it dropped, no empty line after a final `\n`.
    fn reference_lines(data: &[u8]) -> Vec<String> {
        let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let last = lines.len().saturating_sub(1);
        let ends_with_newline = data.last() == Some(&b'\n');
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let had_newline = i < last || ends_with_newline;
                let l = match l.strip_suffix(b"\r") {
                    Some(stripped) if had_newline => stripped,
                    _ => l,
                };
                String::from_utf8_lossy(l).into_owned()
            })
            .collect()
    }

    #[test]
    fn gzip_is_recognised_from_a_source_that_returns_one_byte_per_read() {
        for threaded in [false, true] {
            let source = Trickle {
                data: io::Cursor::new(gzip(b"one\ntwo\n")),
                chunk: 1,
            };
            let mut r = LineReader::with_inflate_thread(source, threaded).unwrap();
            assert!(r.is_compressed());
            assert_eq!(all_lines(&mut r).unwrap(), ["one", "two"]);
        }
    }

    #[test]
    fn lines_longer_than_the_buffer_but_within_the_limit_are_whole() {
        let long = "y".repeat(3 * BUFFER_BYTES + 17);
        let data = format!("a\n{long}\r\nb");
        for chunk in [1 << 20, 4096, 7] {
            let mut r = LineReader::new(Trickle {
                data: io::Cursor::new(data.clone().into_bytes()),
                chunk,
            })
            .unwrap();
            assert_eq!(all_lines(&mut r).unwrap(), ["a", long.as_str(), "b"]);
        }
    }

    #[test]
    fn the_line_limit_counts_the_line_ending() {
        // Up to MAX_LINE_BYTES + 2 bytes with the ending are kept.
        for (len, ending, kept) in [
            (MAX_LINE_BYTES, "\r\n", true),
            (MAX_LINE_BYTES + 1, "\n", true),
            (MAX_LINE_BYTES + 1, "\r\n", false),
            (MAX_LINE_BYTES + 2, "", true),
            (MAX_LINE_BYTES + 3, "", false),
        ] {
            let mut data = vec![b'z'; len];
            data.extend_from_slice(ending.as_bytes());
            data.extend_from_slice(b"tail\n");
            if ending.is_empty() {
                data.truncate(len);
            }
            let mut r = LineReader::new(io::Cursor::new(data)).unwrap();
            let lines = all_lines(&mut r).unwrap();
            assert_eq!(lines[0] != "<too long>", kept, "{len} + {ending:?}");
            if !ending.is_empty() {
                assert_eq!(lines[1], "tail");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn lines_match_a_plain_split_whatever_the_read_sizes(
            data in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), proptest::num::u8::ANY],
                0..3000,
            ),
            chunk in 1usize..600,
            compress: bool,
            threaded: bool,
        ) {
            let bytes = if compress { gzip(&data) } else { data.clone() };
            if !compress && data.starts_with(&GZIP_MAGIC) {
                return Ok(());
            }
            let source = Trickle { data: io::Cursor::new(bytes), chunk };
            let mut r = LineReader::with_inflate_thread(source, threaded).unwrap();
            let got = all_lines(&mut r).unwrap();
            proptest::prop_assert_eq!(r.line_number(), got.len() as u64);
            proptest::prop_assert_eq!(got, reference_lines(&data));
        }
    }

    #[test]
    fn the_inflate_thread_gives_the_same_lines_and_errors() {
        let body: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        let mut data = gzip(body.as_bytes());
        data.extend(gzip(b"last\n"));
        let mut r = LineReader::with_inflate_thread(io::Cursor::new(data), true).unwrap();
        let lines = all_lines(&mut r).unwrap();
        assert_eq!(lines.len(), 100_001);
        assert_eq!(lines[99_999], "line 99999");
        assert_eq!(lines[100_000], "last");

        let full = gzip(body.as_bytes());
        let truncated = full[..full.len() / 2].to_vec();
        let mut r = LineReader::with_inflate_thread(io::Cursor::new(truncated), true).unwrap();
        let mut complete = 0;
        let err = loop {
            match r.next_line() {
                Ok(Some(RawLine::Text(t))) => {
                    assert_eq!(t, format!("line {complete}").as_bytes());
                    complete += 1;
                }
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => break e,
            }
        };
        assert!(complete > 0);
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn dropping_a_threaded_reader_early_stops_the_thread() {
        let body: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
        let mut r =
            LineReader::with_inflate_thread(io::Cursor::new(gzip(body.as_bytes())), true).unwrap();
        assert!(matches!(r.next_line(), Ok(Some(RawLine::Text(b"line 0")))));
        drop(r); // the thread's next send fails and it returns
    }

    #[test]
    fn inflate_thread_setting() {
        assert_eq!(InflateThread::parse("AUTO"), Some(InflateThread::Auto));
        assert_eq!(InflateThread::parse("on"), Some(InflateThread::On));
        assert_eq!(InflateThread::parse("off"), Some(InflateThread::Off));
        assert_eq!(InflateThread::parse("yes"), None);
        assert!(InflateThread::On.enabled());
        assert!(!InflateThread::Off.enabled());
    }

    #[test]
    fn sniff_tells_logs_from_empty_and_binary_inputs() {
        let log = b"#Version: 1.0\n#Fields: date time\n2024-01-31\t23:00:00\n";
        assert_eq!(sniff(log), Content::Text);
        assert_eq!(sniff(&gzip(log)), Content::Text);
        assert_eq!(sniff(b"{\"date\":\"x\"}\n"), Content::Text);
        assert_eq!(sniff(b""), Content::Empty);
        assert_eq!(sniff(&gzip(b"")), Content::Empty);
        let binary: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(matches!(sniff(&binary), Content::Binary { .. }));
        assert!(matches!(sniff(&gzip(&binary)), Content::Binary { .. }));
        assert_eq!(sniff(b"ab\0cd"), Content::Binary { offset: 2 });
        // A single stray control byte in a long text is a malformed row at worst.
        let mut text = vec![b'a'; 500];
        text[10] = 0x01;
        assert_eq!(sniff(&text), Content::Text);
    }

    #[test]
    fn empty_and_single_byte_objects() {
        let mut r = LineReader::new(io::Cursor::new(Vec::new())).unwrap();
        assert!(all_lines(&mut r).unwrap().is_empty());
        let mut r = LineReader::new(io::Cursor::new(vec![0x1f])).unwrap();
        assert_eq!(all_lines(&mut r).unwrap().len(), 1);
    }
}
