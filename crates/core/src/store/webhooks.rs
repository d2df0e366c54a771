//! Webhook endpoints, their deliveries and every attempt at them.

use std::collections::HashMap;

use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

use super::{
    page::{Page, PageRequest},
    rows::{get_enum, get_opt_uuid, get_uuid, push_in},
    Sql, Tx,
};
use crate::{
    domain::notification::{
        Attempt, Delivery, DeliveryStatus, Endpoint, EndpointChannel, EndpointOwner,
        EndpointStatus, NotificationType, Outcome,
    },
    Error, Result,
};

/// An endpoint as stored: what anyone who may see it sees, and its secrets (a robot's key is
/// in its address).
#[derive(Debug, Clone)]
pub struct Stored {
    pub endpoint: Endpoint,
    /// The address as it is sent to (`endpoint.url` masks a robot's key).
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
}

/// A stored list of event types, as [`types_text`] wrote it.
pub fn types_of(text: &str) -> Result<Vec<NotificationType>> {
    text.split_whitespace()
        .map(|t| Ok(NotificationType::from_db(t)?))
        .collect()
}

/// How a list of event types is stored: their names, space-separated (empty for all).
pub fn types_text(types: &[NotificationType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn stored_of_row(r: &AnyRow) -> Result<Stored> {
    let url: String = r.try_get("url")?;
    let channel = get_enum(r, "channel", EndpointChannel::from_db)?;
    Ok(Stored {
        endpoint: Endpoint {
            id: get_uuid(r, "id")?,
            owner: get_enum(r, "owner_kind", EndpointOwner::from_db)?,
            owner_id: get_opt_uuid(r, "owner_id")?,
            channel,
            grid_id: get_opt_uuid(r, "grid_id")?,
            url: channel.shown_url(&url),
            description: r.try_get("description")?,
            event_types: types_of(&r.try_get::<String, _>("event_types")?)?,
            status: get_enum(r, "status", EndpointStatus::from_db)?,
            disabled_reason: r.try_get("disabled_reason")?,
            previous_secret_until: r.try_get("previous_secret_until")?,
            secret: None,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        },
        url,
        secret: r.try_get("secret")?,
        previous_secret: r.try_get("previous_secret")?,
    })
}

/// Stores a new endpoint (its address `url` as it is sent to; a robot's secret is empty).
pub async fn insert(
    tx: &mut Tx<'_>,
    e: &Endpoint,
    url: &str,
    secret: &str,
    by: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, owner_kind, owner_id, url, description, event_types, secret, \
         status, created_by, created_at, updated_at, channel, grid_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'enabled', $8, $9, $9, $10, $11)",
    )
    .bind(e.id.to_string())
    .bind(e.owner.as_str())
    .bind(e.owner_id.map(|o| o.to_string()))
    .bind(url.to_string())
    .bind(e.description.clone())
    .bind(types_text(&e.event_types))
    .bind(secret.to_string())
    .bind(by.to_string())
    .bind(e.created_at.clone())
    .bind(e.channel.as_str())
    .bind(e.grid_id.map(|g| g.to_string()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An endpoint, or `NotFound`.
pub async fn get<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: Uuid,
) -> Result<Stored> {
    let row = sqlx::query("SELECT * FROM webhook_endpoints WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("endpoint"))?;
    stored_of_row(&row)
}

/// Which owners' endpoints a listing shows: every owner's, or these.
pub enum Owners<'a> {
    All,
    These(&'a [(EndpointOwner, Option<Uuid>)]),
}

/// A page of the endpoints of `owners`, oldest first; only those of owner kind `kind` and of
/// owner `owner_id` where given.
pub async fn list(
    db: &sqlx::AnyPool,
    owners: Owners<'_>,
    kind: Option<EndpointOwner>,
    owner_id: Option<Uuid>,
    page: &PageRequest,
) -> Result<Page<Endpoint>> {
    let mut sql = Sql::new("SELECT * FROM webhook_endpoints WHERE 1 = 1");
    if let Some(kind) = kind {
        sql.push(" AND owner_kind = ").bind(kind.as_str());
    }
    if let Some(id) = owner_id {
        sql.push(" AND owner_id = ").bind(id.to_string());
    }
    if let Owners::These(owners) = owners {
        sql.push(" AND (1 = 0");
        for (kind, id) in owners {
            sql.push(" OR (owner_kind = ").bind(kind.as_str());
            match id {
                Some(id) => sql.push(" AND owner_id = ").bind(id.to_string()),
                None => sql.push(" AND owner_id IS NULL"),
            };
            sql.push(")");
        }
        sql.push(")");
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows
        .iter()
        .map(|r| Ok(stored_of_row(r)?.endpoint))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |e| e.id))
}

/// Changes an endpoint's description, event types or status, and its address to `url` when
/// given. Enabling clears why it was disabled.
pub async fn update(tx: &mut Tx<'_>, e: &Endpoint, url: Option<&str>) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = COALESCE($1, url), description = $2, event_types = $3, status = $4, \
         disabled_reason = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(url.map(str::to_string))
    .bind(e.description.clone())
    .bind(types_text(&e.event_types))
    .bind(e.status.as_str())
    .bind(e.disabled_reason.clone())
    .bind(e.updated_at.clone())
    .bind(e.id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives an endpoint a new secret; the one it had signs too until `previous_until`.
pub async fn rotate(
    tx: &mut Tx<'_>,
    id: Uuid,
    secret: &str,
    previous_until: &str,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1, secret = $2, \
         updated_at = $3 WHERE id = $4",
    )
    .bind(previous_until.to_string())
    .bind(secret.to_string())
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes an endpoint with its deliveries and their attempts.
pub async fn delete(tx: &mut Tx<'_>, id: Uuid) -> Result<()> {
    for statement in [
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
        "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
        "DELETE FROM robot_messages WHERE endpoint_id = $1",
        "DELETE FROM webhook_endpoints WHERE id = $1",
    ] {
        sqlx::query(statement)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The enabled endpoints that hear of what is addressed to `streets` (the district's too) or
/// to `units`.
pub async fn hearing(tx: &mut Tx<'_>, streets: &[Uuid], units: &[Uuid]) -> Result<Vec<Stored>> {
    let mut sql = Sql::new(
        "SELECT * FROM webhook_endpoints WHERE status = 'enabled' AND (owner_kind = 'district' OR (owner_kind = 'street'",
    );
    push_in(&mut sql, "owner_id", streets);
    sql.push(") OR (owner_kind = 'unit'");
    push_in(&mut sql, "owner_id", units);
    sql.push(")) ORDER BY id");
    let rows = sql.fetch_all(&mut **tx).await?;
    rows.iter().map(stored_of_row).collect()
}

/// A delivery to make: the endpoint, the message and its body.
pub struct NewDelivery {
    pub endpoint: Uuid,
    pub notification: Uuid,
    pub kind: NotificationType,
    pub body: String,
}

/// Stores deliveries due at once (`at`); a message already due to an endpoint is not added
/// twice.
pub async fn insert_deliveries(tx: &mut Tx<'_>, at: &str, items: &[NewDelivery]) -> Result<()> {
    for d in items {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, notification_id, type, body, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) \
             ON CONFLICT (endpoint_id, notification_id) DO NOTHING",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(d.endpoint.to_string())
        .bind(d.notification.to_string())
        .bind(d.kind.as_str())
        .bind(d.body.clone())
        .bind(at.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone)]
pub struct Due {
    pub delivery: Uuid,
    pub endpoint: Uuid,
    pub notification: Uuid,
    pub body: String,
    /// The attempt this is (1 for the first).
    pub attempt: i64,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<String>,
}

/// Claims up to `limit` deliveries due at `now` to enabled webhook endpoints (a robot's are
/// claimed by [`claim_robot`]), by moving each one's
/// next attempt to `lease_until` and counting the attempt, in one statement: of several hosts
/// on one database only one claims each, and a host that dies mid-attempt leaves it to be
/// claimed again once the lease runs out.
pub async fn claim_due(
    tx: &mut Tx<'_>,
    now: &str,
    lease_until: &str,
    limit: i64,
) -> Result<Vec<Due>> {
    let skip = if super::for_update(tx).is_empty() {
        ""
    } else {
        " FOR UPDATE SKIP LOCKED"
    };
    let rows = sqlx::query(&format!(
        "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND id IN \
         (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
          WHERE d.status = 'pending' AND d.next_attempt_at <= $2 AND e.status = 'enabled' \
          AND e.channel = 'webhook' ORDER BY d.next_attempt_at LIMIT $3{skip}) \
         RETURNING id, endpoint_id, notification_id, body, attempts"
    ))
    .bind(lease_until.to_string())
    .bind(now.to_string())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in &rows {
        let endpoint = get_uuid(r, "endpoint_id")?;
        let e = get(&mut **tx, endpoint).await?;
        due.push(Due {
            delivery: get_uuid(r, "id")?,
            endpoint,
            notification: get_uuid(r, "notification_id")?,
            body: r.try_get("body")?,
            attempt: r.try_get("attempts")?,
            url: e.url,
            secret: e.secret,
            previous_secret: e.previous_secret,
            previous_until: e.endpoint.previous_secret_until,
        });
    }
    Ok(due)
}

/// What follows an attempt.
#[derive(Debug, Clone)]
pub enum Next {
    Delivered,
    /// Tried again at this instant.
    RetryAt(String),
    /// Given up.
    Failed,
}

/// Records attempt `attempt` of a delivery and what follows it, if the delivery is still at
/// that attempt (a compare-and-set: an attempt whose lease ran out and was claimed again by
/// another host leaves the delivery to that host). Answers whether it was recorded.
pub async fn record_attempt(
    tx: &mut Tx<'_>,
    delivery: Uuid,
    attempt: i64,
    at: &str,
    outcome: &Outcome,
    next: &Next,
) -> Result<bool> {
    let (status, next_at, delivered_at) = match next {
        Next::Delivered => (DeliveryStatus::Delivered, None, Some(at.to_string())),
        Next::RetryAt(when) => (DeliveryStatus::Pending, Some(when.clone()), None),
        Next::Failed => (DeliveryStatus::Failed, None, None),
    };
    let moved = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, delivered_at = $3, last_status = $4, \
         last_error = $5, updated_at = $6 WHERE id = $7 AND attempts = $8 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(next_at)
    .bind(delivered_at)
    .bind(outcome.status_code.map(i64::from))
    .bind(outcome.error.clone())
    .bind(at.to_string())
    .bind(delivery.to_string())
    .bind(attempt)
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_attempts (id, delivery_id, attempt, at, status_code, error, response, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(delivery.to_string())
    .bind(attempt)
    .bind(at.to_string())
    .bind(outcome.status_code.map(i64::from))
    .bind(outcome.error.clone())
    .bind(outcome.response.clone())
    .bind(outcome.duration_ms)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Disables an endpoint with `reason`, and fails its pending deliveries.
pub async fn disable(tx: &mut Tx<'_>, id: Uuid, reason: &str, at: &str) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(reason.to_string())
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = $1 \
         WHERE endpoint_id = $2 AND status = 'pending'",
    )
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn delivery_of_row(r: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: get_uuid(r, "id")?,
        endpoint_id: get_uuid(r, "endpoint_id")?,
        notification_id: get_uuid(r, "notification_id")?,
        kind: get_enum(r, "type", NotificationType::from_db)?,
        status: get_enum(r, "status", DeliveryStatus::from_db)?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
        recent_attempts: vec![],
    })
}

/// How many of a delivery's latest attempts it is shown with.
const RECENT_ATTEMPTS: usize = 5;

/// A page of an endpoint's deliveries, newest first, each with its latest attempts.
pub async fn deliveries(
    db: &sqlx::AnyPool,
    endpoint: Uuid,
    status: Option<DeliveryStatus>,
    page: &PageRequest,
) -> Result<Page<Delivery>> {
    let mut sql = Sql::new(
        "SELECT id, endpoint_id, notification_id, type, status, attempts, next_attempt_at, last_status, \
         last_error, created_at, delivered_at FROM webhook_deliveries WHERE endpoint_id = ",
    );
    sql.bind(endpoint.to_string());
    if let Some(status) = status {
        sql.push(" AND status = ").bind(status.as_str());
    }
    let page = PageRequest {
        newest_first: true,
        ..*page
    };
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let mut items = rows
        .iter()
        .map(delivery_of_row)
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<Uuid> = items.iter().map(|d| d.id).collect();
    let mut attempts = attempts_of(db, &ids).await?;
    for d in &mut items {
        d.recent_attempts = attempts.remove(&d.id).unwrap_or_default();
    }
    Ok(page.finish(items, |d| d.id))
}

/// One delivery of an endpoint, with its latest attempts, or `NotFound`.
pub async fn delivery(db: &sqlx::AnyPool, endpoint: Uuid, id: Uuid) -> Result<Delivery> {
    let row = sqlx::query(
        "SELECT id, endpoint_id, notification_id, type, status, attempts, next_attempt_at, last_status, \
         last_error, created_at, delivered_at FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2",
    )
    .bind(id.to_string())
    .bind(endpoint.to_string())
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("delivery"))?;
    let mut d = delivery_of_row(&row)?;
    d.recent_attempts = attempts_of(db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    Ok(d)
}

/// The latest attempts of each delivery, newest first.
async fn attempts_of(
    db: &sqlx::AnyPool,
    deliveries: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Attempt>>> {
    let mut by_delivery: HashMap<Uuid, Vec<Attempt>> = HashMap::new();
    if deliveries.is_empty() {
        return Ok(by_delivery);
    }
    let mut sql = Sql::new("SELECT * FROM webhook_attempts WHERE 1 = 1");
    push_in(&mut sql, "delivery_id", deliveries);
    sql.push(" ORDER BY id DESC");
    for r in sql.fetch_all(db).await? {
        let list = by_delivery.entry(get_uuid(&r, "delivery_id")?).or_default();
        if list.len() < RECENT_ATTEMPTS {
            list.push(Attempt {
                attempt: r.try_get("attempt")?,
                at: r.try_get("at")?,
                status_code: r.try_get("status_code")?,
                error: r.try_get("error")?,
                response: r.try_get("response")?,
                duration_ms: r.try_get("duration_ms")?,
            });
        }
    }
    Ok(by_delivery)
}

/// Makes a delivery of `endpoint` due again at `at`, its schedule from the start (a
/// redelivery). False when it is already pending.
pub async fn redeliver(tx: &mut Tx<'_>, endpoint: Uuid, id: Uuid, at: &str) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 \
         WHERE id = $2 AND endpoint_id = $3 AND status <> 'pending'",
    )
    .bind(at.to_string())
    .bind(id.to_string())
    .bind(endpoint.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() > 0)
}

/// Deliveries not (yet) delivered, by status, and when the oldest pending one was made.
pub async fn delivery_counts(
    db: &sqlx::AnyPool,
) -> Result<(Vec<(DeliveryStatus, i64)>, Option<String>)> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM webhook_deliveries \
         WHERE status <> 'delivered' GROUP BY status",
    )
    .fetch_all(db)
    .await?;
    let counts = rows
        .iter()
        .map(|r| {
            Ok((
                get_enum(r, "status", DeliveryStatus::from_db)?,
                r.try_get("n")?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let oldest: Option<String> = sqlx::query_scalar(
        "SELECT MIN(created_at) FROM webhook_deliveries WHERE status = 'pending'",
    )
    .fetch_one(db)
    .await?;
    Ok((counts, oldest))
}

// ---------------------------------------------------------------------------------------------
// WeCom robots: their deliveries are claimed a robot at a time, under its row lock, so that
// what the robot is sent in a minute is counted by one host at a time.

/// The enabled robots that have deliveries due at `now`.
pub async fn robots_due(tx: &mut Tx<'_>, now: &str) -> Result<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT DISTINCT e.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.channel = 'wecom' AND e.status = 'enabled' \
         ORDER BY e.id",
    )
    .bind(now.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(|r| get_uuid(r, "id")).collect()
}

/// Locks robot `id` for the rest of the transaction and answers it; `None` when it is no
/// longer an enabled robot or (on PostgreSQL) another host holds it now.
pub async fn lock_robot(tx: &mut Tx<'_>, id: Uuid) -> Result<Option<Stored>> {
    let lock = super::for_update(tx);
    let skip = if lock.is_empty() { "" } else { " SKIP LOCKED" };
    let row = sqlx::query(&format!(
        "SELECT * FROM webhook_endpoints WHERE id = $1 AND channel = 'wecom' AND status = 'enabled'{lock}{skip}"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(stored_of_row).transpose()
}

/// How many messages robot `id` was sent at or after `since`.
pub async fn robot_sent_since(tx: &mut Tx<'_>, id: Uuid, since: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM robot_messages WHERE endpoint_id = $1 AND at >= $2",
    )
    .bind(id.to_string())
    .bind(since.to_string())
    .fetch_one(&mut **tx)
    .await?)
}

/// A robot's delivery due now.
#[derive(Debug, Clone)]
pub struct RobotDue {
    pub delivery: Uuid,
    pub kind: NotificationType,
    pub body: String,
    /// The attempt this is (1 for the first).
    pub attempt: i64,
}

/// Claims up to `limit` of robot `id`'s deliveries due at `now`, oldest first, as
/// [`claim_due`] does: each one's next attempt moved to `lease_until` and the attempt counted.
pub async fn claim_robot(
    tx: &mut Tx<'_>,
    id: Uuid,
    now: &str,
    lease_until: &str,
    limit: i64,
) -> Result<Vec<RobotDue>> {
    let rows = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = $3 AND status = 'pending' AND next_attempt_at <= $2 \
          ORDER BY next_attempt_at, id LIMIT $4) \
         RETURNING id, type, body, attempts",
    )
    .bind(lease_until.to_string())
    .bind(now.to_string())
    .bind(id.to_string())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    let mut due = rows
        .iter()
        .map(|r| {
            Ok(RobotDue {
                delivery: get_uuid(r, "id")?,
                kind: get_enum(r, "type", NotificationType::from_db)?,
                body: r.try_get("body")?,
                attempt: r.try_get("attempts")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    due.sort_by_key(|d| d.delivery);
    Ok(due)
}

/// Counts a message sent to robot `id` at `at`, carrying `deliveries` deliveries.
pub async fn robot_sent(tx: &mut Tx<'_>, id: Uuid, at: &str, deliveries: usize) -> Result<()> {
    sqlx::query(
        "INSERT INTO robot_messages (id, endpoint_id, at, deliveries) VALUES ($1, $2, $3, $4)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(id.to_string())
    .bind(at.to_string())
    .bind(deliveries as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets what robots were sent before `before` (a minute's count needs only the last
/// minute's).
pub async fn forget_robot_messages(tx: &mut Tx<'_>, before: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM robot_messages WHERE at < $1")
        .bind(before.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected())
}
