//! The request path: cache lookups, misses through the model's batcher, results in
//! input order, under a request's options and deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::future::try_join_all;
use tokio::sync::Semaphore;

use super::{Analysis, ServiceError, TextResult};
use crate::batch::{BatchError, Cancel};
use crate::cache::{CacheKey, CachePolicy, PredictionCache, TokenDigest, Tokenized};
use crate::engine::{Engine, TruncationSide};
use crate::model::{Classification, Encoded, ModelError, ScoreFunction, TextInput};
use crate::registry::LoadedModel;

/// Per-call options of [`Service::analyze`]: the post-processing options of
/// transformers' `TextClassificationPipeline` plus truncation and a cache directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyzeOptions {
    /// Keep only the best `k` labels in `scores` (`None`: all).
    pub top_k: Option<usize>,
    /// Overrides the model's score function (`function_to_apply`).
    pub function: Option<ScoreFunction>,
    /// `true`: cut over-long inputs to the model's limit; `false`: refuse them with
    /// [`ServiceError::InputTooLong`].
    pub truncate: bool,
    /// Which end of an over-long input is cut (each side has its own cache identity).
    pub truncation: TruncationSide,
    /// What the request lets the cache do (`Cache-Control`).
    pub cache: CachePolicy,
    /// When the request gives up: past it [`ServiceError::Timeout`], and its queued
    /// texts are dropped before they reach the model.
    pub deadline: Option<Instant>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            top_k: None,
            function: None,
            truncate: true,
            truncation: TruncationSide::Right,
            cache: CachePolicy::Use,
            deadline: None,
        }
    }
}

/// Sets the request's [`Cancel`] when the request future is dropped (client gone).
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// One input's cache lookup (its exact text, then its token ids), computing through
/// the model's batcher on a miss. A text dropped because *another* request that
/// shared its single-flight computation went away (or passed its deadline) is looked
/// up again.
async fn lookup(
    cache: PredictionCache,
    tokenizers: Arc<Semaphore>,
    loaded: Arc<LoadedModel>,
    input: TextInput,
    options: AnalyzeOptions,
    cancel: Cancel,
    inline: bool,
) -> Result<(crate::model::Prediction, bool), Arc<BatchError>> {
    loop {
        let key = CacheKey {
            model: Arc::clone(&loaded.name),
            identity: loaded.identity_for(options.truncation).clone(),
            num_labels: loaded.engine.info().id2label.len(),
            input: input.clone().into(),
        };
        let compute = {
            let (loaded, cancel) = (Arc::clone(&loaded), cancel.clone());
            move |encoded| async move { loaded.batcher.classify_encoded(encoded, cancel, options.deadline).await }
        };
        let own_deadline_passed = || options.deadline.is_some_and(|d| d <= Instant::now());
        let tokenized = tokenize(&tokenizers, &loaded.engine, &input, options.truncation, inline);
        match cache.lookup(key, options.cache, tokenized, compute).await {
            Err(e) if matches!(*e, BatchError::Cancelled) && !cancel.is_cancelled() => continue,
            Err(e) if matches!(*e, BatchError::DeadlineExceeded) && !own_deadline_passed() => continue,
            outcome => return outcome.map(|(prediction, source)| (prediction, source.cached())),
        }
    }
}

/// A request whose distinct inputs hold at most this many bytes together (UTF-8, pairs
/// included) has them tokenized on the async worker itself: tens of microseconds, less
/// than the two thread hand-offs of the blocking pool cost a single request's miss.
/// Larger requests tokenize on the blocking pool, in parallel and off the workers.
const INLINE_TOKENIZE_BYTES: usize = 2048;

/// Tokenizes `input` for the cache's second level: in place when `inline`, else on the
/// blocking pool, at most as many at once as `tokenizers` has permits.
///
/// Errors: [`BatchError::Inference`] with the tokenizer's error.
async fn tokenize(
    tokenizers: &Semaphore,
    engine: &Arc<dyn Engine>,
    input: &TextInput,
    side: TruncationSide,
    inline: bool,
) -> Result<Tokenized<Encoded>, BatchError> {
    let encoded = if inline {
        engine.tokenize(input, side)
    } else {
        let (engine, input) = (Arc::clone(engine), input.clone());
        // The semaphore is never closed, so a permit always comes.
        let _permit = tokenizers.acquire().await.ok();
        tokio::task::spawn_blocking(move || engine.tokenize(&input, side))
            .await
            .unwrap_or_else(|e| Err(ModelError::Panic { during: "tokenization", message: e.to_string() }))
    };
    encoded
        .map(|encoded| Tokenized {
            digest: TokenDigest::of(&encoded.ids, &encoded.type_ids),
            truncated: encoded.truncated,
            input: encoded,
        })
        .map_err(|e| BatchError::Inference(Arc::new(e)))
}

/// Refuses the first input longer than the model's limit. Tokenizes on the blocking
/// pool (only requests with `truncate: false` pay for it).
async fn check_lengths(name: &str, engine: &Arc<dyn Engine>, inputs: &[TextInput]) -> Result<(), ServiceError> {
    let (engine, owned) = (Arc::clone(engine), inputs.to_vec());
    let limit = engine.info().max_tokens();
    let counted = tokio::task::spawn_blocking(move || {
        for (index, input) in owned.iter().enumerate() {
            let tokens = engine.count_tokens(input)?;
            if tokens.value() > limit {
                return Ok(Some((index, tokens)));
            }
        }
        Ok(None)
    })
    .await
    .unwrap_or_else(|e| Err(ModelError::Panic { during: "tokenization", message: e.to_string() }));
    match counted {
        Ok(None) => Ok(()),
        Ok(Some((index, tokens))) => Err(ServiceError::InputTooLong { model: name.to_string(), index, tokens, limit }),
        Err(source) => Err(ServiceError::Tokenizer { model: name.to_string(), source: Arc::new(source) }),
    }
}

