//! Dynamic batching: one bounded queue per model, drained by one inference thread.
//!
//! Callers submit single inputs, tokenized already (the service tokenizes on the
//! blocking pool for the cache's second level); the thread takes everything queued
//! (waiting up to `max_wait` for more), sorts it by length so that texts of similar
//! length share a batch, and runs batches bounded by `max_batch_size` texts and
//! `max_batch_tokens` padded tokens. On the CPU batches run packed (no padding, see
//! `model::kernels::attention`), so sorting mainly bounds memory; on GPUs it keeps padding
//! small. Inference runs off the async runtime. A full queue is refused at once (the
//! HTTP layer answers 429).

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::defaults;
use crate::engine::Engine;
use crate::model::{Encoded, ModelError, Prediction};

/// How many batches' worth of queued texts the thread takes at once
/// (`COLLECT_BATCHES × max_batch_size`): enough that length-sorting groups similar
/// texts, few enough that the first caller's wait stays short.
const COLLECT_BATCHES: usize = 8;

/// Limits of the batching queue.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Most texts in one forward pass.
    pub max_batch_size: usize,
    /// Most padded tokens (`batch × longest`) in one forward pass; bounds memory for
    /// long inputs.
    pub max_batch_tokens: usize,
    /// How long the thread waits for more texts after the first one arrives. Zero
    /// (the default) never delays a lone request; under load, batches still form from
    /// what queues while a forward pass runs.
    pub max_wait: Duration,
    /// Most texts waiting in the queue; more are refused with [`BatchError::QueueFull`].
    pub queue_capacity: usize,
}

impl BatchConfig {
    /// These limits with every count at least 1 (a zero would make a queue that
    /// refuses everything or a batch that holds nothing): the one place the rule lives.
    pub fn normalized(self) -> Self {
        Self {
            max_batch_size: self.max_batch_size.max(1),
            max_batch_tokens: self.max_batch_tokens.max(1),
            queue_capacity: self.queue_capacity.max(1),
            ..self
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_batch_size: defaults::MAX_BATCH_SIZE,
            max_batch_tokens: defaults::MAX_BATCH_TOKENS,
            max_wait: Duration::from_micros(defaults::BATCH_WAIT_US),
            queue_capacity: defaults::QUEUE_CAPACITY,
        }
    }
}

/// Why a text got no logits.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchError {
    /// The queue holds `queue_capacity` texts already.
    #[error("the inference queue is full ({0} texts waiting); retry later")]
    QueueFull(usize),
    /// Tokenization or the forward pass failed.
    #[error("inference failed: {0}")]
    Inference(Arc<ModelError>),
    /// The model was unloaded and its thread stopped before the text ran.
    #[error("the model was unloaded before the text ran")]
    Stopped,
    /// The request that queued the text went away before the text ran, so it was
    /// dropped without running.
    #[error("the request was cancelled before the text ran")]
    Cancelled,
    /// The request that queued the text passed its deadline before the text ran, so
    /// it was dropped without running.
    #[error("the request's deadline passed before the text ran")]
    DeadlineExceeded,
}

/// Set when the request that queued texts goes away (client disconnect): its texts
/// that have not started are dropped; those already in a forward pass finish (and are
/// cached by the caller's task).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Marks the request as gone.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the request is gone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct Job {
    /// Taken by the thread when it batches the job (`None` from then on).
    input: Option<Encoded>,
    cancel: Cancel,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Result<Prediction, BatchError>>,
}

/// A model's queue metrics, labelled once with the model's name.
#[derive(Clone)]
struct QueueMetrics {
    /// Texts waiting (`sentiserve_queue_depth{model}`).
    depth: Arc<std::sync::atomic::AtomicI64>,
    depth_gauge: metrics::Gauge,
    /// Tokens per input text (`sentiserve_input_tokens{model}`).
    tokens: metrics::Histogram,
    /// Texts dropped unrun past their deadline (`sentiserve_deadline_drops_total{model}`).
    deadline_drops: metrics::Counter,
}

impl QueueMetrics {
    fn new(name: &str) -> Self {
        Self {
            depth: Arc::default(),
            depth_gauge: metrics::gauge!("sentiserve_queue_depth", "model" => name.to_string()),
            tokens: metrics::histogram!("sentiserve_input_tokens", "model" => name.to_string()),
            deadline_drops: metrics::counter!("sentiserve_deadline_drops_total", "model" => name.to_string()),
        }
    }

    /// Counts `delta` texts into (or out of) the queue and updates the gauge.
    fn add(&self, delta: i64) {
        let depth = self.depth.fetch_add(delta, std::sync::atomic::Ordering::Relaxed) + delta;
        self.depth_gauge.set(depth.max(0) as f64);
    }
}

/// A handle to a model's queue. Dropping the last handle stops the thread once the
/// queue is drained, which releases the model's weights.
pub struct Batcher {
    tx: SyncSender<Job>,
    capacity: usize,
    metrics: QueueMetrics,
}

impl Batcher {
    /// Starts the inference thread for `engine`.
    ///
    /// Errors: [`ModelError::ThreadSpawn`] when the OS refused to start a thread.
    pub fn spawn(name: &str, engine: Arc<dyn Engine>, config: BatchConfig) -> Result<Self, ModelError> {
        let config = config.normalized();
        let capacity = config.queue_capacity;
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
        let label = name.to_string();
        let metrics = QueueMetrics::new(name);
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name(format!("infer-{name}"))
            .spawn(move || run(rx, engine.as_ref(), &config, &label, &thread_metrics))
            .map_err(|source| ModelError::ThreadSpawn { what: "inference", source })?;
        Ok(Self { tx, capacity, metrics })
    }

