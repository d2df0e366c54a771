//! Changes to orders. Each is a compare-and-set on the state it was decided from, in the
//! caller's transaction (which locked the demand and the order first, see [`super::lock`]),
//! and keeps its own invariants, so that no caller can forget one:
//! - it records its events: on the order and, when it moves the demand, on the demand;
//! - it moves what the order holds of its candidate: a resource's capacity, a volunteer's
//!   place under its limit of open orders, the candidate's record in the pool.
//!
//! The candidate's row and the street's counters are locked last, because every change of
//! the candidate waits for the one and every order change in the street for the other. So a
//! change that moves a candidate's record answers with what is left to do — a [`Hold`] when
//! accepting, a [`Settle`] otherwise — which the caller runs once it has read its answer
//! (they are `#[must_use]`; a transaction that errs before running it rolls back).

use sqlx::Row;
use uuid::Uuid;

use super::{OfferTo, OrderRow, Progress};
use crate::{
    domain::{
        matching::{RankedCandidate, RuleUsed},
        notification::NotificationType,
        CandidateKind, DemandStatus, OrderStatus,
    },
    store::{
        counters, demands,
        events::{add_events, record_events, Stamp},
        figures, for_update,
        notifications::{self, closed_offers, NewNotification, To},
        rows::{get_opt_enum, get_opt_uuid, get_uuid, to_json},
        Script, Sql, Tx,
    },
    Error, Result,
};

// ---------------------------------------------------------------------------------------------
// Dispatch: a new order, offers onward, a ranking used up

/// A new order of a demand, offered to the first `offered` candidates of its ranking.
pub struct NewOrder<'a> {
    pub id: Uuid,
    pub demand: Uuid,
    pub street: Uuid,
    pub rule: &'a RuleUsed,
    pub ranking: &'a [RankedCandidate],
    pub offer_count: usize,
    pub offered: usize,
    pub accept_deadline: &'a str,
    /// How the ranking was made (the rule, a plugin's fault), for the order's first event.
    pub ranked_by: &'a str,
    /// The demand's state before the order.
    pub claim: Claim,
}

/// What a new order finds its demand in.
#[derive(Clone, Copy)]
pub enum Claim {
    /// Open: the order moves it to dispatched (and so marks it for the figures).
    Open,
    /// Filed as dispatched in the same transaction, and so already marked for the figures.
    Filed,
}

/// Writes a new offered order of a demand, with its rule and ranking, and its first offers;
/// moves an open demand to dispatched (409 `not_open` if it was dispatched meanwhile);
/// records `dispatched` on the demand and `offered` on the order. `before` holds the caller's
/// writes that go with it (a filing's), sent with the order's in one request.
pub async fn insert(
    tx: &mut Tx<'_>,
    mut before: Script,
    by: Stamp<'_>,
    o: &NewOrder<'_>,
) -> Result<()> {
    if let Claim::Open = o.claim {
        if !demands::move_status(
            tx,
            o.demand,
            DemandStatus::Open,
            DemandStatus::Dispatched,
            by.at,
        )
        .await?
        {
            return Err(Error::conflict(
                "not_open",
                "the demand was dispatched meanwhile",
            ));
        }
    }
    write_new(&mut before, by, o);
    before.send(tx).await?;
    Ok(())
}

