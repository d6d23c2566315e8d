//! Streaming readers: one [`Row`] at a time from CSV (a header row; the text in a
//! named column), JSON Lines (one object per line; the text under a key) or plain
//! text (one input per line). Memory stays flat whatever the file's size; the bytes
//! read so far are counted for the progress bar.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::FileError;
use crate::model::TextInput;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// Plain text: one input per line.
    Txt,
}

impl Format {
    /// The format a file name says (`.csv`, `.jsonl`/`.ndjson`, `.txt`), if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "txt" | "text" => Some(Self::Txt),
            _ => None,
        }
    }
}

/// One input row as read, kept whole for the output.
#[derive(Debug, Clone)]
pub enum Record {
    /// A CSV record (its fields' bytes, as read).
    Csv(csv::ByteRecord),
    /// A JSON Lines object.
    Json(Map<String, Value>),
    /// A line of text (valid UTF-8, or lossily decoded for a bad row).
    Text(String),
}

/// One row: where it was, what it holds, and its model input or why it has none.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The row as read.
    pub record: Record,
    /// The text (and pair) to classify, or why the row is bad.
    pub input: Result<TextInput, String>,
}

/// Which fields hold the text and the pair.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The text's column (CSV) or key (JSON Lines).
    pub text: String,
    /// The pair's column or key, if any.
    pub pair: Option<String>,
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Source = Counting<Box<dyn Read + Send>>;

/// A streaming reader of rows.
pub struct Reader {
    path: PathBuf,
    kind: Kind,
}

enum Kind {
    Csv { reader: csv::Reader<Source>, width: usize, text: usize, pair: Option<usize> },
    Lines { reader: BufReader<Source>, json: bool, columns: Columns, line: u64 },
}

impl Reader {
    /// Opens `source` (read from `path`, named in errors) as `format`; `count` gets
    /// the bytes read.
    ///
    /// Errors: [`FileError::MissingColumn`] for a CSV header without the column;
    /// [`FileError::Csv`] for an unreadable header.
    pub fn new(
        path: &Path,
        source: Box<dyn Read + Send>,
        format: Format,
        columns: Columns,
        count: Arc<AtomicU64>,
    ) -> Result<Self, FileError> {
        let source = Counting { inner: source, count };
        let kind = match format {
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(source);
                let header = reader.byte_headers().map_err(|e| csv_error(path, e))?.clone();
                let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
                let find = |column: &str| {
                    names.iter().position(|n| n == column).ok_or_else(|| FileError::MissingColumn {
                        path: path.to_path_buf(),
                        column: column.to_string(),
                        available: names.join(", "),
                    })
                };
                let text = find(&columns.text)?;
                let pair = columns.pair.as_deref().map(find).transpose()?;
                Kind::Csv { reader, width: header.len(), text, pair }
            }
            Format::Jsonl | Format::Txt => {
                Kind::Lines { reader: BufReader::new(source), json: format == Format::Jsonl, columns, line: 0 }
            }
        };
        Ok(Self { path: path.to_path_buf(), kind })
    }

    /// The CSV header (`None` for the other formats).
    ///
    /// Errors: [`FileError::Csv`].
    pub fn csv_header(&mut self) -> Result<Option<csv::ByteRecord>, FileError> {
        match &mut self.kind {
            Kind::Csv { reader, .. } => Ok(Some(reader.byte_headers().map_err(|e| csv_error(&self.path, e))?.clone())),
            Kind::Lines { .. } => Ok(None),
        }
    }

    /// The next row, `None` at the end.
    ///
    /// Errors: I/O errors and CSV syntax the reader cannot get past (a bad row's
    /// content is never an error: it is a row with `input: Err`).
    pub fn next_row(&mut self) -> Option<Result<Row, FileError>> {
        match &mut self.kind {
            Kind::Csv { reader, width, text, pair } => {
                let mut record = csv::ByteRecord::new();
                match reader.read_byte_record(&mut record) {
                    Ok(false) => None,
                    Err(e) => Some(Err(csv_error(&self.path, e))),
                    Ok(true) => {
                        let line = record.position().map_or(0, csv::Position::line);
                        let input = csv_input(&record, *width, *text, *pair);
                        Some(Ok(Row { line, record: Record::Csv(record), input }))
                    }
                }
            }
            Kind::Lines { reader, json, columns, line } => {
                let mut bytes = Vec::new();
                loop {
                    bytes.clear();
                    match reader.read_until(b'\n', &mut bytes) {
                        Ok(0) => return None,
                        Ok(_) => *line += 1,
                        Err(source) => return Some(Err(FileError::Io { path: self.path.clone(), source })),
                    }
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    // A blank line of JSON Lines is no row; of plain text, an empty text.
                    if !(*json && bytes.iter().all(u8::is_ascii_whitespace)) {
                        break;
                    }
                }
                let row = match *json {
                    true => json_row(*line, &bytes, columns),
                    false => text_row(*line, bytes),
                };
                Some(Ok(row))
            }
        }
    }
}

fn csv_error(path: &Path, source: csv::Error) -> FileError {
    match source.is_io_error() {
        true => FileError::Io { path: path.to_path_buf(), source: source.into() },
        false => FileError::Csv { path: path.to_path_buf(), source },
    }
}

/// A text is usable when it has a non-blank character.
fn usable(text: &str, what: &str) -> Result<(), String> {
    match text.trim().is_empty() {
        true => Err(format!("empty {what}")),
        false => Ok(()),
    }
}

fn csv_input(record: &csv::ByteRecord, width: usize, text: usize, pair: Option<usize>) -> Result<TextInput, String> {
    if record.len() != width {
        return Err(format!("{} fields where the header has {width}", record.len()));
    }
    let field = |index: usize, what: &str| -> Result<String, String> {
        let bytes = record.get(index).unwrap_or_default();
        let text = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8 in the {what} column: {e}"))?;
        Ok(text.to_string())
    };
    let text = field(text, "text")?;
    usable(&text, "text")?;
    match pair {
        // An empty second sequence is a pair all the same (`[CLS] a [SEP] [SEP]`).
        Some(pair) => Ok(TextInput::pair(text, field(pair, "pair")?)),
        None => Ok(TextInput::single(text)),
    }
}

fn json_row(line: u64, bytes: &[u8], columns: &Columns) -> Row {
    let bad =
        |why: String| Row { line, record: Record::Text(String::from_utf8_lossy(bytes).into_owned()), input: Err(why) };
    let object = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return bad("not a JSON object".into()),
        Err(e) if std::str::from_utf8(bytes).is_err() => return bad(format!("invalid UTF-8 ({e})")),
        Err(e) => return bad(format!("invalid JSON: {e}")),
    };
    let field = |key: &str| -> Result<String, String> {
        match object.get(key) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(format!("`{key}` is not a string")),
            None => Err(format!("no `{key}` field")),
        }
    };
    let text = field(&columns.text).and_then(|text| usable(&text, &format!("`{}`", columns.text)).map(|()| text));
    let input = text.and_then(|text| match &columns.pair {
        Some(pair) => field(pair).map(|p| TextInput::pair(text, p)),
        None => Ok(TextInput::single(text)),
    });
    Row { line, record: Record::Json(object), input }
}

fn text_row(line: u64, bytes: Vec<u8>) -> Row {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let input = usable(&text, "text").map(|()| TextInput::single(text.as_str()));
            Row { line, record: Record::Text(text), input }
        }
        Err(e) => {
            let why = format!("invalid UTF-8: {}", e.utf8_error());
            Row { line, record: Record::Text(String::from_utf8_lossy(e.as_bytes()).into_owned()), input: Err(why) }
        }
    }
}
