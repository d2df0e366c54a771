//! The project list (项目清单): larger pieces of work a street publishes for co-building units
//! to claim (项目发包), bundling demands and the resources put against them.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use gongjian_core::Error;
use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, Row};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{get_opt_uuid, get_uuid, links, push_in, require_street, streets::ListPage, Created};
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::{
    domain::access::Principal,
    domain::access::{Action, ListScope, Target},
    domain::{Check, ProjectStatus},
    store::db::Sql,
    store::page::{Page, PageRequest},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(claim_project))
        .routes(routes!(list_updates, report_progress))
        .routes(routes!(complete_project))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Deserialize, ToSchema)]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub title: Option<String>,
    pub description: Option<String>,
    pub goal: Option<String>,
    pub budget_fen: Option<i64>,
    pub demand_ids: Option<Vec<Uuid>>,
    pub resource_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "gongjian_core::domain::double_option")]
    #[schema(value_type = Option<String>)]
    pub progress_note: Option<Option<String>>,
    /// draft ⇄ published (while unclaimed), claimed → in_progress → done.
    pub status: Option<ProjectStatus>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProjects {
    pub street_id: Option<Uuid>,
    pub status: Option<ProjectStatus>,
    pub claimed_by_unit_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn project_from_row(
    row: &AnyRow,
    demand_ids: Vec<Uuid>,
    resource_ids: Vec<Uuid>,
) -> AppResult<Project> {
    Ok(Project {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        goal: row.try_get("goal")?,
        budget_fen: row.try_get("budget_fen")?,
        status: ProjectStatus::from_db(&row.try_get::<String, _>("status")?)?,
        claimed_by_unit_id: get_opt_uuid(row, "claimed_by_unit_id")?,
        progress_note: row.try_get("progress_note")?,
        evaluation: row.try_get("evaluation")?,
        evaluation_score: row.try_get("evaluation_score")?,
        completed_at: row.try_get("completed_at")?,
        demand_ids,
        resource_ids,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Builds projects from rows, reading their links with one query per link table.
async fn projects_from_rows(db: &sqlx::AnyPool, rows: &[AnyRow]) -> AppResult<Vec<Project>> {
    let ids = rows
        .iter()
        .map(|r| get_uuid(r, "id"))
        .collect::<gongjian_core::Result<Vec<_>>>()?;
    let mut demands = links(db, "project_demands", "project_id", "demand_id", &ids).await?;
    let mut resources = links(db, "project_resources", "project_id", "resource_id", &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            project_from_row(
                row,
                demands.remove(id).unwrap_or_default(),
                resources.remove(id).unwrap_or_default(),
            )
        })
        .collect()
}

async fn fetch_project(db: &sqlx::AnyPool, id: Uuid) -> AppResult<Project> {
    let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let mut projects = projects_from_rows(db, std::slice::from_ref(&row)).await?;
    Ok(projects.remove(0))
}

fn target(p: &Project) -> Target<'static> {
    Target::Project {
        street: p.street_id,
        status: p.status,
        claimed_by: p.claimed_by_unit_id,
    }
}

/// Checks that the demands belong to the street and the resources serve it.
async fn check_links(
    db: &sqlx::AnyPool,
    street: Uuid,
    demands: &[Uuid],
    resources: &[Uuid],
) -> AppResult<()> {
    for (i, d) in demands.iter().enumerate() {
        let row = sqlx::query("SELECT 1 FROM demands WHERE id = $1 AND street_id = $2")
            .bind(d.to_string())
            .bind(street.to_string())
            .fetch_optional(db)
            .await?;
        if row.is_none() {
            return Err(Error::field(
                format!("demand_ids[{i}]"),
                "unknown_reference",
                "no demand of this street has this id",
            )
            .into());
        }
    }
    for (i, r) in resources.iter().enumerate() {
        let row =
            sqlx::query("SELECT 1 FROM resource_streets WHERE resource_id = $1 AND street_id = $2")
                .bind(r.to_string())
                .bind(street.to_string())
                .fetch_optional(db)
                .await?;
        if row.is_none() {
            return Err(Error::field(
                format!("resource_ids[{i}]"),
                "unknown_reference",
                "no resource serving this street has this id",
            )
            .into());
        }
    }
    Ok(())
}

async fn write_links(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: Uuid,
    demands: Option<&[Uuid]>,
    resources: Option<&[Uuid]>,
) -> AppResult<()> {
    for (table, column, ids) in [
        ("project_demands", "demand_id", demands),
        ("project_resources", "resource_id", resources),
    ] {
        let Some(ids) = ids else { continue };
        sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1"))
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        for x in ids {
            sqlx::query(&format!(
                "INSERT INTO {table} (project_id, {column}) VALUES ($1, $2)"
            ))
            .bind(id.to_string())
            .bind(x.to_string())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListProjects),
    responses((status = 200, body = Page<Project>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_projects(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListProjects>,
) -> AppResult<Json<Page<Project>>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM projects WHERE 1 = 1");
    let (members, staff, claimant) = caller.project_scope();
    if let ListScope::Streets(member_streets) = members {
        // Published and later projects of the caller's streets, drafts of streets it staffs,
        // and whatever it claimed.
        sql.push(" AND ((status <> 'draft'");
        push_in(&mut sql, "street_id", &member_streets);
        sql.push(")");
        if let Some(ListScope::Streets(staff_streets)) = staff {
            sql.push(" OR (1 = 1");
            push_in(&mut sql, "street_id", &staff_streets);
            sql.push(")");
        }
        if let Some(unit) = claimant {
            sql.push(" OR claimed_by_unit_id = ").bind(unit.to_string());
        }
        sql.push(")");
    }
    if let Some(street) = q.street_id {
        sql.push(" AND street_id = ").bind(street.to_string());
    }
    if let Some(status) = q.status {
        sql.push(" AND status = ").bind(status.as_str().to_string());
    }
    if let Some(unit) = q.claimed_by_unit_id {
        sql.push(" AND claimed_by_unit_id = ")
            .bind(unit.to_string());
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = projects_from_rows(state.db.read(), &rows).await?;
    Ok(Json(page.finish(items, |p| p.id)))
}

/// Drafts a project (the street's admins).
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, body = Project), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_project(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateProject>,
) -> AppResult<Created<Project>> {
    let db = state.db.write();
    let mut c = Check::new();
    let title = c.text("title", &body.title, rules::TITLE);
    let description = c.text("description", &body.description, rules::PROJECT_DESCRIPTION);
    let goal = c.text("goal", &body.goal, rules::GOAL);
    let budget = c.range_i64("budget_fen", body.budget_fen, rules::BUDGET_FEN);
    let demands = body.demand_ids;
    c.ids("demand_ids", &demands, rules::LINKED_IDS);
    let resources = body.resource_ids;
    c.ids("resource_ids", &resources, rules::LINKED_IDS);
    c.finish()?;
    require_street(db, body.street_id)
        .await
        .map_err(|_| Error::field("street_id", "unknown_reference", "no street has this id"))?;
    caller.authorize(
        Action::Create,
        Target::Project {
            street: body.street_id,
            status: ProjectStatus::Draft,
            claimed_by: None,
        },
    )?;
    check_links(db, body.street_id, &demands, &resources).await?;
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO projects (id, street_id, title, description, goal, budget_fen, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7)",
    )
    .bind(id.to_string())
    .bind(body.street_id.to_string())
    .bind(title)
    .bind(description)
    .bind(goal)
    .bind(budget)
    .bind(state.now_ts())
    .execute(&mut *tx)
    .await?;
    write_links(&mut tx, id, Some(&demands), Some(&resources)).await?;
    tx.commit().await?;
    Ok(Created(
        format!("/api/v1/projects/{id}"),
        fetch_project(db, id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = Uuid, Path, description = "project id")),
    responses((status = 200, body = Project), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_project(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Project>> {
    let id = path_id("id", &id)?;
    let project = fetch_project(state.db.read(), id).await?;
    caller.authorize(Action::Read, target(&project))?;
    Ok(Json(project))
}

#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", request_body = UpdateProject,
    params(("id" = Uuid, Path, description = "project id")),
    responses((status = 200, body = Project), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_project(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> AppResult<Json<Project>> {
    let db = state.db.write();
    let id = path_id("id", &id)?;
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Update, target(&cur))?;
    let mut c = Check::new();
    let title = body
        .title
        .map(|v| c.text("title", &v, rules::TITLE))
        .unwrap_or(cur.title);
    let description = body
        .description
        .map(|v| c.text("description", &v, rules::PROJECT_DESCRIPTION))
        .unwrap_or(cur.description);
    let goal = body
        .goal
        .map(|v| c.text("goal", &v, rules::GOAL))
        .unwrap_or(cur.goal);
    let budget = body
        .budget_fen
        .map(|v| c.range_i64("budget_fen", v, rules::BUDGET_FEN))
        .unwrap_or(cur.budget_fen);
    let progress = match body.progress_note {
        Some(v) => c.opt_text("progress_note", v.as_deref(), rules::REPORT),
        None => cur.progress_note,
    };
    let demands = body.demand_ids;
    if let Some(d) = &demands {
        c.ids("demand_ids", d, rules::LINKED_IDS);
    }
    let resources = body.resource_ids;
    if let Some(r) = &resources {
        c.ids("resource_ids", r, rules::LINKED_IDS);
    }
    c.finish()?;
    use ProjectStatus::*;
    let status = match body.status {
        None => cur.status,
        Some(next) if next == cur.status => next,
        Some(next) => match (cur.status, next) {
            (Draft, Published)
            | (Published, Draft)
            | (Claimed, InProgress)
            | (InProgress, Done) => next,
            (from, to) => {
                return Err(Error::Conflict {
                    code: "invalid_transition",
                    message: format!("a project cannot go from {from} to {to}"),
                    field: Some("status".into()),
                }
                .into())
            }
        },
    };
    check_links(
        db,
        cur.street_id,
        demands.as_deref().unwrap_or(&[]),
        resources.as_deref().unwrap_or(&[]),
    )
    .await?;
    let mut tx = db.begin().await?;
    // Guarded by the status read above, so a concurrent claim is not overwritten.
    let updated = sqlx::query(
        "UPDATE projects SET title = $1, description = $2, goal = $3, budget_fen = $4, progress_note = $5, \
         status = $6, updated_at = $7 WHERE id = $8 AND status = $9",
    )
    .bind(title)
    .bind(description)
    .bind(goal)
    .bind(budget)
    .bind(progress)
    .bind(status.as_str())
    .bind(state.now_ts())
    .bind(id.to_string())
    .bind(cur.status.as_str())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::conflict(
            "concurrent_change",
            "the project changed meanwhile; read it again",
        )
        .into());
    }
    write_links(&mut tx, id, demands.as_deref(), resources.as_deref()).await?;
    tx.commit().await?;
    Ok(Json(fetch_project(db, id).await?))
}

/// Deletes a draft project.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = Uuid, Path, description = "project id")),
    responses((status = 204), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn delete_project(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let db = state.db.write();
    let id = path_id("id", &id)?;
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Delete, target(&cur))?;
    if cur.status != ProjectStatus::Draft {
        return Err(
            Error::conflict("invalid_transition", "only a draft project can be deleted").into(),
        );
    }
    let mut tx = db.begin().await?;
    write_links(&mut tx, id, Some(&[]), Some(&[])).await?;
    sqlx::query("DELETE FROM projects WHERE id = $1 AND status = 'draft'")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Claims a published project for the calling unit (认领). Exactly one unit wins.
#[utoipa::path(post, path = "/api/v1/projects/{id}/claim", tag = "projects",
    params(("id" = Uuid, Path, description = "project id")),
    responses((status = 200, body = Project), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn claim_project(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Project>> {
    let db = state.db.write();
    let id = path_id("id", &id)?;
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    let unit = caller.claimant_for(cur.street_id)?;
    let claimed = sqlx::query(
        "UPDATE projects SET status = 'claimed', claimed_by_unit_id = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'published'",
    )
    .bind(unit.to_string())
    .bind(state.now_ts())
    .bind(id.to_string())
    .execute(db)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_claimable",
            "the project is not published or was claimed already",
        )
        .into());
    }
    Ok(Json(fetch_project(db, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressReport {
    pub note: String,
    /// Marks a claimed project as started.
    #[serde(default)]
    pub start: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectUpdate {
    pub id: Uuid,
    pub note: String,
    /// The token that reported it.
    pub by: String,
    pub at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectEvaluation {
    pub evaluation: String,
    /// 1 to 5.
    pub score: i64,
}

/// Reports progress on a claimed project (the claiming unit, or the street's admins); with
/// `start`, the project moves from claimed to in progress.
#[utoipa::path(post, path = "/api/v1/projects/{id}/updates", tag = "projects", request_body = ProgressReport,
    params(("id" = Uuid, Path, description = "project id")),
    responses((status = 201, body = ProjectUpdate), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn report_progress(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProgressReport>,
) -> AppResult<Created<ProjectUpdate>> {
    let db = state.db.write();
    let id = path_id("id", &id)?;
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    caller.authorize_project_progress(cur.street_id, cur.claimed_by_unit_id)?;
    let mut c = Check::new();
    let note = c.text("note", &body.note, rules::REPORT);
    c.finish()?;
    let ok = matches!(
        (cur.status, body.start),
        (ProjectStatus::Claimed, true)
            | (ProjectStatus::Claimed | ProjectStatus::InProgress, false)
    );
    if !ok {
        return Err(Error::conflict(
            "invalid_transition",
            format!("progress is not reported on a {} project", cur.status),
        )
        .into());
    }
    let now = state.now_ts();
    let update = Uuid::now_v7();
    let mut tx = db.begin().await?;
    let status = if body.start {
        ProjectStatus::InProgress
    } else {
        cur.status
    };
    let moved = sqlx::query("UPDATE projects SET progress_note = $1, status = $2, updated_at = $3 WHERE id = $4 AND status = $5")
        .bind(note.clone())
        .bind(status.as_str())
        .bind(now.clone())
        .bind(id.to_string())
        .bind(cur.status.as_str())
        .execute(&mut *tx)
        .await?;
    if moved.rows_affected() == 0 {
        return Err(Error::conflict(
            "concurrent_change",
            "the project changed meanwhile; read it again",
        )
        .into());
    }
    sqlx::query("INSERT INTO project_updates (id, project_id, by_token, note, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(update.to_string())
        .bind(id.to_string())
        .bind(caller.token_id.to_string())
        .bind(note.clone())
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Created(
        format!("/api/v1/projects/{id}/updates"),
        ProjectUpdate {
            id: update,
            note,
            by: caller.token_id.to_string(),
            at: now,
        },
    ))
}

/// The progress reported on a project, oldest first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/updates", tag = "projects",
    params(("id" = Uuid, Path, description = "project id"), ListPage),
    responses((status = 200, body = Page<ProjectUpdate>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_updates(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListPage>,
) -> AppResult<Json<Page<ProjectUpdate>>> {
    let id = path_id("id", &id)?;
    let cur = fetch_project(state.db.read(), id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM project_updates WHERE project_id = ");
    sql.bind(id.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(ProjectUpdate {
                id: get_uuid(r, "id")?,
                note: r.try_get("note")?,
                by: r.try_get("by_token")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |u| u.id)))
}

/// Completes a project in progress with the street's evaluation (the street's admins).
#[utoipa::path(post, path = "/api/v1/projects/{id}/complete", tag = "projects", request_body = ProjectEvaluation,
    params(("id" = Uuid, Path, description = "project id")),
    responses((status = 200, body = Project), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn complete_project(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProjectEvaluation>,
) -> AppResult<Json<Project>> {
    let db = state.db.write();
    let id = path_id("id", &id)?;
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Update, target(&cur))?;
    let mut c = Check::new();
    let evaluation = c.text("evaluation", &body.evaluation, rules::REPORT);
    let score = c.range_i64("score", body.score, rules::RATING);
    c.finish()?;
    let now = state.now_ts();
    let done = sqlx::query(
        "UPDATE projects SET status = 'done', evaluation = $1, evaluation_score = $2, completed_at = $3, updated_at = $3 \
         WHERE id = $4 AND status = 'in_progress'",
    )
    .bind(evaluation)
    .bind(score)
    .bind(now)
    .bind(id.to_string())
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::conflict(
            "invalid_transition",
            format!("a {} project cannot be completed", cur.status),
        )
        .into());
    }
    Ok(Json(fetch_project(db, id).await?))
}
