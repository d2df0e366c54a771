//! The project list (项目清单): larger pieces of work a street publishes for co-building units
//! to claim (项目发包), bundling demands and the resources put against them.
//! Each handler reads the request, calls one operation of `service::projects` and answers.

use super::Created;
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use gongjian_core::domain::project::{
    CreateProject, ListProjects, ProgressReport, Project, ProjectEvaluation, ProjectUpdate,
    UpdateProject,
};
use gongjian_core::service::projects;
use gongjian_core::store::page::ListPage;
use gongjian_core::{domain::access::Principal, store::page::Page};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(claim_project))
        .routes(routes!(list_updates, report_progress))
        .routes(routes!(complete_project))
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListProjects),
    responses((status = 200, body = Page<Project>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_projects(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListProjects>,
) -> AppResult<Json<Page<Project>>> {
    Ok(Json(projects::list_projects(&state, &caller, q).await?))
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
    let created = projects::create_project(&state, &caller, body).await?;
    Ok(Created(format!("/api/v1/projects/{}", created.id), created))
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
    Ok(Json(projects::get_project(&state, &caller, id).await?))
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
    let id = path_id("id", &id)?;
    Ok(Json(
        projects::update_project(&state, &caller, id, body).await?,
    ))
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
    let id = path_id("id", &id)?;
    projects::delete_project(&state, &caller, id).await?;
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
    let id = path_id("id", &id)?;
    Ok(Json(projects::claim_project(&state, &caller, id).await?))
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
    let id = path_id("id", &id)?;
    let created = projects::report_progress(&state, &caller, id, body).await?;
    Ok(Created(format!("/api/v1/projects/{id}/updates"), created))
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
    Ok(Json(projects::list_updates(&state, &caller, id, q).await?))
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
    let id = path_id("id", &id)?;
    Ok(Json(
        projects::complete_project(&state, &caller, id, body).await?,
    ))
}
