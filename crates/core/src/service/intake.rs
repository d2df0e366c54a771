//! Intake: a demand filed by a grid worker, a channel or an admin, triaged by the street's
//! rule and, when the street dispatches its category at once, offered in the same commit.
//!
//! Filing checks every field, reads in one query the street of the demand's grid, the
//! counters of the street's candidate pool and its active rule (with the caller, when it is
//! known by a bearer token: one read before the writes), asks the access policy, and
//! takes the pool as of those counters (it also knows the street's categories). The street's
//! rule may correct what was filed; the triage record is kept either way. Ranking runs before anything is written; the demand, its events and its
//! order then commit together through [`Db::transact`](crate::store::Db::transact), so
//! concurrent filings share one commit on SQLite.

use uuid::Uuid;

use super::{
    dispatch,
    hooks::{self, Intake},
    matching::DemandFacts,
    Core,
};
use crate::{
    domain::{
        access::{Action, Principal, Target},
        demand::{check_resident, shown_to, CreateDemand, Demand, Resident},
        format_ts, rules, Check, DemandStatus, Urgency,
    },
    store::{
        candidates::{self, FilingPlace},
        demands,
        orders::Claim,
        Script,
    },
    Error, Result,
};

/// Files a demand for `caller`, answering it as the caller may see it.
pub async fn file(core: &Core, caller: &Principal, body: CreateDemand) -> Result<Demand> {
    let fields = Fields::check(&body)?;
    let place = candidates::filing_place(core.db.read(), body.grid_id).await?;
    file_in(core, caller, body, fields, place).await
}

/// [`file`] for the caller a bearer token names, read with the filing's place in one query:
/// `Unauthorized` when the token names nobody, before anything else is checked.
pub async fn file_for_token(core: &Core, token: &str, body: CreateDemand) -> Result<Demand> {
    let (caller, place) = candidates::caller_and_place(core.db.read(), token, body.grid_id)
        .await?
        .ok_or(Error::Unauthorized("invalid_token"))?;
    let fields = Fields::check(&body)?;
    file_in(core, &caller, body, fields, place).await
}

/// A filing's fields, checked.
struct Fields {
    category: String,
    tags: Vec<String>,
    description: String,
    resident: Resident,
    start: Option<String>,
    end: Option<String>,
}

impl Fields {
    fn check(body: &CreateDemand) -> Result<Fields> {
        let mut c = Check::new();
        let category = c.code("category", &body.category, rules::CODE);
        let tags = c.labels("tags", &body.tags);
        let description = c.text("description", &body.description, rules::DESCRIPTION);
        let resident = check_resident(&mut c, &body.resident);
        let start = c.ts("window_start", body.window_start.as_deref());
        let end = c.ts("window_end", body.window_end.as_deref());
        c.window("window_end", &start, &end);
        c.finish()?;
        Ok(Fields {
            category,
            tags,
            description,
            resident,
            start,
            end,
        })
    }
}

/// Files a checked demand at its place (the grid's street, its pool's counters and its
/// active rule, read at once; `None` for an unknown grid). The version is read once: the
/// filing finishes on the rule it started with.
async fn file_in(
    core: &Core,
    caller: &Principal,
    body: CreateDemand,
    fields: Fields,
    place: Option<FilingPlace>,
) -> Result<Demand> {
    // Reads only: the writes go through the committer.
    let db = core.db.read();
    let place =
        place.ok_or_else(|| Error::field("grid_id", "unknown_reference", "no grid has this id"))?;
    let street = place.street;
    caller.authorize(Action::Create, Target::Demand { street })?;
    let pool = core.pools.at(db, street, place.counters).await?;
    if !pool.has_category(&fields.category) {
        return Err(unknown_category(&fields.category));
    }
    let id = Uuid::now_v7();
    let filed = core.now();
    let filed_at = format_ts(filed);
    let mut facts = DemandFacts {
        id,
        street,
        grid: body.grid_id,
        category: fields.category,
        tags: fields.tags,
        urgency: body.urgency.unwrap_or(Urgency::Normal),
        window_start: fields.start,
        window_end: fields.end,
        filed_at: filed_at.clone(),
        status: DemandStatus::Open,
    };
    let active = place.active;
    let triage = hooks::triage(
        core,
        active.as_ref(),
        &pool,
        &mut facts,
        Intake {
            channel: body.channel,
            description: &fields.description,
            resident: [
                &fields.resident.name,
                &fields.resident.phone,
                &fields.resident.address,
            ],
        },
    )
    .await?;
    let settings = pool.settings(&facts.category);
    let plan = if settings.auto_dispatch {
        match dispatch::plan(core, &facts, active, Some(pool), settings, None).await {
            Ok(plan) => Some(plan),
            Err(e) => {
                tracing::warn!(demand = %id, error = %e, "automatic dispatch failed; the demand stays open");
                None
            }
        }
    } else {
        None
    };
    // Filed as dispatched when it is about to be: one statement fewer.
    let status = match &plan {
        Some(p) if !p.matched.ranked.is_empty() => DemandStatus::Dispatched,
        _ => DemandStatus::Open,
    };
    // What is written, and answered without reading it back.
    let demand = Demand {
        id,
        street_id: street,
        grid_id: body.grid_id,
        category: facts.category.clone(),
        tags: facts.tags.clone(),
        urgency: facts.urgency,
        channel: body.channel,
        description: fields.description,
        resident: fields.resident,
        resident_masked: false,
        window_start: facts.window_start.clone(),
        window_end: facts.window_end.clone(),
        status,
        flagged: false,
        triage: Some(triage),
        created_at: filed_at.clone(),
        updated_at: filed_at,
    };
    let actor = caller.token_id.to_string();
    // A filing with no order, or with one offered to its candidates, reads nothing in its
    // transaction: its writes are one script, sent alone. One whose dispatch finds nobody
    // escalates, which reads the demand's orders in the transaction.
    let escalates = plan.as_ref().is_some_and(|p| p.matched.ranked.is_empty());
    if !escalates {
        let mut script = Script::for_backend(core.db.backend());
        demands::insert(&mut script, &demand, &actor);
        if let Some(plan) = &plan {
            dispatch::filing_order(&mut script, filed, &facts, plan, "system");
        }
        core.db.write_script(script).await?;
        return Ok(shown_to(demand, caller));
    }
    let demand = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                let mut script = Script::new(tx);
                demands::insert(&mut script, &demand, &actor);
                // The filing and its escalation go to the database together.
                if let Some(plan) = &plan {
                    dispatch::write(tx, filed, &facts, plan, "system", script, Claim::Filed)
                        .await?;
                }
                Ok(demand)
            })
        })
        .await?;
    Ok(shown_to(demand, caller))
}

/// The error for a category the street does not have.
pub fn unknown_category(category: &str) -> Error {
    Error::field(
        "category",
        "unknown_category",
        format!("{category:?} is not a category of this street"),
    )
}
