//! The registry of volunteers (志愿者). A volunteer belongs to the street of its home grid.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::WeeklySlot;

/// A person who accepts and carries out service orders.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Volunteer {
    pub id: Uuid,
    /// The street of the home grid.
    pub street_id: Uuid,
    pub home_grid_id: Uuid,
    pub name: String,
    pub phone: String,
    pub skills: Vec<String>,
    /// The volunteer team, e.g. 党员先锋队.
    pub team: Option<String>,
    /// A party member reporting to the community where they live (双报到).
    pub party_member: bool,
    /// When the volunteer can usually serve, each week.
    pub availability: Vec<WeeklySlot>,
    /// How many orders the volunteer may hold open at once.
    pub max_open_orders: i64,
    /// Whether the volunteer takes orders now.
    pub active: bool,
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateVolunteer {
    pub name: String,
    pub phone: String,
    pub home_grid_id: Uuid,
    #[serde(default)]
    pub skills: Vec<String>,
    pub team: Option<String>,
    #[serde(default)]
    pub party_member: bool,
    #[serde(default)]
    pub availability: Vec<WeeklySlot>,
    /// Default 3.
    pub max_open_orders: Option<i64>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateVolunteer {
    pub name: Option<String>,
    pub phone: Option<String>,
    /// A grid of the same street (moving to another street is a new registration there).
    pub home_grid_id: Option<Uuid>,
    pub skills: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub team: Option<Option<String>>,
    pub party_member: Option<bool>,
    pub availability: Option<Vec<WeeklySlot>>,
    /// Set by the street's admins only.
    pub max_open_orders: Option<i64>,
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListVolunteers {
    pub street_id: Option<Uuid>,
    /// Only volunteers whose home grid is this one.
    pub grid_id: Option<Uuid>,
    pub team: Option<String>,
    /// Only volunteers with this skill.
    pub skill: Option<String>,
    pub party_member: Option<bool>,
    pub active: Option<bool>,
    /// Include archived volunteers (default false).
    pub include_archived: Option<bool>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}
