//! Hugging Face formats shared by every family: the common `config.json` fields,
//! model sources (a local directory or the Hub), tokenization and logits → scores.

pub mod config;
pub mod scores;
pub mod source;
pub mod tokenize;
