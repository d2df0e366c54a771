//! The resident's feedback on a completed order: a rating from 1 to 5 and a comment, entered
//! by the street's staff or by the resident through a one-time link. A rating of 2 or less
//! flags the demand for the street.

use super::Core;
use crate::domain::feedback::{FeedbackLink, FeedbackView, Rated, RatingRequest};
use crate::domain::rules;
use crate::store::counters;
use crate::store::rows::{get_opt_uuid, get_uuid};
use crate::{
    domain::access::Principal,
    domain::access::RoleKind,
    domain::access::{Action, Target},
    domain::{format_ts, Check},
    store::tokens::generate_token,
    store::tokens::hash_token,
};
use crate::{
    domain::CandidateKind,
    store::{events::record_event, orders::lock_order, rows::get_opt_enum},
};
use crate::{Error, Result};
use sqlx::Row;
use time::Duration;
use uuid::Uuid;

/// How long a feedback link stays valid.
pub const LINK_VALID_DAYS: i64 = 7;

/// Records a rating on a completed, unrated order.
async fn apply(
    core: &Core,
    order: Uuid,
    rating: i64,
    comment: Option<String>,
    rated_by: &str,
) -> Result<Rated> {
    let now = core.now_ts();
    let mut tx = core.db.write().begin().await?;
    // The demand first, then the order, as every transaction that changes both.
    lock_order(&mut tx, order).await?;
    let done = sqlx::query(
        "UPDATE service_orders SET rating = $1, rating_comment = $2, rated_at = $3, rated_by = $4 \
         WHERE id = $5 AND status = 'completed' AND rating IS NULL",
    )
    .bind(rating)
    .bind(comment.clone())
    .bind(now.clone())
    .bind(rated_by.to_string())
    .bind(order.to_string())
    .execute(&mut *tx)
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
    .fetch_one(&mut *tx)
    .await?;
    let demand = get_uuid(&row, "demand_id")?;
    let note = match &comment {
        Some(c) => format!("{rating}/5: {c}"),
        None => format!("{rating}/5"),
    };
    record_event(
        &mut tx,
        &now,
        "order",
        order,
        rated_by,
        "rated",
        Some(&note),
    )
    .await?;
    let flagged = rating <= 2;
    if flagged {
        sqlx::query("UPDATE demands SET flagged = 1, updated_at = $1 WHERE id = $2")
            .bind(now.clone())
            .bind(demand.to_string())
            .execute(&mut *tx)
            .await?;
        record_event(
            &mut tx,
            &now,
            "demand",
            demand,
            rated_by,
            "flagged",
            Some(&format!("rated {note}")),
        )
        .await?;
    }
    // The rating counts in the assignee's record. The street's counter row is locked last, as
    // in every transaction that moves it.
    if let (Some(kind), Some(assignee)) = (
        get_opt_enum(&row, "assignee_kind", CandidateKind::from_db)?,
        get_opt_uuid(&row, "assignee_id")?,
    ) {
        counters::touch_load(&mut tx, get_uuid(&row, "street_id")?, kind, assignee).await?;
    }
    tx.commit().await?;
    Ok(Rated {
        order_id: order,
        rating,
        flagged,
    })
}

fn check_rating(body: &RatingRequest) -> Result<Option<String>> {
    let mut c = Check::new();
    c.range_i64("rating", body.rating, rules::RATING);
    let comment = c.opt_text("comment", body.comment.as_deref(), rules::COMMENT);
    c.finish()?;
    Ok(comment)
}

async fn order_street(core: &Core, order: Uuid) -> crate::Result<Uuid> {
    let row = sqlx::query("SELECT street_id FROM service_orders WHERE id = $1")
        .bind(order.to_string())
        .fetch_optional(core.db.read())
        .await?
        .ok_or(Error::NotFound("order"))?;
    get_uuid(&row, "street_id")
}

