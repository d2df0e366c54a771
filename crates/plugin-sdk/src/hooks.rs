//! The hooks a plugin may add to its ranking (contract 1.1.0): triage of a new demand and a
//! points rule for completed orders. Both are small, so their requests are plain owned data.

use serde::{Deserialize, Serialize};

use crate::{CandidateKind, Urgency};

/// One of the street's categories.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// The code, e.g. `repair`.
    pub code: String,
    /// The label, e.g. `维修服务`.
    pub label: String,
}

/// A demand as filed, for triage. It carries no personal data: the host removes the
/// resident's name, phone and address from the description, and anything that looks like a
/// phone or ID number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriageRequest {
    /// The street's code.
    pub street: String,
    /// Category code.
    pub category: String,
    /// The category's label.
    pub category_label: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Urgency.
    pub urgency: Urgency,
    /// How it reached the street: `hotline`, `grid_worker`, `visit`, `app`, `api`, `other`.
    pub channel: String,
    /// What the resident needs, in the filer's words.
    pub description: String,
    /// Grid.
    pub grid: String,
    /// Community of the grid.
    pub community: String,
    /// Start of the requested window, seconds since the Unix epoch.
    pub window_start: Option<i64>,
    /// End of the requested window, seconds since the Unix epoch.
    pub window_end: Option<i64>,
    /// When it was filed, seconds since the Unix epoch.
    pub filed_at: i64,
    /// The categories a decision may choose from.
    pub categories: Vec<Category>,
    /// The plugin version's configuration document, JSON.
    pub config: String,
    /// The current time, seconds since the Unix epoch.
    pub now: i64,
}

impl TriageRequest {
    /// The configuration document parsed into `T`.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        crate::request::parse_config(&self.config)
    }

    /// Whether the demand was filed with `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Whether `code` is one of the street's categories.
    pub fn is_category(&self, code: &str) -> bool {
        self.categories.iter().any(|c| c.code == code)
    }
}

/// A triage correction. A field left as `None` keeps what was filed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriageDecision {
    /// A category code of the street.
    pub category: Option<String>,
    /// A new urgency.
    pub urgency: Option<Urgency>,
    /// New tags, replacing those filed: at most 20, each 1 to 32 characters.
    pub tags: Option<Vec<String>>,
    /// Why, for the street's staff; at most 200 bytes.
    pub note: String,
}

/// A completed order, for the points rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PointsRequest {
    /// The street's code.
    pub street: String,
    /// Category code of the demand.
    pub category: String,
    /// Urgency of the demand.
    pub urgency: Urgency,
    /// Who did the work.
    pub assignee_kind: CandidateKind,
    /// Minutes of service recorded.
    pub service_minutes: u32,
    /// When the demand was filed, seconds since the Unix epoch.
    pub filed_at: i64,
    /// When the order was accepted.
    pub accepted_at: i64,
    /// When it was completed.
    pub completed_at: i64,
    /// The deadline it was to be completed by, if it had one.
    pub complete_by: Option<i64>,
    /// How many times the case was escalated.
    pub escalations: u32,
    /// Orders the assignee completed in this street before this one.
    pub completed_before: u32,
    /// The plugin version's configuration document, JSON.
    pub config: String,
}

impl Default for PointsRequest {
    fn default() -> Self {
        PointsRequest {
            street: String::new(),
            category: String::new(),
            urgency: Urgency::Normal,
            assignee_kind: CandidateKind::Volunteer,
            service_minutes: 0,
            filed_at: 0,
            accepted_at: 0,
            completed_at: 0,
            complete_by: None,
            escalations: 0,
            completed_before: 0,
            config: String::new(),
        }
    }
}

impl PointsRequest {
    /// The configuration document parsed into `T`.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        crate::request::parse_config(&self.config)
    }

    /// Whether it was completed by its deadline (or had none).
    pub fn on_time(&self) -> bool {
        self.complete_by.is_none_or(|by| self.completed_at <= by)
    }

    /// The host's default: one point per hour of service.
    pub fn default_points(&self) -> f64 {
        f64::from(self.service_minutes) / 60.0
    }
}

/// Points awarded for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Award {
    /// At least 0, at most 1000, finite.
    pub points: f64,
    /// Why; at most 200 bytes.
    pub reason: String,
}

impl Award {
    /// An award of `points` for `reason`.
    pub fn new(points: f64, reason: impl Into<String>) -> Self {
        Award {
            points,
            reason: reason.into(),
        }
    }
}
