//! The labelled output, one row per input row in the same order: CSV (the input's
//! columns, or `text` for other inputs, then the task's columns and `error`) or JSON
//! Lines (the input object, or `{"text"}`, plus the task's fields; `error` and `line`
//! on a bad row).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::FileError;
use super::read::{Format, Record, Row};
use super::task::Answer;

/// A streaming writer of labelled rows.
pub struct Writer {
    path: PathBuf,
    kind: Kind,
    /// The task's result columns (CSV).
    width: usize,
}

enum Kind {
    // Boxed: csv's writer holds its buffer state inline (hundreds of bytes).
    Csv(Box<csv::Writer<Box<dyn Write + Send>>>),
    Jsonl(std::io::BufWriter<Box<dyn Write + Send>>),
}

impl Writer {
    /// A writer of `format` into `sink` (named `path` in errors). A CSV output's
    /// header is the input's (`input_header`, a CSV input) or `text` (and `pair`),
    /// then `columns` and `error`.
    ///
    /// Errors: [`FileError::Csv`] writing the header.
    pub fn new(
        path: &Path,
        sink: Box<dyn Write + Send>,
        format: Format,
        input_header: Option<&csv::ByteRecord>,
        pair: bool,
        columns: &[&str],
    ) -> Result<Self, FileError> {
        let kind = match format {
            Format::Csv => {
                let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(sink);
                let mut header: Vec<Vec<u8>> = match input_header {
                    Some(header) => header.iter().map(<[u8]>::to_vec).collect(),
                    None if pair => vec![b"text".to_vec(), b"pair".to_vec()],
                    None => vec![b"text".to_vec()],
                };
                header.extend(columns.iter().map(|c| c.as_bytes().to_vec()));
                header.push(b"error".to_vec());
                writer.write_record(&header).map_err(|e| csv_error(path, e))?;
                Kind::Csv(Box::new(writer))
            }
            Format::Jsonl | Format::Txt => Kind::Jsonl(std::io::BufWriter::new(sink)),
        };
        Ok(Self { path: path.to_path_buf(), kind, width: columns.len() })
    }

    /// Writes `row` with its answer (`Ok`) or why it has none (`Err`).
    ///
    /// Errors: [`FileError::Io`] / [`FileError::Csv`] on a failed write.
    pub fn write(&mut self, row: &Row, answer: Result<&Answer, &str>) -> Result<(), FileError> {
        match &mut self.kind {
            Kind::Csv(writer) => {
                let mut cells: Vec<Vec<u8>> = match &row.record {
                    Record::Csv(record) => record.iter().map(<[u8]>::to_vec).collect(),
                    Record::Json(_) | Record::Text(_) => match &row.input {
                        Ok(input) => {
                            let mut cells = vec![input.text.as_bytes().to_vec()];
                            cells.extend(input.pair.as_ref().map(|p| p.as_bytes().to_vec()));
                            cells
                        }
                        Err(_) => vec![text_of(&row.record).into_bytes()],
                    },
                };
                match answer {
                    Ok(answer) => {
                        cells.extend(answer.cells.iter().map(|c| c.as_bytes().to_vec()));
                        cells.push(Vec::new());
                    }
                    Err(why) => {
                        cells.extend(std::iter::repeat_n(Vec::new(), self.width));
                        cells.push(format!("line {}: {why}", row.line).into_bytes());
                    }
                }
                writer.write_record(&cells).map_err(|e| csv_error(&self.path, e))
            }
            Kind::Jsonl(writer) => {
                let mut object: Map<String, Value> = match &row.record {
                    Record::Json(object) => object.clone(),
                    Record::Text(_) | Record::Csv(_) => match &row.input {
                        Ok(input) => {
                            let mut object = Map::new();
                            object.insert("text".into(), Value::from(input.text.as_ref()));
                            if let Some(pair) = &input.pair {
                                object.insert("pair".into(), Value::from(pair.as_ref()));
                            }
                            object
                        }
                        Err(_) => Map::from_iter([("text".to_string(), Value::from(text_of(&row.record)))]),
                    },
                };
                match answer {
                    Ok(answer) => object.extend(answer.fields.clone()),
                    Err(why) => {
                        object.insert("line".into(), Value::from(row.line));
                        object.insert("error".into(), Value::from(why));
                    }
                }
                let io = |source| FileError::Io { path: self.path.clone(), source };
                serde_json::to_writer(&mut *writer, &object).map_err(|e| io(e.into()))?;
                writer.write_all(b"\n").map_err(io)
            }
        }
    }

    /// Writes out what is buffered.
    ///
    /// Errors: [`FileError::Io`].
    pub fn flush(&mut self) -> Result<(), FileError> {
        let result = match &mut self.kind {
            Kind::Csv(writer) => writer.flush(),
            Kind::Jsonl(writer) => writer.flush(),
        };
        result.map_err(|source| FileError::Io { path: self.path.clone(), source })
    }
}

/// A bad row's text as well as it can be shown.
fn text_of(record: &Record) -> String {
    match record {
        Record::Text(text) => text.clone(),
        Record::Json(object) => Value::Object(object.clone()).to_string(),
        Record::Csv(record) => String::from_utf8_lossy(record.as_slice()).into_owned(),
    }
}

fn csv_error(path: &Path, source: csv::Error) -> FileError {
    match source.is_io_error() {
        true => FileError::Io { path: path.to_path_buf(), source: source.into() },
        false => FileError::Csv { path: path.to_path_buf(), source },
    }
}
