//! Deploying a street's matching plugins: upload (validated, stored as an immutable version),
//! activate, roll back, dry-run; and matching a demand with the active rule.

use base64::Engine as _;
use gongjian_plugin_sdk::builder::RequestBuilder;
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

use super::{
    matching::{self, decode_source, describe, DemandFacts, MatchResult, Refs},
    Core,
};
use crate::{
    domain::{
        access::{Action, Principal, RoleKind, Target},
        matching::{CandidateRef, RuleUsed},
        plugin::{
            ActiveRule, DryRunFault, DryRunRequest, DryRunResult, FaultRecord, ListPage,
            PluginVersion, UploadVersion,
        },
        rules, Check,
    },
    error::FieldError,
    plugin::{
        host::{run_blocking, PluginKind, Refusal},
        wasm::content_hash,
    },
    store::{
        page::{Page, PageRequest},
        rows::{get_opt_uuid, get_uuid},
        streets::require as require_street,
        Sql,
    },
    Error, Result,
};

/// The largest plugin accepted, in bytes (WebAssembly after base64 decoding, or script text).
pub const MAX_PLUGIN_BYTES: usize = 4 << 20;

async fn active_id(db: &sqlx::AnyPool, street: Uuid) -> Result<Option<Uuid>> {
    let row = sqlx::query("SELECT active_version_id FROM street_plugins WHERE street_id = $1")
        .bind(street.to_string())
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) => get_opt_uuid(&r, "active_version_id"),
        None => Ok(None),
    }
}

fn version_from_row(
    row: &AnyRow,
    active: Option<Uuid>,
    with_source: bool,
) -> Result<PluginVersion> {
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

async fn fetch_row(db: &sqlx::AnyPool, street: Uuid, id: Uuid) -> Result<AnyRow> {
    sqlx::query("SELECT * FROM plugin_versions WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("plugin version"))
}

async fn fetch_version(
    db: &sqlx::AnyPool,
    street: Uuid,
    id: Uuid,
    with_source: bool,
) -> Result<PluginVersion> {
    let row = fetch_row(db, street, id).await?;
    version_from_row(&row, active_id(db, street).await?, with_source)
}

/// Checks the caller may manage the street's plugins.
async fn authorize(core: &Core, caller: &Principal, street: Uuid) -> Result<()> {
    require_street(core.db.read(), street).await?;
    caller.authorize(Action::Update, Target::Plugins(street))
}

pub async fn list_versions(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    q: ListPage,
) -> Result<Page<PluginVersion>> {
    authorize(core, caller, street).await?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new(
        "SELECT id, street_id, number, kind, content_hash, source_bytes, contract_version, hooks, config, note, status, \
         consecutive_faults, total_faults, created_at, quarantined_at FROM plugin_versions WHERE street_id = ",
    );
    sql.bind(street.to_string());
    page.apply(&mut sql, "id");
    let active = active_id(core.db.read(), street).await?;
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows
        .iter()
        .map(|r| version_from_row(r, active, false))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |v| v.id))
}

/// Uploads a new version: it must compile, implement the contract and rank a sample request
/// without a fault. It is stored but not activated.
pub async fn upload_version(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    body: UploadVersion,
) -> Result<PluginVersion> {
    authorize(core, caller, street).await?;
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
                    ))
                }
            }
        }
        (PluginKind::Rhai, _, _) => {
            return Err(Error::field(
                "source",
                "required",
                "a rhai plugin sends its script in `source` (and no `wasm_base64`)",
            ))
        }
        (PluginKind::Wasm, _, _) => {
            return Err(Error::field(
                "wasm_base64",
                "required",
                "a wasm plugin sends its bytes in `wasm_base64` (and no `source`)",
            ))
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

    let host = core.plugins.clone();
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
    let mut tx = core.db.write().begin().await?;
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
    .bind(core.now_ts())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    core.plugins.remember(id, compiled);
    let version = fetch_version(core.db.write(), street, id, true).await?;
    Ok(version)
}

pub async fn active_rule(core: &Core, caller: &Principal, street: Uuid) -> Result<ActiveRule> {
    authorize(core, caller, street).await?;
    let version = match active_id(core.db.read(), street).await? {
        Some(id) => Some(fetch_version(core.db.read(), street, id, false).await?),
        None => None,
    };
    let falling_back = version.as_ref().is_some_and(|v| v.status != "ready");
    Ok(ActiveRule {
        version,
        falling_back,
    })
}

pub async fn get_version(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
) -> Result<PluginVersion> {
    authorize(core, caller, street).await?;
    fetch_version(core.db.read(), street, id, true).await
}

