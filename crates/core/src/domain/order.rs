//! Service orders as the operations take and answer them: an order with its offers, the
//! bodies of its transitions, its events, and the filters of their lists.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    demand::Resident,
    matching::{RankedCandidate, RuleUsed},
    CandidateKind, OfferStatus, OrderStatus,
};

/// An offer of an order to one candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Offer {
    pub candidate_kind: CandidateKind,
    pub candidate_id: Uuid,
    /// Position in the ranking, from 0.
    pub rank: i64,
    pub status: OfferStatus,
    pub reason: Option<String>,
    pub offered_at: String,
    pub responded_at: Option<String>,
}

/// A service order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: Uuid,
    pub demand_id: Uuid,
    pub street_id: Uuid,
    pub status: OrderStatus,
    /// The rule that ranked the candidates (with plugin version and content hash).
    pub rule: RuleUsed,
    /// The ranking with its reasons; shown to the street's staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Vec<RankedCandidate>>,
    /// The offers made; shown to the street's staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<Vec<Offer>>,
    pub assignee_kind: Option<CandidateKind>,
    pub assignee_id: Option<Uuid>,
    /// What the demand asks for.
    pub category: String,
    pub description: String,
    pub grid_id: Uuid,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// The resident: in full for the street's staff and, once accepted, the assignee, who
    /// needs to reach them; masked for candidates still deciding.
    #[cfg_attr(feature = "schema", schema(value_type = super::demand::ResidentView))]
    pub resident: Resident,
    pub accepted_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub service_minutes: Option<i64>,
    pub completion_note: Option<String>,
    /// Points earned by completing it: by the street's points rule, else one per hour of
    /// service.
    pub points: Option<f64>,
    /// The rule that awarded them: `builtin`, or the plugin kind and version (`rhai v3`).
    pub points_rule: Option<String>,
    /// Why, as the rule put it.
    pub points_reason: Option<String>,
    /// The resident's rating, 1 to 5.
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<String>,
    /// Until when the current round of offers can be accepted.
    pub accept_deadline: Option<String>,
    /// By when the assignee is to complete it, once accepted.
    pub complete_deadline: Option<String>,
    /// Why the street's rule offered the order to the caller: shown to a volunteer or unit
    /// with an offer on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_because: Option<String>,
    /// Where the caller's own offer on the order stands: for a volunteer or unit with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub your_offer: Option<OfferStatus>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    /// How many of the best-ranked candidates are offered the order at once; the first to
    /// accept wins; 1 offers one after another. 1 to 10; default: the street's setting.
    pub offer_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// Minutes of service given, 1 to 1440.
    pub service_minutes: i64,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: Uuid,
    pub subject_kind: String,
    pub subject_id: Uuid,
    /// The token that acted, or `system`.
    pub actor: String,
    pub action: String,
    pub note: Option<String>,
    pub at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListOrders {
    pub street_id: Option<Uuid>,
    pub demand_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListEvents {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// What a volunteer or a unit has done: its completed orders, their minutes of service and
/// the points they earned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartyTotals {
    pub completed: i64,
    pub service_minutes: i64,
    pub points: f64,
}
