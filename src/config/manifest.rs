//! The model manifest (`models/models.toml`): named models and the default, merged
//! with `--model NAME=SOURCE` and `--default` into a [`Catalog`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::defaults;
use crate::model::{DeviceSpec, ModelError, ModelSource};
use crate::registry::{ModelSettings, ModelSpec};

/// The manifest shipped with the binary, used when no `models/models.toml` is found.
pub const EMBEDDED_MANIFEST: &str = include_str!("../../models/models.toml");
/// Where the manifest is looked for when `--models-file` is not given.
pub const DEFAULT_MANIFEST_PATH: &str = "models/models.toml";

/// A configuration mistake, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The manifest cannot be read or parsed.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// The manifest path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `--model` value is malformed.
    #[error("--model `{0}`: expected NAME=SOURCE with NAME made of letters, digits, '-', '_' or '.'")]
    ModelArg(String),
    /// A model source does not parse.
    #[error("model `{name}`: {source}")]
    Source {
        /// The model's name.
        name: String,
        /// The parse error.
        source: ModelError,
    },
    /// A key file cannot be read.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::sync::Arc<std::io::Error>,
    },
    /// A key is empty or blank: it would leave the routes it should guard open.
    #[error("{what} is empty: a blank key would turn authentication off; give a key or leave the setting out")]
    EmptyKey {
        /// Which setting gave it, e.g. `--api-key (SENTISERVE_API_KEY)`.
        what: String,
    },
    /// A `--cors-origin` is not a valid header value.
    #[error("--cors-origin `{0}` is not a valid origin")]
    CorsOrigin(String),
    /// A name refers to no configured model.
    #[error("{what} `{name}` is not a configured model (configured: {known})")]
    UnknownName {
        /// Which setting named it.
        what: &'static str,
        /// The name.
        name: String,
        /// Configured names.
        known: String,
    },
}

/// The configured models.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Every named model, sorted by name.
    pub models: Vec<ModelSpec>,
    /// The default model's name.
    pub default: String,
}

impl Catalog {
    /// Comma-separated configured names, for messages.
    pub fn known(&self) -> String {
        self.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Checks that `name` is configured.
    ///
    /// Errors: [`ConfigError::UnknownName`] naming `what` referred to it.
    pub fn check(&self, what: &'static str, name: &str) -> Result<(), ConfigError> {
        if self.models.iter().any(|m| m.name == name) {
            Ok(())
        } else {
            Err(ConfigError::UnknownName { what, name: name.to_string(), known: self.known() })
        }
    }
}

/// The manifest file's shape. Model tables are checked one by one (so an error names
/// the model): see [`ManifestEntry`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) default: Option<String>,
    #[serde(default)]
    pub(crate) models: BTreeMap<String, toml::Table>,
}

/// One source, or several tried in order.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Sources {
    /// `source = "org/name"`.
    One(String),
    /// `source = ["org/name", "./bundled-dir"]`: the first that loads serves.
    Many(Vec<String>),
}

/// One `[models.NAME]` table: the source(s) and per-model settings, each overriding
/// the server-wide flag of the same name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestEntry {
    pub(crate) source: Sources,
    /// Dtype of the linear layers: `f32`, `bf16` or `int8`.
    pub(crate) dtype: Option<String>,
    /// `auto`, `cpu`, `cuda[:N]` or `metal`.
    pub(crate) device: Option<String>,
    pub(crate) max_batch_size: Option<usize>,
    pub(crate) max_batch_tokens: Option<usize>,
    /// Truncation limit in tokens, at most the model's own.
    pub(crate) max_tokens: Option<usize>,
    pub(crate) queue_capacity: Option<usize>,
    /// Never evicted (default: preloaded models are pinned).
    pub(crate) pinned: Option<bool>,
    /// Unloaded after this many seconds without a request (0: never).
    pub(crate) idle_unload_secs: Option<u64>,
    /// Time to live of this model's cached predictions, s.
    pub(crate) cache_ttl_secs: Option<u64>,
}

