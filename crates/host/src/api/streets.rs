//! Streets (the tenants) and their communities, grids and categories.
//! Each handler reads the request, calls one operation of `service::streets` and answers.

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
use gongjian_core::domain::street::{
    Category, CategoryList, Community, CreateCategory, CreateCommunity, CreateGrid, CreateStreet,
    Grid, ListGrids, ListStreets, Street, UpdateGrid, UpdateStreet,
};
use gongjian_core::service::streets;
use gongjian_core::store::page::ListPage;
use gongjian_core::{domain::access::Principal, store::page::Page};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streets, create_street))
        .routes(routes!(get_street, update_street))
        .routes(routes!(list_communities, create_community))
        .routes(routes!(update_community, delete_community))
        .routes(routes!(list_grids, create_grid))
        .routes(routes!(get_grid, update_grid, delete_grid))
        .routes(routes!(list_categories, create_category))
}

/// Lists streets. Every caller may read the map of streets.
#[utoipa::path(get, path = "/api/v1/streets", tag = "streets", params(ListStreets),
    responses((status = 200, body = Page<Street>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_streets(
    State(state): State<AppState>,
    _caller: Principal,
    ApiQuery(q): ApiQuery<ListStreets>,
) -> AppResult<Json<Page<Street>>> {
    Ok(Json(streets::list_streets(&state, &_caller, q).await?))
}

/// Registers a street (district admins only).
#[utoipa::path(post, path = "/api/v1/streets", tag = "streets", request_body = CreateStreet,
    responses((status = 201, body = Street), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_street(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateStreet>,
) -> AppResult<Created<Street>> {
    let created = streets::create_street(&state, &caller, body).await?;
    Ok(Created(format!("/api/v1/streets/{}", created.id), created))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = Street), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_street(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Street>> {
    let id = path_id("id", &id)?;
    Ok(Json(streets::get_street(&state, &caller, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/streets/{id}", tag = "streets", request_body = UpdateStreet,
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = Street), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_street(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateStreet>,
) -> AppResult<Json<Street>> {
    let id = path_id("id", &id)?;
    Ok(Json(
        streets::update_street(&state, &caller, id, body).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/communities", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ListPage),
    responses((status = 200, body = Page<Community>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_communities(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiQuery(q): ApiQuery<ListPage>,
) -> AppResult<Json<Page<Community>>> {
    let street = path_id("id", &street)?;
    Ok(Json(
        streets::list_communities(&state, &caller, street, q).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/streets/{id}/communities", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")), request_body = CreateCommunity,
    responses((status = 201, body = Community), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_community(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiJson(body): ApiJson<CreateCommunity>,
) -> AppResult<Created<Community>> {
    let street = path_id("id", &street)?;
    let created = streets::create_community(&state, &caller, street, body).await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/communities/{}", created.id),
        created,
    ))
}

#[utoipa::path(patch, path = "/api/v1/streets/{id}/communities/{community_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("community_id" = Uuid, Path)),
    request_body = CreateCommunity,
    responses((status = 200, body = Community), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_community(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateCommunity>,
) -> AppResult<Json<Community>> {
    let street = path_id("id", &street)?;
    let id = path_id("community_id", &id)?;
    Ok(Json(
        streets::update_community(&state, &caller, street, id, body).await?,
    ))
}

/// Deletes a community that has no grids.
#[utoipa::path(delete, path = "/api/v1/streets/{id}/communities/{community_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("community_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn delete_community(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let street = path_id("id", &street)?;
    let id = path_id("community_id", &id)?;
    streets::delete_community(&state, &caller, street, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/grids", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ListGrids),
    responses((status = 200, body = Page<Grid>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_grids(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiQuery(q): ApiQuery<ListGrids>,
) -> AppResult<Json<Page<Grid>>> {
    let street = path_id("id", &street)?;
    Ok(Json(streets::list_grids(&state, &caller, street, q).await?))
}

#[utoipa::path(post, path = "/api/v1/streets/{id}/grids", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")), request_body = CreateGrid,
    responses((status = 201, body = Grid), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiJson(body): ApiJson<CreateGrid>,
) -> AppResult<Created<Grid>> {
    let street = path_id("id", &street)?;
    let created = streets::create_grid(&state, &caller, street, body).await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/grids/{}", created.id),
        created,
    ))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/grids/{grid_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("grid_id" = Uuid, Path)),
    responses((status = 200, body = Grid), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<Json<Grid>> {
    let street = path_id("id", &street)?;
    let id = path_id("grid_id", &id)?;
    Ok(Json(streets::get_grid(&state, &caller, street, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/streets/{id}/grids/{grid_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("grid_id" = Uuid, Path)),
    request_body = UpdateGrid,
    responses((status = 200, body = Grid), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateGrid>,
) -> AppResult<Json<Grid>> {
    let street = path_id("id", &street)?;
    let id = path_id("grid_id", &id)?;
    Ok(Json(
        streets::update_grid(&state, &caller, street, id, body).await?,
    ))
}

/// Deletes a grid that no volunteer or demand refers to.
#[utoipa::path(delete, path = "/api/v1/streets/{id}/grids/{grid_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("grid_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn delete_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let street = path_id("id", &street)?;
    let id = path_id("grid_id", &id)?;
    streets::delete_grid(&state, &caller, street, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/categories", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = CategoryList), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_categories(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
) -> AppResult<Json<CategoryList>> {
    let street = path_id("id", &street)?;
    Ok(Json(
        streets::list_categories(&state, &caller, street).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/streets/{id}/categories", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")), request_body = CreateCategory,
    responses((status = 201, body = Category), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_category(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiJson(body): ApiJson<CreateCategory>,
) -> AppResult<Created<Category>> {
    let street = path_id("id", &street)?;
    let created = streets::create_category(&state, &caller, street, body).await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/categories"),
        created,
    ))
}
