//! The demand list (需求清单): what residents need, from every channel. A demand carries the
//! resident's personal data, shown in full only to the street's own admins and grid workers.
//! Each handler reads the request and calls one operation: filing is `service::intake`, the
//! list, a demand and its edits are `service::demands`.

use axum::{
    extract::{Path, State},
    Json,
};
use gongjian_core::{
    domain::{
        access::Principal,
        demand::{CreateDemand, Demand, ListDemands, UpdateDemand},
    },
    service::{demands, intake},
    store::page::Page,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Created;
use crate::{
    auth::Bearer,
    error::{AppError, AppResult},
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_demands, create_demand))
        .routes(routes!(get_demand, update_demand))
}

#[utoipa::path(get, path = "/api/v1/demands", tag = "demands", params(ListDemands),
    responses((status = 200, body = Page<Demand>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_demands(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListDemands>,
) -> AppResult<Json<Page<Demand>>> {
    Ok(Json(demands::list(&state, &caller, q).await?))
}

#[utoipa::path(get, path = "/api/v1/demands/{id}", tag = "demands",
    params(("id" = Uuid, Path, description = "demand id")),
    responses((status = 200, body = Demand), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_demand(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Demand>> {
    let id = path_id("id", &id)?;
    Ok(Json(demands::get(&state, &caller, id).await?))
}

/// Edits a demand (the street's admins and grid workers). `status` moves it by hand:
/// `cancelled` withdraws an open or dispatched demand — a dispatched one's order is cancelled
/// with it and its open offers withdrawn, so nobody can accept it any more; a demand whose
/// order was accepted is cancelled by cancelling that order first (409 `invalid_transition`).
/// `open` reopens a cancelled one. The edit is decided from the demand as it stands when the
/// edit is written, so it never undoes a dispatch, an accept or a completion made meanwhile.
#[utoipa::path(patch, path = "/api/v1/demands/{id}", tag = "demands", request_body = UpdateDemand,
    params(("id" = Uuid, Path, description = "demand id")),
    responses((status = 200, body = Demand), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_demand(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateDemand>,
) -> AppResult<Json<Demand>> {
    let id = path_id("id", &id)?;
    Ok(Json(demands::update(&state, &caller, id, body).await?))
}
/// Files a demand (the street's admins and grid workers).
#[utoipa::path(post, path = "/api/v1/demands", tag = "demands", request_body = CreateDemand,
    responses((status = 201, body = Demand), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_demand(
    State(state): State<AppState>,
    token: Bearer,
    body: Result<ApiJson<CreateDemand>, AppError>,
) -> AppResult<Created<Demand>> {
    // The token is read with the filing's place; a body that cannot be read is answered
    // after the token has been checked, as on every other route.
    let body = match body {
        Ok(ApiJson(body)) => body,
        Err(unreadable) => {
            token.resolve(&state).await?;
            return Err(unreadable);
        }
    };
    let demand = intake::file_for_token(&state, &token.0, body).await?;
    Ok(Created(format!("/api/v1/demands/{}", demand.id), demand))
}
