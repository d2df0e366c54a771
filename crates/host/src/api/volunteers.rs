//! The registry of volunteers (志愿者). A volunteer belongs to the street of its home grid.
//! Each handler reads the request, calls one operation of `service::volunteers` and answers.

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
use gongjian_core::domain::volunteer::{
    CreateVolunteer, ListVolunteers, UpdateVolunteer, Volunteer,
};
use gongjian_core::service::volunteers;
use gongjian_core::{domain::access::Principal, store::page::Page};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_volunteers, create_volunteer))
        .routes(routes!(get_volunteer, update_volunteer, archive_volunteer))
}

#[utoipa::path(get, path = "/api/v1/volunteers", tag = "volunteers", params(ListVolunteers),
    responses((status = 200, body = Page<Volunteer>), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_volunteers(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListVolunteers>,
) -> AppResult<Json<Page<Volunteer>>> {
    Ok(Json(volunteers::list_volunteers(&state, &caller, q).await?))
}

/// Registers a volunteer in the street of its home grid.
#[utoipa::path(post, path = "/api/v1/volunteers", tag = "volunteers", request_body = CreateVolunteer,
    responses((status = 201, body = Volunteer), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_volunteer(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateVolunteer>,
) -> AppResult<Created<Volunteer>> {
    let created = volunteers::create_volunteer(&state, &caller, body).await?;
    Ok(Created(
        format!("/api/v1/volunteers/{}", created.id),
        created,
    ))
}

#[utoipa::path(get, path = "/api/v1/volunteers/{id}", tag = "volunteers",
    params(("id" = Uuid, Path, description = "volunteer id")),
    responses((status = 200, body = Volunteer), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_volunteer(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Volunteer>> {
    let id = path_id("id", &id)?;
    Ok(Json(volunteers::get_volunteer(&state, &caller, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/volunteers/{id}", tag = "volunteers", request_body = UpdateVolunteer,
    params(("id" = Uuid, Path, description = "volunteer id")),
    responses((status = 200, body = Volunteer), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_volunteer(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateVolunteer>,
) -> AppResult<Json<Volunteer>> {
    let id = path_id("id", &id)?;
    Ok(Json(
        volunteers::update_volunteer(&state, &caller, id, body).await?,
    ))
}

/// Archives a volunteer: hidden from listings, no longer matched, its tokens stop working.
#[utoipa::path(delete, path = "/api/v1/volunteers/{id}", tag = "volunteers",
    params(("id" = Uuid, Path, description = "volunteer id")),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn archive_volunteer(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("id", &id)?;
    volunteers::archive_volunteer(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
