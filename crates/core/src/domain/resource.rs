//! The resource list (资源清单): what units and volunteers offer, where and when, and how much
//! of it is left.

use super::{str_enum, ListOrder, ResourceStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Something on offer: a service, a venue, equipment, money or skills.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Resource {
    pub id: Uuid,
    /// Set when a co-building unit offers it.
    pub owner_unit_id: Option<Uuid>,
    /// Set when a volunteer offers it.
    pub owner_volunteer_id: Option<Uuid>,
    pub title: String,
    pub category: String,
    pub tags: Vec<String>,
    pub description: Option<String>,
    /// How many times it can be used (people served, sessions, seats).
    pub capacity: i64,
    /// What is left of the capacity.
    pub capacity_left: i64,
    /// The streets it serves.
    pub street_ids: Vec<Uuid>,
    /// The grids it serves within those streets; empty means all of them.
    pub served_grid_ids: Vec<Uuid>,
    pub available_from: Option<String>,
    pub available_until: Option<String>,
    pub status: ResourceStatus,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateResource {
    /// The offering unit; a unit's own token may leave it out.
    pub owner_unit_id: Option<Uuid>,
    /// The offering volunteer; a volunteer's own token may leave it out.
    pub owner_volunteer_id: Option<Uuid>,
    pub title: String,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub description: Option<String>,
    /// At least 1.
    pub capacity: i64,
    /// The streets served. For a volunteer, defaults to the volunteer's street.
    #[serde(default)]
    pub street_ids: Vec<Uuid>,
    #[serde(default)]
    pub served_grid_ids: Vec<Uuid>,
    /// RFC 3339.
    pub available_from: Option<String>,
    /// RFC 3339, after `available_from`.
    pub available_until: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateResource {
    pub title: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub description: Option<Option<String>>,
    /// Changing the capacity moves what is left by the same amount; it may not go below what
    /// is already in use.
    pub capacity: Option<i64>,
    pub street_ids: Option<Vec<Uuid>>,
    pub served_grid_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub available_from: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub available_until: Option<Option<String>>,
    /// Pause or resume matching (archive with DELETE).
    pub status: Option<StatusChange>,
}

str_enum!(
    /// The statuses an edit may set: archiving is DELETE, and for good.
    StatusChange {
        Active => "active",
        Paused => "paused",
    }
);

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListResources {
    /// Only resources serving this street.
    pub street_id: Option<Uuid>,
    /// Only resources serving this grid (explicitly or by serving all grids of its street).
    pub grid_id: Option<Uuid>,
    pub owner_unit_id: Option<Uuid>,
    pub owner_volunteer_id: Option<Uuid>,
    pub category: Option<String>,
    pub tag: Option<String>,
    /// Default: everything but archived.
    pub status: Option<ResourceStatus>,
    /// Which end of the list comes first: `oldest` (the default) or `newest`. Pass the same
    /// order with each page's cursor.
    pub order: Option<ListOrder>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}