impl super::Service {
    /// Classifies `inputs` (texts or text pairs) with `model` (or the default).
    /// Identical inputs in one call, and identical concurrent misses across calls, run
    /// the model once. Post-processing options (`top_k`, `function`) reuse cached
    /// logits.
    ///
    /// Errors: [`ServiceError`]; unknown model, failed load, full queue, inference,
    /// an over-long input with `truncate: false`.
    pub async fn analyze(
        &self,
        model: Option<&str>,
        inputs: &[TextInput],
        options: &AnalyzeOptions,
    ) -> Result<Analysis, ServiceError> {
        let name = model.unwrap_or_else(|| self.registry.default_name());
        let Some(deadline) = options.deadline else {
            return self.analyze_now(name, inputs, options).await;
        };
        // Dropping the work at the deadline cancels its texts still queued (the
        // batcher also drops texts it finds past their deadline).
        tokio::time::timeout_at(deadline.into(), self.analyze_now(name, inputs, options))
            .await
            .unwrap_or_else(|_| Err(ServiceError::Timeout { model: name.to_string() }))
    }

    async fn analyze_now(
        &self,
        name: &str,
        inputs: &[TextInput],
        options: &AnalyzeOptions,
    ) -> Result<Analysis, ServiceError> {
        let loaded = self.registry.get(name).await?;
        if !options.truncate {
            check_lengths(name, &loaded.engine, inputs).await?;
        }

        let (unique, positions) = distinct(inputs);

        let capacity = loaded.batcher.capacity();
        if unique.len() > capacity {
            return Err(ServiceError::ExceedsQueue { model: name.to_string(), count: unique.len(), capacity });
        }
        // Every distinct text already in memory: answer without a task or the tiers.
        if options.cache == CachePolicy::Use {
            let keys: Vec<CacheKey> = unique
                .iter()
                .map(|input| CacheKey {
                    model: Arc::clone(&loaded.name),
                    identity: loaded.identity_for(options.truncation).clone(),
                    num_labels: loaded.engine.info().id2label.len(),
                    input: (*input).clone().into(),
                })
                .collect();
            if let Some(hits) = self.cache.memory_hits(&keys).await {
                let outcomes: Vec<(crate::model::Prediction, bool)> = hits.into_iter().map(|p| (p, true)).collect();
                return Ok(self.results(name, &loaded, &positions, &outcomes, options));
            }
        }
        // The lookups run in their own task: if the client goes away mid-request, what
        // is already in a forward pass still completes and is cached, while the
        // request's texts that have not started are dropped (the guard cancels them).
        let cancel = Cancel::default();
        let _guard = CancelOnDrop(cancel.clone());
        let inline = unique.iter().map(|input| input.len_bytes()).sum::<usize>() <= INLINE_TOKENIZE_BYTES;
        let lookups: Vec<_> = unique
            .iter()
            .map(|input| {
                let tokenizers = Arc::clone(&self.tokenizers);
                let input = (*input).clone();
                lookup(self.cache.clone(), tokenizers, Arc::clone(&loaded), input, *options, cancel.clone(), inline)
            })
            .collect();
        let outcomes = tokio::spawn(try_join_all(lookups))
            .await
            .unwrap_or_else(|e| {
                let message = e.to_string();
                Err(Arc::new(BatchError::Inference(Arc::new(ModelError::Panic { during: "analyze", message }))))
            })
            .map_err(|e| {
                let source = (*e).clone();
                let model = name.to_string();
                match source {
                    BatchError::QueueFull(_) => ServiceError::Overloaded { model, source },
                    BatchError::DeadlineExceeded => ServiceError::Timeout { model },
                    _ => ServiceError::Inference { model, source },
                }
            })?;

        Ok(self.results(name, &loaded, &positions, &outcomes, options))
    }

    /// Scores each input's prediction (`positions[i]`: its index in `outcomes`).
    fn results(
        &self,
        name: &str,
        loaded: &LoadedModel,
        positions: &[usize],
        outcomes: &[(crate::model::Prediction, bool)],
        options: &AnalyzeOptions,
    ) -> Analysis {
        let info = loaded.engine.info();
        let function = options.function.unwrap_or(info.score_function);
        let results = positions
            .iter()
            .map(|&i| {
                let (prediction, cached) = &outcomes[i];
                let c = Classification::from_logits(&prediction.logits, &info.id2label, function);
                let mut scores = c.scores;
                if let Some(k) = options.top_k {
                    scores.truncate(k);
                }
                TextResult { label: c.label, score: c.score, scores, cached: *cached, truncated: prediction.truncated }
            })
            .collect();
        Analysis { model: name.to_string(), results }
    }
}

/// The distinct inputs in first-seen order, and each input's index among them. One
/// input (the usual request) skips hashing its text.
fn distinct(inputs: &[TextInput]) -> (Vec<&TextInput>, Vec<usize>) {
    if let [input] = inputs {
        return (vec![input], vec![0]);
    }
    let mut unique: Vec<&TextInput> = Vec::new();
    let mut index_of: HashMap<&TextInput, usize> = HashMap::new();
    let positions = inputs
        .iter()
        .map(|input| {
            *index_of.entry(input).or_insert_with(|| {
                unique.push(input);
                unique.len() - 1
            })
        })
        .collect();
    (unique, positions)
}
