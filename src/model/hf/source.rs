//! Where a model's files come from: a local Hugging Face directory or a Hub repository
//! (`org/name[@revision]`), resolved to paths on disk through the standard HF cache.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::error::{ModelError, Result};

/// The file names a sequence classifier needs, in HF layout.
pub const CONFIG_FILE: &str = "config.json";
/// The fast-tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Preferred weights file.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// Legacy PyTorch pickle weights, read when no safetensors file exists.
pub const PTH_FILE: &str = "pytorch_model.bin";

/// A model source as written in the manifest or on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A directory holding `config.json`, `tokenizer.json` and the weights.
    Local(PathBuf),
    /// A Hugging Face Hub repository, optionally pinned to a revision (branch, tag, sha).
    Hub {
        /// Repository id, e.g. `distilbert/distilbert-base-uncased-finetuned-sst-2-english`.
        id: String,
        /// Revision; `None` means `main`.
        revision: Option<String>,
    },
}

impl ModelSource {
    /// Parses a source: strings starting with `/`, `.` or `~`, or naming an existing
    /// directory, are local; anything else is a Hub id with an optional `@revision`.
    ///
    /// Errors: [`ModelError::InvalidSource`] for an empty string or a malformed Hub id.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ModelError::InvalidSource(s.to_string()));
        }
        if s.starts_with(['/', '.', '~']) || Path::new(s).is_dir() {
            let expanded = match s.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
                None => PathBuf::from(s),
            };
            return Ok(Self::Local(expanded));
        }
        let (id, revision) = match s.split_once('@') {
            Some((id, rev)) if !rev.is_empty() => (id, Some(rev.to_string())),
            Some(_) => return Err(ModelError::InvalidSource(s.to_string())),
            None => (s, None),
        };
        let valid = id.split('/').count() <= 2
            && id
                .split('/')
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        if !valid {
            return Err(ModelError::InvalidSource(s.to_string()));
        }
        Ok(Self::Hub { id: id.to_string(), revision })
    }
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(path) => write!(f, "{}", path.display()),
            Self::Hub { id, revision: Some(rev) } => write!(f, "{id}@{rev}"),
            Self::Hub { id, revision: None } => write!(f, "{id}"),
        }
    }
}

/// The weights file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weights {
    /// `model.safetensors`, memory-mapped.
    Safetensors(PathBuf),
    /// `pytorch_model.bin` (a PyTorch zip pickle).
    Pth(PathBuf),
}

impl Weights {
    /// The file's path.
    pub fn path(&self) -> &Path {
        match self {
            Self::Safetensors(p) | Self::Pth(p) => p,
        }
    }
}

/// A model resolved to files on disk.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// `config.json`.
    pub config: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// The weights.
    pub weights: Weights,
    /// The resolved revision: the Hub commit sha, or `None` for a local directory.
    pub revision: Option<String>,
}

impl ModelFiles {
    /// Finds the files of a local model directory.
    ///
    /// Errors: [`ModelError::NoDirectory`] when `dir` is not a directory,
    /// [`ModelError::MissingFile`] when `config.json`, `tokenizer.json` or both weights
    /// files are absent.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ModelError::NoDirectory { dir: dir.to_path_buf() });
        }
        let need = |file: &str| {
            let path = dir.join(file);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ModelError::MissingFile { dir: dir.to_path_buf(), file: file.to_string() })
            }
        };
        let weights = match need(SAFETENSORS_FILE) {
            Ok(p) => Weights::Safetensors(p),
            Err(_) => Weights::Pth(need(PTH_FILE).map_err(|_| ModelError::MissingFile {
                dir: dir.to_path_buf(),
                file: format!("{SAFETENSORS_FILE} or {PTH_FILE}"),
            })?),
        };
        Ok(Self { config: need(CONFIG_FILE)?, tokenizer: need(TOKENIZER_FILE)?, weights, revision: None })
    }

    /// A content hash (xxh3-128, 32 hex digits) of `config.json`, `tokenizer.json`
    /// and the weights: the same bytes at any path give the same hash, so replicas
    /// that load the same files from different directories share cached answers
    /// (`cache::Identity` builds on it). Each file is length-prefixed, so moving bytes
    /// between files changes it. Reads each file once (~10 ms per 100 MB from the page
    /// cache).
    ///
    /// Errors: [`ModelError::Io`] when a file cannot be read.
    pub fn content_hash(&self) -> Result<String> {
        use std::io::Read;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for path in [&self.config, &self.tokenizer, &self.weights.path().to_path_buf()] {
            let io = |source| ModelError::Io { path: path.to_path_buf(), source };
            let mut file = std::fs::File::open(path).map_err(io)?;
            let length = file.metadata().map_err(io)?.len();
            hasher.update(&length.to_le_bytes());
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buffer).map_err(io)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
            }
        }
        Ok(format!("{:032x}", hasher.digest128()))
    }
}

/// Resolves a source to files on disk. A Hub source is read from the HF cache
/// (`HF_HOME`) when every file is already there, with no network; otherwise the
/// missing files are downloaded (token from `HF_TOKEN` or the cache's token file).
///
/// Blocking (file system and network): call it from a blocking thread.
///
/// Errors: [`ModelError::MissingFile`] for an incomplete directory,
/// [`ModelError::Hub`] when a download fails.
pub fn resolve(source: &ModelSource, progress: bool) -> Result<ModelFiles> {
    resolve_with(source, progress, false)
}

