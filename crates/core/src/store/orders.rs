//! Service orders as rows: the locks every change takes, and the row changes more than one
//! operation makes.

use sqlx::{AnyPool, Row};
use uuid::Uuid;

use super::{events::record_event, for_update, lock_row, rows::get_uuid, Sql, Tx};
use crate::{domain::OrderStatus, Result};

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
