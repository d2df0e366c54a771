//! What a match records: the rule that ranked, the candidates best first with the rule's
//! reasons, and the plugin's fault when the built-in rule stood in. Kept with the order it
//! was dispatched as, and shown to those who may see the ranking.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CandidateKind, FaultKind, RuleKind};

/// Which candidate a position in a request stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CandidateRef {
    pub kind: CandidateKind,
    pub id: Uuid,
    /// The volunteer's name or the resource's title.
    pub name: String,
}

/// The rule a match used.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RuleUsed {
    pub kind: RuleKind,
    /// The plugin version, when a plugin ranked.
    pub version_id: Option<Uuid>,
    pub version_number: Option<i64>,
    pub content_hash: Option<String>,
}

impl RuleUsed {
    pub fn builtin() -> Self {
        RuleUsed {
            kind: RuleKind::Builtin,
            version_id: None,
            version_number: None,
            content_hash: None,
        }
    }
}

/// A fault, as reported in a match.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FaultReport {
    pub kind: FaultKind,
    pub message: String,
    /// The version that failed.
    pub version_id: Uuid,
    /// Whether the version was quarantined by this fault.
    pub quarantined: bool,
}

/// One ranked candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RankedCandidate {
    pub kind: CandidateKind,
    pub id: Uuid,
    pub name: String,
    pub score: f64,
    pub reason: String,
}

/// What a match produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MatchResult {
    pub demand_id: Uuid,
    /// The rule whose ranking this is.
    pub rule: RuleUsed,
    /// Best first.
    pub ranked: Vec<RankedCandidate>,
    /// How many candidates the rule was given.
    pub candidates_considered: usize,
    /// When the street's plugin failed and the built-in rule ranked instead.
    pub fault: Option<FaultReport>,
    /// The plugin's print/debug lines (rhai).
    pub log: Vec<String>,
    pub matched_at: String,
}
