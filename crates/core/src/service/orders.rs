//! Service orders (点单式派单): a demand is dispatched to the candidates its street's rule ranks
//! best; they are offered the order; the first to accept wins; the assignee starts and
//! completes it. Every change is an event.
//!
//! Every change locks the demand and the order (`store::orders::lock`), decides from the
//! order as locked, and writes by compare-and-set in the same transaction.

use std::collections::HashMap;

use gongjian_plugin_sdk::PointsRequest;
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{dispatch, hooks, Core};
use crate::{
    domain::{
        access::{Action, Principal, Role, Target},
        demand::Resident,
        format_ts, mask_address, mask_name, mask_phone,
        order::{
            CompleteRequest, DispatchRequest, Event, ListEvents, ListOrders, Offer, Order,
            PartyTotals, ReasonRequest,
        },
        rules, unix_seconds, CandidateKind, Check, OfferStatus, OrderStatus,
    },
    store::{
        counters::Owner,
        demands,
        events::{self, Stamp},
        orders::{self, Completion, DemandAfter, OfferTo, OrderRow, Visible},
        page::{Page, PageRequest},
        settings::settings_for,
        Tx,
    },
    Error, Result,
};

/// The candidates a caller can act as: a volunteer, and the resources it or its unit owns.
pub(crate) async fn identities(conn: &mut AnyConnection, caller: &Principal) -> Result<Vec<Uuid>> {
    match &caller.role {
        Role::Volunteer { volunteer, .. } => {
            let mut ids = orders::owned_resources(conn, Owner::Volunteer, *volunteer).await?;
            ids.push(*volunteer);
            Ok(ids)
        }
        Role::Unit { unit, .. } => orders::owned_resources(conn, Owner::Unit, *unit).await,
        _ => Ok(vec![]),
    }
}

/// An order read for a caller: the order, the caller's offer on it, whether the caller is
/// its assignee.
struct Loaded {
    rec: OrderRow,
    offer: Option<OfferTo>,
    is_assignee: bool,
}

impl Loaded {
    fn street(&self) -> Uuid {
        self.rec.order.street_id
    }

    fn status(&self) -> OrderStatus {
        self.rec.order.status
    }

    /// What the points of completing the order are worked out from: when it was accepted,
    /// its deadline and its escalations.
    fn points_inputs(&self) -> (Option<&str>, Option<&str>, i64) {
        (
            self.rec.order.accepted_at.as_deref(),
            self.rec.order.complete_deadline.as_deref(),
            self.rec.escalations,
        )
    }
}

/// Reads an order for `caller`, through `conn`: a pooled connection for a read, or the
/// transaction of a change.
async fn load(conn: &mut AnyConnection, caller: &Principal, id: Uuid) -> Result<Loaded> {
    let rec = orders::read(conn, id).await?;
    for_caller(conn, caller, rec).await
}

/// Locks an order and its demand and reads the order for `caller` through the transaction:
/// what a change is decided from.
async fn load_for_change(tx: &mut Tx<'_>, caller: &Principal, id: Uuid) -> Result<Loaded> {
    let rec = orders::lock(tx, id).await?;
    for_caller(tx, caller, rec).await
}

async fn for_caller(conn: &mut AnyConnection, caller: &Principal, rec: OrderRow) -> Result<Loaded> {
    let mine = identities(conn, caller).await?;
    let mut offers = orders::offers_to(conn, &[rec.order.id], &mine).await?;
    let offer = offers.remove(&rec.order.id);
    loaded(caller, rec, &mine, offer)
}

/// An order read for `caller`, given the caller's identities and offer on it; refused
/// unless the caller may see it.
fn loaded(
    caller: &Principal,
    rec: OrderRow,
    mine: &[Uuid],
    offer: Option<OfferTo>,
) -> Result<Loaded> {
    let is_assignee = rec.order.assignee_id.is_some_and(|a| mine.contains(&a));
    caller.authorize(
        Action::Read,
        Target::Order {
            street: rec.order.street_id,
            party: offer.is_some() || is_assignee,
        },
    )?;
    Ok(Loaded {
        rec,
        offer,
        is_assignee,
    })
}

