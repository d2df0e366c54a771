//! API tokens: admins issue them for the roles below them; the CLI issues the first one.
//! Each handler reads the request, calls one operation of `service::tokens` and answers.

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
use gongjian_core::domain::token::{CreateToken, IssuedToken, ListTokens, Me, TokenInfo};
use gongjian_core::service::tokens;
use gongjian_core::{domain::access::Principal, store::page::Page};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(me))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(ListTokens),
    responses((status = 200, body = Page<TokenInfo>), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListTokens>,
) -> AppResult<Json<Page<TokenInfo>>> {
    Ok(Json(tokens::list_tokens(&state, &caller, q).await?))
}

/// Issues a token. The district issues any; a street admin issues street admin, grid worker and
/// volunteer tokens for its street, and unit tokens for units serving it.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = IssuedToken), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem, description = "The unit or volunteer named is archived"),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_token(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateToken>,
) -> AppResult<Created<IssuedToken>> {
    let created = tokens::create_token(&state, &caller, body).await?;
    Ok(Created(
        format!("/api/v1/tokens/{}", created.info.id),
        created,
    ))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = Uuid, Path, description = "token id")),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("id", &id)?;
    tokens::revoke_token(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "tokens",
    responses((status = 200, body = Me), (status = 401, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn me(caller: Principal) -> Json<Me> {
    Json(tokens::me(&caller))
}