/// Writes the statements of a new offered order into `script`: the order with its rule and
/// ranking, its first offers, and the `dispatched` and `offered` events. Reads nothing: for a
/// filing's order (`Claim::Filed`) these are the whole transaction with the filing's own.
pub fn write_new(before: &mut Script, by: Stamp<'_>, o: &NewOrder<'_>) {
    let sql = before.statement();
    sql.push(
        "INSERT INTO service_orders (id, demand_id, street_id, status, rule_kind, plugin_version_id, content_hash, ranking, \
         offer_count, next_rank, accept_deadline, created_by, created_at, updated_at) VALUES (",
    );
    sql.bind(o.id.to_string()).push(", ");
    sql.bind(o.demand.to_string()).push(", ");
    sql.bind(o.street.to_string()).push(", 'offered', ");
    sql.bind(o.rule.kind.as_str()).push(", ");
    sql.bind(o.rule.version_id.map(|v| v.to_string()))
        .push(", ");
    sql.bind(o.rule.content_hash.clone()).push(", ");
    sql.bind(to_json(&o.ranking)).push(", ");
    sql.bind(o.offer_count as i64).push(", ");
    sql.bind(o.offered as i64).push(", ");
    sql.bind(o.accept_deadline.to_string()).push(", ");
    sql.bind(by.actor.to_string()).push(", ");
    sql.bind(by.at.to_string()).push(", ");
    sql.bind(by.at.to_string()).push(")");
    write_offers(before.statement(), by.at, o.id, o.ranking, 0, o.offered);
    let dispatched = format!("order {}", o.id);
    let offered = format!(
        "{}; offered to {} of {}",
        o.ranked_by,
        o.offered,
        o.ranking.len()
    );
    add_events(
        before,
        by.at,
        &[
            (
                "demand",
                o.demand,
                by.actor,
                "dispatched",
                Some(&dispatched),
            ),
            ("order", o.id, by.actor, "offered", Some(&offered)),
        ],
    );
    write_offered(
        before,
        by.at,
        o.street,
        o.id,
        &o.ranking[..o.offered.min(o.ranking.len())],
        &offered,
    );
}

/// Writes the notifications of an order offered to `to`: to the street, and to each of them.
fn write_offered(
    script: &mut Script,
    at: &str,
    street: Uuid,
    order: Uuid,
    to: &[RankedCandidate],
    note: &str,
) {
    let kind = NotificationType::OrderOffered;
    let mut items = vec![NewNotification::order(kind, street, order, To::Street).saying(note)];
    items.extend(
        to.iter()
            .map(|c| NewNotification::order(kind, street, order, To::Candidate(c.kind, c.id))),
    );
    notifications::add(script, at, &items);
}

/// The notifications of `kind` on `order` to each of `candidates`.
fn to_each<'a>(
    kind: NotificationType,
    street: Uuid,
    order: Uuid,
    candidates: &'a [(CandidateKind, Uuid)],
    note: Option<&'a str>,
) -> impl Iterator<Item = NewNotification<'a>> + 'a {
    candidates.iter().map(move |(k, id)| NewNotification {
        note,
        ..NewNotification::order(kind, street, order, To::Candidate(*k, *id))
    })
}

/// Writes the statement that offers `order` to the candidates of `ranking` from position
/// `from`, at most `count` (at least one), into `sql`; answers how many it offers.
fn write_offers(
    sql: &mut Sql,
    at: &str,
    order: Uuid,
    ranking: &[RankedCandidate],
    from: usize,
    count: usize,
) -> usize {
    sql.push(
        "INSERT INTO order_offers (id, order_id, candidate_kind, candidate_id, rank, status, offered_at) VALUES ",
    );
    let mut n = 0;
    for (rank, c) in ranking.iter().enumerate().skip(from).take(count) {
        if n > 0 {
            sql.push(", ");
        }
        sql.push("(");
        sql.bind(Uuid::now_v7().to_string()).push(", ");
        sql.bind(order.to_string()).push(", ");
        sql.bind(c.kind.as_str()).push(", ");
        sql.bind(c.id.to_string()).push(", ");
        sql.bind(rank as i64).push(", 'open', ");
        sql.bind(at.to_string()).push(")");
        n += 1;
    }
    n
}

