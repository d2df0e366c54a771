//! The project list (项目清单): larger pieces of work a street publishes for co-building units
//! to claim (项目发包), bundling demands and the resources put against them.

use super::{ListOrder, ProjectStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Project {
    pub id: Uuid,
    pub street_id: Uuid,
    pub title: String,
    pub description: String,
    pub goal: String,
    /// Budget in fen (1/100 yuan).
    pub budget_fen: i64,
    pub status: ProjectStatus,
    /// The unit that claimed it.
    pub claimed_by_unit_id: Option<Uuid>,
    pub progress_note: Option<String>,
    /// The street's evaluation when the project was done.
    pub evaluation: Option<String>,
    /// 1 to 5.
    pub evaluation_score: Option<i64>,
    pub completed_at: Option<String>,
    pub demand_ids: Vec<Uuid>,
    pub resource_ids: Vec<Uuid>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub street_id: Uuid,
    pub title: String,
    pub description: String,
    pub goal: String,
    #[serde(default)]
    pub budget_fen: i64,
    /// Demands of the same street.
    #[serde(default)]
    pub demand_ids: Vec<Uuid>,
    /// Resources serving the street.
    #[serde(default)]
    pub resource_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub title: Option<String>,
    pub description: Option<String>,
    pub goal: Option<String>,
    pub budget_fen: Option<i64>,
    pub demand_ids: Option<Vec<Uuid>>,
    pub resource_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub progress_note: Option<Option<String>>,
    /// draft ⇄ published (while unclaimed), claimed → in_progress → done.
    pub status: Option<ProjectStatus>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListProjects {
    pub street_id: Option<Uuid>,
    pub status: Option<ProjectStatus>,
    pub claimed_by_unit_id: Option<Uuid>,
    /// Which end of the list comes first: `oldest` (the default) or `newest`. Pass the same
    /// order with each page's cursor.
    pub order: Option<ListOrder>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProgressReport {
    pub note: String,
    /// Marks a claimed project as started.
    #[serde(default)]
    pub start: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ProjectUpdate {
    pub id: Uuid,
    pub note: String,
    /// The token that reported it.
    pub by: String,
    pub at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectEvaluation {
    pub evaluation: String,
    /// 1 to 5.
    pub score: i64,
}
