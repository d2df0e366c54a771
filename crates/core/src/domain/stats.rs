//! The figures streets are judged on: demands received, dispatched, accepted and completed;
//! completion, on-time and satisfaction rates; median times to accept and to complete;
//! escalations and repeat demands — per street, community, grid, category, volunteer or unit,
//! over a time range, as JSON or CSV.

use super::str_enum;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

str_enum!(
    /// What the figures are grouped by.
    GroupBy {
        Street => "street",
        Community => "community",
        Grid => "grid",
        Category => "category",
        Volunteer => "volunteer",
        Unit => "unit",
    }
);

str_enum!(
    /// What `/stats` answers in.
    StatsFormat {
        Json => "json",
        Csv => "csv",
    }
);

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct StatsQuery {
    /// Demands filed at or after this instant (RFC 3339).
    pub from: String,
    /// Demands filed before this instant (RFC 3339).
    pub to: String,
    /// Default `street`.
    pub group_by: Option<GroupBy>,
    /// Only this street (the district sees every street).
    pub street_id: Option<Uuid>,
    /// Default `json`.
    pub format: Option<StatsFormat>,
}

/// The figures of one group.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Figures {
    /// What the group is: a street, community, grid, volunteer or unit id, or a category code.
    pub key: String,
    /// Its name.
    pub label: String,
    pub received: u64,
    pub dispatched: u64,
    pub accepted: u64,
    pub completed: u64,
    /// Completed ÷ received (办结率).
    pub completion_rate: Option<f64>,
    /// Completed on time ÷ completed: by the requested window's end, or by the end of the day
    /// it was filed (当日必达) when no window was asked for.
    pub on_time_rate: Option<f64>,
    pub rated: u64,
    /// Ratings of 4 or 5 ÷ ratings (满意率).
    pub satisfaction_rate: Option<f64>,
    pub median_minutes_to_accept: Option<f64>,
    pub median_minutes_to_complete: Option<f64>,
    pub escalations: u64,
    /// Demands by a resident who asked for the same category within the 30 days before.
    pub repeat_demands: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Stats {
    pub from: String,
    pub to: String,
    pub group_by: GroupBy,
    pub rows: Vec<Figures>,
    /// Over every demand in range and scope.
    pub total: Figures,
}