    /// The queue's capacity, texts.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues one input, tokenized by this batcher's engine
    /// ([`crate::engine::Engine::tokenize`]), and waits for its prediction. When
    /// `cancel` is set, or `deadline` passes, before the input's batch starts, it is
    /// dropped unrun.
    ///
    /// Errors: [`BatchError::QueueFull`] at once when the queue is full;
    /// [`BatchError::Inference`], [`BatchError::Stopped`],
    /// [`BatchError::Cancelled`] or [`BatchError::DeadlineExceeded`] from the thread.
    pub async fn classify_encoded(
        &self,
        input: Encoded,
        cancel: Cancel,
        deadline: Option<Instant>,
    ) -> Result<Prediction, BatchError> {
        let (reply, rx) = oneshot::channel();
        // Counted before it is sent, so the thread never counts it out first.
        self.metrics.add(1);
        let refused = match self.tx.try_send(Job { input: Some(input), cancel, deadline, reply }) {
            Ok(()) => None,
            Err(TrySendError::Full(_)) => Some(BatchError::QueueFull(self.capacity)),
            Err(TrySendError::Disconnected(_)) => Some(BatchError::Stopped),
        };
        if let Some(error) = refused {
            self.metrics.add(-1);
            return Err(error);
        }
        rx.await.unwrap_or(Err(BatchError::Stopped))
    }
}

/// The thread's loop: collect, drop what is cancelled or late, sort, split,
/// and run each batch after dropping, again, what went away or passed its deadline
/// while the batches before it ran.
fn run(rx: mpsc::Receiver<Job>, engine: &dyn Engine, config: &BatchConfig, name: &str, metrics: &QueueMetrics) {
    let collect_limit = config.max_batch_size * COLLECT_BATCHES;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + config.max_wait;
        while jobs.len() < collect_limit {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(job) => jobs.push(job),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
        metrics.add(-(jobs.len() as i64));
        let mut ready: Vec<(Encoded, Job)> = Vec::with_capacity(jobs.len());
        for mut job in jobs.into_iter().filter_map(|job| still_wanted(job, metrics)) {
            if let Some(encoded) = job.input.take() {
                metrics.tokens.record(encoded.ids.len() as f64);
                ready.push((encoded, job));
            }
        }
        ready.sort_by_key(|(encoded, _)| encoded.ids.len());
        for batch in split(ready, config) {
            let batch: Vec<(Encoded, Job)> = batch
                .into_iter()
                .filter_map(|(encoded, job)| still_wanted(job, metrics).map(|job| (encoded, job)))
                .collect();
            if !batch.is_empty() {
                run_batch(engine, batch, name);
            }
        }
    }
    tracing::debug!(model = name, "inference thread stopped");
}

/// `job`, unless nobody needs its answer any more: a request past its deadline gets no
/// compute (counted in `sentiserve_deadline_drops_total`; checked first, since a
/// request that timed out also cancels its texts), a request that went away (client
/// disconnect) needs no answer.
fn still_wanted(job: Job, metrics: &QueueMetrics) -> Option<Job> {
    if job.deadline.is_some_and(|deadline| deadline <= Instant::now()) {
        metrics.deadline_drops.increment(1);
        let _ = job.reply.send(Err(BatchError::DeadlineExceeded));
        return None;
    }
    if job.cancel.is_cancelled() {
        let _ = job.reply.send(Err(BatchError::Cancelled));
        return None;
    }
    (!job.reply.is_closed()).then_some(job)
}

/// Splits length-sorted items into batches within both limits.
fn split(items: Vec<(Encoded, Job)>, config: &BatchConfig) -> Vec<Vec<(Encoded, Job)>> {
    let mut batches = Vec::new();
    let mut current: Vec<(Encoded, Job)> = Vec::new();
    for item in items {
        let longest = item.0.ids.len().max(current.last().map_or(0, |(e, _)| e.ids.len()));
        let fits = current.len() < config.max_batch_size
            && longest * (current.len() + 1) <= config.max_batch_tokens.max(longest);
        if !fits && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
        }
        current.push(item);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn run_batch(engine: &dyn Engine, batch: Vec<(Encoded, Job)>, name: &str) {
    let started = Instant::now();
    let refs: Vec<&Encoded> = batch.iter().map(|(e, _)| e).collect();
    // A panic inside the tensor library must not kill the thread and strand the queue.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| engine.logits(&refs))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(ModelError::Panic { during: "forward pass", message })
    });
    metrics::histogram!("sentiserve_batch_size", "model" => name.to_string()).record(batch.len() as f64);
    metrics::histogram!("sentiserve_batch_seconds", "model" => name.to_string())
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(rows) => {
            for ((encoded, job), row) in batch.into_iter().zip(rows) {
                let _ = job.reply.send(Ok(Prediction { logits: Arc::from(row), truncated: encoded.truncated }));
            }
        }
        Err(e) => {
            tracing::error!(model = name, error = %e, "forward pass failed");
            let e = Arc::new(e);
            for (_, job) in batch {
                let _ = job.reply.send(Err(BatchError::Inference(Arc::clone(&e))));
            }
        }
    }
}
