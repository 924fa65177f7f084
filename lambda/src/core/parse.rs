//! Lines → records. Detects the format from content, never from the key:
//! `#` lines are W3C directives (`#Fields` may change part-way through a
//! file), `{` lines are v2 JSON objects, anything else is a row under the
//! current field list (from `#Fields`, or configured for v2 `plain`).

use std::borrow::Cow;

use super::fields::Field;

/// One log line's values, by field. Absent fields and `-` are `None`.
#[derive(Debug)]
pub struct Record<'a> {
    slots: [Option<Cow<'a, str>>; Field::COUNT],
}

impl Default for Record<'_> {
    fn default() -> Self {
        Record {
            slots: std::array::from_fn(|_| None),
        }
    }
}

impl<'a> Record<'a> {
    /// The value of `field`, if the line carries it and it is not `-` or empty.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.slots[field as usize].as_deref()
    }

    pub fn set(&mut self, field: Field, value: Cow<'a, str>) {
        if !value.is_empty() && value != "-" {
            self.slots[field as usize] = Some(value);
        }
    }

    /// Builds a record from `(name, value)` pairs; handy in tests.
    pub fn from_pairs<I, K, V>(pairs: I) -> Record<'a>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<Cow<'a, str>>,
    {
        let mut record = Record::default();
        for (name, value) in pairs {
            if let Some(field) = Field::from_name(name.as_ref()) {
                record.set(field, value.into());
            }
        }
        record
    }
}

/// What one line turned out to be.
// A record is ~0.9 KiB of slots; it is moved once per line, and boxing it
// would cost an allocation per record on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Line<'a> {
    /// A blank line, a `#Version`/`#Fields`/other directive: nothing to map.
    Directive,
    Record(Record<'a>),
    /// Not readable as a record; the reason is short and names no secret.
    Malformed(String),
}

/// The column layout that rows follow until the next `#Fields` line: names
/// are looked up once here, rows are then mapped by position.
#[derive(Debug, Clone, Default)]
struct Columns {
    /// For each column position, the field it feeds (None: a field we ignore),
    /// up to the last column we map: later columns are never split out.
    slots: Vec<Option<Field>>,
}

impl Columns {
    fn from_names<'n>(names: impl Iterator<Item = &'n str>) -> Columns {
        let mut slots: Vec<Option<Field>> = names.map(Field::from_name).collect();
        while slots.last() == Some(&None) {
            slots.pop();
        }
        Columns { slots }
    }
}

/// A stateful line parser: it remembers the current `#Fields` list.
#[derive(Debug, Default)]
pub struct Parser {
    columns: Option<Columns>,
    /// Set when a `#Fields` header was seen (as opposed to configured fields).
    header_seen: bool,
}

/// Characters that separate names on a `#Fields:` line.
fn is_name_separator(c: char) -> bool {
    c == ' ' || c == '\t' || c == ','
}

impl Parser {
    /// A parser with a configured field order for v2 `plain` objects, which
    /// carry no `#Fields` header. A `#Fields` line in the file still wins.
    pub fn with_fields(names: &[String]) -> Parser {
        let columns = if names.is_empty() {
            None
        } else {
            Some(Columns::from_names(names.iter().map(String::as_str)))
        };
        Parser {
            columns,
            header_seen: false,
        }
    }

    /// Parses one line (without its line ending). The returned record
    /// borrows from `line` where no unescaping is needed.
    pub fn parse_line<'a>(&mut self, line: &'a str) -> Line<'a> {
        let trimmed = line.trim_end_matches([' ', '\t']);
        if trimmed.is_empty() {
            return Line::Directive;
        }
        if let Some(directive) = trimmed.strip_prefix('#') {
            if let Some(names) = directive.strip_prefix("Fields:") {
                self.columns = Some(Columns::from_names(
                    names.split(is_name_separator).filter(|n| !n.is_empty()),
                ));
                self.header_seen = true;
            }
            return Line::Directive;
        }
        if trimmed.starts_with('{') {
            return parse_json(trimmed);
        }
        match &self.columns {
            Some(columns) => Line::Record(parse_row(columns, line)),
            None => Line::Malformed(
                "a row before any #Fields header (for v2 plain logs, set cequence_log_fields)"
                    .to_string(),
            ),
        }
    }

    /// Whether the object had a `#Fields` header so far.
    pub fn header_seen(&self) -> bool {
        self.header_seen
    }
}

