//! Matching a demand: the host builds the candidate set, runs the street's active plugin (or
//! the built-in rule), and falls back to the built-in rule when the plugin fails, recording
//! the fault against the version.

use std::collections::HashMap;

use gongjian_plugin_sdk::{
    builder::{CandidateSpec, DemandSpec, OwnedRequest, RequestBuilder},
    CandidateKind, Ranked, Urgency as PluginUrgency,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{
        clock_minutes, now, now_ts, parse_instant, Urgency, WeeklySlot, DEFAULT_CATEGORIES,
        LOCAL_OFFSET,
    },
    error::{AppError, AppResult},
    lists::{get_json, get_opt_uuid, get_uuid},
    plugin::{
        host::{run_blocking, run_builtin, PluginKind},
        Fault,
    },
    state::AppState,
};

/// Which candidate a position in a request stands for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CandidateRef {
    /// `volunteer` or `resource`.
    pub kind: String,
    pub id: Uuid,
    /// The volunteer's name or the resource's title.
    pub name: String,
}

/// A request with the candidates its positions stand for.
pub struct Prepared {
    pub request: OwnedRequest,
    pub candidates: Vec<CandidateRef>,
    pub street: Uuid,
}

fn ts_seconds(text: &str) -> Option<i64> {
    parse_instant(text).map(|t| t.unix_timestamp())
}

fn local(seconds: i64) -> Option<OffsetDateTime> {
    Some(
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()?
            .to_offset(LOCAL_OFFSET),
    )
}

/// Minutes of a stored (so already validated) `HH:MM`.
fn minutes(hhmm: &str) -> u32 {
    clock_minutes(hhmm).unwrap_or(0)
}

/// Whether weekly slots cover a window. No slots means no declared limits (fits); no window
/// means any time (fits). A window is covered when one slot on its local weekday spans its
/// start and, if it ends the same day, its end.
pub fn weekly_fits(slots: &[WeeklySlot], start: Option<i64>, end: Option<i64>) -> bool {
    let (Some(start), true) = (start, !slots.is_empty()) else {
        return true;
    };
    let Some(s) = local(start) else { return true };
    let day = s.weekday().number_days_from_monday() as usize;
    let start_min = u32::from(s.hour()) * 60 + u32::from(s.minute());
    let end_min = end
        .and_then(local)
        .filter(|e| e.date() == s.date())
        .map(|e| u32::from(e.hour()) * 60 + u32::from(e.minute()))
        .unwrap_or(start_min);
    slots.iter().any(|slot| {
        slot.day as usize == day
            && minutes(&slot.start) <= start_min
            && minutes(&slot.end) >= end_min
    })
}

