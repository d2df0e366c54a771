//! The scheduler: acts on the deadlines orders run against. Offers nobody answered in time go
//! to the next candidates; work not completed by its deadline is escalated (吹哨) with a new
//! deadline. Deadlines live in the database, so a restart loses none; each order is claimed by
//! a compare-and-set on its deadline, so several instances on one database never act on the
//! same deadline twice.

use std::time::Duration as StdDuration;

use sqlx::Row;
use time::Duration;
use uuid::Uuid;

use super::{
    dispatch::{escalate, offer_onward},
    Core,
};
use crate::store::{rows::get_uuid, settings::settings_for};
use crate::{domain::format_ts, store::events::record_event, Result};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Orders whose offers expired and went to the next candidates (or ran out).
    pub expired_offers: usize,
    /// Orders escalated for not being completed in time.
    pub overdue: usize,
}

/// The most deadlines handled in one pass; the rest wait for the next.
const BATCH: i64 = 200;

/// One pass over the deadlines that have passed. Each order is acted on in a transaction of
/// its own, which reads nothing through any other connection.
pub async fn tick(core: &Core) -> Result<Tick> {
    let at = core.now();
    let now = format_ts(at);
    let mut done = Tick::default();

    let expired = sqlx::query(
        "SELECT id, accept_deadline FROM service_orders WHERE status = 'offered' AND accept_deadline IS NOT NULL \
         AND accept_deadline <= $1 ORDER BY accept_deadline LIMIT $2",
    )
    .bind(now.clone())
    .bind(BATCH)
    .fetch_all(core.db.read())
    .await?;
    for row in &expired {
        let id = get_uuid(row, "id")?;
        let deadline: String = row.try_get("accept_deadline")?;
        let mut tx = core.db.write().begin().await?;
        // Claim the deadline: only one instance gets a row here.
        let claimed = sqlx::query(
            "UPDATE service_orders SET accept_deadline = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'offered' AND accept_deadline = $3",
        )
        .bind(now.clone())
        .bind(id.to_string())
        .bind(deadline)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        sqlx::query(
            "UPDATE order_offers SET status = 'withdrawn', reason = 'no answer in time', responded_at = $1 \
             WHERE order_id = $2 AND status = 'open'",
        )
        .bind(now.clone())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        record_event(
            &mut tx,
            &now,
            "order",
            id,
            "system",
            "offer_expired",
            Some("no answer in time"),
        )
        .await?;
        offer_onward(&mut tx, at, id, "the offers expired").await?;
        tx.commit().await?;
        done.expired_offers += 1;
    }

    let overdue = sqlx::query(
        "SELECT o.id, o.street_id, o.demand_id, o.complete_deadline, d.category FROM service_orders o \
         JOIN demands d ON d.id = o.demand_id WHERE o.status IN ('accepted', 'in_progress') \
         AND o.complete_deadline IS NOT NULL AND o.complete_deadline <= $1 ORDER BY o.complete_deadline LIMIT $2",
    )
    .bind(now.clone())
    .bind(BATCH)
    .fetch_all(core.db.read())
    .await?;
    for row in &overdue {
        let id = get_uuid(row, "id")?;
        let street = get_uuid(row, "street_id")?;
        let deadline: String = row.try_get("complete_deadline")?;
        let settings = settings_for(
            core.db.read(),
            street,
            &row.try_get::<String, _>("category")?,
        )
        .await?;
        // The escalated case gets as long again as the category allows, at least two hours.
        let grace = Duration::minutes(settings.complete_minutes.unwrap_or(120).max(120));
        let new_deadline = at + grace;
        let mut tx = core.db.write().begin().await?;
        let claimed = sqlx::query(
            "UPDATE service_orders SET complete_deadline = $1, updated_at = $2 \
             WHERE id = $3 AND status IN ('accepted', 'in_progress') AND complete_deadline = $4",
        )
        .bind(format_ts(new_deadline))
        .bind(now.clone())
        .bind(id.to_string())
        .bind(deadline)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        let demand: Uuid = get_uuid(row, "demand_id")?;
        escalate(
            &mut tx,
            &now,
            street,
            demand,
            Some(id),
            "not completed by its deadline",
            new_deadline,
            "system",
        )
        .await?;
        tx.commit().await?;
        done.overdue += 1;
    }
    Ok(done)
}

/// Runs [`tick`] every `every` until the process stops.
pub fn spawn(core: Core, every: StdDuration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match tick(&core).await {
                Ok(t) if t != Tick::default() => {
                    tracing::info!(
                        expired_offers = t.expired_offers,
                        overdue = t.overdue,
                        "deadlines acted on"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the scheduler's pass failed; it will try again")
                }
            }
        }
    })
}
