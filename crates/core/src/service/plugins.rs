//! Deploying a street's matching plugins: upload (validated, stored as an immutable version),
//! activate, roll back, dry-run; and matching a demand with the active rule.

use base64::Engine as _;
use gongjian_plugin_sdk::builder::RequestBuilder;
use uuid::Uuid;

use super::{
    matching::{self, decode_source, describe, MatchResult, Refs},
    Core,
};
use crate::{
    domain::{
        access::{Action, Principal, RoleKind, Target},
        matching::{CandidateRef, RuleUsed},
        plugin::{
            ActiveRule, DryRunFault, DryRunRequest, DryRunResult, FaultRecord, ListPage,
            PluginStatus, PluginVersion, UploadVersion,
        },
        rules, Check, FaultKind,
    },
    error::FieldError,
    plugin::{
        host::{run_rank, PluginKind, Refusal},
        wasm::content_hash,
    },
    store::{
        page::{Page, PageRequest},
        plugins::{self, NewVersion},
        streets::require as require_street,
    },
    Error, Result,
};

/// The largest plugin accepted, in bytes (WebAssembly after base64 decoding, or script text).
pub const MAX_PLUGIN_BYTES: usize = 4 << 20;

/// A version of the street, with its script for a rhai version when `with_source`.
async fn fetch_version(
    db: &sqlx::AnyPool,
    street: Uuid,
    id: Uuid,
    with_source: bool,
) -> Result<PluginVersion> {
    let stored = plugins::get(db, street, id).await?;
    let mut version = stored.version;
    if with_source && version.kind == PluginKind::Rhai {
        version.source = Some(stored.source);
    }
    Ok(version)
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
    plugins::list(core.db.read(), street, &page).await
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

    let hooks = [
        ("triage", compiled.has_triage()),
        ("points", compiled.has_points()),
    ]
    .into_iter()
    .filter(|(_, has)| *has)
    .map(|(h, _)| h)
    .collect();
    let new = NewVersion {
        id: Uuid::now_v7(),
        street,
        kind: body.kind,
        content_hash: content_hash(&bytes),
        source: stored,
        source_bytes: bytes.len() as i64,
        config: config_text,
        contract_version: compiled.contract_version().to_string(),
        hooks,
        note,
        created_by: caller.token_id,
        created_at: core.now_ts(),
    };
    let id = new.id;
    let mut version = core
        .db
        .transact(move |tx| Box::pin(async move { plugins::insert(tx, &new).await }))
        .await?;
    core.plugins.remember(id, compiled);
    if version.kind == PluginKind::Rhai {
        version.source = String::from_utf8(bytes).ok();
    }
    Ok(version)
}

pub async fn active_rule(core: &Core, caller: &Principal, street: Uuid) -> Result<ActiveRule> {
    authorize(core, caller, street).await?;
    let version = match plugins::active_id(core.db.read(), street).await? {
        Some(id) => Some(fetch_version(core.db.read(), street, id, false).await?),
        None => None,
    };
    let falling_back = version
        .as_ref()
        .is_some_and(|v| v.status != PluginStatus::Ready);
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
    let by = caller.token_id;
    let action = action.to_string();
    core.db
        .transact(move |tx| {
            Box::pin(async move { plugins::switch(tx, street, version, &action, by, &now).await })
        })
        .await
}

/// Makes sure a version can run before the street is switched to it.
async fn ready_to_run(core: &Core, street: Uuid, id: Uuid) -> Result<()> {
    let stored = plugins::get(core.db.read(), street, id).await?;
    if stored.version.status != PluginStatus::Ready {
        return Err(Error::conflict(
            "quarantined",
            "this version is quarantined; deploy a fixed version",
        ));
    }
    if !core.plugins.is_loaded(id) {
        let kind = stored.version.kind;
        let source = decode_source(kind, &stored.source)?;
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
    let version = fetch_version(core.db.read(), street, id, false).await?;
    Ok(ActiveRule {
        version: Some(version),
        falling_back: false,
    })
}

/// Rolls back to the rule that was active before the current one (possibly the built-in
/// rule). To go back to any earlier version, activate it.
pub async fn rollback(core: &Core, caller: &Principal, street: Uuid) -> Result<ActiveRule> {
    authorize(core, caller, street).await?;
    let current = plugins::active_id(core.db.read(), street).await?;
    let history = plugins::switches(core.db.read(), street).await?;
    if history.is_empty() {
        return Err(Error::conflict(
            "nothing_to_roll_back",
            "the street has never changed its rule",
        ));
    }
    let mut previous: Option<Option<Uuid>> = None;
    for v in history {
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
        Some(id) => Some(fetch_version(core.db.read(), street, id, false).await?),
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
    let stored = plugins::get(core.db.read(), street, id).await?;
    let kind = stored.version.kind;
    let config = stored.config;
    let (request, refs) = match (body.demand_id, body.demand, body.candidates) {
        (Some(demand), None, None) => {
            let facts = crate::store::demands::facts(core.db.read(), demand).await?;
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
    let source = decode_source(kind, &stored.source)?;
    let compiled = core.plugins.load(id, kind, &source).map_err(|e| {
        Error::conflict(
            "plugin_invalid",
            format!("the stored version does not compile here: {e}"),
        )
    })?;
    let (_, result, log) = run_rank(compiled, request).await;
    let rule = RuleUsed {
        kind: kind.into(),
        version_id: Some(id),
        version_number: Some(stored.version.number),
        content_hash: Some(stored.version.content_hash),
    };
    let (ranked, fault) = match result {
        Ok(r) => (describe(&r, &refs), None),
        Err(f) => (
            vec![],
            Some(DryRunFault {
                kind: FaultKind::of(&f),
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
    plugins::get(core.db.read(), street, id).await?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    plugins::list_faults(core.db.read(), id, &page).await
}

/// Ranks the candidates for a demand with its street's active rule (the built-in rule when
/// it has none, or when its plugin fails). Nothing is dispatched.
pub async fn match_demand(core: &Core, caller: &Principal, id: Uuid) -> Result<MatchResult> {
    let facts = crate::store::demands::facts(core.db.read(), id).await?;
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