/// Enters the resident's rating (the street's admins and grid workers, on the resident's
/// behalf).
pub async fn rate(core: &Core, caller: &Principal, id: Uuid, body: RatingRequest) -> Result<Rated> {
    let street = order_street(core, id).await?;
    // The role first: a party to the order sees it, but only staff act for the resident.
    caller.require(
        &[RoleKind::StreetAdmin, RoleKind::GridWorker],
        "enter residents' ratings",
    )?;
    caller.authorize(
        Action::Read,
        Target::Order {
            street,
            party: false,
        },
    )?;
    let comment = check_rating(&body)?;
    apply(core, id, body.rating, comment, &caller.token_id.to_string()).await
}

/// Makes a one-time link through which the resident rates the order.
pub async fn create_link(core: &Core, caller: &Principal, id: Uuid) -> Result<FeedbackLink> {
    let street = order_street(core, id).await?;
    // The role first: a party to the order sees it, but only staff act for the resident.
    caller.require(
        &[RoleKind::StreetAdmin, RoleKind::GridWorker],
        "make feedback links",
    )?;
    caller.authorize(
        Action::Read,
        Target::Order {
            street,
            party: false,
        },
    )?;
    let token = generate_token();
    let expires = format_ts(core.now() + Duration::days(LINK_VALID_DAYS));
    // Issued only for an order that can still be rated, decided as the link is written.
    let issued = sqlx::query(
        "INSERT INTO feedback_links (token_hash, order_id, created_by, created_at, expires_at) \
         SELECT $1, id, $2, $3, $4 FROM service_orders WHERE id = $5 AND status = 'completed' AND rating IS NULL",
    )
    .bind(hash_token(&token))
    .bind(caller.token_id.to_string())
    .bind(core.now_ts())
    .bind(expires.clone())
    .bind(id.to_string())
    .execute(core.db.write())
    .await?;
    if issued.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_ratable",
            "only a completed order that has not been rated gets a feedback link",
        ));
    }
    let path = format!("/api/v1/feedback/{token}");
    Ok(FeedbackLink {
        token,
        path,
        expires_at: expires,
    })
}

/// The order a link is for, if the link is valid and unused.
async fn link_order(core: &Core, token: &str) -> Result<(Uuid, bool)> {
    let row = sqlx::query(
        "SELECT order_id, expires_at, used_at FROM feedback_links WHERE token_hash = $1",
    )
    .bind(hash_token(token))
    .fetch_optional(core.db.read())
    .await?
    .ok_or(Error::NotFound("feedback link"))?;
    if row.try_get::<String, _>("expires_at")? < core.now_ts() {
        return Err(Error::conflict(
            "link_expired",
            "this feedback link has expired",
        ));
    }
    Ok((
        get_uuid(&row, "order_id")?,
        row.try_get::<Option<String>, _>("used_at")?.is_some(),
    ))
}

/// What the resident is asked to rate. The link itself is the credential.
pub async fn show_link(core: &Core, token: String) -> Result<FeedbackView> {
    let (order, used) = link_order(core, &token).await?;
    let row = sqlx::query(
        "SELECT d.category, d.description, o.completed_at, o.rating, COALESCE(v.name, r.title) AS served_by \
         FROM service_orders o JOIN demands d ON d.id = o.demand_id \
         LEFT JOIN volunteers v ON v.id = o.assignee_id LEFT JOIN resources r ON r.id = o.assignee_id WHERE o.id = $1",
    )
    .bind(order.to_string())
    .fetch_one(core.db.read())
    .await?;
    Ok(FeedbackView {
        category: row.try_get("category")?,
        description: row.try_get("description")?,
        served_by: row.try_get("served_by")?,
        completed_at: row.try_get("completed_at")?,
        rated: used || row.try_get::<Option<i64>, _>("rating")?.is_some(),
    })
}

/// The resident rates the order, once.
pub async fn rate_by_link(core: &Core, token: String, body: RatingRequest) -> Result<Rated> {
    let comment = check_rating(&body)?;
    let (order, used) = link_order(core, &token).await?;
    if used {
        return Err(Error::conflict(
            "link_used",
            "this feedback link has been used",
        ));
    }
    let claimed = sqlx::query(
        "UPDATE feedback_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(core.now_ts())
    .bind(hash_token(&token))
    .execute(core.db.write())
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(Error::conflict(
            "link_used",
            "this feedback link has been used",
        ));
    }
    apply(core, order, body.rating, comment, "resident-link").await
}
