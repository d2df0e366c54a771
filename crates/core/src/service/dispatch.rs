//! Dispatching a demand as a service order, the deadlines it runs against, and escalation
//! (吹哨) when candidates run out or a deadline passes. Used by the order API, by filing (when a
//! street dispatches automatically) and by the scheduler.

use crate::{Error, Result};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    matching::{self, ActiveVersion, DemandFacts, MatchResult},
    pool::StreetPool,
    Core,
};
use crate::{domain::settings::Settings, store::settings::settings_for};
use crate::{
    domain::{end_of_local_day, format_ts, parse_instant},
    store::{db::Tx, Script},
};
use crate::{
    domain::{DemandStatus, OrderStatus},
    store::{
        demands,
        events::Stamp,
        orders::{self, DemandAfter},
    },
};

/// When an accepted order must be completed.
pub fn complete_deadline(
    settings: &Settings,
    accepted: OffsetDateTime,
    window_end: Option<&str>,
    filed: &str,
) -> OffsetDateTime {
    if let Some(m) = settings.complete_minutes {
        return accepted + Duration::minutes(m);
    }
    let promised = window_end
        .and_then(parse_instant)
        .or_else(|| parse_instant(filed).map(end_of_local_day));
    // A promise already past when the order is accepted still leaves an hour to do the work.
    promised
        .filter(|p| *p > accepted + Duration::hours(1))
        .unwrap_or(accepted + Duration::hours(1))
}

/// The outcome of dispatching a demand.
pub enum Dispatched {
    Order(Uuid),
    /// Nobody could take it; the demand stays open and the case was escalated.
    NoCandidates,
}

/// A dispatch decided and not yet written: the street's settings for the demand, how many
/// candidates are offered at once, and the ranking.
pub struct Plan {
    pub settings: Settings,
    pub offer_count: usize,
    pub matched: MatchResult,
}

/// Ranks a demand's candidates with the street's active version (none: the built-in rule),
/// from `pool` when the caller has just read the street's. `offer_count` overrides the
/// street's setting.
pub async fn plan(
    core: &Core,
    demand: &DemandFacts,
    active: Option<ActiveVersion>,
    pool: Option<Arc<StreetPool>>,
    settings: Settings,
    offer_count: Option<i64>,
) -> Result<Plan> {
    let offer_count = offer_count.unwrap_or(settings.offer_count).max(1) as usize;
    let matched = matching::match_with(core, demand, active, pool).await?;
    Ok(Plan {
        settings,
        offer_count,
        matched,
    })
}

/// Writes a planned dispatch in the caller's transaction, at `now`, with the caller's pending
/// writes (`before`: a filing's, when the demand is filed in the same transaction): claims
/// the open demand, records the rule and ranking on a new order and offers it to the best
/// candidates; or, when nobody can take it, escalates and leaves the demand open.
pub async fn write(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    demand: &DemandFacts,
    plan: &Plan,
    actor: &str,
    before: Script,
    claim: orders::Claim,
) -> Result<Dispatched> {
    let (street, m) = (demand.street, &plan.matched);
    let at = format_ts(now);
    let accept_by = now + Duration::minutes(plan.settings.accept_minutes);
    if m.ranked.is_empty() {
        before.send(tx).await?;
        orders::escalate(
            tx,
            Stamp { actor, at: &at },
            street,
            demand.id,
            None,
            "no volunteer or resource can take it",
            &format_ts(accept_by),
        )
        .await?;
        return Ok(Dispatched::NoCandidates);
    }
    let o = OrderTexts::of(now, plan);
    orders::insert(
        tx,
        before,
        Stamp { actor, at: &at },
        &o.new_order(demand, plan, claim),
    )
    .await?;
    Ok(Dispatched::Order(o.id))
}

/// The writes of a filing's dispatch to the candidates `plan` ranked, added to `script` (the
/// filing's own writes): the order, its first offers and their events. They read nothing, so
/// with the filing's they are its whole transaction ([`Db::write_script`]). `None`, and
/// nothing added, when nobody can take it: that dispatch escalates, through [`write`].
///
/// [`Db::write_script`]: crate::store::db::Db::write_script
pub fn filing_order(
    script: &mut Script,
    now: OffsetDateTime,
    demand: &DemandFacts,
    plan: &Plan,
    actor: &str,
) -> Option<Uuid> {
    if plan.matched.ranked.is_empty() {
        return None;
    }
    let o = OrderTexts::of(now, plan);
    orders::write_new(
        script,
        Stamp {
            actor,
            at: &format_ts(now),
        },
        &o.new_order(demand, plan, orders::Claim::Filed),
    );
    Some(o.id)
}

/// What a new order of a plan says of itself: its id, its deadline to accept, and how it was
/// ranked.
struct OrderTexts {
    id: Uuid,
    accept_deadline: String,
    ranked_by: String,
}

impl OrderTexts {
    fn of(now: OffsetDateTime, plan: &Plan) -> OrderTexts {
        let m = &plan.matched;
        let rule = match m.rule.version_number {
            Some(n) => format!("{} v{n}", m.rule.kind),
            None => m.rule.kind.to_string(),
        };
        let fallback = m
            .fault
            .as_ref()
            .map(|f| format!("; plugin fault ({}), built-in rule used", f.kind))
            .unwrap_or_default();
        OrderTexts {
            id: Uuid::now_v7(),
            accept_deadline: format_ts(now + Duration::minutes(plan.settings.accept_minutes)),
            ranked_by: format!("ranked by {rule}{fallback}"),
        }
    }

