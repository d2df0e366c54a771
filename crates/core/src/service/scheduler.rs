//! The scheduler: acts on the deadlines orders run against. Offers nobody answered in time go
//! to the next candidates; work not completed by its deadline is escalated (吹哨) with a new
//! deadline. Deadlines live in the database, so a restart loses none; each order is claimed by
//! a compare-and-set on its deadline, so several instances on one database never act on the
//! same deadline twice.

use std::time::Duration as StdDuration;

use time::Duration;

use super::{dispatch::offer_onward, Core};
use crate::store::{events::Stamp, orders, settings::settings_for};
use crate::{domain::format_ts, Result};

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

    for (id, deadline) in orders::expired_offers(core.db.read(), &now, BATCH).await? {
        let now = now.clone();
        let moved = core
            .db
            .transact(move |tx| {
                Box::pin(async move {
                    if !orders::claim_expired_offer(tx, id, &deadline, &now).await? {
                        return Ok(false);
                    }
                    offer_onward(tx, at, id, "the offers expired").await?;
                    Ok(true)
                })
            })
            .await?;
        done.expired_offers += usize::from(moved);
    }

    for order in orders::overdue(core.db.read(), &now, BATCH).await? {
        let settings = settings_for(core.db.read(), order.street, &order.category).await?;
        // The escalated case gets as long again as the category allows, at least two hours.
        let grace = Duration::minutes(settings.complete_minutes.unwrap_or(120).max(120));
        let new_deadline = at + grace;
        let now = now.clone();
        let escalated = core
            .db
            .transact(move |tx| {
                Box::pin(async move {
                    let moved = format_ts(new_deadline);
                    if !orders::claim_overdue(tx, order.id, &order.deadline, &moved, &now).await? {
                        return Ok(false);
                    }
                    let by = Stamp {
                        actor: "system",
                        at: &now,
                    };
                    orders::escalate(
                        tx,
                        by,
                        order.street,
                        order.demand,
                        Some(order.id),
                        "not completed by its deadline",
                        &moved,
                    )
                    .await?;
                    Ok(true)
                })
            })
            .await?;
        done.overdue += usize::from(escalated);
    }
    Ok(done)
}

/// How often the scheduler refreshes the database's planner statistics.
const OPTIMIZE_EVERY: StdDuration = StdDuration::from_secs(3600);

/// Runs [`tick`] every `every` until the process stops, and refreshes the planner's
/// statistics every [`OPTIMIZE_EVERY`].
pub fn spawn(core: Core, every: StdDuration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut optimized = tokio::time::Instant::now();
        loop {
            interval.tick().await;
            // The planner's statistics follow the data as it grows (see `Db::optimize`).
            if optimized.elapsed() >= OPTIMIZE_EVERY {
                optimized = tokio::time::Instant::now();
                if let Err(e) = core.db.optimize().await {
                    tracing::warn!(error = %e, "gathering the planner's statistics failed");
                }
            }
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