/// Offers an offered order whose open offers are gone to the next candidates of its ranking
/// (as many as it offers at once, from where it stands: `p`), until `accept_by`; records
/// `offered` with `why`. Answers how many were offered; none (the ranking is used up):
/// nothing is written.
pub async fn offer_next(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    order: Uuid,
    p: &Progress,
    accept_by: &str,
    why: &str,
) -> Result<usize> {
    let from = p.next_rank;
    if from >= p.ranking.len() || p.offer_count == 0 {
        return Ok(0);
    }
    let mut script = Script::new(tx);
    let n = write_offers(
        script.statement(),
        by.at,
        order,
        &p.ranking,
        from,
        p.offer_count,
    );
    let sql = script.statement();
    sql.push("UPDATE service_orders SET next_rank = ");
    sql.bind((from + n) as i64).push(", accept_deadline = ");
    sql.bind(accept_by.to_string()).push(", updated_at = ");
    sql.bind(by.at.to_string()).push(" WHERE id = ");
    sql.bind(order.to_string());
    let note = format!("{why}; offered to the next {n}");
    add_events(
        &mut script,
        by.at,
        &[("order", order, by.actor, "offered", Some(&note))],
    );
    write_offered(
        &mut script,
        by.at,
        p.street,
        order,
        &p.ranking[from..from + n],
        &note,
    );
    script.send(tx).await?;
    Ok(n)
}

