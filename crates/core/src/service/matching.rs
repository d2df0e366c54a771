//! Matching a demand: the host builds the candidate set, runs the street's active plugin (or
//! the built-in rule), and falls back to the built-in rule when the plugin fails, recording
//! the fault against the version.

use crate::{Error, Result};
use std::{sync::Arc, time::Instant};

use gongjian_plugin_sdk::{
    builder::{DemandSpec, OwnedRequest},
    Ranked,
};
use uuid::Uuid;

use super::{
    pool::{Member, StreetPool},
    Core,
};
pub use crate::domain::matching::{
    CandidateRef, FaultReport, MatchResult, RankedCandidate, RuleUsed,
};
use crate::domain::{unix_seconds, CandidateKind, FaultKind};
use crate::{
    plugin::{
        host::{run_builtin, run_rank, PluginKind},
        Compiled, Fault, Hook,
    },
    store::plugins,
};

/// What the positions of a request stand for.
pub enum Refs {
    /// Members of a street's pool.
    Pool(Arc<StreetPool>, Vec<Member>),
    /// Candidates listed by hand (a dry run).
    Listed(Vec<CandidateRef>),
}

impl Refs {
    fn get(&self, i: usize) -> (CandidateKind, Uuid, &str) {
        match self {
            Refs::Pool(pool, members) => pool.describe(members[i]),
            Refs::Listed(refs) => {
                let c = &refs[i];
                (c.kind, c.id, &c.name)
            }
        }
    }
}

/// A request with the candidates its positions stand for.
pub struct Prepared {
    pub request: OwnedRequest,
    pub refs: Refs,
}

pub use crate::domain::demand::DemandFacts;

/// The demand as a plugin sees it, named in the street's terms.
pub fn spec(facts: &DemandFacts, pool: &StreetPool) -> DemandSpec {
    let (grid, community) = pool.place(facts.grid);
    DemandSpec {
        category: facts.category.clone(),
        category_label: pool.category_label(&facts.category),
        tags: facts.tags.clone(),
        urgency: facts.urgency.to_plugin(),
        grid,
        community,
        window_start: facts.window_start.as_deref().and_then(unix_seconds),
        window_end: facts.window_end.as_deref().and_then(unix_seconds),
        filed_at: unix_seconds(&facts.filed_at).unwrap_or(0),
    }
}

/// Builds the request for a demand from its street's candidate pool: the active volunteers
/// with room and the active resources with capacity left. Residents' personal data never
/// enters it.
pub async fn prepare(core: &Core, demand: &DemandFacts, config: &str) -> Result<Prepared> {
    let pool = core.pools.get(core.db.read(), demand.street).await?;
    Ok(prepare_from(core, demand, config, pool))
}

/// Builds the request from a pool the caller has just read.
pub fn prepare_from(
    core: &Core,
    demand: &DemandFacts,
    config: &str,
    pool: Arc<StreetPool>,
) -> Prepared {
    let spec = spec(demand, &pool);
    let (request, members) = pool.request(
        &spec,
        config,
        core.now().unix_timestamp(),
        core.plugins.settings().max_results,
    );
    Prepared {
        request,
        refs: Refs::Pool(pool, members),
    }
}

pub fn describe(ranked: &[Ranked], refs: &Refs) -> Vec<RankedCandidate> {
    ranked
        .iter()
        .map(|r| {
            let (kind, id, name) = refs.get(r.candidate as usize);
            RankedCandidate {
                kind,
                id,
                name: name.to_string(),
                score: r.score,
                reason: r.reason.clone(),
            }
        })
        .collect()
}

pub use crate::store::plugins::ActiveVersion;

/// The street's active version, if it has one that is not quarantined.
pub async fn active_version(core: &Core, street: Uuid) -> Result<Option<ActiveVersion>> {
    plugins::active_version(core.db.read(), street).await
}

/// The compiled form of a version: from memory, or compiled from its stored source (read
/// only then: a WebAssembly module is large).
pub async fn compiled(
    core: &Core,
    version: Uuid,
    kind: PluginKind,
) -> Result<Result<Arc<Compiled>, crate::plugin::CompileError>> {
    if let Some(c) = core.plugins.loaded(version) {
        return Ok(Ok(c));
    }
    let stored = plugins::source(core.db.read(), version).await?;
    let source = decode_source(kind, &stored)?;
    let plugins = core.plugins.clone();
    // Compiling WebAssembly takes a while: off the async runtime.
    tokio::task::spawn_blocking(move || plugins.load(version, kind, &source))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("compiling a plugin failed: {e}")))
}

/// Stored source as bytes: rhai text as is, WebAssembly from base64.
pub fn decode_source(kind: PluginKind, stored: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    match kind {
        PluginKind::Rhai => Ok(stored.as_bytes().to_vec()),
        PluginKind::Wasm => base64::engine::general_purpose::STANDARD
            .decode(stored)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored plugin is not base64: {e}"))),
    }
}

