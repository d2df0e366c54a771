//! Service orders as rows: the locks every change takes, and the row changes more than one
//! operation makes.

use std::collections::HashSet;

use sqlx::{AnyPool, Row};
use uuid::Uuid;

use super::{
    events::record_event,
    for_update, lock_row,
    rows::{get_json, get_uuid, to_json},
    Sql, Tx,
};
use crate::{
    domain::{
        matching::{RankedCandidate, RuleUsed},
        OrderStatus,
    },
    Result,
};

/// Locks an order and its demand for a change, the demand first. Every transaction that
/// changes a demand and its orders takes them in that order — demand, order, offers, then the
/// candidate's row, then the street's counters — so no two of them ever wait on each other.
/// What the transaction then reads of them holds until it commits.
pub async fn lock_order(tx: &mut Tx<'_>, id: Uuid) -> Result<()> {
    lock_demand_of(tx, id).await?;
    lock_row(tx, "service_orders", id).await?;
    Ok(())
}

/// Locks the demand of an order (see [`lock_order`]).
pub async fn lock_demand_of(tx: &mut Tx<'_>, order: Uuid) -> Result<()> {
    let lock = for_update(tx);
    if !lock.is_empty() {
        sqlx::query(&format!(
            "SELECT id FROM demands WHERE id = (SELECT demand_id FROM service_orders WHERE id = $1){lock}"
        ))
        .bind(order.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Cancels order `id` if it is in one of `from`, at `at`: its deadlines are cleared and its
/// open offers withdrawn (with `why`, if given). False when the order was in none of `from`.
pub async fn cancel_order_row(
    tx: &mut Tx<'_>,
    at: &str,
    id: Uuid,
    from: &[OrderStatus],
    why: Option<&str>,
) -> Result<bool> {
    let mut sql = Sql::new("UPDATE service_orders SET status = 'cancelled', updated_at = ");
    sql.bind(at.to_string())
        .push(", accept_deadline = NULL, complete_deadline = NULL WHERE id = ")
        .bind(id.to_string())
        .push(" AND status IN (");
    for (i, status) in from.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(status.as_str());
    }
    sql.push(")");
    if sql.execute(&mut **tx).await? == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', reason = $1, responded_at = $2 \
         WHERE order_id = $3 AND status = 'open'",
    )
    .bind(why.map(str::to_string))
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Orders whose offers were not answered by their deadline, `(order, deadline)`, earliest
/// first, at most `limit`.
pub async fn expired_offers(db: &AnyPool, now: &str, limit: i64) -> Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query(
        "SELECT id, accept_deadline FROM service_orders WHERE status = 'offered' AND accept_deadline IS NOT NULL \
         AND accept_deadline <= $1 ORDER BY accept_deadline LIMIT $2",
    )
    .bind(now.to_string())
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| Ok((get_uuid(r, "id")?, r.try_get("accept_deadline")?)))
        .collect()
}

/// Claims an expired accept deadline at `now` by a compare-and-set on it, so that of several
/// hosts on one database only one acts on it: the deadline is cleared, the open offers are
/// withdrawn and the event recorded. False if another host (or an answer) came first.
pub async fn claim_expired_offer(
    tx: &mut Tx<'_>,
    id: Uuid,
    deadline: &str,
    now: &str,
) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE service_orders SET accept_deadline = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'offered' AND accept_deadline = $3",
    )
    .bind(now.to_string())
    .bind(id.to_string())
    .bind(deadline.to_string())
    .execute(&mut **tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', reason = 'no answer in time', responded_at = $1 \
         WHERE order_id = $2 AND status = 'open'",
    )
    .bind(now.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    record_event(
        tx,
        now,
        "order",
        id,
        "system",
        "offer_expired",
        Some("no answer in time"),
    )
    .await?;
    Ok(true)
}

/// An order not completed by its deadline.
#[derive(Debug, Clone)]
pub struct Overdue {
    pub id: Uuid,
    pub street: Uuid,
    pub demand: Uuid,
    pub deadline: String,
    pub category: String,
}

/// Accepted or started orders past their completion deadline, earliest first, at most
/// `limit`.
pub async fn overdue(db: &AnyPool, now: &str, limit: i64) -> Result<Vec<Overdue>> {
    let rows = sqlx::query(
        "SELECT o.id, o.street_id, o.demand_id, o.complete_deadline, d.category FROM service_orders o \
         JOIN demands d ON d.id = o.demand_id WHERE o.status IN ('accepted', 'in_progress') \
         AND o.complete_deadline IS NOT NULL AND o.complete_deadline <= $1 ORDER BY o.complete_deadline LIMIT $2",
    )
    .bind(now.to_string())
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Overdue {
                id: get_uuid(r, "id")?,
                street: get_uuid(r, "street_id")?,
                demand: get_uuid(r, "demand_id")?,
                deadline: r.try_get("complete_deadline")?,
                category: r.try_get("category")?,
            })
        })
        .collect()
}

/// Claims a passed completion deadline by a compare-and-set on it, moving it to
/// `new_deadline`. False if another host (or a completion) came first.
pub async fn claim_overdue(
    tx: &mut Tx<'_>,
    id: Uuid,
    deadline: &str,
    new_deadline: &str,
    now: &str,
) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE service_orders SET complete_deadline = $1, updated_at = $2 \
         WHERE id = $3 AND status IN ('accepted', 'in_progress') AND complete_deadline = $4",
    )
    .bind(new_deadline.to_string())
    .bind(now.to_string())
    .bind(id.to_string())
    .bind(deadline.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() > 0)
}

