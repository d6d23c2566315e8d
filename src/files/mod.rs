//! Whole files through a model without a server (`sentiserve analyze --input FILE`):
//! rows are read as a stream, classified a chunk at a time through the same
//! [`Service`] as the HTTP routes (so the prediction cache's tiers answer whatever an
//! earlier run or a server already computed), and written in input order. Bad rows
//! (a missing field, invalid UTF-8, an empty text) are reported with their line and
//! kept (with an `error`) or skipped, as asked; they never stop the run.
//!
//! A few chunks are in flight at once, so the batcher always has work while rows are
//! read and written; memory is bounded by those chunks, whatever the file's size.

pub mod error;
pub mod progress;
pub mod read;
mod task;
pub mod write;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesOrdered, StreamExt};

pub use error::FileError;
pub use read::{Columns, Format, Reader, Row};
pub use task::{Answer, FileTask};
pub use write::Writer;

use crate::model::TextInput;
use crate::service::{AnalyzeOptions, Service};

/// Rows per chunk handed to the service.
const CHUNK_ROWS: usize = 64;
/// Chunks in flight at once.
const IN_FLIGHT: usize = 4;
/// Bad rows reported one by one; past this only counted.
const REPORTED_BAD_ROWS: usize = 20;

/// What to do with a row that has no usable input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BadRows {
    /// Write it with empty results and the reason in `error` (the output has every
    /// input row).
    Keep,
    /// Leave it out of the output (each one is still reported).
    Skip,
}

/// One file run's settings.
pub struct FileJob {
    /// The model (default model when `None`).
    pub model: Option<String>,
    /// The task.
    pub task: FileTask,
    /// Options of every service call (truncation side, …).
    pub options: AnalyzeOptions,
    /// What to do with bad rows.
    pub bad_rows: BadRows,
}

/// How a run went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Rows read.
    pub rows: u64,
    /// Rows answered (written with a result).
    pub answered: u64,
    /// Of those, answered from the prediction cache (classification and rerank).
    pub cached: u64,
    /// Bad rows: `(line, why)`, the first [`REPORTED_BAD_ROWS`].
    pub bad: Vec<(u64, String)>,
    /// Bad rows in all.
    pub bad_rows: u64,
    /// Whether the run was interrupted before the end of the input.
    pub interrupted: bool,
}

/// Progress as the run goes: bytes of input read, rows done.
pub trait Progress: Send {
    /// Called after each chunk is written.
    fn update(&mut self, bytes_read: u64, report: &FileReport);
    /// Called for each bad row.
    fn bad_row(&mut self, line: u64, why: &str);
}

/// Runs `job` over every row of `reader` into `writer`, until the end of the input or
/// `interrupt` resolves (then the chunks in flight are dropped: a re-run finds every
/// answer already computed in the cache). `bytes_read` is the reader's byte count.
///
/// Errors: [`FileError`]: I/O, the model, unreadable CSV syntax.
pub async fn run(
    service: &Service,
    job: &FileJob,
    mut reader: Reader,
    writer: &mut Writer,
    bytes_read: Arc<AtomicU64>,
    progress: &mut dyn Progress,
    interrupt: impl Future<Output = ()>,
) -> Result<FileReport, FileError> {
    // Rows are read on their own thread (a slow disk or pipe never blocks the model).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Row>, FileError>>(IN_FLIGHT);
    std::thread::spawn(move || loop {
        let mut chunk = Vec::with_capacity(CHUNK_ROWS);
        let mut failed = None;
        while chunk.len() < CHUNK_ROWS {
            match reader.next_row() {
                Some(Ok(row)) => chunk.push(row),
                Some(Err(e)) => {
                    failed = Some(e);
                    break;
                }
                None => break,
            }
        }
        let (done, last) = (chunk.len() < CHUNK_ROWS || failed.is_some(), failed);
        if !chunk.is_empty() && tx.blocking_send(Ok(chunk)).is_err() {
            return;
        }
        if let Some(e) = last {
            let _ = tx.blocking_send(Err(e));
        }
        if done {
            return;
        }
    });

    let mut report = FileReport::default();
    let mut pending = FuturesOrdered::new();
    let mut input_done = false;
    tokio::pin!(interrupt);
    loop {
        if input_done && pending.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = &mut interrupt => {
                report.interrupted = true;
                break;
            }
            Some(done) = pending.next(), if !pending.is_empty() => {
                let (rows, answers): (Vec<Row>, Vec<Answer>) = done?;
                write_chunk(writer, job.bad_rows, &rows, answers, &mut report, progress)?;
                writer.flush()?;
                progress.update(bytes_read.load(std::sync::atomic::Ordering::Relaxed), &report);
            }
            chunk = rx.recv(), if !input_done && pending.len() < IN_FLIGHT => match chunk {
                Some(Ok(rows)) => pending.push_back(answer_chunk(service, job, rows)),
                Some(Err(e)) => return Err(e),
                None => input_done = true,
            },
        }
    }
    writer.flush()?;
    Ok(report)
}

/// The answers for a chunk's good rows.
async fn answer_chunk(service: &Service, job: &FileJob, rows: Vec<Row>) -> Result<(Vec<Row>, Vec<Answer>), FileError> {
    let inputs: Vec<TextInput> = rows.iter().filter_map(|row| row.input.as_ref().ok().cloned()).collect();
    let answers = match inputs.is_empty() {
        true => Vec::new(),
        false => job.task.answer(service, job.model.as_deref(), inputs, &job.options).await?,
    };
    Ok((rows, answers))
}

fn write_chunk(
    writer: &mut Writer,
    bad_rows: BadRows,
    rows: &[Row],
    answers: Vec<Answer>,
    report: &mut FileReport,
    progress: &mut dyn Progress,
) -> Result<(), FileError> {
    let mut answers = answers.into_iter();
    for row in rows {
        report.rows += 1;
        match &row.input {
            Ok(_) => {
                let Some(answer) = answers.next() else {
                    return Err(FileError::Options("the model answered fewer rows than it was given".into()));
                };
                report.answered += 1;
                report.cached += u64::from(answer.cached);
                writer.write(row, Ok(&answer))?;
            }
            Err(why) => {
                report.bad_rows += 1;
                if report.bad.len() < REPORTED_BAD_ROWS {
                    report.bad.push((row.line, why.clone()));
                }
                progress.bad_row(row.line, why);
                if bad_rows == BadRows::Keep {
                    writer.write(row, Err(why))?;
                }
            }
        }
    }
    Ok(())
}

/// Rows per second over `started`'s elapsed time.
pub fn rate(rows: u64, started: Instant) -> f64 {
    rows as f64 / started.elapsed().as_secs_f64().max(1e-9)
}