impl ManifestEntry {
    /// The per-model settings.
    ///
    /// Errors: a message for an unknown device or an unsupported dtype.
    fn settings(&self) -> Result<ModelSettings, String> {
        let dtype = self.dtype.as_deref().map(str::parse::<crate::model::Dtype>).transpose()?;
        let device = self.device.as_deref().map(str::parse::<DeviceSpec>).transpose()?;
        let secs = |s: Option<u64>| s.map(std::time::Duration::from_secs);
        Ok(ModelSettings {
            device,
            max_batch_size: self.max_batch_size,
            max_batch_tokens: self.max_batch_tokens,
            max_tokens: self.max_tokens,
            queue_capacity: self.queue_capacity,
            pinned: self.pinned,
            idle_unload: secs(self.idle_unload_secs),
            cache_ttl: secs(self.cache_ttl_secs).filter(|d| !d.is_zero()),
            dtype,
        })
    }
}

/// Whether `name` may name a model: letters, digits, `-`, `_`, `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Where the manifest text comes from: `--models-file`, else ./models/models.toml if
/// present, else the built-in one. Returns the text, a name for messages, and the
/// folder relative sources are resolved against.
fn manifest_text(file: Option<&Path>) -> Result<(String, String, Option<PathBuf>), ConfigError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Manifest { path: path.display().to_string(), message: e.to_string() })
    };
    match file {
        Some(path) => Ok((read(path)?, path.display().to_string(), path.parent().map(Path::to_path_buf))),
        None if Path::new(DEFAULT_MANIFEST_PATH).is_file() => {
            let path = Path::new(DEFAULT_MANIFEST_PATH);
            Ok((read(path)?, DEFAULT_MANIFEST_PATH.to_string(), path.parent().map(Path::to_path_buf)))
        }
        None => Ok((EMBEDDED_MANIFEST.to_string(), "(built-in)".to_string(), None)),
    }
}