/// Maps a tab-separated row over the columns both the row and the header have.
fn parse_row<'a>(columns: &Columns, line: &'a str) -> Record<'a> {
    let mut record = Record::default();
    // One vectorised scan for tabs; `str::split` searches per field.
    let mut tabs = memchr::memchr_iter(b'\t', line.as_bytes());
    let mut start = 0;
    for slot in &columns.slots {
        let end = tabs.next().unwrap_or(line.len());
        if let Some(field) = slot {
            // A tab is ASCII, so both ends are character boundaries.
            record.set(*field, Cow::Borrowed(&line[start..end]));
        }
        if end == line.len() {
            break; // a short row: the remaining columns are absent
        }
        start = end + 1;
    }
    record
}

/// A v2 JSON line: an object whose keys are field names and values strings.
/// Keys and values are borrowed from the line unless they hold an escape.
fn parse_json(line: &str) -> Line<'_> {
    let mut deserializer = serde_json::Deserializer::from_str(line);
    let parsed = serde::Deserializer::deserialize_map(&mut deserializer, RecordVisitor)
        .and_then(|record| deserializer.end().map(|()| record));
    match parsed {
        Ok(Ok(record)) => Line::Record(record),
        Ok(Err(reason)) => Line::Malformed(reason),
        Err(e) => Line::Malformed(format!("invalid JSON: {e}")),
    }
}

/// Fills a record from a JSON object's entries, in the line's order: a
/// later value of the same field wins, as a later duplicate key would.
struct RecordVisitor;

impl<'de> serde::de::Visitor<'de> for RecordVisitor {
    /// The record, or why it is malformed (a value that is not a string).
    type Value = Result<Record<'de>, String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = Record::default();
        let mut malformed = None;
        while let Some(JsonValue::Text(name)) = map.next_key::<JsonValue<'de>>()? {
            let value: JsonValue<'de> = map.next_value()?;
            let Some(field) = Field::from_name(&name) else {
                continue;
            };
            match value {
                JsonValue::Text(text) => {
                    record.slots[field as usize] = None;
                    record.set(field, text);
                }
                JsonValue::Null => record.slots[field as usize] = None,
                JsonValue::Other(other) => {
                    malformed.get_or_insert(format!("field {name} is not a string: {other}"));
                }
            }
        }
        Ok(malformed.map_or(Ok(record), Err))
    }
}

/// One JSON value of a v2 line. v2 JSON carries every value as a string;
/// plain numbers are accepted too, as their JSON text.
enum JsonValue<'a> {
    Text(Cow<'a, str>),
    Null,
    Other(serde_json::Value),
}

impl<'de> serde::Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonValueVisitor)
    }
}

struct JsonValueVisitor;

