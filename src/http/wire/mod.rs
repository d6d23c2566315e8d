//! The JSON shapes the HTTP API answers with, as the OpenAPI document describes them
//! (`utoipa::ToSchema`). The service, the registry and the cache report in their own
//! types and know nothing of HTTP; each type here is built from one of those by a
//! `From` that destructures it exhaustively, so a field added there does not compile
//! until it is added here, and the unit tests check that both serialize alike.

pub mod analysis;
pub mod cache;
pub mod health;
pub mod models;

pub use analysis::{Analysis, LabelScore, ScoreFunction, TextResult};
pub use cache::{CacheStats, ClearReport, TierClear, TierStats};
pub use health::{Readiness, ReadinessStatus};
pub use models::{ModelState, ModelStatus, ModelsReport};
