//! Streaming line reader over a log object: plain text or gzip (one or many
//! members, detected by magic bytes), `\n` or `\r\n` endings. Memory is
//! bounded by the buffer plus the longest accepted line, never by object size.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

/// Lines longer than this are reported as malformed and skipped: a real
/// CloudFront line is a few KiB; this bounds memory on hostile input.
pub const MAX_LINE_BYTES: usize = 1 << 20;

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
pub struct LineReader {
    inner: Box<dyn BufRead + Send>,
    line: Vec<u8>,
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

impl LineReader {
    /// Wraps `source`, sniffing the gzip magic bytes without consuming them.
    pub fn new<R: Read + Send + 'static>(source: R) -> io::Result<LineReader> {
        let mut buffered = BufReader::with_capacity(BUFFER_BYTES, source);
        // The first read of any real source returns at least two bytes.
        let compressed = buffered.fill_buf()?.starts_with(&GZIP_MAGIC);
        let inner: Box<dyn BufRead + Send> = if compressed {
            Box::new(BufReader::with_capacity(
                BUFFER_BYTES,
                MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        Ok(LineReader {
            inner,
            line: Vec::with_capacity(4096),
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
        self.line.clear();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break; // last line without a trailing newline
            }
            saw_any = true;
            let (chunk, found_newline) = match memchr::memchr(b'\n', available) {
                Some(pos) => (&available[..=pos], true),
                None => (available, false),
            };
            let used = chunk.len();
            if !too_long {
                if self.line.len() + used > MAX_LINE_BYTES + 2 {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            if found_newline {
                break;
            }
        }
        self.line_number += 1;
        if too_long {
            return Ok(Some(RawLine::TooLong));
        }
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        }
        Ok(Some(RawLine::Text(&self.line)))
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