/// Builds the request for a demand: the street's active volunteers with room and its active
/// resources with capacity left. Residents' personal data never enters it.
pub async fn prepare(state: &AppState, demand: Uuid, config: &str) -> AppResult<Prepared> {
    let db = state.db.read();
    let d = sqlx::query(
        "SELECT d.*, g.code AS grid_code, c.name AS community_name FROM demands d \
         JOIN grids g ON g.id = d.grid_id JOIN communities c ON c.id = g.community_id WHERE d.id = $1",
    )
    .bind(demand.to_string())
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound("demand"))?;
    let street = get_uuid(&d, "street_id")?;
    let category: String = d.try_get("category")?;
    let label = match DEFAULT_CATEGORIES.iter().find(|(c, _)| *c == category) {
        Some((_, l)) => l.to_string(),
        None => sqlx::query("SELECT label FROM categories WHERE street_id = $1 AND code = $2")
            .bind(street.to_string())
            .bind(category.clone())
            .fetch_optional(db)
            .await?
            .map(|r| r.try_get::<String, _>("label"))
            .transpose()?
            .unwrap_or_default(),
    };
    let window_start = d
        .try_get::<Option<String>, _>("window_start")?
        .as_deref()
        .and_then(ts_seconds);
    let window_end = d
        .try_get::<Option<String>, _>("window_end")?
        .as_deref()
        .and_then(ts_seconds);
    let spec = DemandSpec {
        category,
        category_label: label,
        tags: get_json(&d, "tags")?,
        urgency: match Urgency::from_db(&d.try_get::<String, _>("urgency")?)? {
            Urgency::Low => PluginUrgency::Low,
            Urgency::Normal => PluginUrgency::Normal,
            Urgency::High => PluginUrgency::High,
            Urgency::Critical => PluginUrgency::Critical,
        },
        grid: d.try_get("grid_code")?,
        community: d.try_get("community_name")?,
        window_start,
        window_end,
        filed_at: ts_seconds(&d.try_get::<String, _>("created_at")?).unwrap_or(0),
    };

    // The street's grids, to name served grids by code.
    let grids: HashMap<Uuid, (String, String)> = sqlx::query(
        "SELECT g.id, g.code, c.name FROM grids g JOIN communities c ON c.id = g.community_id WHERE g.street_id = $1",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((get_uuid(r, "id")?, (r.try_get("code")?, r.try_get("name")?))))
    .collect::<AppResult<_>>()?;

    let volunteers = sqlx::query(
        "SELECT v.id, v.name, v.skills, v.team, v.party_member, v.availability, v.max_open_orders, v.home_grid_id \
         FROM volunteers v WHERE v.street_id = $1 AND v.active = 1 AND v.archived_at IS NULL AND v.max_open_orders > 0 \
         ORDER BY v.id",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?;
    let resources = sqlx::query(
        "SELECT r.id, r.title, r.category, r.tags, r.capacity_left, r.served_grid_ids, r.available_from, \
         r.available_until, r.owner_unit_id, u.kind AS unit_kind, v.home_grid_id AS volunteer_grid \
         FROM resources r JOIN resource_streets rs ON rs.resource_id = r.id AND rs.street_id = $1 \
         LEFT JOIN units u ON u.id = r.owner_unit_id LEFT JOIN volunteers v ON v.id = r.owner_volunteer_id \
         WHERE r.status = 'active' AND r.capacity_left > 0 AND (u.archived_at IS NULL) ORDER BY r.id",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?;

    // Each candidate's record: orders open and done, minutes served, last order taken.
    let records: HashMap<Uuid, (u32, u32, u32, i64, Option<f32>)> = sqlx::query(
        "SELECT assignee_id, \
         CAST(SUM(CASE WHEN status IN ('accepted', 'in_progress') THEN 1 ELSE 0 END) AS BIGINT) AS open_orders, \
         CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed, \
         CAST(COALESCE(SUM(service_minutes), 0) AS BIGINT) AS minutes, MAX(accepted_at) AS last_at, \
         CAST(AVG(rating) AS DOUBLE PRECISION) AS rating \
         FROM service_orders WHERE street_id = $1 AND assignee_id IS NOT NULL GROUP BY assignee_id",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        let n = |col: &str| -> AppResult<u32> { Ok(u32::try_from(r.try_get::<i64, _>(col)?).unwrap_or(u32::MAX)) };
        let last = r.try_get::<Option<String>, _>("last_at")?.as_deref().and_then(ts_seconds).unwrap_or(0);
        let rating = r.try_get::<Option<f64>, _>("rating")?.map(|x| x as f32);
        Ok((get_uuid(r, "assignee_id")?, (n("open_orders")?, n("completed")?, n("minutes")?, last, rating)))
    })
    .collect::<AppResult<_>>()?;
    let record = |id: Uuid| records.get(&id).copied().unwrap_or_default();

    let street_code: String = sqlx::query("SELECT code FROM streets WHERE id = $1")
        .bind(street.to_string())
        .fetch_one(db)
        .await?
        .try_get("code")?;
    let now_s = now().unix_timestamp();
    let max = state.plugins.settings().max_results;
    let mut b = RequestBuilder::new(&street_code, &spec, config, now_s, max);
    b.reserve(volunteers.len() + resources.len());
    let mut refs = Vec::with_capacity(volunteers.len() + resources.len());
    let place = |grid: Option<Uuid>| {
        grid.and_then(|g| grids.get(&g).cloned())
            .unwrap_or_default()
    };
    for v in &volunteers {
        let id = get_uuid(v, "id")?;
        let (open, completed, minutes, last, rating) = record(id);
        let max_open = u32::try_from(v.try_get::<i64, _>("max_open_orders")?).unwrap_or(0);
        if open >= max_open {
            continue;
        }
        let slots: Vec<WeeklySlot> = get_json(v, "availability")?;
        let (grid, community) = place(Some(get_uuid(v, "home_grid_id")?));
        b.push(&CandidateSpec {
            kind: CandidateKind::Volunteer,
            party_member: v.try_get::<i64, _>("party_member")? != 0,
            availability_fits: weekly_fits(&slots, window_start, window_end),
            home_grid: grid,
            community,
            team: v.try_get("team")?,
            labels: get_json(v, "skills")?,
            max_open_orders: max_open,
            open_orders: open,
            completed_orders: completed,
            service_minutes: minutes,
            last_order_at: last,
            average_rating: rating,
            ..CandidateSpec::default()
        });
        refs.push(CandidateRef {
            kind: "volunteer".into(),
            id,
            name: v.try_get("name")?,
        });
    }
    for r in &resources {
        let rid = get_uuid(r, "id")?;
        let rec = record(rid);
        let from = r
            .try_get::<Option<String>, _>("available_from")?
            .as_deref()
            .and_then(ts_seconds);
        let until = r
            .try_get::<Option<String>, _>("available_until")?
            .as_deref()
            .and_then(ts_seconds);
        let need_from = window_start.unwrap_or(now_s);
        let need_until = window_end.or(window_start).unwrap_or(now_s);
        let fits = from.is_none_or(|f| f <= need_from) && until.is_none_or(|u| u >= need_until);
        let served: Vec<Uuid> = get_json(r, "served_grid_ids")?;
        let (grid, community) = place(get_opt_uuid(r, "volunteer_grid")?);
        b.push(&CandidateSpec {
            kind: CandidateKind::Resource,
            availability_fits: fits,
            owned_by_unit: get_opt_uuid(r, "owner_unit_id")?.is_some(),
            home_grid: grid,
            community,
            category: Some(r.try_get("category")?),
            owner_kind: r.try_get("unit_kind")?,
            labels: get_json(r, "tags")?,
            served_grids: served
                .iter()
                .filter_map(|g| grids.get(g).map(|(code, _)| code.clone()))
                .collect(),
            capacity_left: u32::try_from(r.try_get::<i64, _>("capacity_left")?).unwrap_or(u32::MAX),
            max_open_orders: 0,
            open_orders: rec.0,
            completed_orders: rec.1,
            service_minutes: rec.2,
            last_order_at: rec.3,
            average_rating: rec.4,
            ..CandidateSpec::default()
        });
        refs.push(CandidateRef {
            kind: "resource".into(),
            id: rid,
            name: r.try_get("title")?,
        });
    }
    Ok(Prepared {
        request: b.finish(),
        candidates: refs,
        street,
    })
}

