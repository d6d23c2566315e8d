//! The readiness report of `GET /health` and `GET /readyz`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::models::ModelState;
use crate::service;

/// Whether the server can take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadinessStatus {
    /// Every preloaded model is loaded.
    Ok,
    /// A preloaded model is still loading (or not loaded yet).
    Loading,
    /// A preloaded model failed to load.
    Unavailable,
}

impl From<service::ReadinessStatus> for ReadinessStatus {
    fn from(status: service::ReadinessStatus) -> Self {
        match status {
            service::ReadinessStatus::Ok => Self::Ok,
            service::ReadinessStatus::Loading => Self::Loading,
            service::ReadinessStatus::Unavailable => Self::Unavailable,
        }
    }
}

/// The readiness report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` when every preloaded model is loaded, else `loading` or `unavailable`.
    pub status: ReadinessStatus,
    /// State of each preloaded model.
    pub models: BTreeMap<String, ModelState>,
}

impl From<service::Readiness> for Readiness {
    fn from(service::Readiness { status, models }: service::Readiness) -> Self {
        Self { status: status.into(), models: models.into_iter().map(|(name, state)| (name, state.into())).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;

    #[test]
    fn readiness_serializes_as_the_service_reports_it() {
        for status in
            [service::ReadinessStatus::Ok, service::ReadinessStatus::Loading, service::ReadinessStatus::Unavailable]
        {
            let models = [
                ("a", registry::ModelState::Unloaded),
                ("b", registry::ModelState::Loading),
                ("c", registry::ModelState::Loaded),
                ("d", registry::ModelState::Failed),
            ]
            .into_iter()
            .map(|(name, state)| (name.to_string(), state))
            .collect();
            let readiness = service::Readiness { status, models };
            let expected = serde_json::to_value(&readiness).unwrap();
            assert_eq!(serde_json::to_value(Readiness::from(readiness)).unwrap(), expected);
        }
    }
}
