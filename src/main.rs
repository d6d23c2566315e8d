//! The `sentiserve` binary: command-line parsing only.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sentiserve::config::analyze::{default_file_cache_dir, FileArgs};
use sentiserve::config::{CacheArgs, LogFormat, ModelArgs, ServeArgs};
use sentiserve::model::hf::source;
use sentiserve::model::ModelSource;
use sentiserve::model::TruncationSide;
use sentiserve::App;

mod analyze_file;

/// A text-classification inference server with a model registry and a prediction cache.
#[derive(Debug, Parser)]
#[command(name = "sentiserve", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// The enum is built once per process; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Classify texts once, without a server; prints the same JSON as POST /analyze
    /// (one line; --pretty indents it). With --input FILE: every row of a CSV, JSON
    /// Lines or text file, labelled rows out in the same order.
    Analyze(AnalyzeArgs),
    /// Fetch a model into the Hugging Face cache (HF_HOME) ahead of time.
    Download(DownloadArgs),
}

#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    #[command(flatten)]
    models: ModelArgs,
    /// The texts to classify.
    #[arg(required_unless_present = "input")]
    texts: Vec<String>,
    #[command(flatten)]
    file: FileArgs,
    #[command(flatten)]
    cache: CacheArgs,
    /// Which end of an over-long input is cut: right (keep the start) or left (keep
    /// the end).
    #[arg(long, value_parser = ["right", "left"], default_value = "right")]
    truncation_direction: String,
    /// Keep only the best K labels of each result (transformers' `top_k`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    top_k: Option<u64>,
    /// A second sequence, paired with every TEXT (NLI, relevance, paraphrase).
    #[arg(long, value_name = "TEXT", conflicts_with = "input")]
    text_pair: Option<String>,
    /// Indent the JSON.
    #[arg(long)]
    pretty: bool,
}

#[derive(Debug, clap::Args)]
struct DownloadArgs {
    #[command(flatten)]
    models: ModelArgs,
    /// A configured model name, or a Hub id org/name[@revision].
    name: String,
}

fn init_logging(format: LogFormat, default_level: &str) {
    install_logging(format, default_level, std::io::stderr);
}

/// [`init_logging`] for the server: lines are formatted on the request's thread and
/// written to stderr in batches by a writer thread ([`sentiserve::log_writer`]), so no
/// request waits on a write. Nothing is dropped; dropping the guard writes out what is
/// pending. Without a writer thread (none could be spawned), lines go straight to
/// stderr.
fn init_server_logging(format: LogFormat) -> Option<sentiserve::log_writer::FlushGuard> {
    match sentiserve::log_writer::stderr() {
        Ok((writer, guard)) => {
            install_logging(format, "info", writer);
            Some(guard)
        }
        Err(e) => {
            init_logging(format, "info");
            tracing::warn!(error = %e, "no log writer thread; logging straight to stderr");
            None
        }
    }
}

