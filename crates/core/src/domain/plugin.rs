//! A street's plugin versions as the operations take and answer them: a stored version, an
//! upload, the active rule, a dry run and its outcome, a recorded fault.

use gongjian_plugin_sdk::builder::{CandidateSpec, DemandSpec};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::matching::{RankedCandidate, RuleUsed};
use super::FaultKind;
use crate::plugin::host::PluginKind;
use crate::str_enum;

str_enum!(
    /// Whether a plugin version may run.
    PluginStatus {
        /// It runs when the street activates it.
        Ready => "ready",
        /// Too many consecutive faults: the street falls back to the built-in rule until it
        /// deploys a fixed version.
        Quarantined => "quarantined",
    }
);

/// A stored plugin version. Versions are immutable; a change is a new version.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PluginVersion {
    pub id: Uuid,
    pub street_id: Uuid,
    /// 1, 2, 3, … within the street.
    pub number: i64,
    pub kind: PluginKind,
    /// SHA-256 of the source bytes, hex.
    pub content_hash: String,
    pub source_bytes: i64,
    /// The contract version the plugin implements.
    pub contract_version: String,
    /// What it does beyond ranking (contract 1.1.0): `triage` of new demands, a `points` rule.
    pub hooks: Vec<String>,
    /// The configuration document the plugin version runs with.
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub config: serde_json::Value,
    pub note: Option<String>,
    pub status: PluginStatus,
    /// Whether the street uses this version now.
    pub active: bool,
    pub consecutive_faults: i64,
    pub total_faults: i64,
    pub created_at: String,
    pub quarantined_at: Option<String>,
    /// The script, for rhai versions (only when one version is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadVersion {
    pub kind: PluginKind,
    /// The rhai script (for `rhai`).
    pub source: Option<String>,
    /// The WebAssembly component, or core module built with the SDK, in base64 (for `wasm`).
    pub wasm_base64: Option<String>,
    /// The configuration document (a JSON object), e.g. weights. Default `{}`.
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub config: Option<serde_json::Value>,
    /// What changed, for the street's records.
    pub note: Option<String>,
}

/// Which rule a street uses now.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ActiveRule {
    /// The active version; none means the built-in default rule.
    pub version: Option<PluginVersion>,
    /// True when the active version is quarantined and the built-in rule serves instead.
    pub falling_back: bool,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// A demand of the street: its real candidates are used.
    pub demand_id: Option<Uuid>,
    /// Or a demand described inline…
    pub demand: Option<DemandSpec>,
    /// …with its candidates (at most 10,000).
    pub candidates: Option<Vec<CandidateSpec>>,
}

/// The outcome of a dry run: nothing is dispatched or recorded.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DryRunResult {
    pub rule: RuleUsed,
    pub ranked: Vec<RankedCandidate>,
    pub candidates_considered: usize,
    /// When the version failed: what went wrong.
    pub fault: Option<DryRunFault>,
    /// The plugin's print/debug lines.
    pub log: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DryRunFault {
    pub kind: FaultKind,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FaultRecord {
    pub id: Uuid,
    pub kind: FaultKind,
    pub message: String,
    pub at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListPage {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}
