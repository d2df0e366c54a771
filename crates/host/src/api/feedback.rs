//! The resident's feedback on a completed order: a rating from 1 to 5 and a comment, entered
//! by the street's staff or by the resident through a one-time link. A rating of 2 or less
//! flags the demand for the street.
//! Each handler reads the request, calls one operation of `service::feedback` and answers.

use crate::{
    error::AppResult,
    extract::{path_id, ApiJson},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use gongjian_core::domain::access::Principal;
use gongjian_core::domain::feedback::{FeedbackLink, FeedbackView, Rated, RatingRequest};
use gongjian_core::service::feedback;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rate))
        .routes(routes!(create_link))
        .routes(routes!(show_link, rate_by_link))
}

/// Enters the resident's rating (the street's admins and grid workers, on the resident's
/// behalf).
#[utoipa::path(post, path = "/api/v1/orders/{id}/rating", tag = "orders", request_body = RatingRequest,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Rated), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn rate(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RatingRequest>,
) -> AppResult<Json<Rated>> {
    let id = path_id("id", &id)?;
    Ok(Json(feedback::rate(&state, &caller, id, body).await?))
}

/// Makes a one-time link through which the resident rates the order.
#[utoipa::path(post, path = "/api/v1/orders/{id}/feedback-link", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 201, body = FeedbackLink), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_link(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<(axum::http::StatusCode, Json<FeedbackLink>)> {
    let id = path_id("id", &id)?;
    let link = feedback::create_link(&state, &caller, id).await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// What the resident is asked to rate. The link itself is the credential.
#[utoipa::path(get, path = "/api/v1/feedback/{token}", tag = "orders",
    params(("token" = String, Path, description = "the one-time token")),
    responses((status = 200, body = FeedbackView), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)))]
async fn show_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> AppResult<Json<FeedbackView>> {
    Ok(Json(feedback::show_link(&state, token).await?))
}

/// The resident rates the order, once.
#[utoipa::path(post, path = "/api/v1/feedback/{token}", tag = "orders", request_body = RatingRequest,
    params(("token" = String, Path, description = "the one-time token")),
    responses((status = 200, body = Rated), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn rate_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<RatingRequest>,
) -> AppResult<Json<Rated>> {
    Ok(Json(feedback::rate_by_link(&state, token, body).await?))
}
