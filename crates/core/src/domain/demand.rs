//! A resident's demand as the operations see it: what is filed, what is kept, the triage
//! record, and the resident's personal data, masked for those who may not see it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    access::Principal, mask_address, mask_name, mask_phone, matching::FaultReport, rules, Channel,
    Check, DemandStatus, ListOrder, Urgency,
};

/// The resident behind a demand: personal data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Resident {
    pub name: String,
    pub phone: String,
    pub address: String,
}

/// The resident as an answer shows them: in full, or masked for those who may not see it.
/// (Masked text does not follow the input rules of [`Resident`].)
#[cfg(feature = "schema")]
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ResidentView {
    name: String,
    phone: String,
    address: String,
}

/// A resident's need.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Demand {
    pub id: Uuid,
    pub street_id: Uuid,
    pub grid_id: Uuid,
    pub category: String,
    pub tags: Vec<String>,
    pub urgency: Urgency,
    pub channel: Channel,
    pub description: String,
    /// In full for the street's admins and grid workers; masked (`张**`, `138****5678`) for
    /// everyone else.
    #[cfg_attr(feature = "schema", schema(value_type = ResidentView))]
    pub resident: Resident,
    /// Whether `resident` is masked in this response.
    pub resident_masked: bool,
    /// When the resident wants the service, RFC 3339.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub status: DemandStatus,
    /// Set when the resident rated the service 2 or less: the street looks at it again.
    pub flagged: bool,
    /// How the street's rule triaged it on intake (absent for demands filed before triage).
    pub triage: Option<Triage>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDemand {
    /// The grid where the service is needed; the demand belongs to its street.
    pub grid_id: Uuid,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Default `normal`.
    pub urgency: Option<Urgency>,
    pub channel: Channel,
    pub description: String,
    pub resident: Resident,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateDemand {
    pub grid_id: Option<Uuid>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub urgency: Option<Urgency>,
    pub description: Option<String>,
    pub resident: Option<Resident>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub window_start: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub window_end: Option<Option<String>>,
    /// `cancelled` withdraws an open or dispatched demand; `open` reopens a cancelled one.
    /// Other statuses are reached through dispatch.
    pub status: Option<DemandStatus>,
}

/// What a demand was filed with, before triage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Filed {
    pub category: String,
    pub urgency: Urgency,
    pub tags: Vec<String>,
}

/// The filters of the demand list.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListDemands {
    pub street_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub status: Option<DemandStatus>,
    pub category: Option<String>,
    pub channel: Option<Channel>,
    pub urgency: Option<Urgency>,
    pub tag: Option<String>,
    /// Only demands flagged by a low rating (or only those not flagged).
    pub flagged: Option<bool>,
    /// Only demands filed at or after this instant (RFC 3339).
    pub filed_from: Option<String>,
    /// Only demands filed before this instant (RFC 3339).
    pub filed_to: Option<String>,
    /// Which end of the list comes first: `oldest` (the default) or `newest`. Pass the same
    /// order with each page's cursor.
    pub order: Option<ListOrder>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// How a demand was triaged on intake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Triage {
    pub rule: TriageRule,
    pub version_id: Option<Uuid>,
    pub version_number: Option<i64>,
    pub content_hash: Option<String>,
    /// What the demand was filed with.
    pub filed: Filed,
    /// The fields the rule changed: `category`, `urgency`, `tags`. Empty: kept as filed.
    pub changed: Vec<String>,
    /// The rule's reason, or why the demand was kept as filed.
    pub note: String,
    /// When the rule faulted and the demand was kept as filed.
    pub fault: Option<FaultReport>,
    pub at: String,
}

crate::str_enum!(
    /// Which rule triaged a demand.
    TriageRule {
        /// The street's rule does not triage: the demand is kept as filed.
        None => "none",
        Rhai => "rhai",
        Wasm => "wasm",
    }
);

impl From<crate::plugin::host::PluginKind> for TriageRule {
    fn from(kind: crate::plugin::host::PluginKind) -> Self {
        match kind {
            crate::plugin::host::PluginKind::Rhai => TriageRule::Rhai,
            crate::plugin::host::PluginKind::Wasm => TriageRule::Wasm,
        }
    }
}

impl Triage {
    /// A line for the demand's event record.
    pub fn summary(&self) -> String {
        let rule = match self.version_number {
            Some(n) => format!("{} v{n}", self.rule),
            None => self.rule.to_string(),
        };
        if let Some(f) = &self.fault {
            return format!("{rule} faulted ({}); kept as filed", f.kind);
        }
        if self.changed.is_empty() {
            return format!("{rule}: kept as filed; {}", self.note);
        }
        format!("{rule}: {} changed; {}", self.changed.join(", "), self.note)
    }
}

/// A demand as `caller` may see it: the resident's data masked unless the caller needs it.
pub fn shown_to(mut demand: Demand, caller: &Principal) -> Demand {
    if !caller.sees_resident_data(demand.street_id) {
        let r = &demand.resident;
        demand.resident = Resident {
            name: mask_name(&r.name),
            phone: mask_phone(&r.phone),
            address: mask_address(&r.address),
        };
        demand.resident_masked = true;
    }
    demand
}

pub fn check_resident(c: &mut Check, r: &Resident) -> Resident {
    Resident {
        name: c.text("resident.name", &r.name, rules::PERSON_NAME),
        phone: c.phone("resident.phone", &r.phone),
        address: c.text("resident.address", &r.address, rules::ADDRESS),
    }
}

/// A demand as matching needs it; no personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandFacts {
    pub id: Uuid,
    pub street: Uuid,
    pub grid: Uuid,
    pub category: String,
    pub tags: Vec<String>,
    pub urgency: Urgency,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub filed_at: String,
    pub status: DemandStatus,
}