/// The order as `caller` sees it; `offers` are its offers when the caller sees the ranking.
fn order_view(caller: &Principal, l: &Loaded, offers: Option<Vec<Offer>>) -> Order {
    let mut order = l.rec.order.clone();
    let staff = caller.sees_ranking(order.street_id);
    let carrying_out = l.is_assignee
        && matches!(
            order.status,
            OrderStatus::Accepted | OrderStatus::InProgress
        );
    if !caller.sees_order_resident(order.street_id, carrying_out) {
        let r = &order.resident;
        order.resident = Resident {
            name: mask_name(&r.name),
            phone: mask_phone(&r.phone),
            address: mask_address(&r.address),
        };
    }
    if let Some(offer) = &l.offer {
        order.your_offer = Some(offer.status);
        order.offered_because = order.ranking.as_ref().and_then(|ranking| {
            ranking
                .iter()
                .find(|r| r.id == offer.candidate && r.kind == offer.kind)
                .map(|r| r.reason.clone())
        });
    }
    if staff {
        order.offers = Some(offers.unwrap_or_default());
    } else {
        order.ranking = None;
        order.offers = None;
    }
    order
}

/// The order as the caller sees it now, read through `conn`. A change answers with what its
/// own transaction reads before it commits, so a committed change never waits for another
/// connection to answer.
async fn answer(conn: &mut AnyConnection, caller: &Principal, id: Uuid) -> Result<Order> {
    let l = load(conn, caller, id).await?;
    let mut offers = if caller.sees_ranking(l.street()) {
        orders::all_offers(conn, &[id]).await?
    } else {
        HashMap::new()
    };
    Ok(order_view(caller, &l, offers.remove(&id)))
}

/// Dispatches an open demand: ranks its candidates with the street's rule and offers the
/// order to the best of them. A demand whose order ran out of candidates (`unassigned`) is
/// dispatched again the same way, its old order cancelled; those who declined it are not
/// offered it again. A demand edited, cancelled or dispatched while it was being ranked is
/// not dispatched (409 `demand_changed` or `not_open`).
pub async fn dispatch(
    core: &Core,
    caller: &Principal,
    demand: Uuid,
    body: DispatchRequest,
) -> Result<Order> {
    let facts = demands::facts(core.db.read(), demand).await?;
    caller.authorize(
        Action::Update,
        Target::Demand {
            street: facts.street,
        },
    )?;
    let mut c = Check::new();
    if let Some(n) = body.offer_count {
        c.range_i64("offer_count", n, rules::OFFER_COUNT);
    }
    c.finish()?;
    // Ranked first, with no connection held while the rule runs; then written if the demand
    // is still as it was read.
    let ranked = dispatch::rank(core, facts, body.offer_count).await?;
    let actor = caller.token_id.to_string();
    let (caller, now) = (caller.clone(), core.now());
    let order = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                match dispatch::commit_dispatch(tx, now, ranked, &actor).await? {
                    dispatch::Dispatched::Order(id) => answer(tx, &caller, id).await.map(Some),
                    // The escalation is kept: it commits with nothing else.
                    dispatch::Dispatched::NoCandidates => Ok(None),
                }
            })
        })
        .await?;
    order.ok_or_else(|| {
        Error::conflict(
            "no_candidates",
            "no volunteer or resource of the street can take this demand now; the case was escalated",
        )
    })
}