/// Marks an order whose ranking is used up as unassigned, its accept deadline cleared, and
/// records `unassigned` with `why`.
pub async fn unassign(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    street: Uuid,
    order: Uuid,
    why: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE service_orders SET status = 'unassigned', accept_deadline = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(by.at.to_string())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    let note = format!("{why}; no candidates left");
    by.record(tx, "order", order, "unassigned", Some(&note))
        .await?;
    let kind = NotificationType::OrderUnassigned;
    notifications::record(
        tx,
        by.at,
        &[NewNotification::order(kind, street, order, To::Street).saying(&note)],
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// What an order holds of its candidate

/// A candidate whose record in a street's pool an order change moves.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    street: Uuid,
    kind: CandidateKind,
    id: Uuid,
}

impl Candidate {
    /// The assignee of an order, if it has one.
    fn assignee_of(street: Uuid, kind: Option<CandidateKind>, id: Option<Uuid>) -> Option<Self> {
        Some(Candidate {
            street,
            kind: kind?,
            id: id?,
        })
    }
}

/// What an order change leaves to do once the caller has read its answer: move the
/// assignee's record in the pool.
#[must_use = "the candidate's record in the pool moves only when `settle` runs"]
pub struct Settle(Option<Candidate>);

impl Settle {
    /// Recomputes the assignee's record in the pool and moves the street's load counter
    /// (see [`counters::touch_load`]).
    pub async fn settle(self, tx: &mut Tx<'_>) -> Result<()> {
        match self.0 {
            Some(c) => counters::touch_load(tx, c.street, c.kind, c.id).await,
            None => Ok(()),
        }
    }
}

/// What accepting an order leaves to do once the caller has read its answer: take what the
/// order holds of its new assignee.
#[must_use = "an accepted order holds its candidate's capacity or open-order limit only when `hold` runs"]
pub struct Hold {
    candidate: Candidate,
    at: String,
}

impl Hold {
    /// Takes one unit of a resource's capacity (409 `no_capacity` when none is left), or a
    /// place under a volunteer's limit of open orders, counted under the volunteer's lock so
    /// that two accepts by one volunteer take turns and the second counts the first (409
    /// `order_limit`); then moves the candidate's record in the pool.
    pub async fn hold(self, tx: &mut Tx<'_>) -> Result<()> {
        let c = self.candidate;
        match c.kind {
            CandidateKind::Resource => {
                let used = sqlx::query(
                    "UPDATE resources SET capacity_left = capacity_left - 1, updated_at = $1 \
                     WHERE id = $2 AND capacity_left > 0",
                )
                .bind(self.at.clone())
                .bind(c.id.to_string())
                .execute(&mut **tx)
                .await?;
                if used.rows_affected() == 0 {
                    return Err(Error::conflict(
                        "no_capacity",
                        "the resource has no capacity left",
                    ));
                }
            }
            CandidateKind::Volunteer => {
                let (limit, open) = open_orders_of(tx, c.id).await?;
                if open > limit {
                    return Err(Error::conflict(
                        "order_limit",
                        "you hold as many open orders as you may",
                    ));
                }
            }
        }
        counters::touch_load(tx, c.street, c.kind, c.id).await
    }
}

/// A volunteer's limit of open orders and how many it holds, counted under the volunteer's
/// lock.
async fn open_orders_of(tx: &mut Tx<'_>, volunteer: Uuid) -> Result<(i64, i64)> {
    let lock = for_update(tx);
    let limit = sqlx::query(&format!(
        "SELECT max_open_orders FROM volunteers WHERE id = $1{lock}"
    ))
    .bind(volunteer.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get::<i64, _>("max_open_orders")?;
    let open: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM service_orders WHERE assignee_id = $1 \
         AND status IN ('accepted', 'in_progress')",
    )
    .bind(volunteer.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?;
    Ok((limit, open))
}

// ---------------------------------------------------------------------------------------------
// What candidates and admins do

/// Moves the demand of an order from `from` to `to` and records `action` on the order (with
/// `note`) and on the demand, in one statement; 409 `demand_changed` when the demand was not
/// in `from` (it no longer waits for the order).
async fn move_with_demand(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    row: &OrderRow,
    (from, to): (DemandStatus, DemandStatus),
    action: &str,
    note: &str,
) -> Result<()> {
    let (order, demand) = (row.order.id, row.order.demand_id);
    if !demands::move_status(tx, demand, from, to, by.at).await? {
        return Err(Error::conflict(
            "demand_changed",
            "the demand changed meanwhile; it no longer waits for this order",
        ));
    }
    let of_order = format!("order {order}");
    record_events(
        tx,
        by.at,
        &[
            ("order", order, by.actor, action, Some(note)),
            ("demand", demand, by.actor, action, Some(&of_order)),
        ],
    )
    .await
}

/// Accepts `row` (an offered order, as locked) for the candidate of `offer`, an open offer to
/// the caller: assigns it with its completion deadline `complete_by`, takes the offer and
/// withdraws the others, moves the demand from dispatched to in progress, and records
/// `accepted` on both. 409 `already_taken` when another accept came first, `not_offered`
/// when the offer closed meanwhile, `demand_changed` when the demand no longer waits for
/// the order. What the order holds of its candidate is taken by [`Hold::hold`].
pub async fn accept(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    row: &OrderRow,
    offer: &OfferTo,
    complete_by: &str,
) -> Result<Hold> {
    let (id, at) = (row.order.id, by.at);
    let won = sqlx::query(
        "UPDATE service_orders SET status = 'accepted', assignee_kind = $1, assignee_id = $2, accepted_at = $3, updated_at = $3, \
         accept_deadline = NULL, complete_deadline = $5 WHERE id = $4 AND status = 'offered' AND assignee_id IS NULL",
    )
    .bind(offer.kind.as_str())
    .bind(offer.candidate.to_string())
    .bind(at.to_string())
    .bind(id.to_string())
    .bind(complete_by.to_string())
    .execute(&mut **tx)
    .await?;
    if won.rows_affected() == 0 {
        return Err(Error::conflict(
            "already_taken",
            "someone else accepted the order first",
        ));
    }
    let taken = sqlx::query(
        "UPDATE order_offers SET status = 'accepted', responded_at = $1 WHERE id = $2 AND status = 'open'",
    )
    .bind(at.to_string())
    .bind(offer.id.to_string())
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_offered",
            "your offer is no longer open",
        ));
    }
    let withdrawn = sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', responded_at = $1 WHERE order_id = $2 AND status = 'open' \
         RETURNING candidate_kind, candidate_id",
    )
    .bind(at.to_string())
    .bind(id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let withdrawn = closed_offers(&withdrawn)?;
    let street = row.order.street_id;
    let mut items = vec![NewNotification::order(
        NotificationType::OrderAccepted,
        street,
        id,
        To::Street,
    )];
    let taken = "another candidate accepted the order";
    items.extend(to_each(
        NotificationType::OfferWithdrawn,
        street,
        id,
        &withdrawn,
        Some(taken),
    ));
    notifications::record(tx, at, &items).await?;
    let assignee = format!("{} {}", offer.kind, offer.candidate);
    move_with_demand(
        tx,
        by,
        row,
        (DemandStatus::Dispatched, DemandStatus::InProgress),
        "accepted",
        &assignee,
    )
    .await?;
    Ok(Hold {
        candidate: Candidate {
            street: row.order.street_id,
            kind: offer.kind,
            id: offer.candidate,
        },
        at: at.to_string(),
    })
}