/// Ranks the candidates for a demand of `street` with the street's active rule. A plugin
/// fault is recorded against its version and the built-in rule ranks instead.
pub async fn match_demand(core: &Core, facts: &DemandFacts) -> Result<MatchResult> {
    // The version is read once: a match finishes on the version it started with, whatever is
    // activated meanwhile.
    let active = active_version(core, facts.street).await?;
    match_with(core, facts, active, None).await
}

/// Ranks with a given active version (none: the built-in rule), from the street's pool as
/// the caller just read it, or as it is now.
pub async fn match_with(
    core: &Core,
    facts: &DemandFacts,
    active: Option<ActiveVersion>,
    pool: Option<Arc<StreetPool>>,
) -> Result<MatchResult> {
    let (demand, street) = (facts.id, facts.street);
    let config = active
        .as_ref()
        .map(|a| a.config.clone())
        .unwrap_or_default();
    let prepared = match pool {
        Some(pool) => prepare_from(core, facts, &config, pool),
        None => prepare(core, facts, &config).await?,
    };
    let considered = prepared.request.candidate_count as usize;
    let Some(active) = active else {
        let started = Instant::now();
        let (_, result) = run_builtin(prepared.request).await;
        core.telemetry
            .plugin_call("builtin", Hook::Rank, "ok", started.elapsed());
        return Ok(MatchResult {
            demand_id: demand,
            rule: RuleUsed::builtin(),
            ranked: describe(
                &result
                    .map_err(|f| Error::Internal(anyhow::anyhow!("built-in rule failed: {f}")))?,
                &prepared.refs,
            ),
            candidates_considered: considered,
            fault: None,
            log: vec![],
            matched_at: core.now_ts(),
        });
    };
    let (request, outcome, log) = match compiled(core, active.id, active.kind).await? {
        Ok(plugin) => run_rank(plugin, prepared.request).await,
        Err(e) => (
            prepared.request,
            Err(Fault::Host(format!(
                "the stored version no longer compiles: {e}"
            ))),
            Default::default(),
        ),
    };
    match outcome {
        Ok(ranked) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Rank, "ok", log.took);
            reset_faults(core, &active).await?;
            Ok(MatchResult {
                demand_id: demand,
                rule: RuleUsed {
                    kind: active.kind.into(),
                    version_id: Some(active.id),
                    version_number: Some(active.number),
                    content_hash: Some(active.content_hash),
                },
                ranked: describe(&ranked, &prepared.refs),
                candidates_considered: considered,
                fault: None,
                log: log.lines,
                matched_at: core.now_ts(),
            })
        }
        Err(fault) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Rank, fault.kind(), log.took);
            tracing::warn!(street = %street, plugin_version = %active.id, number = active.number, kind = fault.kind(), error = %fault, "plugin fault; falling back to the built-in rule");
            let quarantined = record_fault(core, street, active.id, &fault).await?;
            // The built-in rule runs with its own defaults, not the plugin's configuration.
            let mut request = request;
            request.config.clear();
            let (_, fallback) = run_builtin(request).await;
            let ranked = fallback
                .map_err(|f| Error::Internal(anyhow::anyhow!("built-in rule failed: {f}")))?;
            Ok(MatchResult {
                demand_id: demand,
                rule: RuleUsed::builtin(),
                ranked: describe(&ranked, &prepared.refs),
                candidates_considered: considered,
                fault: Some(FaultReport {
                    kind: FaultKind::of(&fault),
                    message: fault.to_string(),
                    version_id: active.id,
                    quarantined,
                }),
                log: log.lines,
                matched_at: core.now_ts(),
            })
        }
    }
}

/// Ends the version's streak of faults after a clean call, if it had one when it was read
/// with the street's place: a healthy plugin's call costs no read and no write. A fault
/// recorded by a concurrent call after that read stays until the next clean call.
async fn reset_faults(core: &Core, active: &ActiveVersion) -> Result<()> {
    if active.faults > 0 {
        let version = active.id;
        core.db
            .transact(move |tx| Box::pin(plugins::reset_fault_streak(tx, version)))
            .await?;
    }
    Ok(())
}

/// Records a fault; quarantines the version when it reaches the limit of consecutive faults.
/// Returns whether this fault quarantined it. Host faults are logged but not held against it.
pub(crate) async fn record_fault(
    core: &Core,
    street: Uuid,
    version: Uuid,
    fault: &Fault,
) -> Result<bool> {
    if !fault.is_plugins() {
        return Ok(false);
    }
    let at = core.now_ts();
    let mut message = fault.to_string();
    if message.len() > 2000 {
        let mut cut = 2000;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    let limit = i64::from(core.plugins.settings().quarantine_after);
    let kind = fault.kind();
    let (consecutive, quarantine) = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                plugins::record_fault(tx, street, version, kind, &message, limit, &at).await
            })
        })
        .await?;
    core.telemetry.plugin_fault(fault.kind());
    if quarantine {
        tracing::warn!(street = %street, plugin_version = %version, faults = consecutive, "plugin version quarantined; the street uses the built-in rule until it deploys a fix");
    }
    Ok(quarantine)
}
