//! The two-level lookup of one input: by its exact text in memory, then by the token
//! ids its tokenizer made of it.
//!
//! Texts that tokenize to the same model input get the same logits bit for bit (case
//! for an uncased model, runs of whitespace, anything past the truncation limit), so
//! a text that misses in memory is tokenized once and looked up by its
//! [`TokenDigest`], in memory and then in the lower tiers; only when that misses too
//! does the model run. Memory then holds both keys, so the exact text answers its
//! next request without tokenizing; the lower tiers (disk, Redis) hold the token key
//! only, one entry per distinct model input, however many texts map to it. Each level
//! is single-flight; a hit on the second level is counted in
//! [`super::CacheStats::token_hits`] (a variant of an earlier text, or any text first
//! read from a lower tier).
//!
//! With token keys off ([`super::CacheConfig::token_keys`]) every tier is keyed by the
//! exact text, as before.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::key::{CacheKey, TokenDigest};
use super::memory::Stamped;
use super::{CachePolicy, PredictionCache};
use crate::model::Prediction;

/// What tokenizing one input gives the second level: the digest of its token ids,
/// whether it was truncated, and the model input itself (handed to `compute`).
#[derive(Debug, Clone)]
pub struct Tokenized<T> {
    /// The token ids' digest ([`TokenDigest::of`]).
    pub digest: TokenDigest,
    /// Whether this input was cut to the model's limit (a value found by its tokens
    /// may have been computed for an input that was not, or the other way round).
    pub truncated: bool,
    /// The encoded input, passed on to `compute` on a miss.
    pub input: T,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This call ran the model.
    Computed,
    /// A tier held the exact input (or an identical in-flight call computed it).
    Exact,
    /// A tier held an input with the same token ids.
    Tokens,
}

impl Source {
    /// Whether the answer came from the cache.
    pub fn cached(self) -> bool {
        self != Self::Computed
    }
}

impl PredictionCache {
    /// The answer for `key` under a request's cache directive, from its exact form,
    /// from its token ids (`tokenize`), or from `compute` on what `tokenize` made.
    /// [`CachePolicy::Refresh`] skips every read and replaces both entries;
    /// [`CachePolicy::Bypass`] computes and writes nothing. With token keys turned
    /// off ([`super::CacheConfig::token_keys`]) only the exact form is looked up.
    ///
    /// Errors: `tokenize`'s or `compute`'s error, shared by every waiter.
    pub async fn lookup<T, Tok, C, CF, E>(
        &self,
        key: CacheKey,
        policy: CachePolicy,
        tokenize: Tok,
        compute: C,
    ) -> Result<(Prediction, Source), Arc<E>>
    where
        Tok: Future<Output = Result<Tokenized<T>, E>>,
        C: FnOnce(T) -> CF,
        CF: Future<Output = Result<Prediction, E>>,
        E: Send + Sync + 'static,
    {
        match policy {
            CachePolicy::Use => self.read_through(key, tokenize, compute).await,
            CachePolicy::Refresh | CachePolicy::Bypass => {
                let tokenized = tokenize.await.map_err(Arc::new)?;
                let (digest, truncated) = (tokenized.digest, tokenized.truncated);
                let mut prediction = compute(tokenized.input).await.map_err(Arc::new)?;
                prediction.truncated = truncated;
                self.count(&key.model, false);
                if policy == CachePolicy::Refresh {
                    let value = Stamped::new(prediction.clone(), self.config.ttl_for(&key.model));
                    let mut keys = vec![key.clone()];
                    if self.config.token_keys {
                        keys.push(key.for_tokens(digest));
                    }
                    // The lower tiers take the last key: the tokens', or the text's.
                    if let Some(lower_key) = keys.last() {
                        self.lower.write(&self.lower.stored_key(lower_key), &value);
                    }
                    for key in keys {
                        self.memory.insert(key, value.clone()).await;
                        self.memory.counters.wrote();
                    }
                }
                Ok((prediction, Source::Computed))
            }
        }
    }

    async fn read_through<T, Tok, C, CF, E>(
        &self,
        key: CacheKey,
        tokenize: Tok,
        compute: C,
    ) -> Result<(Prediction, Source), Arc<E>>
    where
        Tok: Future<Output = Result<Tokenized<T>, E>>,
        C: FnOnce(T) -> CF,
        CF: Future<Output = Result<Prediction, E>>,
        E: Send + Sync + 'static,
    {
        let model = Arc::clone(&key.model);
        // Set when this call's own `compute` ran, and when its tokens found the value.
        let (computed, by_tokens) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let init = {
            let (computed, by_tokens, key) = (Arc::clone(&computed), Arc::clone(&by_tokens), key.clone());
            let (memory, lower) = (Arc::clone(&self.memory), Arc::clone(&self.lower));
            let ttl = self.config.ttl_for(&key.model);
            let token_keys = self.config.token_keys;
            async move {
                // The lower tiers hold exact texts only with token keys off.
                let lower_key = if token_keys { None } else { Some(lower.stored_key(&key)) };
                if let Some(stored) = &lower_key {
                    if let Some(value) = lower.read(stored, key.num_labels).await {
                        return Ok(value);
                    }
                }
                let tokenized = tokenize.await.map_err(Arc::new)?;
                let truncated = tokenized.truncated;
                let run = {
                    let computed = Arc::clone(&computed);
                    async move {
                        let value = Stamped::new(compute(tokenized.input).await?, ttl);
                        computed.store(true, Ordering::Relaxed);
                        Ok(value)
                    }
                };
                let mut value = match lower_key {
                    Some(stored) => {
                        let value = run.await.map_err(Arc::new)?;
                        lower.write(&stored, &value);
                        value
                    }
                    None => {
                        let token_key = key.for_tokens(tokenized.digest);
                        let token_init = {
                            let lower = Arc::clone(&lower);
                            let stored = lower.stored_key(&token_key);
                            let num_labels = key.num_labels;
                            async move {
                                if let Some(value) = lower.read(&stored, num_labels).await {
                                    return Ok(value);
                                }
                                let value = run.await?;
                                lower.write(&stored, &value);
                                Ok(value)
                            }
                        };
                        let (value, inserted) = memory.get_or_try_insert_with(token_key, token_init).await?;
                        memory.counters.count(!inserted);
                        if inserted {
                            memory.counters.wrote();
                        }
                        by_tokens.store(!computed.load(Ordering::Relaxed), Ordering::Relaxed);
                        value
                    }
                };
                // The value's logits, this input's truncation; it expires with its source.
                value.prediction.truncated = truncated;
                Ok::<_, Arc<E>>(value)
            }
        };
        // The init's errors are already shared (`Arc<E>`); moka shares them once more.
        let (value, inserted) = self.memory.get_or_try_insert_with(key, init).await.map_err(|e| Arc::clone(&*e))?;
        self.memory.counters.count(!inserted);
        if inserted {
            self.memory.counters.wrote();
        }
        let source = if !inserted {
            Source::Exact
        } else if by_tokens.load(Ordering::Relaxed) {
            Source::Tokens
        } else if computed.load(Ordering::Relaxed) {
            Source::Computed
        } else {
            Source::Exact
        };
        self.count(&model, source.cached());
        if source == Source::Tokens {
            self.counters.token_hits.fetch_add(1, Ordering::Relaxed);
            self.counters.models.with(&model, |c| c.token_hits.increment(1));
        }
        Ok((value.prediction, source))
    }
}