impl<'de> serde::de::Visitor<'de> for JsonValueVisitor {
    type Value = JsonValue<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(
            serde_json::Number::from(v).to_string(),
        )))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(
            serde_json::Number::from(v).to_string(),
        )))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(
            serde_json::Number::from_f64(v).map_or(JsonValue::Null, |n| {
                JsonValue::Text(Cow::Owned(n.to_string()))
            }),
        )
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JsonValue::Other(serde_json::Value::Bool(v)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(JsonValue::Other(value))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(JsonValue::Other(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(parser: &mut Parser, line: &'a str) -> Record<'a> {
        match parser.parse_line(line) {
            Line::Record(r) => r,
            other => panic!("expected a record, got {other:?}"),
        }
    }

    #[test]
    fn columns_are_mapped_by_name_and_header_changes_apply_to_later_rows() {
        let mut p = Parser::default();
        assert!(matches!(p.parse_line("#Version: 1.0"), Line::Directive));
        assert!(matches!(
            p.parse_line("#Fields: c-ip cs-method sc-status"),
            Line::Directive
        ));
        let r = record(&mut p, "192.0.2.1\tGET\t200");
        assert_eq!(r.get(Field::ClientIp), Some("192.0.2.1"));
        assert_eq!(r.get(Field::Method), Some("GET"));
        p.parse_line("#Fields: sc-status c-ip cs-method");
        let r = record(&mut p, "404\t192.0.2.2\tPOST");
        assert_eq!(r.get(Field::Status), Some("404"));
        assert_eq!(r.get(Field::ClientIp), Some("192.0.2.2"));
        assert_eq!(r.get(Field::Method), Some("POST"));
    }

    #[test]
    fn dash_and_empty_are_absent() {
        let mut p = Parser::with_fields(&["cs(Referer)".into(), "cs(Cookie)".into()]);
        let r = record(&mut p, "-\t");
        assert_eq!(r.get(Field::Referer), None);
        assert_eq!(r.get(Field::Cookie), None);
    }

    #[test]
    fn short_and_long_rows_map_the_common_columns() {
        let mut p = Parser::default();
        p.parse_line("#Fields: c-ip cs-method sc-status");
        let short = record(&mut p, "192.0.2.1\tGET");
        assert_eq!(short.get(Field::Method), Some("GET"));
        assert_eq!(short.get(Field::Status), None);
        let long = record(&mut p, "192.0.2.1\tGET\t200\textra\t\t");
        assert_eq!(long.get(Field::Status), Some("200"));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut p = Parser::default();
        p.parse_line("#Fields: fle-status c-ip");
        let r = record(&mut p, "-\t192.0.2.9");
        assert_eq!(r.get(Field::ClientIp), Some("192.0.2.9"));
    }

    #[test]
    fn rows_without_a_header_are_malformed_unless_fields_are_configured() {
        let mut p = Parser::default();
        assert!(matches!(p.parse_line("1.2.3.4\tGET"), Line::Malformed(_)));
        let mut p = Parser::with_fields(&["c-ip".into(), "cs-method".into()]);
        let r = record(&mut p, "1.2.3.4\tGET");
        assert_eq!(r.get(Field::Method), Some("GET"));
        assert!(!p.header_seen());
    }

    #[test]
    fn json_lines_use_verbatim_names_and_string_values() {
        let mut p = Parser::default();
        let r = record(
            &mut p,
            r#"{"timestamp(ms)":"1706742151123","cs(Cookie)":"a=b","asn":"16509","sc-range-end":"-","x":"y"}"#,
        );
        assert_eq!(r.get(Field::TimestampMs), Some("1706742151123"));
        assert_eq!(r.get(Field::Cookie), Some("a=b"));
        assert_eq!(r.get(Field::Asn), Some("16509"));
        assert_eq!(r.get(Field::RangeEnd), None);
        assert!(matches!(p.parse_line("{not json"), Line::Malformed(_)));
        assert!(matches!(
            p.parse_line(r#"{"c-ip":["x"]}"#),
            Line::Malformed(_)
        ));
    }

    #[test]
    fn json_values_borrow_unless_escaped_and_keep_the_old_rules() {
        let mut p = Parser::default();
        let line = r#"{"c-ip":"192.0.2.1","cs-uri-stem":"/a\"b\u00e9","sc-bytes":123,"time-taken":0.25,"cs(Cookie)":null,"x":[1]}"#;
        let r = record(&mut p, line);
        assert!(matches!(
            r.slots[Field::ClientIp as usize],
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(r.get(Field::UriStem), Some("/a\"b\u{e9}"));
        assert_eq!(r.get(Field::ScBytes), Some("123"));
        assert_eq!(r.get(Field::TimeTaken), Some("0.25"));
        assert_eq!(r.get(Field::Cookie), None);
        // A later duplicate wins, also when it is absent.
        let r = record(
            &mut p,
            r#"{"c-ip":"a","c-ip":"b","sc-status":"200","sc-status":"-"}"#,
        );
        assert_eq!(r.get(Field::ClientIp), Some("b"));
        assert_eq!(r.get(Field::Status), None);
        match p.parse_line(r#"{"c-ip":{"a":[true]},"sc-status":"200"}"#) {
            Line::Malformed(reason) => {
                assert_eq!(reason, r#"field c-ip is not a string: {"a":[true]}"#)
            }
            other => panic!("expected malformed, got {other:?}"),
        }
        match p.parse_line(r#"{"c-ip":"a"} trailing"#) {
            Line::Malformed(reason) => assert!(reason.starts_with("invalid JSON: "), "{reason}"),
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn blank_lines_are_not_records() {
        let mut p = Parser::default();
        assert!(matches!(p.parse_line(""), Line::Directive));
        assert!(matches!(p.parse_line("  \t"), Line::Directive));
    }
}
