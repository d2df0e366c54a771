//! Service orders as rows: the locks every change takes, and the row changes more than one
//! operation makes.

use uuid::Uuid;

use super::{for_update, lock_row, Sql, Tx};
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