/// The rule a match used.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleUsed {
    /// `builtin`, `rhai` or `wasm`.
    pub kind: String,
    /// The plugin version, when a plugin ranked.
    pub version_id: Option<Uuid>,
    pub version_number: Option<i64>,
    pub content_hash: Option<String>,
}

impl RuleUsed {
    pub fn builtin() -> Self {
        RuleUsed {
            kind: "builtin".into(),
            version_id: None,
            version_number: None,
            content_hash: None,
        }
    }
}

/// A fault, as reported in a match.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FaultReport {
    /// `trap`, `timeout`, `limit`, `plugin_error`, `invalid_output` or `host`.
    pub kind: String,
    pub message: String,
    /// The version that failed.
    pub version_id: Uuid,
    /// Whether the version was quarantined by this fault.
    pub quarantined: bool,
}

/// One ranked candidate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RankedCandidate {
    pub kind: String,
    pub id: Uuid,
    pub name: String,
    pub score: f64,
    pub reason: String,
}

/// What a match produced.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MatchResult {
    pub demand_id: Uuid,
    /// The rule whose ranking this is.
    pub rule: RuleUsed,
    /// Best first.
    pub ranked: Vec<RankedCandidate>,
    /// How many candidates the rule was given.
    pub candidates_considered: usize,
    /// When the street's plugin failed and the built-in rule ranked instead.
    pub fault: Option<FaultReport>,
    /// The plugin's print/debug lines (rhai).
    pub log: Vec<String>,
    pub matched_at: String,
}

