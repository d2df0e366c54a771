//! The resident's feedback on a completed order: a rating from 1 to 5 and a comment, entered
//! by the street's staff or by the resident through a one-time link. A rating of 2 or less
//! flags the demand for the street.

use axum::{
    extract::{Path, State},
    Json,
};
use gongjian_core::Error;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{get_opt_uuid, get_uuid};
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson},
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::store::counters;
use gongjian_core::{
    domain::access::Principal,
    domain::access::RoleKind,
    domain::access::{Action, Target},
    domain::{format_ts, Check},
    store::tokens::generate_token,
    store::tokens::hash_token,
};
use gongjian_core::{
    domain::CandidateKind,
    store::{events::record_event, orders::lock_order, rows::get_opt_enum},
};
use utoipa_axum::{router::OpenApiRouter, routes};

/// How long a feedback link stays valid.
pub const LINK_VALID_DAYS: i64 = 7;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rate))
        .routes(routes!(create_link))
        .routes(routes!(show_link, rate_by_link))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    pub rating: i64,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rated {
    pub order_id: Uuid,
    pub rating: i64,
    /// Whether the demand was flagged for the street (a rating of 2 or less).
    pub flagged: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeedbackLink {
    /// The one-time token; give the resident the path.
    pub token: String,
    /// `GET` shows what is being rated, `POST` a `RatingRequest` rates it, once.
    pub path: String,
    pub expires_at: String,
}

/// What a resident sees through a feedback link: the service, not anyone's personal data.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeedbackView {
    pub category: String,
    pub description: String,
    /// The volunteer or resource that served.
    pub served_by: Option<String>,
    pub completed_at: Option<String>,
    pub rated: bool,
}

/// Records a rating on a completed, unrated order.
async fn apply(
    state: &AppState,
    order: Uuid,
    rating: i64,
    comment: Option<String>,
    rated_by: &str,
) -> AppResult<Rated> {
    let now = state.now_ts();
    let mut tx = state.db.write().begin().await?;
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
        )
        .into());
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

fn check_rating(body: &RatingRequest) -> AppResult<Option<String>> {
    let mut c = Check::new();
    c.range_i64("rating", body.rating, rules::RATING);
    let comment = c.opt_text("comment", body.comment.as_deref(), rules::COMMENT);
    c.finish()?;
    Ok(comment)
}

async fn order_street(state: &AppState, order: Uuid) -> gongjian_core::Result<Uuid> {
    let row = sqlx::query("SELECT street_id FROM service_orders WHERE id = $1")
        .bind(order.to_string())
        .fetch_optional(state.db.read())
        .await?
        .ok_or(Error::NotFound("order"))?;
    get_uuid(&row, "street_id")
}

/// Enters the resident's rating (the street's admins and grid workers, on the resident's
/// behalf).
#[utoipa::path(post, path = "/api/v1/orders/{id}/rating", tag = "orders", request_body = RatingRequest,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Rated), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn rate(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RatingRequest>,
) -> AppResult<Json<Rated>> {
    let id = path_id("id", &id)?;
    let street = order_street(&state, id).await?;
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
    Ok(Json(
        apply(
            &state,
            id,
            body.rating,
            comment,
            &caller.token_id.to_string(),
        )
        .await?,
    ))
}

/// Makes a one-time link through which the resident rates the order.
#[utoipa::path(post, path = "/api/v1/orders/{id}/feedback-link", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 201, body = FeedbackLink), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_link(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<(axum::http::StatusCode, Json<FeedbackLink>)> {
    let id = path_id("id", &id)?;
    let street = order_street(&state, id).await?;
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
    let expires = format_ts(state.now() + Duration::days(LINK_VALID_DAYS));
    // Issued only for an order that can still be rated, decided as the link is written.
    let issued = sqlx::query(
        "INSERT INTO feedback_links (token_hash, order_id, created_by, created_at, expires_at) \
         SELECT $1, id, $2, $3, $4 FROM service_orders WHERE id = $5 AND status = 'completed' AND rating IS NULL",
    )
    .bind(hash_token(&token))
    .bind(caller.token_id.to_string())
    .bind(state.now_ts())
    .bind(expires.clone())
    .bind(id.to_string())
    .execute(state.db.write())
    .await?;
    if issued.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_ratable",
            "only a completed order that has not been rated gets a feedback link",
        )
        .into());
    }
    let path = format!("/api/v1/feedback/{token}");
    Ok((
        axum::http::StatusCode::CREATED,
        Json(FeedbackLink {
            token,
            path,
            expires_at: expires,
        }),
    ))
}

/// The order a link is for, if the link is valid and unused.
async fn link_order(state: &AppState, token: &str) -> AppResult<(Uuid, bool)> {
    let row = sqlx::query(
        "SELECT order_id, expires_at, used_at FROM feedback_links WHERE token_hash = $1",
    )
    .bind(hash_token(token))
    .fetch_optional(state.db.read())
    .await?
    .ok_or(Error::NotFound("feedback link"))?;
    if row.try_get::<String, _>("expires_at")? < state.now_ts() {
        return Err(Error::conflict("link_expired", "this feedback link has expired").into());
    }
    Ok((
        get_uuid(&row, "order_id")?,
        row.try_get::<Option<String>, _>("used_at")?.is_some(),
    ))
}

/// What the resident is asked to rate. The link itself is the credential.
#[utoipa::path(get, path = "/api/v1/feedback/{token}", tag = "orders",
    params(("token" = String, Path, description = "the one-time token")),
    responses((status = 200, body = FeedbackView), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)))]
async fn show_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> AppResult<Json<FeedbackView>> {
    let (order, used) = link_order(&state, &token).await?;
    let row = sqlx::query(
        "SELECT d.category, d.description, o.completed_at, o.rating, COALESCE(v.name, r.title) AS served_by \
         FROM service_orders o JOIN demands d ON d.id = o.demand_id \
         LEFT JOIN volunteers v ON v.id = o.assignee_id LEFT JOIN resources r ON r.id = o.assignee_id WHERE o.id = $1",
    )
    .bind(order.to_string())
    .fetch_one(state.db.read())
    .await?;
    Ok(Json(FeedbackView {
        category: row.try_get("category")?,
        description: row.try_get("description")?,
        served_by: row.try_get("served_by")?,
        completed_at: row.try_get("completed_at")?,
        rated: used || row.try_get::<Option<i64>, _>("rating")?.is_some(),
    }))
}

/// The resident rates the order, once.
#[utoipa::path(post, path = "/api/v1/feedback/{token}", tag = "orders", request_body = RatingRequest,
    params(("token" = String, Path, description = "the one-time token")),
    responses((status = 200, body = Rated), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn rate_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<RatingRequest>,
) -> AppResult<Json<Rated>> {
    let comment = check_rating(&body)?;
    let (order, used) = link_order(&state, &token).await?;
    if used {
        return Err(Error::conflict("link_used", "this feedback link has been used").into());
    }
    let claimed = sqlx::query(
        "UPDATE feedback_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(state.now_ts())
    .bind(hash_token(&token))
    .execute(state.db.write())
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(Error::conflict("link_used", "this feedback link has been used").into());
    }
    Ok(Json(
        apply(&state, order, body.rating, comment, "resident-link").await?,
    ))
}
