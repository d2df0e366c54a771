//! A street's dispatch settings, per category: automatic dispatch on filing, offers at once,
//! and the minutes to accept and to complete.
//! Each handler reads the request, calls one operation of `service::settings` and answers.

use crate::{
    error::AppResult,
    extract::{path_id, ApiJson},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    Json,
};
use gongjian_core::domain::access::Principal;
use gongjian_core::domain::settings::{CategorySettings, PutSettings, StreetSettings};
use gongjian_core::service::settings;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_settings))
        .routes(routes!(put_settings))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/dispatch-settings", tag = "orders",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = StreetSettings), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_settings(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
) -> AppResult<Json<StreetSettings>> {
    let street = path_id("id", &street)?;
    Ok(Json(
        settings::list_settings(&state, &caller, street).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/streets/{id}/dispatch-settings/{category}", tag = "orders",
    params(("id" = Uuid, Path, description = "street id"), ("category" = String, Path, description = "a category code, or `default`")),
    request_body = PutSettings,
    responses((status = 200, body = CategorySettings), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn put_settings(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, category)): Path<(String, String)>,
    ApiJson(body): ApiJson<PutSettings>,
) -> AppResult<Json<CategorySettings>> {
    let street = path_id("id", &street)?;
    Ok(Json(
        settings::put_settings(&state, &caller, street, category, body).await?,
    ))
}
