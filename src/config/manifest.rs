//! The model manifest (`models/models.toml`): named models and the default, merged
//! with `--model NAME=SOURCE` and `--default` into a [`Catalog`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::defaults;
use crate::model::{ModelError, ModelSource};
use crate::registry::ModelSpec;

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

/// The manifest file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) default: Option<String>,
    #[serde(default)]
    pub(crate) models: BTreeMap<String, ManifestEntry>,
}

/// One `[models.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestEntry {
    pub(crate) source: String,
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
    let mut sources: BTreeMap<String, ModelSource> = BTreeMap::new();
    for (name, entry) in manifest.models {
        if !valid_name(&name) {
            return Err(ConfigError::Manifest { path: origin, message: format!("invalid model name `{name}`") });
        }
        let relative = entry.source.starts_with("./") || entry.source.starts_with("../");
        let raw = match (&base, relative) {
            (Some(base), true) => base.join(&entry.source).display().to_string(),
            _ => entry.source.clone(),
        };
        let source = ModelSource::parse(&raw).map_err(|source| ConfigError::Source { name: name.clone(), source })?;
        sources.insert(name, source);
    }
    for arg in overrides {
        let (name, raw) = arg.split_once('=').ok_or_else(|| ConfigError::ModelArg(arg.clone()))?;
        let name = name.trim();
        if !valid_name(name) {
            return Err(ConfigError::ModelArg(arg.clone()));
        }
        let source = ModelSource::parse(raw).map_err(|source| ConfigError::Source { name: name.into(), source })?;
        sources.insert(name.to_string(), source);
    }
    let default = default
        .map(str::to_string)
        .or(manifest.default)
        .or_else(|| (sources.len() == 1).then(|| sources.keys().next().cloned()).flatten())
        .unwrap_or_else(|| defaults::DEFAULT_MODEL.to_string());
    let catalog = Catalog {
        models: sources.into_iter().map(|(name, source)| ModelSpec { name, source }).collect(),
        default: default.clone(),
    };
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
    fn built_in_manifest_defaults_to_the_sst2_distilbert() {
        let manifest: Manifest = toml::from_str(EMBEDDED_MANIFEST).unwrap();
        assert_eq!(manifest.default.as_deref(), Some("sentiment"));
        assert_eq!(manifest.models["sentiment"].source, "distilbert/distilbert-base-uncased-finetuned-sst-2-english");
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
}
