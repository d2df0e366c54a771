//! The scheduler's side of orders: deadlines passed, claimed by compare-and-set so that of
//! several hosts on one database only one acts on each, and escalations (吹哨).

use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::{
    domain::{notification::NotificationType, CandidateKind, DemandStatus},
    store::{
        events::{record_event, Stamp},
        notifications::{self, closed_offers, NewNotification, To},
        rows::{get_enum, get_opt_enum, get_opt_uuid, get_uuid},
        Sql, Tx,
    },
    Result,
};

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
    // The demand first, then the order, as every transaction that changes both: what follows
    // a claim (a re-offer, an escalation) marks the demand for the figures.
    super::lock_demand_of(tx, id).await?;
    let claimed = sqlx::query(
        "UPDATE service_orders SET accept_deadline = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'offered' AND accept_deadline = $3 RETURNING street_id",
    )
    .bind(now.to_string())
    .bind(id.to_string())
    .bind(deadline.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(claimed) = claimed else {
        return Ok(false);
    };
    let street = get_uuid(&claimed, "street_id")?;
    let withdrawn = sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', reason = 'no answer in time', responded_at = $1 \
         WHERE order_id = $2 AND status = 'open' RETURNING candidate_kind, candidate_id",
    )
    .bind(now.to_string())
    .bind(id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let kind = NotificationType::OfferWithdrawn;
    let withdrawn: Vec<NewNotification<'_>> = closed_offers(&withdrawn)?
        .into_iter()
        .map(|(k, c)| {
            NewNotification::order(kind, street, id, To::Candidate(k, c))
                .saying("no answer in time")
        })
        .collect();
    notifications::record(tx, now, &withdrawn).await?;
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
    // The demand first, then the order (see `claim_expired_offer`).
    super::lock_demand_of(tx, id).await?;
    let claimed = sqlx::query(
        "UPDATE service_orders SET complete_deadline = $1, updated_at = $2 \
         WHERE id = $3 AND status IN ('accepted', 'in_progress') AND complete_deadline = $4 \
         RETURNING street_id, assignee_kind, assignee_id",
    )
    .bind(new_deadline.to_string())
    .bind(now.to_string())
    .bind(id.to_string())
    .bind(deadline.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(claimed) = claimed else {
        return Ok(false);
    };
    let street = get_uuid(&claimed, "street_id")?;
    let note = format!("not completed by {deadline}");
    let kind = NotificationType::OrderOverdue;
    let mut items = vec![NewNotification::order(kind, street, id, To::Street).saying(&note)];
    if let (Some(k), Some(assignee)) = (
        get_opt_enum(&claimed, "assignee_kind", CandidateKind::from_db)?,
        get_opt_uuid(&claimed, "assignee_id")?,
    ) {
        items.push(
            NewNotification::order(kind, street, id, To::Candidate(k, assignee)).saying(&note),
        );
    }
    notifications::record(tx, now, &items).await?;
    Ok(true)
}

/// Whom an escalation goes to: the street's admins, and the district's departments (街呼区应).
const ESCALATED_TO: &str = "street_admins,district";

/// Records an escalation (吹哨) with its new `deadline` and its events on the demand and, if
/// given, the order (whose escalation count it moves), in the transaction of the change that
/// caused it.
pub async fn escalate(
    tx: &mut Tx<'_>,
    by: Stamp<'_>,
    street: Uuid,
    demand: Uuid,
    order: Option<Uuid>,
    reason: &str,
    deadline: &str,
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
    .bind(by.at.to_string())
    .execute(&mut **tx)
    .await?;
    let note = format!(
        "{reason}; escalated to the street's admins and the district; new deadline {deadline}"
    );
    by.record(tx, "demand", demand, "escalated", Some(&note))
        .await?;
    let kind = NotificationType::DemandEscalated;
    notifications::record(
        tx,
        by.at,
        &[NewNotification::demand(kind, street, demand).saying(reason)],
    )
    .await?;
    crate::store::figures::mark(tx, demand).await?;
    if let Some(order) = order {
        sqlx::query("UPDATE service_orders SET escalations = escalations + 1 WHERE id = $1")
            .bind(order.to_string())
            .execute(&mut **tx)
            .await?;
        by.record(tx, "order", order, "escalated", Some(&note))
            .await?;
    }
    Ok(())
}

/// A street's escalations, newest first, at most `limit`; with `open_only`, only those whose
/// demand is not yet completed or cancelled (the queue the street works through).
pub async fn escalations(
    db: &sqlx::AnyPool,
    street: Uuid,
    open_only: bool,
    limit: i64,
) -> Result<Vec<crate::domain::escalation::Escalation>> {
    let mut sql = Sql::new(
        "SELECT e.id, e.demand_id, e.order_id, e.reason, e.escalated_to, e.deadline, e.at, \
                d.status AS demand_status, d.category, d.description \
         FROM escalations e JOIN demands d ON d.id = e.demand_id WHERE e.street_id = ",
    );
    sql.bind(street.to_string());
    if open_only {
        sql.push(" AND d.status NOT IN ('completed', 'cancelled')");
    }
    sql.push(" ORDER BY e.id DESC LIMIT ").bind(limit);
    sql.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(crate::domain::escalation::Escalation {
                id: get_uuid(r, "id")?,
                demand_id: get_uuid(r, "demand_id")?,
                order_id: get_opt_uuid(r, "order_id")?,
                reason: r.try_get("reason")?,
                escalated_to: r.try_get("escalated_to")?,
                deadline: r.try_get("deadline")?,
                at: r.try_get("at")?,
                demand_status: get_enum(r, "demand_status", DemandStatus::from_db)?,
                category: r.try_get("category")?,
                description: r.try_get("description")?,
            })
        })
        .collect()
}
