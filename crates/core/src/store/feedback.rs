//! Residents' ratings of completed orders and the one-time links through which they rate.
//!
//! A rating is written with its events, the demand's flag for a low one, and the move of the
//! assignee's load counter, in one function, so no caller can forget any of them.

use sqlx::{AnyPool, Row};
use uuid::Uuid;

use super::{
    counters,
    events::record_event,
    notifications::{self, NewNotification, To},
    orders::lock_order,
    rows::{get_opt_enum, get_opt_uuid, get_uuid},
    tokens::hash_token,
    Tx,
};
use crate::{
    domain::{feedback::FeedbackView, notification::NotificationType, CandidateKind},
    Error, Result,
};

/// The highest rating that flags the demand for the street.
pub const FLAG_AT_OR_BELOW: i64 = 2;

/// Rates a completed, unrated order at `at`: records the rating and its event, flags the
/// demand (with its event) for a rating of [`FLAG_AT_OR_BELOW`] or less, and moves the
/// assignee's load counter (the rating counts in its record). `not_ratable` when the order
/// is not completed or already rated. Answers whether the demand was flagged.
pub async fn rate(
    tx: &mut Tx<'_>,
    order: Uuid,
    rating: i64,
    comment: Option<&str>,
    rated_by: &str,
    at: &str,
) -> Result<bool> {
    // The demand first, then the order, as every transaction that changes both.
    lock_order(tx, order).await?;
    let done = sqlx::query(
        "UPDATE service_orders SET rating = $1, rating_comment = $2, rated_at = $3, rated_by = $4 \
         WHERE id = $5 AND status = 'completed' AND rating IS NULL",
    )
    .bind(rating)
    .bind(comment.map(str::to_string))
    .bind(at.to_string())
    .bind(rated_by.to_string())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_ratable",
            "only a completed order is rated, and only once",
        ));
    }
    let row = sqlx::query(
        "SELECT demand_id, street_id, assignee_kind, assignee_id FROM service_orders WHERE id = $1",
    )
    .bind(order.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let demand = get_uuid(&row, "demand_id")?;
    let note = match comment {
        Some(c) => format!("{rating}/5: {c}"),
        None => format!("{rating}/5"),
    };
    record_event(tx, at, "order", order, rated_by, "rated", Some(&note)).await?;
    super::figures::mark(tx, demand).await?;
    let flagged = rating <= FLAG_AT_OR_BELOW;
    if flagged {
        sqlx::query("UPDATE demands SET flagged = 1, updated_at = $1 WHERE id = $2")
            .bind(at.to_string())
            .bind(demand.to_string())
            .execute(&mut **tx)
            .await?;
        record_event(
            tx,
            at,
            "demand",
            demand,
            rated_by,
            "flagged",
            Some(&format!("rated {note}")),
        )
        .await?;
        let kind = NotificationType::OrderRatedLow;
        let street = get_uuid(&row, "street_id")?;
        notifications::record(
            tx,
            at,
            &[NewNotification::order(kind, street, order, To::Street).saying(&note)],
        )
        .await?;
    }
    // The street's counter row is locked last, as in every transaction that moves it.
    if let (Some(kind), Some(assignee)) = (
        get_opt_enum(&row, "assignee_kind", CandidateKind::from_db)?,
        get_opt_uuid(&row, "assignee_id")?,
    ) {
        counters::touch_load(tx, get_uuid(&row, "street_id")?, kind, assignee).await?;
    }
    Ok(flagged)
}

/// The street of an order, or `NotFound`.
pub async fn order_street(db: &AnyPool, order: Uuid) -> Result<Uuid> {
    let row = sqlx::query("SELECT street_id FROM service_orders WHERE id = $1")
        .bind(order.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("order"))?;
    get_uuid(&row, "street_id")
}

/// Writes a one-time link for `order`, if the order can still be rated (decided as the link
/// is written): false if it cannot.
pub async fn insert_link(
    tx: &mut Tx<'_>,
    secret: &str,
    order: Uuid,
    created_by: Uuid,
    at: &str,
    expires_at: &str,
) -> Result<bool> {
    let issued = sqlx::query(
        "INSERT INTO feedback_links (token_hash, order_id, created_by, created_at, expires_at) \
         SELECT $1, id, $2, $3, $4 FROM service_orders WHERE id = $5 AND status = 'completed' AND rating IS NULL",
    )
    .bind(hash_token(secret))
    .bind(created_by.to_string())
    .bind(at.to_string())
    .bind(expires_at.to_string())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(issued.rows_affected() > 0)
}

/// A link as stored.
#[derive(Debug)]
pub struct Link {
    pub order: Uuid,
    pub expires_at: String,
    pub used: bool,
}

/// The link with this secret, or `NotFound`.
pub async fn link(db: &AnyPool, secret: &str) -> Result<Link> {
    let row = sqlx::query(
        "SELECT order_id, expires_at, used_at FROM feedback_links WHERE token_hash = $1",
    )
    .bind(hash_token(secret))
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("feedback link"))?;
    Ok(Link {
        order: get_uuid(&row, "order_id")?,
        expires_at: row.try_get("expires_at")?,
        used: row.try_get::<Option<String>, _>("used_at")?.is_some(),
    })
}

/// Marks the link used at `at`, once: false if it was used already.
pub async fn claim_link(tx: &mut Tx<'_>, secret: &str, at: &str) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE feedback_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(at.to_string())
    .bind(hash_token(secret))
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() > 0)
}

/// What the resident sees of the order a link rates (`rated` as the order stands; the caller
/// adds a used link).
pub async fn view(db: &AnyPool, order: Uuid) -> Result<FeedbackView> {
    let row = sqlx::query(
        "SELECT d.category, d.description, o.completed_at, o.rating, COALESCE(v.name, r.title) AS served_by \
         FROM service_orders o JOIN demands d ON d.id = o.demand_id \
         LEFT JOIN volunteers v ON v.id = o.assignee_id LEFT JOIN resources r ON r.id = o.assignee_id WHERE o.id = $1",
    )
    .bind(order.to_string())
    .fetch_one(db)
    .await?;
    Ok(FeedbackView {
        category: row.try_get("category")?,
        description: row.try_get("description")?,
        served_by: row.try_get("served_by")?,
        completed_at: row.try_get("completed_at")?,
        rated: row.try_get::<Option<i64>, _>("rating")?.is_some(),
    })
}