/// Points the street at a version, atomically. Matches already running finish on the version
/// they started with.
async fn switch_to(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    version: Option<Uuid>,
    action: &str,
) -> Result<()> {
    let now = core.now_ts();
    let mut tx = core.db.write().begin().await?;
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
async fn ready_to_run(core: &Core, street: Uuid, id: Uuid) -> Result<()> {
    let row = fetch_row(core.db.write(), street, id).await?;
    if row.try_get::<String, _>("status")? != "ready" {
        return Err(Error::conflict(
            "quarantined",
            "this version is quarantined; deploy a fixed version",
        ));
    }
    if !core.plugins.is_loaded(id) {
        let kind = PluginKind::from_db(&row.try_get::<String, _>("kind")?)?;
        let source = decode_source(kind, &row.try_get::<String, _>("source")?)?;
        let host = core.plugins.clone();
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

pub async fn activate_version(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
) -> Result<ActiveRule> {
    authorize(core, caller, street).await?;
    ready_to_run(core, street, id).await?;
    switch_to(core, caller, street, Some(id), "activate").await?;
    let version = fetch_version(core.db.write(), street, id, false).await?;
    Ok(ActiveRule {
        version: Some(version),
        falling_back: false,
    })
}

/// Rolls back to the rule that was active before the current one (possibly the built-in
/// rule). To go back to any earlier version, activate it.
pub async fn rollback(core: &Core, caller: &Principal, street: Uuid) -> Result<ActiveRule> {
    authorize(core, caller, street).await?;
    let current = active_id(core.db.write(), street).await?;
    let history = sqlx::query(
        "SELECT version_id FROM plugin_activations WHERE street_id = $1 AND action IN ('activate', 'rollback', 'deactivate') \
         ORDER BY id DESC",
    )
    .bind(street.to_string())
    .fetch_all(core.db.write())
    .await?;
    if history.is_empty() {
        return Err(Error::conflict(
            "nothing_to_roll_back",
            "the street has never changed its rule",
        ));
    }
    let mut previous: Option<Option<Uuid>> = None;
    for row in &history {
        let v = get_opt_uuid(row, "version_id")?;
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
        ));
    }
    if let Some(id) = target {
        ready_to_run(core, street, id).await?;
    }
    switch_to(core, caller, street, target, "rollback").await?;
    let version = match target {
        Some(id) => Some(fetch_version(core.db.write(), street, id, false).await?),
        None => None,
    };
    Ok(ActiveRule {
        version,
        falling_back: false,
    })
}

/// Returns the street to the built-in default rule.
pub async fn deactivate(core: &Core, caller: &Principal, street: Uuid) -> Result<ActiveRule> {
    authorize(core, caller, street).await?;
    switch_to(core, caller, street, None, "deactivate").await?;
    Ok(ActiveRule {
        version: None,
        falling_back: false,
    })
}

/// Runs a version (active or not) on a demand of the street, or on a demand and candidates
/// given inline. Nothing is dispatched and no fault is recorded.
pub async fn dry_run(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
    body: DryRunRequest,
) -> Result<DryRunResult> {
    authorize(core, caller, street).await?;
    let row = fetch_row(core.db.read(), street, id).await?;
    let kind = PluginKind::from_db(&row.try_get::<String, _>("kind")?)?;
    let config: String = row.try_get("config")?;
    let (request, refs) = match (body.demand_id, body.demand, body.candidates) {
        (Some(demand), None, None) => {
            let facts = DemandFacts::read(core.db.read(), demand).await?;
            if facts.street != street {
                return Err(Error::NotFound("demand"));
            }
            let prepared = matching::prepare(core, &facts, &config).await?;
            (prepared.request, prepared.refs)
        }
        (None, Some(demand), Some(candidates)) => {
            if candidates.len() > rules::DRY_RUN_CANDIDATES.max {
                return Err(Error::field(
                    "candidates",
                    "too_many",
                    format!("at most {} candidates", rules::DRY_RUN_CANDIDATES.max),
                ));
            }
            let mut b = RequestBuilder::new(
                "dry-run",
                &demand,
                &config,
                core.now().unix_timestamp(),
                core.plugins.settings().max_results,
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
            ))
        }
    };
    let considered = request.candidate_count as usize;
    let source = decode_source(kind, &row.try_get::<String, _>("source")?)?;
    let compiled = core.plugins.load(id, kind, &source).map_err(|e| {
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
    Ok(DryRunResult {
        rule,
        ranked,
        candidates_considered: considered,
        fault,
        log: log.lines,
    })
}

pub async fn list_faults(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
    q: ListPage,
) -> Result<Page<FaultRecord>> {
    authorize(core, caller, street).await?;
    fetch_row(core.db.read(), street, id).await?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT id, kind, message, at FROM plugin_faults WHERE version_id = ");
    sql.bind(id.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(core.db.read()).await?;
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
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |f| f.id))
}

/// Ranks the candidates for a demand with its street's active rule (the built-in rule when
/// it has none, or when its plugin fails). Nothing is dispatched.
pub async fn match_demand(core: &Core, caller: &Principal, id: Uuid) -> Result<MatchResult> {
    let facts = DemandFacts::read(core.db.read(), id).await?;
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
    matching::match_demand(core, &facts).await
}
