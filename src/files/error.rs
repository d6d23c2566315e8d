//! What stops a whole-file run (a bad row never does: it is reported and kept or
//! skipped).

use std::path::PathBuf;

use crate::service::ServiceError;

/// Why a file run stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The input or output could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file (`-` for stdin/stdout).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The format was not given and the file name does not tell it.
    #[error("cannot tell the format of {0}: name it .csv, .jsonl or .txt, or pass --format csv|jsonl|txt")]
    UnknownFormat(PathBuf),
    /// A CSV input has no column of the name asked for.
    #[error("{path} has no column `{column}`; its columns: {available}")]
    MissingColumn {
        /// The input.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The header's columns, comma-separated.
        available: String,
    },
    /// The CSV reader or writer failed (other than on one row's content).
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV error.
        source: csv::Error,
    },
    /// The options contradict each other (e.g. zero-shot with a pair column).
    #[error("{0}")]
    Options(String),
    /// The model could not answer (unknown, failed to load, inference failed).
    #[error(transparent)]
    Service(#[from] ServiceError),
}