pub async fn list(core: &Core, caller: &Principal, q: ListOrders) -> Result<Page<Order>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut conn = core.db.read().acquire().await?;
    let mine = identities(&mut conn, caller).await?;
    // Volunteers and units see the orders offered to them or assigned to them.
    let visible = match caller.staff_scope() {
        Some(scope) => Visible::Staff(scope),
        None => Visible::Party(&mine),
    };
    // A page is read in at most four queries, whatever its size: the caller's identities,
    // the orders, the caller's offers on them, and, for those who see rankings, every offer.
    let rows = orders::list(&mut conn, visible, &q, &page).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.order.id).collect();
    let mut my_offers = orders::offers_to(&mut conn, &ids, &mine).await?;
    let items = rows
        .into_iter()
        .map(|rec| {
            let offer = my_offers.remove(&rec.order.id);
            loaded(caller, rec, &mine, offer)
        })
        .collect::<Result<Vec<_>>>()?;
    let ranked: Vec<Uuid> = items
        .iter()
        .filter(|l| caller.sees_ranking(l.street()))
        .map(|l| l.rec.order.id)
        .collect();
    let mut offers = orders::all_offers(&mut conn, &ranked).await?;
    let items = items
        .iter()
        .map(|l| order_view(caller, l, offers.remove(&l.rec.order.id)))
        .collect();
    Ok(page.finish(items, |o| o.id))
}

pub async fn get(core: &Core, caller: &Principal, id: Uuid) -> Result<Order> {
    let mut conn = core.db.read().acquire().await?;
    answer(&mut conn, caller, id).await
}

/// Accepts an order offered to the caller, while the offer is open and its deadline has not
/// passed (409 `not_offered`, `offer_expired`). When several accept at once, exactly one wins;
/// the others get 409 `already_taken`. Accepting a resource's order uses one unit of its
/// capacity (409 `no_capacity`); a volunteer holds at most `max_open_orders` accepted or
/// started orders (409 `order_limit`).
pub async fn accept(core: &Core, caller: &Principal, id: Uuid) -> Result<Order> {
    let now = core.now();
    let at = format_ts(now);
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
                let l = load_for_change(&mut *tx, caller, id).await?;
                let Some(offer) = l.offer.clone() else {
                    return Err(Error::forbidden("the order was not offered to you"));
                };
                if offer.status != OfferStatus::Open || l.status() != OrderStatus::Offered {
                    return Err(Error::conflict(
                        "not_offered",
                        format!(
                            "the order is {} and your offer is {}",
                            l.status(),
                            offer.status
                        ),
                    ));
                }
                if let Some(deadline) = l
                    .rec
                    .order
                    .accept_deadline
                    .as_deref()
                    .filter(|d| *d <= at.as_str())
                {
                    return Err(Error::conflict(
                        "offer_expired",
                        format!("the offer expired at {deadline}; it goes to the next candidates"),
                    ));
                }
                let o = &l.rec.order;
                let settings = settings_for(&mut **tx, o.street_id, &o.category).await?;
                let complete_by = dispatch::complete_deadline(
                    &settings,
                    now,
                    o.window_end.as_deref(),
                    &l.rec.filed_at,
                );
                let actor = caller.token_id.to_string();
                let by = Stamp {
                    actor: &actor,
                    at: &at,
                };
                let hold = orders::accept(tx, by, &l.rec, &offer, &format_ts(complete_by)).await?;
                // The answer is read before the candidate's row and the street's counters are
                // locked (see `store::orders::Hold`).
                let order = answer(&mut *tx, caller, id).await?;
                hold.hold(tx).await?;
                Ok(order)
            })
        })
        .await
}

/// Declines an offered order, with a reason. When every open offer is declined, the next
/// candidates of the ranking are offered it; when the ranking runs out, it is unassigned.
pub async fn decline(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ReasonRequest,
) -> Result<Order> {
    let mut c = Check::new();
    let reason = c.text("reason", &body.reason, rules::REASON);
    c.finish()?;
    let now = core.now();
    let at = format_ts(now);
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
                let l = load_for_change(&mut *tx, caller, id).await?;
                let Some(offer) = l.offer.clone() else {
                    return Err(Error::forbidden("the order was not offered to you"));
                };
                if offer.status != OfferStatus::Open {
                    return Err(Error::conflict(
                        "not_offered",
                        format!("your offer is {}", offer.status),
                    ));
                }
                let actor = caller.token_id.to_string();
                let by = Stamp {
                    actor: &actor,
                    at: &at,
                };
                let open = orders::decline(tx, by, id, offer.id, &reason).await?;
                if open == 0 && l.status() == OrderStatus::Offered {
                    dispatch::offer_onward(&mut *tx, now, id, "every open offer was declined")
                        .await?;
                }
                let order = answer(&mut *tx, caller, id).await?;
                Ok(order)
            })
        })
        .await
}