/// Whether `HF_HUB_OFFLINE` (the Hub's standard variable) forbids network access:
/// `1`, `true`, `yes` or `on`, as `huggingface_hub` reads it.
pub fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// [`resolve`], and with `refresh` a Hub source asks the Hub for the revision's
/// current commit and files instead of reusing a cached snapshot (a reload), unless
/// `HF_HUB_OFFLINE` is set. Blocking.
///
/// Errors: as [`resolve`]; with `HF_HUB_OFFLINE` set, [`ModelError::Hub`] for a Hub
/// model that is not in the cache (no network attempt is made).
pub fn resolve_with(source: &ModelSource, progress: bool, refresh: bool) -> Result<ModelFiles> {
    match source {
        ModelSource::Local(dir) => ModelFiles::from_dir(dir),
        ModelSource::Hub { id, revision } => resolve_hub(id, revision.as_deref(), progress, refresh),
    }
}

fn resolve_hub(id: &str, revision: Option<&str>, progress: bool, refresh: bool) -> Result<ModelFiles> {
    use hf_hub::{Cache, Repo, RepoType};
    let repo = Repo::with_revision(id.to_string(), RepoType::Model, revision.unwrap_or("main").to_string());
    let cache = Cache::from_env();
    let cached = cache.repo(repo.clone());
    // hf-hub finds files through `refs/<revision>`; a revision that is a commit sha
    // has no ref, so look in `snapshots/<sha>/` directly, as huggingface_hub does.
    let snapshot = revision
        .filter(|r| r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()))
        .map(|sha| cache.path().join(repo.folder_name()).join("snapshots").join(sha));
    let lookup =
        |file: &str| cached.get(file).or_else(|| snapshot.as_ref().map(|dir| dir.join(file)).filter(|p| p.is_file()));
    let cached_weights =
        lookup(SAFETENSORS_FILE).map(Weights::Safetensors).or_else(|| lookup(PTH_FILE).map(Weights::Pth));
    let offline = hub_offline();
    if let (Some(config), Some(tokenizer), Some(weights)) =
        (lookup(CONFIG_FILE), lookup(TOKENIZER_FILE), cached_weights)
    {
        if !refresh || offline {
            let revision = snapshot_revision(&config);
            return Ok(ModelFiles { config, tokenizer, weights, revision });
        }
    }
    if offline {
        return Err(ModelError::Hub(format!(
            "{id}: not in the HF cache ({}) and HF_HUB_OFFLINE is set, so the Hub was not asked{}",
            cache.path().display(),
            local_hint(id)
        )));
    }

    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()).or_else(|| cache.token());
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(progress)
        .with_token(token)
        .build()
        .map_err(|e| ModelError::Hub(e.to_string()))?;
    let remote = api.repo(repo);
    // `get` answers from the cache when it can; `download` asks the Hub for the
    // revision's current commit (a reload that must see new weights).
    let get = |file: &str| {
        let fetched = if refresh { remote.download(file) } else { remote.get(file) };
        fetched.map_err(|e| ModelError::Hub(format!("{id}: {file}: {e}{}", local_hint(id))))
    };
    let config = get(CONFIG_FILE)?;
    let tokenizer = get(TOKENIZER_FILE)?;
    let weights = match get(SAFETENSORS_FILE) {
        Ok(p) => Weights::Safetensors(p),
        Err(first) => Weights::Pth(get(PTH_FILE).map_err(|_| first)?),
    };
    let revision = snapshot_revision(&config);
    Ok(ModelFiles { config, tokenizer, weights, revision })
}

/// For a Hub id that could also be meant as a relative path (`models/mine`): says
/// that no such directory exists here, and how to name one.
fn local_hint(id: &str) -> String {
    format!(" (read as a Hub id; no directory ./{id} exists here: write a local path as ./{id} or /absolute/{id})")
}

/// The commit sha of an HF cache path `.../snapshots/<sha>/file`.
fn snapshot_revision(file: &Path) -> Option<String> {
    let snapshot = file.parent()?;
    (snapshot.parent()?.file_name()? == "snapshots").then(|| snapshot.file_name()?.to_str().map(String::from))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_ids_with_and_without_revision() {
        assert_eq!(
            ModelSource::parse("org/name@v1.0").unwrap(),
            ModelSource::Hub { id: "org/name".into(), revision: Some("v1.0".into()) }
        );
        assert_eq!(ModelSource::parse("org/name").unwrap(), ModelSource::Hub { id: "org/name".into(), revision: None });
        assert_eq!(ModelSource::parse("./some/dir").unwrap(), ModelSource::Local("./some/dir".into()));
    }

    #[test]
    fn rejects_malformed_sources() {
        for bad in ["", "a/b/c", "org/name@", "org/na me", "http://x/y"] {
            assert!(ModelSource::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn reads_the_revision_from_a_snapshot_path() {
        let p = Path::new("/c/models--o--n/snapshots/abc123/config.json");
        assert_eq!(snapshot_revision(p).as_deref(), Some("abc123"));
        assert_eq!(snapshot_revision(Path::new("/x/config.json")), None);
    }
}