pub fn describe(ranked: &[Ranked], refs: &[CandidateRef]) -> Vec<RankedCandidate> {
    ranked
        .iter()
        .map(|r| {
            let c = &refs[r.candidate as usize];
            RankedCandidate {
                kind: c.kind.clone(),
                id: c.id,
                name: c.name.clone(),
                score: r.score,
                reason: r.reason.clone(),
            }
        })
        .collect()
}

/// The street's active version, if it has one that is not quarantined.
pub struct ActiveVersion {
    pub id: Uuid,
    pub number: i64,
    pub kind: PluginKind,
    pub content_hash: String,
    pub config: String,
    pub source: Vec<u8>,
}

pub async fn active_version(state: &AppState, street: Uuid) -> AppResult<Option<ActiveVersion>> {
    let row = sqlx::query(
        "SELECT v.id, v.number, v.kind, v.content_hash, v.config, v.source FROM street_plugins sp \
         JOIN plugin_versions v ON v.id = sp.active_version_id \
         WHERE sp.street_id = $1 AND v.status = 'ready'",
    )
    .bind(street.to_string())
    .fetch_optional(state.db.read())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kind = PluginKind::from_db(&row.try_get::<String, _>("kind")?)?;
    let source: String = row.try_get("source")?;
    Ok(Some(ActiveVersion {
        id: get_uuid(&row, "id")?,
        number: row.try_get("number")?,
        kind,
        content_hash: row.try_get("content_hash")?,
        config: row.try_get("config")?,
        source: decode_source(kind, &source)?,
    }))
}

/// Stored source as bytes: rhai text as is, WebAssembly from base64.
pub fn decode_source(kind: PluginKind, stored: &str) -> AppResult<Vec<u8>> {
    use base64::Engine;
    match kind {
        PluginKind::Rhai => Ok(stored.as_bytes().to_vec()),
        PluginKind::Wasm => base64::engine::general_purpose::STANDARD
            .decode(stored)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored plugin is not base64: {e}"))),
    }
}

/// Ranks the candidates for a demand of `street` with the street's active rule. A plugin
/// fault is recorded against its version and the built-in rule ranks instead.
pub async fn match_demand(state: &AppState, demand: Uuid, street: Uuid) -> AppResult<MatchResult> {
    // The version is read once: a match finishes on the version it started with, whatever is
    // activated meanwhile.
    let active = active_version(state, street).await?;
    let config = active
        .as_ref()
        .map(|a| a.config.clone())
        .unwrap_or_default();
    let prepared = prepare(state, demand, &config).await?;
    let considered = prepared.request.candidate_count as usize;
    let Some(active) = active else {
        let (_, result) = run_builtin(prepared.request).await;
        state.metrics.plugin_call("builtin", "ok");
        return Ok(MatchResult {
            demand_id: demand,
            rule: RuleUsed::builtin(),
            ranked: describe(
                &result.map_err(|f| {
                    AppError::Internal(anyhow::anyhow!("built-in rule failed: {f}"))
                })?,
                &prepared.candidates,
            ),
            candidates_considered: considered,
            fault: None,
            log: vec![],
            matched_at: now_ts(),
        });
    };
    let compiled = state.plugins.load(active.id, active.kind, &active.source);
    let (request, outcome, log) = match compiled {
        Ok(plugin) => run_blocking(plugin, prepared.request).await,
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
            state.metrics.plugin_call(active.kind.as_str(), "ok");
            reset_faults(state, active.id).await?;
            Ok(MatchResult {
                demand_id: demand,
                rule: RuleUsed {
                    kind: active.kind.as_str().into(),
                    version_id: Some(active.id),
                    version_number: Some(active.number),
                    content_hash: Some(active.content_hash),
                },
                ranked: describe(&ranked, &prepared.candidates),
                candidates_considered: considered,
                fault: None,
                log: log.lines,
                matched_at: now_ts(),
            })
        }
        Err(fault) => {
            state
                .metrics
                .plugin_call(active.kind.as_str(), fault.kind());
            tracing::warn!(street = %street, plugin_version = %active.id, number = active.number, kind = fault.kind(), error = %fault, "plugin fault; falling back to the built-in rule");
            let quarantined = record_fault(state, street, active.id, &fault).await?;
            // The built-in rule runs with its own defaults, not the plugin's configuration.
            let mut request = request;
            request.config.clear();
            let (_, fallback) = run_builtin(request).await;
            let ranked = fallback
                .map_err(|f| AppError::Internal(anyhow::anyhow!("built-in rule failed: {f}")))?;
            Ok(MatchResult {
                demand_id: demand,
                rule: RuleUsed::builtin(),
                ranked: describe(&ranked, &prepared.candidates),
                candidates_considered: considered,
                fault: Some(FaultReport {
                    kind: fault.kind().into(),
                    message: fault.to_string(),
                    version_id: active.id,
                    quarantined,
                }),
                log: log.lines,
                matched_at: now_ts(),
            })
        }
    }
}