fn install_logging<W>(format: LogFormat, default_level: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only on a terminal: log files and shippers get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_timer(sentiserve::log_time::CachedSecondTime);
    match format {
        LogFormat::Json => builder.json().init(),
        // Without colours, the same lines for less work per line.
        LogFormat::Text if !ansi => builder
            .fmt_fields(sentiserve::log_format::PlainFields)
            .event_format(sentiserve::log_format::PlainText::default())
            .init(),
        LogFormat::Text => builder.init(),
    }
    // Panics (caught ones included, e.g. inside a library while opening a damaged
    // cache file) become one structured log line instead of raw stderr output.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(%location, "panic: {info}");
    }));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread or buffer exists (see the module's doc).
    sentiserve::allocator::keep_large_buffers();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause once: our errors already name their source
/// in their own message, so a cause the message holds is not repeated.
fn message(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Analyze(args) => analyze(args).await,
        Command::Download(args) => download(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Held to the end of `serve`: every queued line is written before an error is.
    let _log_writer = init_server_logging(args.log_format);
    let config = args.config()?;
    let keys = config.http.api_key.is_some() || config.http.admin_key.is_some();
    let app = App::new(config)?;
    let host = args.bind_host();
    if let Some(warning) = ServeArgs::exposure_warning(&host, keys) {
        tracing::warn!(%host, "{warning}");
    }
    let address = format!("{host}:{}", args.port);
    let listener = tokio::net::TcpListener::bind(&address).await.with_context(|| format!("cannot bind {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    app.spawn_preload();
    app.serve(listener, sentiserve::server::shutdown_signal()).await?;
    Ok(())
}

/// `analyze [--model NAME | --model NAME=SOURCE] TEXT...`: a bare `--model NAME` picks a
/// configured model; `NAME=SOURCE` defines one and picks it.
async fn analyze(mut args: AnalyzeArgs) -> anyhow::Result<()> {
    init_logging(LogFormat::Text, "warn");
    let mut selected = None;
    args.models.models.retain(|m| match m.split_once('=') {
        Some((name, _)) => {
            selected = Some(name.trim().to_string());
            true
        }
        None => {
            selected = Some(m.trim().to_string());
            false
        }
    });
    let catalog = args.models.catalog()?;
    let mut config = sentiserve::ServerConfig::new(catalog);
    config.device = args.models.device;
    config.dtype = args.models.dtype;
    config.preload.clear();
    config.cache = args.cache.config();
    if args.file.input.is_some() && config.cache.disk.is_none() && !args.file.no_disk_cache {
        config.cache.disk = default_file_cache_dir()
            .map(|dir| sentiserve::cache::disk::DiskConfig { dir, capacity_bytes: args.cache.cache_disk_max_bytes });
    }
    let app = App::new(config)?;
    let truncation = match args.truncation_direction.as_str() {
        "left" => TruncationSide::Left,
        _ => TruncationSide::Right,
    };
    if let Some(input) = args.file.input.clone() {
        let options = sentiserve::service::AnalyzeOptions { truncation, ..Default::default() };
        return analyze_file::analyze_file(&app, selected.as_deref(), &args.file, &input, options).await;
    }
    let inputs: Vec<sentiserve::model::TextInput> = args
        .texts
        .iter()
        .map(|t| match &args.text_pair {
            Some(pair) => sentiserve::model::TextInput::pair(t.as_str(), pair.as_str()),
            None => sentiserve::model::TextInput::single(t.as_str()),
        })
        .collect();
    let options = sentiserve::service::AnalyzeOptions {
        top_k: args.top_k.map(|k| usize::try_from(k).unwrap_or(usize::MAX)),
        truncation,
        ..Default::default()
    };
    let analysis = app.service.analyze(selected.as_deref(), &inputs, &options).await?;
    let json = if args.pretty { serde_json::to_string_pretty(&analysis)? } else { serde_json::to_string(&analysis)? };
    println!("{json}");
    Ok(())
}

async fn download(args: DownloadArgs) -> anyhow::Result<()> {
    init_logging(LogFormat::Text, "info");
    let catalog = args.models.catalog()?;
    let source = match catalog.models.iter().find(|m| m.name == args.name) {
        Some(spec) => spec.source.clone(),
        None if !args.name.contains('/') => {
            let names: Vec<&str> = catalog.models.iter().map(|m| m.name.as_str()).collect();
            anyhow::bail!(
                "`{}` is not a configured model ({}) nor a Hub id `org/name[@revision]`",
                args.name,
                names.join(", ")
            );
        }
        None => ModelSource::parse(&args.name)?,
    };
    let files = tokio::task::spawn_blocking(move || source::resolve(&source, true)).await??;
    let mut total = 0u64;
    for path in [&files.config, &files.tokenizer, &files.weights.path().to_path_buf()] {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        total += size;
        println!("{:>10}  {}", human_bytes(size), path.display());
    }
    println!("{:>10}  in all, revision {}", human_bytes(total), files.revision.as_deref().unwrap_or("local"));
    Ok(())
}

/// `1536` → `1.5 KiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
