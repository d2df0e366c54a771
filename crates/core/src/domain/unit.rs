//! The registry of co-building units (共建单位). A unit may co-build with several streets.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::UnitKind;

/// An organisation that signed up to serve one or more streets.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Unit {
    pub id: Uuid,
    pub name: String,
    pub kind: UnitKind,
    pub contact_name: String,
    pub contact_phone: String,
    pub address: Option<String>,
    pub description: Option<String>,
    /// The streets the unit co-builds with.
    pub street_ids: Vec<Uuid>,
    /// When the unit was archived; archived units are hidden from listings by default.
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUnit {
    pub name: String,
    pub kind: UnitKind,
    pub contact_name: String,
    pub contact_phone: String,
    pub address: Option<String>,
    pub description: Option<String>,
    /// At least one street.
    pub street_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUnit {
    pub name: Option<String>,
    pub kind: Option<UnitKind>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub description: Option<Option<String>>,
    pub street_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListUnits {
    /// Only units co-building with this street.
    pub street_id: Option<Uuid>,
    pub kind: Option<UnitKind>,
    /// Include archived units (default false).
    pub include_archived: Option<bool>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}
