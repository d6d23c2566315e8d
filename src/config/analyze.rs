//! `sentiserve analyze --input FILE` flags: which file, which columns, which task,
//! what to do with bad rows (the texts-as-arguments mode needs none of them).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::files::{BadRows, FileTask, Format};

/// The whole-file flags of `sentiserve analyze`.
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// Classify every row of this file (`-`: stdin) instead of TEXT arguments: CSV with
    /// a header row, JSON Lines (one object a line), or plain text (one input a line).
    #[arg(long, value_name = "FILE", conflicts_with = "texts")]
    pub input: Option<PathBuf>,
    /// Where the labelled rows go, in input order (default: stdout).
    #[arg(long, short = 'o', value_name = "FILE", requires = "input")]
    pub output: Option<PathBuf>,
    /// The input's format (default: from its extension).
    #[arg(long, value_enum, requires = "input")]
    pub format: Option<Format>,
    /// The output's format, csv or jsonl (default: from its extension, else the
    /// input's; plain text in gives JSON Lines out).
    #[arg(long, value_enum, requires = "input")]
    pub output_format: Option<Format>,
    /// The CSV column (or JSON Lines key) holding the text.
    #[arg(long, default_value = "text", requires = "input")]
    pub column: String,
    /// The column (or key) holding each row's second sequence: text pairs (NLI,
    /// relevance, paraphrase).
    #[arg(long, value_name = "COLUMN", requires = "input")]
    pub pair_column: Option<String>,
    /// Zero-shot classification against these labels (comma-separated), on an NLI
    /// model.
    #[arg(long, value_delimiter = ',', value_name = "LABELS", requires = "input")]
    pub candidate_labels: Vec<String>,
    /// Zero-shot: the hypothesis, `{}` standing for the label.
    #[arg(long, requires = "candidate_labels")]
    pub hypothesis_template: Option<String>,
    /// Zero-shot: score each label on its own.
    #[arg(long, requires = "candidate_labels")]
    pub multi_label: bool,
    /// Score each row's relevance to this query with a one-label cross-encoder
    /// (rerank).
    #[arg(long, requires = "input", conflicts_with = "candidate_labels")]
    pub query: Option<String>,
    /// A row without a usable text (missing field, invalid UTF-8, empty): `keep` writes
    /// it with the reason in `error`, `skip` leaves it out. Each is reported on stderr
    /// with its line.
    #[arg(long, value_enum, default_value = "keep")]
    pub bad_rows: BadRows,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// No disk cache tier: without it a re-run recomputes every row. By default a file
    /// run keeps its answers in `--cache-dir`, else `$XDG_CACHE_HOME/sentiserve/predictions`
    /// (`~/.cache/...`), so a re-run after Ctrl-C, or on an overlapping file, computes
    /// only what it has not yet.
    #[arg(long, requires = "input", conflicts_with = "cache_dir")]
    pub no_disk_cache: bool,
}

impl FileArgs {
    /// The task the flags ask for.
    pub fn task(&self) -> FileTask {
        if let Some(query) = &self.query {
            return FileTask::Rerank { query: query.clone() };
        }
        if !self.candidate_labels.is_empty() {
            let labels = self.candidate_labels.iter().map(|l| l.trim().to_string()).filter(|l| !l.is_empty());
            return FileTask::ZeroShot {
                labels: labels.collect(),
                template: self.hypothesis_template.clone(),
                multi_label: self.multi_label,
            };
        }
        FileTask::Classify
    }

    /// The input's format: `--format`, else its extension.
    pub fn input_format(&self, input: &Path) -> Option<Format> {
        self.format.or_else(|| Format::from_path(input))
    }

    /// The output's format: `--output-format`, else the output's extension, else the
    /// input's (JSON Lines for plain text).
    pub fn output_format(&self, input: Format) -> Format {
        let chosen = self.output_format.or_else(|| self.output.as_deref().and_then(Format::from_path)).unwrap_or(input);
        match chosen {
            Format::Txt => Format::Jsonl,
            other => other,
        }
    }
}

/// The disk tier's default directory for file runs: `$XDG_CACHE_HOME/sentiserve/predictions`,
/// else `$HOME/.cache/sentiserve/predictions`; `None` when neither is set.
pub fn default_file_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|home| PathBuf::from(home).join(".cache"))
    })?;
    Some(base.join("sentiserve").join("predictions"))
}