/// Whom an escalation goes to: the street's admins, and the district's departments (街呼区应).
pub const ESCALATED_TO: &str = "street_admins,district";

/// Records an escalation (吹哨) at `at` with its events on the demand and, if given, the
/// order (whose escalation count it moves), in the transaction of the change that caused it.
#[allow(clippy::too_many_arguments)]
pub async fn escalate(
    tx: &mut Tx<'_>,
    at: &str,
    street: Uuid,
    demand: Uuid,
    order: Option<Uuid>,
    reason: &str,
    deadline: &str,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO escalations (id, street_id, demand_id, order_id, reason, escalated_to, deadline, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(street.to_string())
    .bind(demand.to_string())
    .bind(order.map(|o| o.to_string()))
    .bind(reason.to_string())
    .bind(ESCALATED_TO)
    .bind(deadline.to_string())
    .bind(at.to_string())
    .execute(&mut **tx)
    .await?;
    let note = format!(
        "{reason}; escalated to the street's admins and the district; new deadline {deadline}"
    );
    record_event(tx, at, "demand", demand, actor, "escalated", Some(&note)).await?;
    if let Some(order) = order {
        sqlx::query("UPDATE service_orders SET escalations = escalations + 1 WHERE id = $1")
            .bind(order.to_string())
            .execute(&mut **tx)
            .await?;
        record_event(tx, at, "order", order, actor, "escalated", Some(&note)).await?;
    }
    Ok(())
}

/// Offers `order` to the candidates of `ranking` from position `from`, at most `count`, in
/// one statement; answers how many were offered.
pub async fn insert_offers(
    tx: &mut Tx<'_>,
    at: &str,
    order: Uuid,
    ranking: &[RankedCandidate],
    from: usize,
    count: usize,
) -> Result<usize> {
    let mut sql = Sql::new(
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
    if n > 0 {
        sql.execute(&mut **tx).await?;
    }
    Ok(n)
}

/// Moves an order's place in its ranking to `next_rank` and its accept deadline (none when
/// nothing is offered).
pub async fn advance(
    tx: &mut Tx<'_>,
    order: Uuid,
    next_rank: usize,
    accept_deadline: Option<&str>,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE service_orders SET next_rank = $1, accept_deadline = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(next_rank as i64)
    .bind(accept_deadline.map(str::to_string))
    .bind(at.to_string())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

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
    pub created_by: &'a str,
    pub at: &'a str,
}

/// Writes a new offered order with its rule and ranking, and its first offers.
pub async fn insert(tx: &mut Tx<'_>, o: &NewOrder<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_orders (id, demand_id, street_id, status, rule_kind, plugin_version_id, content_hash, ranking, \
         offer_count, next_rank, accept_deadline, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, 'offered', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(o.id.to_string())
    .bind(o.demand.to_string())
    .bind(o.street.to_string())
    .bind(o.rule.kind.as_str())
    .bind(o.rule.version_id.map(|v| v.to_string()))
    .bind(o.rule.content_hash.clone())
    .bind(to_json(&o.ranking))
    .bind(o.offer_count as i64)
    .bind(o.offered as i64)
    .bind(o.accept_deadline.to_string())
    .bind(o.created_by.to_string())
    .bind(o.at.to_string())
    .execute(&mut **tx)
    .await?;
    insert_offers(tx, o.at, o.id, o.ranking, 0, o.offered).await?;
    Ok(())
}

/// The latest order of a demand that ran out of candidates, if any.
pub async fn last_unassigned(tx: &mut Tx<'_>, demand: Uuid) -> Result<Option<Uuid>> {
    sqlx::query(
        "SELECT id FROM service_orders WHERE demand_id = $1 AND status = 'unassigned' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(demand.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| get_uuid(&r, "id"))
    .transpose()
}

/// The candidates who declined an order of the demand.
pub async fn declined_by(tx: &mut Tx<'_>, demand: Uuid) -> Result<HashSet<Uuid>> {
    sqlx::query(
        "SELECT f.candidate_id FROM order_offers f JOIN service_orders o ON o.id = f.order_id \
         WHERE o.demand_id = $1 AND f.status = 'declined'",
    )
    .bind(demand.to_string())
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| get_uuid(r, "candidate_id"))
    .collect()
}

/// Where an order stands in its ranking.
pub struct Progress {
    pub street: Uuid,
    pub demand: Uuid,
    pub category: String,
    pub ranking: Vec<RankedCandidate>,
    pub next_rank: usize,
    pub offer_count: usize,
}

pub async fn progress(tx: &mut Tx<'_>, order: Uuid) -> Result<Progress> {
    let row = sqlx::query(
        "SELECT o.street_id, o.demand_id, o.ranking, o.next_rank, o.offer_count, d.category \
         FROM service_orders o JOIN demands d ON d.id = o.demand_id WHERE o.id = $1",
    )
    .bind(order.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(Progress {
        street: get_uuid(&row, "street_id")?,
        demand: get_uuid(&row, "demand_id")?,
        category: row.try_get("category")?,
        ranking: get_json(&row, "ranking")?,
        next_rank: usize::try_from(row.try_get::<i64, _>("next_rank")?).unwrap_or(0),
        offer_count: usize::try_from(row.try_get::<i64, _>("offer_count")?).unwrap_or(0),
    })
}

/// Marks an order whose ranking is used up as unassigned, its accept deadline cleared.
pub async fn mark_unassigned(tx: &mut Tx<'_>, order: Uuid, at: &str) -> Result<()> {
    sqlx::query(
        "UPDATE service_orders SET status = 'unassigned', accept_deadline = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(at.to_string())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