/// Reads the manifest, applies `--model NAME=SOURCE` overrides and the default.
///
/// Errors: [`ConfigError`] for an unreadable manifest, a malformed `--model`, a bad
/// source, or a default that names no model.
pub fn catalog(file: Option<&Path>, overrides: &[String], default: Option<&str>) -> Result<Catalog, ConfigError> {
    let (text, origin, base) = manifest_text(file)?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| ConfigError::Manifest { path: origin.clone(), message: e.to_string() })?;
    let mut specs: BTreeMap<String, ModelSpec> = BTreeMap::new();
    for (name, table) in manifest.models {
        let bad = |message: String| ConfigError::Manifest { path: origin.clone(), message };
        if !valid_name(&name) {
            return Err(bad(format!("invalid model name `{name}`")));
        }
        let entry: ManifestEntry =
            toml::Value::Table(table).try_into().map_err(|e| bad(format!("model `{name}`: {e}")))?;
        let raw_sources = match &entry.source {
            Sources::One(one) => vec![one.clone()],
            Sources::Many(many) => many.clone(),
        };
        let mut parsed = Vec::with_capacity(raw_sources.len());
        for raw in &raw_sources {
            let relative = raw.starts_with("./") || raw.starts_with("../");
            let raw = match (&base, relative) {
                (Some(base), true) => base.join(raw.strip_prefix("./").unwrap_or(raw)).display().to_string(),
                _ => raw.clone(),
            };
            parsed.push(ModelSource::parse(&raw).map_err(|source| ConfigError::Source { name: name.clone(), source })?);
        }
        if parsed.is_empty() {
            return Err(bad(format!("model `{name}`: `source` lists no source")));
        }
        let settings = entry.settings().map_err(|e| bad(format!("model `{name}`: {e}")))?;
        let source = parsed.remove(0);
        specs.insert(name.clone(), ModelSpec { name, source, fallbacks: parsed, settings });
    }
    for arg in overrides {
        let (name, raw) = arg.split_once('=').ok_or_else(|| ConfigError::ModelArg(arg.clone()))?;
        let name = name.trim();
        if !valid_name(name) {
            return Err(ConfigError::ModelArg(arg.clone()));
        }
        let source = ModelSource::parse(raw).map_err(|source| ConfigError::Source { name: name.into(), source })?;
        // A name the manifest configures keeps its settings (max_tokens, dtype, …);
        // the flag replaces where its files come from, fallbacks included.
        let mut spec = specs.remove(name).unwrap_or_else(|| ModelSpec::new(name, source.clone()));
        spec.source = source;
        spec.fallbacks.clear();
        specs.insert(name.to_string(), spec);
    }
    let default = default
        .map(str::to_string)
        .or(manifest.default)
        .or_else(|| (specs.len() == 1).then(|| specs.keys().next().cloned()).flatten())
        .unwrap_or_else(|| defaults::DEFAULT_MODEL.to_string());
    let catalog = Catalog { models: specs.into_values().collect(), default: default.clone() };
    catalog.check("default model", &default)?;
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(models: &[&str]) -> Vec<String> {
        models.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn built_in_manifest_defaults_to_the_sst2_distilbert_then_the_bundled_model() {
        let manifest: Manifest = toml::from_str(EMBEDDED_MANIFEST).unwrap();
        assert_eq!(manifest.default.as_deref(), Some("sentiment"));
        let entry: ManifestEntry = toml::Value::Table(manifest.models["sentiment"].clone()).try_into().unwrap();
        let Sources::Many(sources) = entry.source else { panic!("expected a list of sources") };
        assert_eq!(sources, ["distilbert/distilbert-base-uncased-finetuned-sst-2-english", "./minilm-l6-sentiment"]);
    }

    fn manifest_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn per_model_settings_and_fallback_sources_are_read() {
        let (dir, path) = manifest_file(
            "default = \"a\"\n[models.a]\nsource = [\"org/name@v1\", \"./local\"]\nmax_batch_size = 8\n\
             max_tokens = 128\nqueue_capacity = 16\npinned = false\nidle_unload_secs = 60\ncache_ttl_secs = 30\n\
             dtype = \"f32\"\ndevice = \"cpu\"\n",
        );
        let catalog = catalog(Some(&path), &[], None).unwrap();
        let spec = &catalog.models[0];
        assert_eq!(spec.source, ModelSource::Hub { id: "org/name".into(), revision: Some("v1".into()) });
        assert_eq!(spec.fallbacks, vec![ModelSource::Local(dir.path().join("local"))]);
        let s = &spec.settings;
        assert_eq!(
            (s.max_batch_size, s.max_tokens, s.queue_capacity, s.pinned),
            (Some(8), Some(128), Some(16), Some(false))
        );
        assert_eq!(s.idle_unload, Some(std::time::Duration::from_secs(60)));
        assert_eq!(s.cache_ttl, Some(std::time::Duration::from_secs(30)));
        assert_eq!(s.device, Some(DeviceSpec::Cpu));
    }

    #[test]
    fn unknown_keys_and_bad_settings_name_the_file_the_model_and_the_key() {
        for (text, wants) in [
            ("[models.a]\nsource = \"org/n\"\nmax_batch = 8\n", "max_batch"),
            ("[models.a]\nsource = \"org/n\"\ndtype = \"int4\"\n", "dtype `int4`"),
            ("[models.a]\nsource = \"org/n\"\ndevice = \"tpu\"\n", "tpu"),
            ("[models.a]\nsource = []\n", "no source"),
        ] {
            let (_dir, path) = manifest_file(text);
            let message = catalog(Some(&path), &[], Some("a")).unwrap_err().to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("model `a`"), "{message}");
            assert!(message.contains(wants), "{message}");
        }
    }

    #[test]
    fn cli_models_are_added_and_can_become_the_default() {
        let catalog = catalog(None, &overrides(&["mini=/tmp/m"]), Some("mini")).unwrap();
        assert_eq!(catalog.default, "mini");
        assert!(catalog.models.iter().any(|m| m.name == "sentiment"));
        assert!(catalog.models.iter().any(|m| m.name == "mini" && m.source == ModelSource::Local("/tmp/m".into())));
    }

    #[test]
    fn bad_model_args_and_defaults_are_rejected() {
        assert!(matches!(catalog(None, &overrides(&["nosource"]), None), Err(ConfigError::ModelArg(_))));
        assert!(matches!(catalog(None, &overrides(&["bad name=/x"]), None), Err(ConfigError::ModelArg(_))));
        assert!(matches!(catalog(None, &[], Some("nope")), Err(ConfigError::UnknownName { .. })));
    }

    #[test]
    fn a_model_flag_replaces_the_sources_of_a_manifest_entry_and_keeps_its_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.toml");
        std::fs::write(&path, "[models.m]\nsource = [\"org/a\", \"org/b\"]\nmax_tokens = 16\ndtype = \"int8\"\n")
            .unwrap();
        let catalog = catalog(Some(&path), &overrides(&["m=/tmp/elsewhere"]), None).unwrap();
        let spec = &catalog.models[0];
        assert_eq!(spec.source.to_string(), "/tmp/elsewhere");
        assert!(spec.fallbacks.is_empty(), "the flag names where the files come from");
        assert_eq!(spec.settings.max_tokens, Some(16));
        assert_eq!(spec.settings.dtype, Some(crate::model::Dtype::Int8));
    }
}
