//! Deploying a street's matching plugins: upload (validated, stored as an immutable version),
//! activate, roll back, dry-run; and matching a demand with the active rule.

use axum::{
    extract::{DefaultBodyLimit, Path, State},
    Json,
};
use base64::Engine as _;
use gongjian_core::Error;
use gongjian_plugin_sdk::builder::{CandidateSpec, DemandSpec, RequestBuilder};
use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, Row};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{get_uuid, require_street, Created};
use crate::{
    error::{AppResult, FieldError},
    extract::{path_id, ApiJson, ApiQuery},
    plugin::{
        host::{run_blocking, PluginKind, Refusal},
        wasm::content_hash,
    },
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::service::matching::{
    self, decode_source, describe, CandidateRef, DemandFacts, MatchResult, RankedCandidate, Refs,
    RuleUsed,
};
use gongjian_core::{
    domain::access::Principal,
    domain::access::RoleKind,
    domain::access::{Action, Target},
    domain::Check,
    store::db::Sql,
    store::page::{Page, PageRequest},
};

/// The largest plugin accepted, in bytes (WebAssembly after base64 decoding, or script text).
pub const MAX_PLUGIN_BYTES: usize = 4 << 20;

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

/// A stored plugin version. Versions are immutable; a change is a new version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginVersion {
    pub id: Uuid,
    pub street_id: Uuid,
    /// 1, 2, 3, … within the street.
    pub number: i64,
    pub kind: PluginKind,
    /// SHA-256 of the source bytes, hex.
    pub content_hash: String,
    pub source_bytes: i64,
    /// The contract version the plugin implements.
    pub contract_version: String,
    /// What it does beyond ranking (contract 1.1.0): `triage` of new demands, a `points` rule.
    pub hooks: Vec<String>,
    /// The configuration document the plugin version runs with.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub note: Option<String>,
    /// `ready`, or `quarantined` after too many consecutive faults.
    pub status: String,
    /// Whether the street uses this version now.
    pub active: bool,
    pub consecutive_faults: i64,
    pub total_faults: i64,
    pub created_at: String,
    pub quarantined_at: Option<String>,
    /// The script, for rhai versions (only when one version is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadVersion {
    pub kind: PluginKind,
    /// The rhai script (for `rhai`).
    pub source: Option<String>,
    /// The WebAssembly component, or core module built with the SDK, in base64 (for `wasm`).
    pub wasm_base64: Option<String>,
    /// The configuration document (a JSON object), e.g. weights. Default `{}`.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    /// What changed, for the street's records.
    pub note: Option<String>,
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

/// Which rule a street uses now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActiveRule {
    /// The active version; none means the built-in default rule.
    pub version: Option<PluginVersion>,
    /// True when the active version is quarantined and the built-in rule serves instead.
    pub falling_back: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// A demand of the street: its real candidates are used.
    pub demand_id: Option<Uuid>,
    /// Or a demand described inline…
    pub demand: Option<DemandSpec>,
    /// …with its candidates (at most 10,000).
    pub candidates: Option<Vec<CandidateSpec>>,
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

/// The outcome of a dry run: nothing is dispatched or recorded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DryRunResult {
    pub rule: RuleUsed,
    pub ranked: Vec<RankedCandidate>,
    pub candidates_considered: usize,
    /// When the version failed: what went wrong.
    pub fault: Option<DryRunFault>,
    /// The plugin's print/debug lines.
    pub log: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DryRunFault {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FaultRecord {
    pub id: Uuid,
    pub kind: String,
    pub message: String,
    pub at: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListPage {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

async fn active_id(db: &sqlx::AnyPool, street: Uuid) -> gongjian_core::Result<Option<Uuid>> {
    let row = sqlx::query("SELECT active_version_id FROM street_plugins WHERE street_id = $1")
        .bind(street.to_string())
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) => super::get_opt_uuid(&r, "active_version_id"),
        None => Ok(None),
    }
}

fn version_from_row(
    row: &AnyRow,
    active: Option<Uuid>,
    with_source: bool,
) -> AppResult<PluginVersion> {
    let id = get_uuid(row, "id")?;
    let kind = PluginKind::from_db(&row.try_get::<String, _>("kind")?)?;
    let config: String = row.try_get("config")?;
    Ok(PluginVersion {
        id,
        street_id: get_uuid(row, "street_id")?,
        number: row.try_get("number")?,
        kind,
        content_hash: row.try_get("content_hash")?,
        source_bytes: row.try_get("source_bytes")?,
        contract_version: row.try_get("contract_version")?,
        hooks: row
            .try_get::<String, _>("hooks")?
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect(),
        config: serde_json::from_str(&config).unwrap_or(serde_json::Value::Null),
        note: row.try_get("note")?,
        status: row.try_get("status")?,
        active: active == Some(id),
        consecutive_faults: row.try_get("consecutive_faults")?,
        total_faults: row.try_get("total_faults")?,
        created_at: row.try_get("created_at")?,
        quarantined_at: row.try_get("quarantined_at")?,
        source: if with_source && kind == PluginKind::Rhai {
            Some(row.try_get("source")?)
        } else {
            None
        },
    })
}

async fn fetch_row(db: &sqlx::AnyPool, street: Uuid, id: Uuid) -> AppResult<AnyRow> {
    sqlx::query("SELECT * FROM plugin_versions WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("plugin version").into())
}

async fn fetch_version(
    db: &sqlx::AnyPool,
    street: Uuid,
    id: Uuid,
    with_source: bool,
) -> AppResult<PluginVersion> {
    let row = fetch_row(db, street, id).await?;
    version_from_row(&row, active_id(db, street).await?, with_source)
}

/// Checks the caller may manage the street's plugins.
async fn authorize(
    state: &AppState,
    caller: &Principal,
    street: Uuid,
) -> gongjian_core::Result<()> {
    require_street(state.db.read(), street).await?;
    caller.authorize(Action::Update, Target::Plugins(street))
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
    authorize(&state, &caller, street).await?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new(
        "SELECT id, street_id, number, kind, content_hash, source_bytes, contract_version, hooks, config, note, status, \
         consecutive_faults, total_faults, created_at, quarantined_at FROM plugin_versions WHERE street_id = ",
    );
    sql.bind(street.to_string());
    page.apply(&mut sql, "id");
    let active = active_id(state.db.read(), street).await?;
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(|r| version_from_row(r, active, false))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |v| v.id)))
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
    authorize(&state, &caller, street).await?;
    let mut c = Check::new();
    let note = c.opt_text("note", body.note.as_deref(), rules::COMMENT);
    let config = match body.config {
        None => serde_json::json!({}),
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(_) => {
            c.push("config", "invalid_type", "config must be a JSON object");
            serde_json::Value::Null
        }
    };
    let config_text = config.to_string();
    if config_text.len() > 64 * 1024 {
        c.push("config", "too_long", "config may be at most 64 KiB");
    }
    let (field, bytes, stored) = match (body.kind, body.source, body.wasm_base64) {
        (PluginKind::Rhai, Some(src), None) => ("source", src.clone().into_bytes(), src),
        (PluginKind::Wasm, None, Some(b64)) => {
            match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                Ok(bytes) => ("wasm_base64", bytes, b64.trim().to_string()),
                Err(e) => {
                    return Err(Error::field(
                        "wasm_base64",
                        "invalid_base64",
                        format!("not base64: {e}"),
                    )
                    .into())
                }
            }
        }
        (PluginKind::Rhai, _, _) => {
            return Err(Error::field(
                "source",
                "required",
                "a rhai plugin sends its script in `source` (and no `wasm_base64`)",
            )
            .into())
        }
        (PluginKind::Wasm, _, _) => {
            return Err(Error::field(
                "wasm_base64",
                "required",
                "a wasm plugin sends its bytes in `wasm_base64` (and no `source`)",
            )
            .into())
        }
    };
    if bytes.is_empty() {
        c.push(field, "required", format!("{field} must not be empty"));
    } else if bytes.len() > MAX_PLUGIN_BYTES {
        c.push(
            field,
            "too_long",
            format!("a plugin may be at most {MAX_PLUGIN_BYTES} bytes"),
        );
    }
    c.finish()?;

    let host = state.plugins.clone();
    let (kind, src, cfg) = (body.kind, bytes.clone(), config_text.clone());
    let validated = tokio::task::spawn_blocking(move || host.validate(kind, &src, &cfg))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("plugin validation panicked: {e}")))?;
    let compiled = validated.map_err(|refusal| {
        let code = match &refusal {
            Refusal::Compile(_) => "plugin_invalid",
            Refusal::DryRun(_) => "plugin_dry_run_failed",
        };
        Error::Validation(vec![FieldError::new(field, code, refusal.to_string())])
    })?;

    let id = Uuid::now_v7();
    let hooks = [
        ("triage", compiled.has_triage()),
        ("points", compiled.has_points()),
    ]
    .iter()
    .filter(|(_, has)| *has)
    .map(|(h, _)| *h)
    .collect::<Vec<_>>()
    .join(",");
    let hash = content_hash(&bytes);
    let size = bytes.len() as i64;
    // Numbers are taken in order. Touching the street's row first makes simultaneous uploads
    // for one street take their numbers one after another (on PostgreSQL the row lock holds
    // the next until this one commits; SQLite has one writer anyway).
    let mut tx = state.db.write().begin().await?;
    sqlx::query("UPDATE streets SET updated_at = updated_at WHERE id = $1")
        .bind(street.to_string())
        .execute(&mut *tx)
        .await?;
    let next: i64 = sqlx::query(
        "SELECT COALESCE(MAX(number), 0) + 1 AS next FROM plugin_versions WHERE street_id = $1",
    )
    .bind(street.to_string())
    .fetch_one(&mut *tx)
    .await?
    .try_get("next")?;
    sqlx::query(
        "INSERT INTO plugin_versions (id, street_id, number, kind, content_hash, source, source_bytes, config, \
         contract_version, hooks, note, status, consecutive_faults, total_faults, total_calls, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'ready', 0, 0, 0, $12, $13)",
    )
    .bind(id.to_string())
    .bind(street.to_string())
    .bind(next)
    .bind(body.kind.as_str())
    .bind(hash)
    .bind(stored)
    .bind(size)
    .bind(config_text)
    .bind(compiled.contract_version())
    .bind(hooks)
    .bind(note)
    .bind(caller.token_id.to_string())
    .bind(state.now_ts())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state.plugins.remember(id, compiled);
    let version = fetch_version(state.db.write(), street, id, true).await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/plugins/{id}"),
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
    authorize(&state, &caller, street).await?;
    let version = match active_id(state.db.read(), street).await? {
        Some(id) => Some(fetch_version(state.db.read(), street, id, false).await?),
        None => None,
    };
    let falling_back = version.as_ref().is_some_and(|v| v.status != "ready");
    Ok(Json(ActiveRule {
        version,
        falling_back,
    }))
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
    authorize(&state, &caller, street).await?;
    Ok(Json(
        fetch_version(state.db.read(), street, id, true).await?,
    ))
}

