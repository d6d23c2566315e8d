//! `sentiserve analyze --input FILE`: opens the files, runs [`sentiserve::files::run`]
//! with a progress bar and Ctrl-C, and prints the summary.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use sentiserve::config::analyze::FileArgs;
use sentiserve::files::progress::TerminalProgress;
use sentiserve::files::{self, BadRows, Columns, FileError, FileJob, Format, Reader, Writer};
use sentiserve::service::AnalyzeOptions;
use sentiserve::App;

/// Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: i32 = 130;

pub async fn analyze_file(
    app: &App,
    model: Option<&str>,
    args: &FileArgs,
    input: &Path,
    options: AnalyzeOptions,
) -> anyhow::Result<()> {
    let stdin = input == Path::new("-");
    let format = args.input_format(input).ok_or_else(|| FileError::UnknownFormat(input.to_path_buf()))?;
    let (source, total): (Box<dyn std::io::Read + Send>, Option<u64>) = match stdin {
        true => (Box::new(std::io::stdin()), None),
        false => {
            let file = std::fs::File::open(input).map_err(|source| FileError::Io { path: input.into(), source })?;
            let total = file.metadata().ok().map(|m| m.len());
            (Box::new(file), total)
        }
    };
    let columns = Columns { text: args.column.clone(), pair: args.pair_column.clone() };
    let bytes_read = Arc::new(AtomicU64::new(0));
    let mut reader = Reader::new(input, source, format, columns, Arc::clone(&bytes_read))?;
    let output_format = args.output_format(format);
    let header = match (format, output_format) {
        (Format::Csv, Format::Csv) => reader.csv_header()?,
        _ => None,
    };
    let task = args.task();
    task.check(&app.service, model, args.pair_column.is_some()).await?;
    let output = args.output.clone().unwrap_or_else(|| "-".into());
    let sink: Box<dyn std::io::Write + Send> = match args.output.as_deref() {
        None => Box::new(std::io::stdout()),
        Some(path) => {
            Box::new(std::fs::File::create(path).map_err(|source| FileError::Io { path: path.to_path_buf(), source })?)
        }
    };
    let mut writer =
        Writer::new(&output, sink, output_format, header.as_ref(), args.pair_column.is_some(), task.columns())?;
    let job = FileJob { model: model.map(str::to_string), task, options, bad_rows: args.bad_rows };
    let mut progress = TerminalProgress::new(total, !args.no_progress && std::io::stderr().is_terminal());
    let started = Instant::now();
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = files::run(&app.service, &job, reader, &mut writer, bytes_read, &mut progress, interrupt).await;
    progress.finish();
    // Whatever happened, what was computed reaches the disk tier.
    app.service.flush().await;
    let report = outcome.with_context(|| format!("classifying {}", input.display()))?;
    let bad = match args.bad_rows {
        BadRows::Keep => "kept with an error",
        BadRows::Skip => "skipped",
    };
    eprintln!(
        "{} rows in {:.1} s ({:.0} rows/s): {} answered ({} from the cache), {} bad ({bad})",
        report.rows,
        started.elapsed().as_secs_f64(),
        files::rate(report.rows, started),
        report.answered,
        report.cached,
        report.bad_rows,
    );
    if report.bad_rows > report.bad.len() as u64 {
        eprintln!("(the first {} bad rows are listed above)", report.bad.len());
    }
    if report.interrupted {
        eprintln!(
            "interrupted: the output holds the first {} rows; run the same command again, and the rows already \
             answered come from the prediction cache",
            report.rows
        );
        std::process::exit(INTERRUPTED);
    }
    Ok(())
}
