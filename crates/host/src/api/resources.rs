//! The resource list (资源清单): what units and volunteers offer, where and when, and how much
//! of it is left.
//! Each handler reads the request, calls one operation of `service::resources` and answers.

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
use gongjian_core::domain::resource::{CreateResource, ListResources, Resource, UpdateResource};
use gongjian_core::service::resources;
use gongjian_core::{domain::access::Principal, store::page::Page};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_resources, create_resource))
        .routes(routes!(get_resource, update_resource, archive_resource))
}

#[utoipa::path(get, path = "/api/v1/resources", tag = "resources", params(ListResources),
    responses((status = 200, body = Page<Resource>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_resources(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListResources>,
) -> AppResult<Json<Page<Resource>>> {
    Ok(Json(resources::list_resources(&state, &caller, q).await?))
}

/// Registers a resource on offer.
#[utoipa::path(post, path = "/api/v1/resources", tag = "resources", request_body = CreateResource,
    responses((status = 201, body = Resource), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem, description = "The unit or volunteer named is archived"),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_resource(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateResource>,
) -> AppResult<Created<Resource>> {
    let created = resources::create_resource(&state, &caller, body).await?;
    Ok(Created(
        format!("/api/v1/resources/{}", created.id),
        created,
    ))
}

#[utoipa::path(get, path = "/api/v1/resources/{id}", tag = "resources",
    params(("id" = Uuid, Path, description = "resource id")),
    responses((status = 200, body = Resource), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_resource(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Resource>> {
    let id = path_id("id", &id)?;
    Ok(Json(resources::get_resource(&state, &caller, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/resources/{id}", tag = "resources", request_body = UpdateResource,
    params(("id" = Uuid, Path, description = "resource id")),
    responses((status = 200, body = Resource), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_resource(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateResource>,
) -> AppResult<Json<Resource>> {
    let id = path_id("id", &id)?;
    Ok(Json(
        resources::update_resource(&state, &caller, id, body).await?,
    ))
}

/// Archives a resource: it is no longer offered or matched; its history stays.
#[utoipa::path(delete, path = "/api/v1/resources/{id}", tag = "resources",
    params(("id" = Uuid, Path, description = "resource id")),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn archive_resource(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("id", &id)?;
    resources::archive_resource(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