    fn new_order<'a>(
        &'a self,
        demand: &DemandFacts,
        plan: &'a Plan,
        claim: orders::Claim,
    ) -> orders::NewOrder<'a> {
        let m = &plan.matched;
        orders::NewOrder {
            id: self.id,
            demand: demand.id,
            street: demand.street,
            rule: &m.rule,
            ranking: &m.ranked,
            offer_count: plan.offer_count,
            offered: m.ranked.len().min(plan.offer_count),
            accept_deadline: &self.accept_deadline,
            ranked_by: &self.ranked_by,
            claim,
        }
    }
}

/// A demand ranked for dispatch by an admin's request, not yet written: what it was ranked
/// on, and the plan.
pub struct Ranked {
    facts: DemandFacts,
    plan: Plan,
}

/// Ranks a demand for dispatch now (an admin's request): an open one, or one whose order ran
/// out of candidates (`unassigned`). Nothing is written; [`commit_dispatch`] writes it. The
/// ranking runs outside any transaction: a plugin call never holds a connection.
/// `offer_count` overrides the street's setting. `facts` is the demand as the caller read it;
/// [`commit_dispatch`] writes only if it is still so.
pub async fn rank(core: &Core, facts: DemandFacts, offer_count: Option<i64>) -> Result<Ranked> {
    if !matches!(facts.status, DemandStatus::Open | DemandStatus::Dispatched) {
        return Err(not_dispatchable());
    }
    let settings = settings_for(core.db.read(), facts.street, &facts.category).await?;
    let active = matching::active_version(core, facts.street).await?;
    let plan = plan(core, &facts, active, None, settings, offer_count).await?;
    Ok(Ranked { facts, plan })
}

fn not_dispatchable() -> Error {
    Error::conflict(
        "not_open",
        "only an open demand, or one whose order ran out of candidates, can be dispatched",
    )
}

/// Writes a dispatch ranked by [`rank`] in the caller's transaction, at `now`. The demand is
/// locked and compared with what was ranked: if it changed meanwhile (edited, dispatched,
/// cancelled), nothing is written and the answer is 409. A demand whose order ran out of
/// candidates is dispatched again as a new order; the old one is cancelled. Candidates who
/// declined an earlier order of the demand are not offered it again.
pub async fn commit_dispatch(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    ranked: Ranked,
    actor: &str,
) -> Result<Dispatched> {
    let Ranked { facts, mut plan } = ranked;
    let demand = facts.id;
    // The demand first, as in every transaction that changes a demand and its orders.
    let current = demands::lock_facts(tx, demand).await?;
    if current != facts {
        return Err(Error::conflict(
            "demand_changed",
            "the demand changed while it was being ranked; dispatch it again",
        ));
    }
    let at = format_ts(now);
    if facts.status == DemandStatus::Dispatched {
        let old = orders::last_unassigned(tx, demand).await?.ok_or_else(|| {
            Error::conflict(
                "not_open",
                "the demand's order is still offered or taken; it is dispatched again only once its candidates run out",
            )
        })?;
        let by = Stamp { actor, at: &at };
        let why = "re-dispatched: its candidates had run out";
        // Nobody holds an unassigned order: there is nothing to settle.
        orders::cancel(
            tx,
            by,
            old,
            &[OrderStatus::Unassigned],
            why,
            DemandAfter::Reopens,
        )
        .await?
        .ok_or_else(|| Error::conflict("not_open", "the demand's order changed meanwhile"))?
        .settle(tx)
        .await?;
    } else if facts.status != DemandStatus::Open {
        return Err(not_dispatchable());
    }
    let declined = orders::declined_by(tx, demand).await?;
    plan.matched.ranked.retain(|c| !declined.contains(&c.id));
    let before = Script::new(tx);
    write(tx, now, &facts, &plan, actor, before, orders::Claim::Open).await
}

/// Moves an offered order on when its open offers are gone (declined or expired), at `now`:
/// offers it to the next candidates of its ranking, or, when the ranking is used up, marks it
/// unassigned and escalates. Everything it reads, it reads through the caller's transaction.
pub async fn offer_onward(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    order: Uuid,
    why: &str,
) -> Result<()> {
    let progress = orders::progress(tx, order).await?;
    let (street, demand) = (progress.street, progress.demand);
    let settings = settings_for(&mut **tx, street, &progress.category).await?;
    let at = format_ts(now);
    let accept_by = now + Duration::minutes(settings.accept_minutes);
    let by = Stamp {
        actor: "system",
        at: &at,
    };
    let offered = orders::offer_next(tx, by, order, &progress, &format_ts(accept_by), why).await?;
    if offered > 0 {
        return Ok(());
    }
    orders::unassign(tx, by, street, order, why).await?;
    orders::escalate(
        tx,
        by,
        street,
        demand,
        Some(order),
        "the candidates ran out",
        &format_ts(accept_by),
    )
    .await
}
