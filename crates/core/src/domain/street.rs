//! Streets (the tenants) and their communities, grids and categories.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A sub-district government office: the tenant that runs the platform for its area.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Street {
    pub id: Uuid,
    /// e.g. 市西街道
    pub name: String,
    /// A short code unique across the district, e.g. `shixi`.
    pub code: String,
    /// The district the street belongs to, e.g. 滨城区.
    pub district: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateStreet {
    pub name: String,
    pub code: String,
    pub district: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateStreet {
    pub name: Option<String>,
    pub code: Option<String>,
    pub district: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListStreets {
    /// Only streets of this district.
    pub district: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// A community (社区) inside a street.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Community {
    pub id: Uuid,
    pub street_id: Uuid,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCommunity {
    pub name: String,
}

/// A grid (网格): the smallest area, with a code unique in its street ("one grid, one code").
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Grid {
    pub id: Uuid,
    pub street_id: Uuid,
    pub community_id: Uuid,
    pub code: String,
    pub name: String,
    /// Households in the grid, if known (300–500 in town).
    pub households: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGrid {
    pub community_id: Uuid,
    pub code: String,
    pub name: String,
    pub households: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGrid {
    pub community_id: Option<Uuid>,
    pub code: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<i64>))]
    pub households: Option<Option<i64>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListGrids {
    pub community_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// A category of service. The built-in taxonomy is the same in every street; a street may add
/// its own.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Category {
    pub code: String,
    pub label: String,
    /// True for the built-in taxonomy, false for the street's own additions.
    pub builtin: bool,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    /// Lowercase letters, digits, `_` and `-`.
    pub code: String,
    pub label: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CategoryList {
    pub items: Vec<Category>,
}