/// Declines the open offer `offer` of `order` with a reason and records `declined`; 409
/// `not_offered` when the offer is no longer open. Answers how many offers of the order are
/// still open.
pub async fn decline(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    order: Uuid,
    offer: Uuid,
    reason: &str,
) -> Result<i64> {
    let closed = sqlx::query(
        "UPDATE order_offers SET status = 'declined', reason = $1, responded_at = $2 WHERE id = $3 AND status = 'open'",
    )
    .bind(reason.to_string())
    .bind(by.at.to_string())
    .bind(offer.to_string())
    .execute(&mut **tx)
    .await?;
    if closed.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_offered",
            "your offer is no longer open",
        ));
    }
    by.record(tx, "order", order, "declined", Some(reason))
        .await?;
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM order_offers WHERE order_id = $1 AND status = 'open'",
    )
    .bind(order.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?)
}

/// The error of a transition whose order moved meanwhile.
fn changed_meanwhile() -> Error {
    Error::conflict("invalid_transition", "the order changed meanwhile")
}

/// Starts an accepted order and records `started`; 409 `invalid_transition` when it is no
/// longer accepted.
pub async fn start(tx: &mut Tx<'_>, by: Stamp<'_>, id: Uuid) -> Result<()> {
    let moved = sqlx::query(
        "UPDATE service_orders SET status = 'in_progress', started_at = $1, updated_at = $1 WHERE id = $2 AND status = 'accepted'",
    )
    .bind(by.at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Err(changed_meanwhile());
    }
    by.record(tx, "order", id, "started", None).await
}

/// What completing an order records.
pub struct Completion<'a> {
    pub minutes: i64,
    pub note: Option<&'a str>,
    pub points: f64,
    pub points_rule: &'a str,
    pub points_reason: &'a str,
}

/// Completes `row` (an order in progress, as locked) with its service time and points, moves
/// the demand from in progress to completed, and records `completed` on both. 409
/// `invalid_transition` when the order is no longer in progress, `demand_changed` when the
/// demand is no longer in progress with it.
pub async fn complete(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    row: &OrderRow,
    c: &Completion<'_>,
) -> Result<Settle> {
    let o = &row.order;
    let moved = sqlx::query(
        "UPDATE service_orders SET status = 'completed', completed_at = $1, updated_at = $1, service_minutes = $2, \
         completion_note = $3, points = $5, points_rule = $6, points_reason = $7, complete_deadline = NULL \
         WHERE id = $4 AND status = 'in_progress'",
    )
    .bind(by.at.to_string())
    .bind(c.minutes)
    .bind(c.note.map(str::to_string))
    .bind(o.id.to_string())
    .bind(c.points)
    .bind(c.points_rule.to_string())
    .bind(c.points_reason.to_string())
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Err(changed_meanwhile());
    }
    let done = format!(
        "{} minutes; {} points ({}: {})",
        c.minutes, c.points, c.points_rule, c.points_reason
    );
    move_with_demand(
        tx,
        by,
        row,
        (DemandStatus::InProgress, DemandStatus::Completed),
        "completed",
        &done,
    )
    .await?;
    let kind = NotificationType::OrderCompleted;
    notifications::record(
        tx,
        by.at,
        &[NewNotification::order(kind, o.street_id, o.id, To::Street).saying(&done)],
    )
    .await?;
    Ok(Settle(Candidate::assignee_of(
        o.street_id,
        o.assignee_kind,
        o.assignee_id,
    )))
}