/// Points the street at a version, atomically. Matches already running finish on the version
/// they started with.
async fn switch_to(
    state: &AppState,
    caller: &Principal,
    street: Uuid,
    version: Option<Uuid>,
    action: &str,
) -> AppResult<()> {
    let now = state.now_ts();
    let mut tx = state.db.write().begin().await?;
    sqlx::query(
        "INSERT INTO street_plugins (street_id, active_version_id, changed_at, changed_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (street_id) DO UPDATE SET active_version_id = $2, changed_at = $3, changed_by = $4",
    )
    .bind(street.to_string())
    .bind(version.map(|v| v.to_string()))
    .bind(now.clone())
    .bind(caller.token_id.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO plugin_activations (id, street_id, version_id, action, at, by_token) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(Uuid::now_v7().to_string())
        .bind(street.to_string())
        .bind(version.map(|v| v.to_string()))
        .bind(action)
        .bind(now)
        .bind(caller.token_id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes sure a version can run before the street is switched to it.
async fn ready_to_run(state: &AppState, street: Uuid, id: Uuid) -> AppResult<()> {
    let row = fetch_row(state.db.write(), street, id).await?;
    if row.try_get::<String, _>("status")? != "ready" {
        return Err(Error::conflict(
            "quarantined",
            "this version is quarantined; deploy a fixed version",
        )
        .into());
    }
    if !state.plugins.is_loaded(id) {
        let kind = PluginKind::from_db(&row.try_get::<String, _>("kind")?)?;
        let source = decode_source(kind, &row.try_get::<String, _>("source")?)?;
        let host = state.plugins.clone();
        tokio::task::spawn_blocking(move || host.load(id, kind, &source))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("compiling a plugin panicked: {e}")))?
            .map_err(|e| {
                Error::conflict(
                    "plugin_invalid",
                    format!("the stored version does not compile here: {e}"),
                )
            })?;
    }
    Ok(())
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
    authorize(&state, &caller, street).await?;
    ready_to_run(&state, street, id).await?;
    switch_to(&state, &caller, street, Some(id), "activate").await?;
    let version = fetch_version(state.db.write(), street, id, false).await?;
    Ok(Json(ActiveRule {
        version: Some(version),
        falling_back: false,
    }))
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
    authorize(&state, &caller, street).await?;
    let current = active_id(state.db.write(), street).await?;
    let history = sqlx::query(
        "SELECT version_id FROM plugin_activations WHERE street_id = $1 AND action IN ('activate', 'rollback', 'deactivate') \
         ORDER BY id DESC",
    )
    .bind(street.to_string())
    .fetch_all(state.db.write())
    .await?;
    if history.is_empty() {
        return Err(Error::conflict(
            "nothing_to_roll_back",
            "the street has never changed its rule",
        )
        .into());
    }
    let mut previous: Option<Option<Uuid>> = None;
    for row in &history {
        let v = super::get_opt_uuid(row, "version_id")?;
        if v != current {
            previous = Some(v);
            break;
        }
    }
    // The history begins with the built-in rule.
    let target = previous.unwrap_or(None);
    if target == current {
        return Err(Error::conflict(
            "nothing_to_roll_back",
            "the built-in rule is already in use",
        )
        .into());
    }
    if let Some(id) = target {
        ready_to_run(&state, street, id).await?;
    }
    switch_to(&state, &caller, street, target, "rollback").await?;
    let version = match target {
        Some(id) => Some(fetch_version(state.db.write(), street, id, false).await?),
        None => None,
    };
    Ok(Json(ActiveRule {
        version,
        falling_back: false,
    }))
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
    authorize(&state, &caller, street).await?;
    switch_to(&state, &caller, street, None, "deactivate").await?;
    Ok(Json(ActiveRule {
        version: None,
        falling_back: false,
    }))
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
    authorize(&state, &caller, street).await?;
    let row = fetch_row(state.db.read(), street, id).await?;
    let kind = PluginKind::from_db(&row.try_get::<String, _>("kind")?)?;
    let config: String = row.try_get("config")?;
    let (request, refs) = match (body.demand_id, body.demand, body.candidates) {
        (Some(demand), None, None) => {
            let facts = DemandFacts::read(state.db.read(), demand).await?;
            if facts.street != street {
                return Err(Error::NotFound("demand").into());
            }
            let prepared = matching::prepare(&state, &facts, &config).await?;
            (prepared.request, prepared.refs)
        }
        (None, Some(demand), Some(candidates)) => {
            if candidates.len() > rules::DRY_RUN_CANDIDATES.max {
                return Err(Error::field(
                    "candidates",
                    "too_many",
                    format!("at most {} candidates", rules::DRY_RUN_CANDIDATES.max),
                )
                .into());
            }
            let mut b = RequestBuilder::new(
                "dry-run",
                &demand,
                &config,
                state.now().unix_timestamp(),
                state.plugins.settings().max_results,
            );
            let refs = candidates
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    b.push(c);
                    CandidateRef {
                        kind: c.kind.into(),
                        id: Uuid::nil(),
                        name: format!("#{i}"),
                    }
                })
                .collect();
            (b.finish(), Refs::Listed(refs))
        }
        _ => {
            return Err(Error::field(
                "demand_id",
                "required",
                "send a demand_id, or a demand with its candidates",
            )
            .into())
        }
    };
    let considered = request.candidate_count as usize;
    let source = decode_source(kind, &row.try_get::<String, _>("source")?)?;
    let compiled = state.plugins.load(id, kind, &source).map_err(|e| {
        Error::conflict(
            "plugin_invalid",
            format!("the stored version does not compile here: {e}"),
        )
    })?;
    let (_, result, log) = run_blocking(compiled, request).await;
    let rule = RuleUsed {
        kind: kind.into(),
        version_id: Some(id),
        version_number: Some(row.try_get("number")?),
        content_hash: Some(row.try_get("content_hash")?),
    };
    let (ranked, fault) = match result {
        Ok(r) => (describe(&r, &refs), None),
        Err(f) => (
            vec![],
            Some(DryRunFault {
                kind: f.kind().into(),
                message: f.to_string(),
            }),
        ),
    };
    Ok(Json(DryRunResult {
        rule,
        ranked,
        candidates_considered: considered,
        fault,
        log: log.lines,
    }))
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
    authorize(&state, &caller, street).await?;
    fetch_row(state.db.read(), street, id).await?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT id, kind, message, at FROM plugin_faults WHERE version_id = ");
    sql.bind(id.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(FaultRecord {
                id: get_uuid(r, "id")?,
                kind: r.try_get("kind")?,
                message: r.try_get("message")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |f| f.id)))
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
    let facts = DemandFacts::read(state.db.read(), id).await?;
    let street = facts.street;
    caller.authorize(Action::Read, Target::Demand { street })?;
    caller.require(
        &[
            RoleKind::DistrictAdmin,
            RoleKind::StreetAdmin,
            RoleKind::GridWorker,
        ],
        "match demands",
    )?;
    Ok(Json(matching::match_demand(&state, &facts).await?))
}
