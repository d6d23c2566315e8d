//! A deterministic fake [`Engine`] and its [`Loader`], for in-process tests of the
//! HTTP, service, registry and cache behaviour without weights, sockets or the wall
//! clock deciding anything.
//!
//! Tokens: `[CLS]`, one id per whitespace-separated word (lower-cased, so the fake is
//! "uncased"), `[SEP]`; a pair appends its words and another `[SEP]`; truncation keeps
//! the first `max_tokens - 1` ids and ends with `[SEP]`. Logits are a fixed function of
//! the ids, so equal ids give bit-identical logits. A text containing `#fail` makes its
//! batch fail. A [`Gate`] holds forward passes until a test opens it, and counters say
//! how many passes ran and how many texts they computed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use sentiserve::engine::{Engine, EngineInfo, LoadRequest, LoadedEngine, Loader, LogitsSettings, TruncationSide};
use sentiserve::model::{Encoded, ModelError, ModelSource, ScoreFunction, TextInput, Token, TokenCount};
use sentiserve::registry::ModelSpec;

const CLS: u32 = 101;
const SEP: u32 = 102;

/// Closed: forward passes wait at it. Open: they run.
#[derive(Default)]
pub struct Gate {
    closed: Mutex<bool>,
    changed: Condvar,
    /// Passes currently waiting at the gate.
    waiting: AtomicUsize,
}

impl Gate {
    pub fn close(&self) {
        *self.closed.lock().unwrap() = true;
    }