/// What becomes of the demand of a cancelled order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemandAfter {
    /// It opens again, from dispatched or in progress, and records `reopened` (409
    /// `demand_changed` if it was in neither).
    Reopens,
    /// The caller changes it (it is being cancelled with its order).
    Unchanged,
}

/// Cancels order `id` if it is in one of `from` (live states only: never a completed or a
/// cancelled order): its deadlines are cleared, its open offers withdrawn with `why`, an
/// assigned resource gets back the unit of capacity the order took; records `cancelled` with
/// `why`, and moves the demand as `demand` says. None when the order was in none of `from`.
pub async fn cancel(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    id: Uuid,
    from: &[OrderStatus],
    why: &str,
    demand: DemandAfter,
) -> Result<Option<Settle>> {
    debug_assert!(from
        .iter()
        .all(|s| !matches!(s, OrderStatus::Completed | OrderStatus::Cancelled)));
    let mut sql = Sql::new("UPDATE service_orders SET status = 'cancelled', updated_at = ");
    sql.bind(by.at.to_string())
        .push(", accept_deadline = NULL, complete_deadline = NULL WHERE id = ")
        .bind(id.to_string())
        .push(" AND status IN (");
    for (i, status) in from.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(status.as_str());
    }
    sql.push(") RETURNING street_id, demand_id, assignee_kind, assignee_id");
    let Some(row) = sql.fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let (street, demand_id) = (get_uuid(&row, "street_id")?, get_uuid(&row, "demand_id")?);
    // A live order has an assignee only while it is accepted or in progress: it holds a
    // unit of a resource's capacity until now.
    let assignee = Candidate::assignee_of(
        street,
        get_opt_enum(&row, "assignee_kind", CandidateKind::from_db)?,
        get_opt_uuid(&row, "assignee_id")?,
    );
    let withdrawn = sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', reason = $1, responded_at = $2 \
         WHERE order_id = $3 AND status = 'open' RETURNING candidate_kind, candidate_id",
    )
    .bind(why.to_string())
    .bind(by.at.to_string())
    .bind(id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let withdrawn = closed_offers(&withdrawn)?;
    let assigned: Vec<(CandidateKind, Uuid)> = assignee.iter().map(|c| (c.kind, c.id)).collect();
    let cancelled = NotificationType::OrderCancelled;
    let mut items = vec![NewNotification::order(cancelled, street, id, To::Street).saying(why)];
    items.extend(to_each(cancelled, street, id, &assigned, Some(why)));
    items.extend(to_each(
        NotificationType::OfferWithdrawn,
        street,
        id,
        &withdrawn,
        Some(why),
    ));
    notifications::record(tx, by.at, &items).await?;
    if let Some(c) = assignee.filter(|c| c.kind == CandidateKind::Resource) {
        sqlx::query(
            "UPDATE resources SET capacity_left = capacity_left + 1, updated_at = $1 \
             WHERE id = $2 AND capacity_left < capacity",
        )
        .bind(by.at.to_string())
        .bind(c.id.to_string())
        .execute(&mut **tx)
        .await?;
    }
    by.record(tx, "order", id, "cancelled", Some(why)).await?;
    if demand == DemandAfter::Unchanged {
        // Moving the demand marks it; left unchanged here, it is marked now.
        figures::mark(tx, demand_id).await?;
    }
    if demand == DemandAfter::Reopens {
        let mut reopened = false;
        for from in [DemandStatus::Dispatched, DemandStatus::InProgress] {
            reopened = reopened
                || demands::move_status(tx, demand_id, from, DemandStatus::Open, by.at).await?;
        }
        if !reopened {
            return Err(Error::conflict(
                "demand_changed",
                "the order's demand is neither dispatched nor in progress",
            ));
        }
        let note = format!("order {id} cancelled: {why}");
        by.record(tx, "demand", demand_id, "reopened", Some(&note))
            .await?;
    }
    Ok(Some(Settle(assignee)))
}
