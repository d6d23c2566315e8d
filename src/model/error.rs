//! Errors raised while resolving, loading or running a model.

use std::path::PathBuf;

/// Everything that can go wrong between a model source and its logits.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file of the model could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A local model directory does not exist, or is not a directory.
    #[error(
        "{dir} is not a directory (a local model is a directory holding config.json, tokenizer.json and \
         model.safetensors; a Hub model is `org/name[@revision]`)"
    )]
    NoDirectory {
        /// The path given.
        dir: PathBuf,
    },
    /// A local model directory lacks a required file.
    #[error("{dir} has no {file}")]
    MissingFile {
        /// The model directory.
        dir: PathBuf,
        /// The file name that was looked for.
        file: String,
    },
    /// `config.json` is malformed or lacks a field this architecture needs.
    #[error("invalid config.json: {0}")]
    Config(String),
    /// The checkpoint is of a model type this server cannot run.
    #[error("unsupported architecture `{found}` (supported model types: {supported})")]
    UnsupportedArchitecture {
        /// The config's first `architectures` entry or its `model_type`.
        found: String,
        /// Comma-separated supported `model_type`s.
        supported: String,
    },
    /// The model source string is neither a directory nor a Hub id.
    #[error("invalid model source `{0}`: expected a local directory or a Hub id `org/name[@revision]`")]
    InvalidSource(String),
    /// Downloading from (or resolving in) the Hugging Face Hub failed.
    #[error("hub: {0}")]
    Hub(String),
    /// The requested device is not available in this build or on this machine.
    #[error("device: {0}")]
    Device(String),
    /// `tokenizer.json` could not be loaded, or a text could not be tokenized.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed (shape mismatch, missing weight, device error).
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A batch, or a text in it, had no tokens.
    #[error("empty batch or text")]
    EmptyBatch,
    /// A forward pass or a load panicked (a bug in a kernel or a library); the panic
    /// was caught and the server keeps serving.
    #[error("the {during} panicked: {message}")]
    Panic {
        /// `forward pass` or `load`.
        during: &'static str,
        /// The panic's message.
        message: String,
    },
    /// Every source of a model failed (`source: error`, in the order tried).
    #[error("every source failed: {}", .0.join("; "))]
    AllSourcesFailed(Vec<String>),
    /// The operating system refused to start a thread.
    #[error("cannot start the {what} thread: {source}")]
    ThreadSpawn {
        /// Which thread.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Shorthand for results of the model layer.
pub type Result<T> = std::result::Result<T, ModelError>;
