//! The plugin API: a street deploys its matching rule — upload (validated, stored as an
//! immutable version), activate, roll back, deactivate, dry-run — and sees its faults; any
//! demand can be matched with its street's active rule. Each handler reads the request and
//! calls one operation of `service::plugins`.

use axum::{
    extract::{DefaultBodyLimit, Path, State},
    Json,
};
use gongjian_core::{
    domain::{
        access::Principal,
        matching::MatchResult,
        plugin::{
            ActiveRule, DryRunRequest, DryRunResult, FaultRecord, ListPage, PluginVersion,
            UploadVersion,
        },
    },
    service::plugins::{self, MAX_PLUGIN_BYTES},
    store::page::Page,
};
use gongjian_plugin_sdk::builder::{CandidateSpec, DemandSpec};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::Created;
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions, upload_version))
        .routes(routes!(active_rule))
        .routes(routes!(get_version))
        .routes(routes!(activate_version))
        .routes(routes!(rollback))
        .routes(routes!(deactivate))
        .routes(routes!(dry_run))
        .routes(routes!(list_faults))
        .routes(routes!(match_demand))
        // Uploads carry whole WebAssembly modules, in base64.
        .layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES * 4 / 3 + 64 * 1024))
}

/// A plugin version: a rhai script, or a WebAssembly module.
// The form the API description states; `UploadVersion` reads it, with an error naming the
// field a body lacks.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
pub enum UploadBody {
    Rhai {
        /// The rhai script.
        source: String,
        /// The configuration document (a JSON object), e.g. weights. Default `{}`.
        #[schema(value_type = Option<Object>)]
        config: Option<serde_json::Value>,
        /// What changed, for the street's records.
        note: Option<String>,
    },
    Wasm {
        /// The WebAssembly component, or core module built with the SDK, in base64.
        wasm_base64: String,
        /// The configuration document (a JSON object), e.g. weights. Default `{}`.
        #[schema(value_type = Option<Object>)]
        config: Option<serde_json::Value>,
        /// What changed, for the street's records.
        note: Option<String>,
    },
}

/// A dry run: of a demand of the street, or of a demand described inline with candidates.
// The form the API description states; `DryRunRequest` reads it, with field-by-field errors
// when a body is neither.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum DryRunBody {
    ByDemand(DryRunByDemand),
    Inline(DryRunInline),
}

/// A demand of the street: its real candidates are used.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DryRunByDemand {
    demand_id: Uuid,
}

/// A demand described inline, with its candidates.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DryRunInline {
    demand: DemandSpec,
    /// At most 10,000.
    candidates: Vec<CandidateSpec>,
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/plugins", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id"), ListPage),
    responses((status = 200, body = Page<PluginVersion>), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_versions(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiQuery(q): ApiQuery<ListPage>,
) -> AppResult<Json<Page<PluginVersion>>> {
    let street = path_id("id", &street)?;
    Ok(Json(
        plugins::list_versions(&state, &caller, street, q).await?,
    ))
}

/// Uploads a new version: it must compile, implement the contract and rank a sample request
/// without a fault. It is stored but not activated.
#[utoipa::path(post, path = "/api/v1/streets/{id}/plugins", tag = "plugins", request_body = UploadBody,
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 201, body = PluginVersion), (status = 403, body = crate::error::Problem),
              (status = 413, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn upload_version(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiJson(body): ApiJson<UploadVersion>,
) -> AppResult<Created<PluginVersion>> {
    let street = path_id("id", &street)?;
    let version = plugins::upload_version(&state, &caller, street, body).await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/plugins/{}", version.id),
        version,
    ))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/plugins/active", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = ActiveRule), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn active_rule(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
) -> AppResult<Json<ActiveRule>> {
    let street = path_id("id", &street)?;
    Ok(Json(plugins::active_rule(&state, &caller, street).await?))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/plugins/{version_id}", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id"), ("version_id" = Uuid, Path)),
    responses((status = 200, body = PluginVersion), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_version(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<Json<PluginVersion>> {
    let street = path_id("id", &street)?;
    let id = path_id("version_id", &id)?;
    Ok(Json(
        plugins::get_version(&state, &caller, street, id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/streets/{id}/plugins/{version_id}/activate", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id"), ("version_id" = Uuid, Path)),
    responses((status = 200, body = ActiveRule), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn activate_version(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<Json<ActiveRule>> {
    let street = path_id("id", &street)?;
    let id = path_id("version_id", &id)?;
    Ok(Json(
        plugins::activate_version(&state, &caller, street, id).await?,
    ))
}

/// Rolls back to the rule that was active before the current one (possibly the built-in
/// rule). To go back to any earlier version, activate it.
#[utoipa::path(post, path = "/api/v1/streets/{id}/plugins/rollback", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = ActiveRule), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn rollback(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
) -> AppResult<Json<ActiveRule>> {
    let street = path_id("id", &street)?;
    Ok(Json(plugins::rollback(&state, &caller, street).await?))
}

/// Returns the street to the built-in default rule.
#[utoipa::path(post, path = "/api/v1/streets/{id}/plugins/deactivate", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = ActiveRule), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn deactivate(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
) -> AppResult<Json<ActiveRule>> {
    let street = path_id("id", &street)?;
    Ok(Json(plugins::deactivate(&state, &caller, street).await?))
}

/// Runs a version (active or not) on a demand of the street, or on a demand and candidates
/// given inline. Nothing is dispatched and no fault is recorded.
#[utoipa::path(post, path = "/api/v1/streets/{id}/plugins/{version_id}/dry-run", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id"), ("version_id" = Uuid, Path)),
    request_body = DryRunBody,
    responses((status = 200, body = DryRunResult), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn dry_run(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DryRunRequest>,
) -> AppResult<Json<DryRunResult>> {
    let street = path_id("id", &street)?;
    let id = path_id("version_id", &id)?;
    Ok(Json(
        plugins::dry_run(&state, &caller, street, id, body).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/plugins/{version_id}/faults", tag = "plugins",
    params(("id" = Uuid, Path, description = "street id"), ("version_id" = Uuid, Path), ListPage),
    responses((status = 200, body = Page<FaultRecord>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_faults(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ListPage>,
) -> AppResult<Json<Page<FaultRecord>>> {
    let street = path_id("id", &street)?;
    let id = path_id("version_id", &id)?;
    Ok(Json(
        plugins::list_faults(&state, &caller, street, id, q).await?,
    ))
}

/// Ranks the candidates for a demand with its street's active rule (the built-in rule when
/// it has none, or when its plugin fails). Nothing is dispatched.
#[utoipa::path(post, path = "/api/v1/demands/{id}/match", tag = "plugins",
    params(("id" = Uuid, Path, description = "demand id")),
    responses((status = 200, body = MatchResult), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn match_demand(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<MatchResult>> {
    let id = path_id("id", &id)?;
    Ok(Json(plugins::match_demand(&state, &caller, id).await?))
}