/// Checks that the caller is the order's assignee and the order is in `from`.
fn assignee_at(l: Loaded, from: OrderStatus) -> Result<Loaded> {
    if !l.is_assignee {
        return Err(Error::forbidden("only the order's assignee may do that"));
    }
    if l.status() != from {
        return Err(Error::conflict(
            "invalid_transition",
            format!("the order is {}, not {from}", l.status()),
        ));
    }
    Ok(l)
}

/// Starts an accepted order (the assignee).
pub async fn start(core: &Core, caller: &Principal, id: Uuid) -> Result<Order> {
    let at = core.now_ts();
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
                assignee_at(
                    load_for_change(&mut *tx, caller, id).await?,
                    OrderStatus::Accepted,
                )?;
                let actor = caller.token_id.to_string();
                let by = Stamp {
                    actor: &actor,
                    at: &at,
                };
                orders::start(tx, by, id).await?;
                let order = answer(&mut *tx, caller, id).await?;
                Ok(order)
            })
        })
        .await
}

/// Completes an order in progress (the assignee), recording the service time.
pub async fn complete(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: CompleteRequest,
) -> Result<Order> {
    let mut c = Check::new();
    let minutes = c.range_i64(
        "service_minutes",
        body.service_minutes,
        rules::SERVICE_MINUTES,
    );
    let note = c.opt_text("note", body.note.as_deref(), rules::ORDER_NOTE);
    c.finish()?;
    // The points rule is a plugin call: it runs before the transaction, on the order as read
    // now, and the transaction then checks that the order is still as it was read.
    let read = {
        let mut conn = core.db.read().acquire().await?;
        assignee_at(load(&mut conn, caller, id).await?, OrderStatus::InProgress)?
    };
    let completed = core.now();
    let points = award(core, &read, minutes, completed).await?;
    let at = format_ts(completed);
    let actor = caller.token_id.to_string();
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
                let l = assignee_at(
                    load_for_change(&mut *tx, caller, id).await?,
                    OrderStatus::InProgress,
                )?;
                if l.points_inputs() != read.points_inputs() {
                    return Err(Error::conflict(
                        "order_changed",
                        "the order changed while its points were worked out; complete it again",
                    ));
                }
                let completion = Completion {
                    minutes,
                    note: note.as_deref(),
                    points: points.points,
                    points_rule: &points.rule,
                    points_reason: &points.reason,
                };
                let by = Stamp {
                    actor: &actor,
                    at: &at,
                };
                let settle = orders::complete(tx, by, &l.rec, &completion).await?;
                let order = answer(&mut *tx, caller, id).await?;
                settle.settle(tx).await?;
                Ok(order)
            })
        })
        .await
}

/// The points an order completing now earns under the street's rule.
async fn award(
    core: &Core,
    l: &Loaded,
    minutes: i64,
    completed: time::OffsetDateTime,
) -> Result<hooks::Points> {
    let o = &l.rec.order;
    let seconds = |t: Option<&str>| t.and_then(unix_seconds);
    let (street, completed_before) =
        orders::points_context(core.db.read(), o.street_id, o.assignee_id).await?;
    let req = PointsRequest {
        street,
        category: o.category.clone(),
        urgency: l.rec.urgency.to_plugin(),
        assignee_kind: o
            .assignee_kind
            .unwrap_or(CandidateKind::Volunteer)
            .to_plugin(),
        service_minutes: u32::try_from(minutes).unwrap_or(0),
        filed_at: seconds(Some(&l.rec.filed_at)).unwrap_or(0),
        accepted_at: seconds(o.accepted_at.as_deref()).unwrap_or(0),
        completed_at: completed.unix_timestamp(),
        complete_by: seconds(l.rec.order.complete_deadline.as_deref()),
        escalations: u32::try_from(l.rec.escalations).unwrap_or(0),
        completed_before: u32::try_from(completed_before).unwrap_or(0),
        config: String::new(),
    };
    hooks::award(core, o.street_id, req).await
}