async fn reset_faults(state: &AppState, version: Uuid) -> AppResult<()> {
    // Only a version with faults on record is written to, so a healthy plugin costs no write.
    let faulty =
        sqlx::query("SELECT 1 FROM plugin_versions WHERE id = $1 AND consecutive_faults > 0")
            .bind(version.to_string())
            .fetch_optional(state.db.read())
            .await?;
    if faulty.is_some() {
        sqlx::query("UPDATE plugin_versions SET consecutive_faults = 0 WHERE id = $1")
            .bind(version.to_string())
            .execute(state.db.write())
            .await?;
    }
    Ok(())
}

/// Records a fault; quarantines the version when it reaches the limit of consecutive faults.
/// Returns whether this fault quarantined it. Host faults are logged but not held against it.
async fn record_fault(
    state: &AppState,
    street: Uuid,
    version: Uuid,
    fault: &Fault,
) -> AppResult<bool> {
    if !fault.is_plugins() {
        return Ok(false);
    }
    let at = now_ts();
    let mut message = fault.to_string();
    if message.len() > 2000 {
        let mut cut = 2000;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    let mut tx = state.db.write().begin().await?;
    sqlx::query("INSERT INTO plugin_faults (id, version_id, street_id, kind, message, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(Uuid::now_v7().to_string())
        .bind(version.to_string())
        .bind(street.to_string())
        .bind(fault.kind())
        .bind(message)
        .bind(at.clone())
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(
        "UPDATE plugin_versions SET consecutive_faults = consecutive_faults + 1, total_faults = total_faults + 1 \
         WHERE id = $1 RETURNING consecutive_faults, status",
    )
    .bind(version.to_string())
    .fetch_one(&mut *tx)
    .await?;
    let consecutive: i64 = row.try_get("consecutive_faults")?;
    let status: String = row.try_get("status")?;
    let limit = i64::from(state.plugins.settings().quarantine_after);
    let quarantine = status == "ready" && consecutive >= limit;
    if quarantine {
        sqlx::query(
            "UPDATE plugin_versions SET status = 'quarantined', quarantined_at = $1 WHERE id = $2",
        )
        .bind(at.clone())
        .bind(version.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO plugin_activations (id, street_id, version_id, action, at, by_token) VALUES ($1, $2, $3, 'quarantine', $4, NULL)")
            .bind(Uuid::now_v7().to_string())
            .bind(street.to_string())
            .bind(version.to_string())
            .bind(at)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    state.metrics.plugin_fault(fault.kind());
    if quarantine {
        tracing::warn!(street = %street, plugin_version = %version, faults = consecutive, "plugin version quarantined; the street uses the built-in rule until it deploys a fix");
    }
    Ok(quarantine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Weekday;

    #[test]
    fn weekly_slots_cover_windows_in_local_time() {
        let slot = |day, s: &str, e: &str| WeeklySlot {
            day,
            start: s.into(),
            end: e.into(),
        };
        let sat_morning = [slot(Weekday::Sat, "08:00", "12:00")];
        // 2026-05-02 is a Saturday; 09:00–11:00 at UTC+8 is 01:00–03:00 UTC.
        let start = OffsetDateTime::parse(
            "2026-05-02T01:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp();
        assert!(weekly_fits(&sat_morning, Some(start), Some(start + 7200)));
        assert!(
            !weekly_fits(&sat_morning, Some(start), Some(start + 4 * 3600)),
            "ends after the slot"
        );
        assert!(
            !weekly_fits(&sat_morning, Some(start + 86_400), None),
            "Sunday"
        );
        assert!(weekly_fits(&[], Some(start), None), "no declared slots");
        assert!(weekly_fits(&sat_morning, None, None), "no window");
    }
}