    pub fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let mut closed = self.closed.lock().unwrap();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        while *closed {
            closed = self.changed.wait(closed).unwrap();
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Passes waiting at the gate now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// What the fakes did, shared by every engine one loader made.
#[derive(Default)]
pub struct Activity {
    /// Forward passes run.
    pub passes: AtomicUsize,
    /// Texts computed by those passes.
    pub texts: AtomicUsize,
    /// Loads started (successful or not).
    pub loads: AtomicUsize,
    /// Holds forward passes while closed.
    pub gate: Gate,
}

impl Activity {
    pub fn texts(&self) -> usize {
        self.texts.load(Ordering::SeqCst)
    }

    pub fn passes(&self) -> usize {
        self.passes.load(Ordering::SeqCst)
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

/// One fake checkpoint: its labels, its own token limit and its "files' content".
#[derive(Debug, Clone)]
pub struct FakeModel {
    pub labels: Vec<String>,
    pub max_tokens: usize,
    /// Stands for the files' bytes: change it and the content hash changes (a reload
    /// of new weights). It also salts the logits.
    pub content: String,
    /// Loads of this model fail while this is non-zero (each failure counts it down).
    pub fail_loads: Arc<AtomicUsize>,
}

impl FakeModel {
    pub fn sentiment() -> Self {
        Self {
            labels: vec!["NEGATIVE".into(), "POSITIVE".into()],
            max_tokens: 512,
            content: "weights-1".into(),
            fail_loads: Arc::default(),
        }
    }
}

/// The source a fake model is configured under: `fake/{name}`.
pub fn source(name: &str) -> ModelSource {
    ModelSource::Local(PathBuf::from("fake").join(name))
}

/// A spec for the fake model `name`.
pub fn spec(name: &str) -> ModelSpec {
    ModelSpec::new(name, source(name))
}

/// Loads [`FakeModel`]s by source.
#[derive(Default)]
pub struct FakeLoader {
    models: Mutex<HashMap<String, FakeModel>>,
    pub activity: Arc<Activity>,
}

impl FakeLoader {
    /// A loader serving `models` (name → model), each under [`source`]`(name)`.
    pub fn new(models: impl IntoIterator<Item = (&'static str, FakeModel)>) -> Arc<Self> {
        let loader = Self::default();
        for (name, model) in models {
            loader.set(name, model);
        }
        Arc::new(loader)
    }

    /// Replaces what `name`'s source holds (the next load or reload sees it).
    pub fn set(&self, name: &str, model: FakeModel) {
        self.set_source(source(name), model);
    }

    /// Replaces what `source` holds.
    pub fn set_source(&self, source: ModelSource, model: FakeModel) {
        self.models.lock().unwrap().insert(source.to_string(), model);
    }
}

impl Loader for FakeLoader {
    fn load(&self, request: &LoadRequest<'_>) -> Result<LoadedEngine, ModelError> {
        self.activity.loads.fetch_add(1, Ordering::SeqCst);
        let model = self.models.lock().unwrap().get(&request.source.to_string()).cloned().ok_or_else(|| {
            ModelError::MissingFile { dir: PathBuf::from(request.source.to_string()), file: "fake".into() }
        })?;
        if model.fail_loads.load(Ordering::SeqCst) > 0 {
            model.fail_loads.fetch_sub(1, Ordering::SeqCst);
            return Err(ModelError::Config(format!("{}: injected load failure", request.source)));
        }
        let max_tokens = request.max_tokens.map_or(model.max_tokens, |m| m.clamp(2, model.max_tokens));
        let info = EngineInfo {
            architecture: "fake".into(),
            score_function: ScoreFunction::Softmax,
            id2label: model.labels.clone(),
            device: "cpu".into(),
            kernel: "fake",
            parameters: 1000,
            weight_bytes: 4000,
            activation_bytes_per_token: 16,
            settings: LogitsSettings {
                engine: "fake",
                dtype: request.dtype,
                max_tokens,
                truncation: TruncationSide::Right,
            },
        };
        let engine = FakeEngine { info, salt: word_id(&model.content), activity: Arc::clone(&self.activity) };
        Ok(LoadedEngine { engine: Arc::new(engine), content_hash: format!("fake-{}", model.content), revision: None })
    }
}

/// The fake engine itself.
pub struct FakeEngine {
    info: EngineInfo,
    salt: u32,
    activity: Arc<Activity>,
}

/// The id of one word (case-insensitive).
pub fn word_id(word: &str) -> u32 {
    // FNV-1a: stable across runs and platforms.
    let hash = word.to_lowercase().bytes().fold(0x811c9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x01000193));
    1000 + hash % 29_000
}

/// The untruncated ids of `input`.
pub fn fake_ids(input: &TextInput) -> Vec<u32> {
    let mut ids = vec![CLS];
    ids.extend(input.text.split_whitespace().map(word_id));
    ids.push(SEP);
    if let Some(pair) = &input.pair {
        ids.extend(pair.split_whitespace().map(word_id));
        ids.push(SEP);
    }
    ids
}

impl Engine for FakeEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn tokenize(&self, input: &TextInput, side: TruncationSide) -> Result<Encoded, ModelError> {
        let mut ids = fake_ids(input);
        let limit = self.info.max_tokens();
        let truncated = ids.len() > limit;
        if truncated {
            match side {
                TruncationSide::Right => {
                    ids.truncate(limit - 1);
                    ids.push(SEP);
                }
                TruncationSide::Left => {
                    let tail = ids.split_off(ids.len() - (limit - 1));
                    ids = std::iter::once(CLS).chain(tail).collect();
                }
            }
        }
        let type_ids = vec![0; ids.len()];
        Ok(Encoded { ids, type_ids, truncated })
    }

    fn tokens(&self, text: &str, add_special_tokens: bool) -> Result<Vec<Token>, ModelError> {
        let special = |id: u32, name: &str| Token { id, text: name.into(), special: true, start: None, stop: None };
        let mut tokens: Vec<Token> = Vec::new();
        if add_special_tokens {
            tokens.push(special(CLS, "[CLS]"));
        }
        let mut offset = 0;
        for word in text.split_whitespace() {
            let start = offset + text[offset..].find(word).unwrap_or(0);
            offset = start + word.len();
            tokens.push(Token {
                id: word_id(word),
                text: word.into(),
                special: false,
                start: Some(start),
                stop: Some(offset),
            });
        }
        if add_special_tokens {
            tokens.push(special(SEP, "[SEP]"));
        }
        Ok(tokens)
    }

    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, ModelError> {
        let words: Vec<String> = ids
            .iter()
            .filter(|id| !(skip_special_tokens && [CLS, SEP].contains(id)))
            .map(|id| format!("#{id}"))
            .collect();
        Ok(words.join(" "))
    }

    fn count_tokens(&self, input: &TextInput) -> Result<TokenCount, ModelError> {
        Ok(TokenCount::Exactly(fake_ids(input).len()))
    }

    fn logits(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.activity.gate.pass();
        self.activity.passes.fetch_add(1, Ordering::SeqCst);
        self.activity.texts.fetch_add(batch.len(), Ordering::SeqCst);
        if batch.iter().any(|e| e.ids.contains(&word_id("#fail"))) {
            return Err(ModelError::Device("injected forward failure".into()));
        }
        Ok(batch.iter().map(|encoded| fake_logits(&encoded.ids, self.salt, self.info.id2label.len())).collect())
    }
}

/// The fake's logits for `ids`: label `j` gets a value in [-2, 2) from the ids.
pub fn fake_logits(ids: &[u32], salt: u32, labels: usize) -> Vec<f32> {
    (0..labels)
        .map(|j| {
            let mixed = ids.iter().fold(salt ^ (j as u32).wrapping_mul(0x9e37_79b9), |h, &id| {
                (h ^ id).wrapping_mul(0x01000193).rotate_left(5)
            });
            (mixed % 4000) as f32 / 1000.0 - 2.0
        })
        .collect()
}
