//! The registry of co-building units (共建单位). A unit may co-build with several streets.
//! Each handler reads the request, calls one operation of `service::units` and answers.

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
use gongjian_core::domain::unit::{CreateUnit, ListUnits, Unit, UpdateUnit};
use gongjian_core::service::units;
use gongjian_core::{domain::access::Principal, store::page::Page};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_units, create_unit))
        .routes(routes!(get_unit, update_unit, archive_unit))
}

/// Lists units. Street staff see the units co-building with their street; a unit sees itself.
#[utoipa::path(get, path = "/api/v1/units", tag = "units", params(ListUnits),
    responses((status = 200, body = Page<Unit>), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_units(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListUnits>,
) -> AppResult<Json<Page<Unit>>> {
    Ok(Json(units::list_units(&state, &caller, q).await?))
}

/// Registers a co-building unit. The district registers any; a street admin registers units
/// for its own street.
#[utoipa::path(post, path = "/api/v1/units", tag = "units", request_body = CreateUnit,
    responses((status = 201, body = Unit), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_unit(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateUnit>,
) -> AppResult<Created<Unit>> {
    let created = units::create_unit(&state, &caller, body).await?;
    Ok(Created(format!("/api/v1/units/{}", created.id), created))
}

#[utoipa::path(get, path = "/api/v1/units/{id}", tag = "units",
    params(("id" = Uuid, Path, description = "unit id")),
    responses((status = 200, body = Unit), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_unit(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Unit>> {
    let id = path_id("id", &id)?;
    Ok(Json(units::get_unit(&state, &caller, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/units/{id}", tag = "units", request_body = UpdateUnit,
    params(("id" = Uuid, Path, description = "unit id")),
    responses((status = 200, body = Unit), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_unit(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUnit>,
) -> AppResult<Json<Unit>> {
    let id = path_id("id", &id)?;
    Ok(Json(units::update_unit(&state, &caller, id, body).await?))
}

/// Archives a unit: it disappears from listings, its tokens stop working, its history stays.
#[utoipa::path(delete, path = "/api/v1/units/{id}", tag = "units",
    params(("id" = Uuid, Path, description = "unit id")),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn archive_unit(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("id", &id)?;
    units::archive_unit(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