/// Cancels an order that is not finished (the street's admins). The demand opens again and
/// a resource gets back the capacity the order took.
pub async fn cancel(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ReasonRequest,
) -> Result<Order> {
    let mut c = Check::new();
    let reason = c.text("reason", &body.reason, rules::REASON);
    c.finish()?;
    let at = core.now_ts();
    let actor = caller.token_id.to_string();
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
                let l = load_for_change(&mut *tx, caller, id).await?;
                caller.authorize(
                    Action::Update,
                    Target::Order {
                        street: l.street(),
                        party: l.offer.is_some() || l.is_assignee,
                    },
                )?;
                if matches!(l.status(), OrderStatus::Completed | OrderStatus::Cancelled) {
                    return Err(Error::conflict(
                        "invalid_transition",
                        format!("the order is {}", l.status()),
                    ));
                }
                let by = Stamp {
                    actor: &actor,
                    at: &at,
                };
                let settle =
                    orders::cancel(tx, by, id, &[l.status()], &reason, DemandAfter::Reopens)
                        .await?
                        .ok_or_else(|| {
                            Error::conflict("invalid_transition", "the order changed meanwhile")
                        })?;
                let order = answer(&mut *tx, caller, id).await?;
                settle.settle(tx).await?;
                Ok(order)
            })
        })
        .await
}

async fn events_of(core: &Core, kind: &str, id: Uuid, q: &ListEvents) -> Result<Page<Event>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    events::list(core.db.read(), kind, id, &page).await
}

/// Every change to an order: who, when, what, why.
pub async fn order_events(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    q: ListEvents,
) -> Result<Page<Event>> {
    {
        let mut conn = core.db.read().acquire().await?;
        load(&mut conn, caller, id).await?;
    }
    events_of(core, "order", id, &q).await
}

/// Every change to a demand: who, when, what, why.
pub async fn demand_events(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    q: ListEvents,
) -> Result<Page<Event>> {
    let street = demands::facts(core.db.read(), id).await?.street;
    caller.authorize(Action::Read, Target::Demand { street })?;
    events_of(core, "demand", id, &q).await
}

/// The changes `caller` follows recorded after `after`, oldest first, at most `limit`: for
/// the street's staff and the district, every event of the demands and orders they see; for
/// a volunteer or unit, the events of the orders offered to them. A live page polls this and
/// resumes from the last id it saw.
pub async fn changes_since(
    core: &Core,
    caller: &Principal,
    after: Uuid,
    limit: i64,
) -> Result<Vec<Event>> {
    let db = core.db.read();
    match caller.staff_scope() {
        Some(scope) => events::since(db, events::Following::Streets(&scope), after, limit).await,
        None => {
            let mine = {
                let mut conn = db.acquire().await?;
                identities(&mut conn, caller).await?
            };
            events::since(db, events::Following::Offers(&mine), after, limit).await
        }
    }
}

/// What the caller has done as a volunteer or a unit: its completed orders, their minutes of
/// service and points (all zero for anyone else).
pub async fn my_totals(core: &Core, caller: &Principal) -> Result<PartyTotals> {
    let mut conn = core.db.read().acquire().await?;
    let mine = identities(&mut conn, caller).await?;
    orders::party_totals(&mut conn, &mine).await
}

/// A street's escalations (吹哨), newest first: with `open_only`, those whose demand is still
/// being handled — the queue the street office works through. For the street's staff and the
/// district; for anyone else the street's queue does not exist (404).
pub async fn escalations(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    open_only: bool,
) -> Result<Vec<crate::domain::escalation::Escalation>> {
    if !caller.sees_street_office(street) {
        return Err(Error::NotFound("street"));
    }
    orders::escalations(core.db.read(), street, open_only, 200).await
}
