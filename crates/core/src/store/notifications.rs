//! The outbox: notifications written in the transaction of the event they tell of, claimed by
//! their state (never by id order) for fanning out, and read as a person's feed.

use std::collections::HashMap;

use sqlx::Row;
use uuid::Uuid;

use super::{
    page::{Page, PageRequest},
    rows::{get_opt_uuid, get_uuid, push_in},
    Script, Sql, Tx,
};
use crate::{
    domain::{
        access::ListScope,
        notification::{
            DeliveryMode, Digest, DigestCount, Notification, NotificationType, Preferences,
            RecipientKind,
        },
        CandidateKind,
    },
    Result,
};

/// Whom a new notification is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// The street: its staff, its endpoints and the district's.
    Street,
    /// One candidate: a volunteer, or a resource and so its owner.
    Candidate(CandidateKind, Uuid),
}

/// A notification to write: its type, its street and subject (kind and id), whom it is for and
/// what it says.
#[derive(Debug, Clone, Copy)]
pub struct NewNotification<'a> {
    pub kind: NotificationType,
    pub street: Uuid,
    pub subject_kind: &'a str,
    pub subject: Uuid,
    pub to: To,
    pub note: Option<&'a str>,
}

impl<'a> NewNotification<'a> {
    /// A notification of `kind` about an order, to `to`.
    pub fn order(kind: NotificationType, street: Uuid, order: Uuid, to: To) -> Self {
        NewNotification {
            kind,
            street,
            subject_kind: "order",
            subject: order,
            to,
            note: None,
        }
    }

    /// A notification of `kind` about a demand, to its street.
    pub fn demand(kind: NotificationType, street: Uuid, demand: Uuid) -> Self {
        NewNotification {
            kind,
            street,
            subject_kind: "demand",
            subject: demand,
            to: To::Street,
            note: None,
        }
    }

    pub fn saying(self, note: &'a str) -> Self {
        NewNotification {
            note: Some(note),
            ..self
        }
    }
}

/// The head of the statement that records notifications.
const NOTIFICATIONS: &str = "INSERT INTO notifications (id, type, street_id, subject_kind, subject_id, recipient_kind, recipient_id, note, at, fanned_out_at) VALUES ";

/// Adds `items` at `at` to the one statement of `script` that records its notifications
/// (see [`Script::row`]).
pub fn add(script: &mut Script, at: &str, items: &[NewNotification<'_>]) {
    for n in items {
        let (kind, street, subject, to) = (n.kind, n.street, n.subject, n.to);
        let (subject_kind, note) = (n.subject_kind.to_string(), n.note.map(str::to_string));
        let at = at.to_string();
        script.row(NOTIFICATIONS, move |sql| {
            let n = NewNotification {
                kind,
                street,
                subject_kind: &subject_kind,
                subject,
                to,
                note: note.as_deref(),
            };
            notification_row(sql, &at, &n)
        });
    }
}

/// One notification's values, its id taken now.
///
/// A notification that no enabled endpoint hears is written fanned out: there is nothing to
/// fan it out to, and the worker need not claim it. Which endpoints hear what is decided here,
/// in the event's own transaction, as the worker would decide it (see
/// `service::notifications::hears`): a volunteer's notifications reach only their feed; a
/// street's, the district's endpoints and the street's own (a grid's robot among them, whose
/// grid the worker checks); a resource's, its unit's endpoints; each only for the event types
/// it subscribes to (none listed: all). So an endpoint hears of the events that happen while it
/// is enabled.
fn notification_row(sql: &mut Sql, at: &str, n: &NewNotification<'_>) {
    let (kind, recipient) = match n.to {
        To::Street => (RecipientKind::Street, n.street),
        To::Candidate(CandidateKind::Volunteer, id) => (RecipientKind::Volunteer, id),
        To::Candidate(CandidateKind::Resource, id) => (RecipientKind::Resource, id),
    };
    sql.push("(");
    sql.bind(Uuid::now_v7().to_string()).push(", ");
    sql.bind(n.kind.as_str()).push(", ");
    sql.bind(n.street.to_string()).push(", ");
    sql.bind(n.subject_kind.to_string()).push(", ");
    sql.bind(n.subject.to_string()).push(", ");
    sql.bind(kind.as_str()).push(", ");
    sql.bind(recipient.to_string()).push(", ");
    sql.bind(n.note.map(str::to_string)).push(", ");
    sql.bind(at.to_string()).push(", ");
    match kind {
        RecipientKind::Volunteer => {
            sql.bind(at.to_string());
        }
        RecipientKind::Street | RecipientKind::Resource => {
            sql.push("CASE WHEN EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.status = 'enabled' AND ");
            if kind == RecipientKind::Street {
                sql.push(
                    "(e.owner_kind = 'district' OR (e.owner_kind = 'street' AND e.owner_id = ",
                )
                .bind(n.street.to_string())
                .push("))");
            } else {
                sql.push("e.owner_kind = 'unit' AND e.owner_id = (SELECT r.owner_unit_id FROM resources r WHERE r.id = ")
                    .bind(recipient.to_string())
                    .push(")");
            }
            // The type's name among the space-separated names, `_` taken literally.
            sql.push(" AND (e.event_types = '' OR ' ' || e.event_types || ' ' LIKE ")
                .bind(format!("% {} %", n.kind.as_str().replace('_', "\\_")))
                .push(" ESCAPE '\\')) THEN NULL ELSE ")
                .bind(at.to_string())
                .push(" END");
        }
    }
    sql.push(")");
}

/// Records `items` at `at`, in the transaction of the event they tell of.
pub async fn record(tx: &mut Tx<'_>, at: &str, items: &[NewNotification<'_>]) -> Result<()> {
    let mut script = Script::new(tx);
    add(&mut script, at, items);
    script.send(tx).await?;
    Ok(())
}

/// The candidates whose open offers of `order` a change just closed, read from the rows it
/// returned (`candidate_kind`, `candidate_id`).
pub fn closed_offers(rows: &[sqlx::any::AnyRow]) -> Result<Vec<(CandidateKind, Uuid)>> {
    rows.iter()
        .map(|r| {
            Ok((
                CandidateKind::from_db(&r.try_get::<String, _>("candidate_kind")?)?,
                get_uuid(r, "candidate_id")?,
            ))
        })
        .collect()
}

/// A notification claimed for fanning out.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub kind: NotificationType,
    pub street: Uuid,
    pub subject_kind: String,
    pub subject: Uuid,
    pub recipient_kind: RecipientKind,
    pub recipient: Uuid,
    pub note: Option<String>,
    pub at: String,
}

/// Claims up to `limit` notifications not yet fanned out, oldest first, by a compare-and-set
/// on their state in one statement: of several hosts on one database only one claims each
/// (on PostgreSQL the others skip the rows being claimed rather than wait for them).
pub async fn claim_for_fan_out(tx: &mut Tx<'_>, now: &str, limit: i64) -> Result<Vec<Claimed>> {
    let skip = if super::for_update(tx).is_empty() {
        ""
    } else {
        " FOR UPDATE SKIP LOCKED"
    };
    let rows = sqlx::query(&format!(
        "UPDATE notifications SET fanned_out_at = $1 WHERE fanned_out_at IS NULL AND id IN \
         (SELECT id FROM notifications WHERE fanned_out_at IS NULL ORDER BY id LIMIT $2{skip}) \
         RETURNING id, type, street_id, subject_kind, subject_id, recipient_kind, recipient_id, note, at"
    ))
    .bind(now.to_string())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                id: get_uuid(r, "id")?,
                kind: NotificationType::from_db(&r.try_get::<String, _>("type")?)?,
                street: get_uuid(r, "street_id")?,
                subject_kind: r.try_get("subject_kind")?,
                subject: get_uuid(r, "subject_id")?,
                recipient_kind: RecipientKind::from_db(&r.try_get::<String, _>("recipient_kind")?)?,
                recipient: get_uuid(r, "recipient_id")?,
                note: r.try_get("note")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// What a robot's message calls things by: streets' and grids' names, and the labels of the
/// categories streets added (by street and code).
#[derive(Debug, Default)]
pub struct Labels {
    pub streets: HashMap<Uuid, String>,
    pub grids: HashMap<Uuid, String>,
    pub categories: HashMap<(Uuid, String), String>,
}

/// The names of `streets` and `grids`, and the categories those streets added.
pub async fn labels(tx: &mut Tx<'_>, streets: &[Uuid], grids: &[Uuid]) -> Result<Labels> {
    let mut labels = Labels::default();
    if !streets.is_empty() {
        let mut sql = Sql::new("SELECT id, name FROM streets WHERE 1 = 1");
        push_in(&mut sql, "id", streets);
        for r in sql.fetch_all(&mut **tx).await? {
            labels
                .streets
                .insert(get_uuid(&r, "id")?, r.try_get("name")?);
        }
        let mut sql = Sql::new("SELECT street_id, code, label FROM categories WHERE 1 = 1");
        push_in(&mut sql, "street_id", streets);
        for r in sql.fetch_all(&mut **tx).await? {
            labels.categories.insert(
                (get_uuid(&r, "street_id")?, r.try_get("code")?),
                r.try_get("label")?,
            );
        }
    }
    if !grids.is_empty() {
        let mut sql = Sql::new("SELECT id, name FROM grids WHERE 1 = 1");
        push_in(&mut sql, "id", grids);
        for r in sql.fetch_all(&mut **tx).await? {
            labels.grids.insert(get_uuid(&r, "id")?, r.try_get("name")?);
        }
    }
    Ok(labels)
}

/// How many notifications wait to be fanned out, and when the oldest was written.
pub async fn backlog(db: &sqlx::AnyPool) -> Result<(i64, Option<String>)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM notifications WHERE fanned_out_at IS NULL",
    )
    .fetch_one(db)
    .await?;
    Ok((row.try_get("n")?, row.try_get("oldest")?))
}

/// Whose feed is read.
pub enum Feed<'a> {
    /// The notifications to these streets (or to every street).
    Streets(&'a ListScope),
    /// The notifications to these candidates (a volunteer's or a unit's identities).
    Candidates(&'a [Uuid]),
}

/// A page of a feed for `reader`, newest first; with `unread_only`, those it has not marked
/// read.
pub async fn feed(
    db: &sqlx::AnyPool,
    feed: Feed<'_>,
    types: &[NotificationType],
    reader: &str,
    unread_only: bool,
    page: &PageRequest,
) -> Result<Page<Notification>> {
    let mut sql = Sql::new(
        "SELECT n.id, n.type, n.street_id, n.subject_kind, n.subject_id, n.note, n.at, \
         CASE n.subject_kind WHEN 'demand' THEN n.subject_id \
         WHEN 'order' THEN (SELECT o.demand_id FROM service_orders o WHERE o.id = n.subject_id) END AS demand_id, \
         (SELECT COUNT(*) FROM notification_reads r WHERE r.reader = ",
    );
    sql.bind(reader.to_string())
        .push(" AND r.notification_id = n.id) AS seen FROM notifications n WHERE ");
    push_feed(&mut sql, &feed);
    push_types(&mut sql, types);
    if unread_only {
        sql.push(" AND NOT EXISTS (SELECT 1 FROM notification_reads r WHERE r.reader = ")
            .bind(reader.to_string())
            .push(" AND r.notification_id = n.id)");
    }
    page.apply(&mut sql, "n.id");
    let rows = sql.fetch_all(db).await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(Notification {
                id: get_uuid(r, "id")?,
                kind: NotificationType::from_db(&r.try_get::<String, _>("type")?)?,
                street_id: get_uuid(r, "street_id")?,
                subject_kind: r.try_get("subject_kind")?,
                subject_id: get_uuid(r, "subject_id")?,
                demand_id: get_opt_uuid(r, "demand_id")?,
                note: r.try_get("note")?,
                at: r.try_get("at")?,
                read: r.try_get::<i64, _>("seen")? > 0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |n| n.id))
}

/// How many of the newest `window` notifications of `feed` `reader` has not marked read: what
/// a badge shows, bounded however long the feed.
pub async fn count_unread(
    db: &sqlx::AnyPool,
    feed: Feed<'_>,
    types: &[NotificationType],
    reader: &str,
    window: i64,
) -> Result<i64> {
    let mut sql = Sql::new("SELECT COUNT(*) AS n FROM (SELECT n.id FROM notifications n WHERE ");
    push_feed(&mut sql, &feed);
    push_types(&mut sql, types);
    sql.push(" ORDER BY n.id DESC LIMIT ")
        .bind(window)
        .push(") w WHERE NOT EXISTS (SELECT 1 FROM notification_reads r WHERE r.reader = ")
        .bind(reader.to_string())
        .push(" AND r.notification_id = w.id)");
    let row = sql.fetch_optional(db).await?;
    Ok(row.map(|r| r.try_get("n")).transpose()?.unwrap_or(0))
}

/// Only the notifications of `types` (none: every type).
fn push_types(sql: &mut Sql, types: &[NotificationType]) {
    if types.is_empty() {
        return;
    }
    sql.push(" AND n.type IN (");
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(t.as_str());
    }
    sql.push(")");
}

/// How many notifications of each type `feed` received after `since` up to `until`.
pub async fn count_by_type(
    db: &sqlx::AnyPool,
    feed: Feed<'_>,
    types: &[NotificationType],
    since: &str,
    until: &str,
) -> Result<Vec<(NotificationType, i64)>> {
    let mut sql = Sql::new("SELECT n.type, COUNT(*) AS n FROM notifications n WHERE ");
    push_feed(&mut sql, &feed);
    push_types(&mut sql, types);
    sql.push(" AND n.at > ")
        .bind(since.to_string())
        .push(" AND n.at <= ")
        .bind(until.to_string())
        .push(" GROUP BY n.type ORDER BY n.type");
    sql.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok((
                NotificationType::from_db(&r.try_get::<String, _>("type")?)?,
                r.try_get("n")?,
            ))
        })
        .collect()
}

/// A reader's preferences as stored, with where their next digest starts.
#[derive(Debug, Clone)]
pub struct StoredPreferences {
    pub preferences: Preferences,
    pub digest_from: Option<String>,
}

/// `reader`'s preferences, if they set any.
pub async fn preferences(db: &sqlx::AnyPool, reader: &str) -> Result<Option<StoredPreferences>> {
    let row = sqlx::query("SELECT * FROM notification_preferences WHERE reader = $1")
        .bind(reader.to_string())
        .fetch_optional(db)
        .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    Ok(Some(StoredPreferences {
        preferences: Preferences {
            event_types: super::webhooks::types_of(&r.try_get::<String, _>("event_types")?)?,
            delivery: DeliveryMode::from_db(&r.try_get::<String, _>("delivery")?)?,
            digest_hour: r.try_get("digest_hour")?,
        },
        digest_from: r.try_get("digest_from")?,
    }))
}

/// Stores `reader`'s preferences, their next digest starting at `digest_from`.
pub async fn put_preferences(
    tx: &mut Tx<'_>,
    reader: &str,
    p: &Preferences,
    digest_from: Option<&str>,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_preferences (reader, event_types, delivery, digest_hour, digest_from, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (reader) DO UPDATE SET event_types = $2, delivery = $3, \
         digest_hour = $4, digest_from = $5, updated_at = $6",
    )
    .bind(reader.to_string())
    .bind(super::webhooks::types_text(&p.event_types))
    .bind(p.delivery.as_str())
    .bind(p.digest_hour)
    .bind(digest_from.map(str::to_string))
    .bind(at.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes `reader`'s digest of (`since`, `until`] if their next digest still starts at
/// `since` (a compare-and-set: of two readers of one feed at once, one makes it). A digest of
/// nothing moves the start on without a row. Answers whether this call made it.
pub async fn make_digest(
    tx: &mut Tx<'_>,
    reader: &str,
    since: &str,
    until: &str,
    counts: &[(NotificationType, i64)],
    at: &str,
) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE notification_preferences SET digest_from = $1 \
         WHERE reader = $2 AND delivery = 'daily_digest' AND digest_from = $3",
    )
    .bind(until.to_string())
    .bind(reader.to_string())
    .bind(since.to_string())
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    if total > 0 {
        let counts: Vec<DigestCount> = counts
            .iter()
            .map(|&(kind, count)| DigestCount { kind, count })
            .collect();
        sqlx::query(
            "INSERT INTO notification_digests (id, reader, since, until, counts, total, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(reader.to_string())
        .bind(since.to_string())
        .bind(until.to_string())
        .bind(serde_json::to_string(&counts).map_err(|e| crate::Error::Internal(e.into()))?)
        .bind(total)
        .bind(at.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// A page of `reader`'s digests.
pub async fn digests(db: &sqlx::AnyPool, reader: &str, page: &PageRequest) -> Result<Page<Digest>> {
    let mut sql = Sql::new("SELECT * FROM notification_digests d WHERE d.reader = ");
    sql.bind(reader.to_string());
    page.apply(&mut sql, "d.id");
    let items = sql
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            let counts: String = r.try_get("counts")?;
            Ok(Digest {
                id: get_uuid(r, "id")?,
                since: r.try_get("since")?,
                until: r.try_get("until")?,
                counts: serde_json::from_str(&counts)
                    .map_err(|e| crate::Error::Internal(e.into()))?,
                total: r.try_get("total")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |d| d.id))
}

fn push_feed(sql: &mut Sql, feed: &Feed<'_>) {
    match feed {
        Feed::Streets(scope) => {
            // A street's notifications are addressed to it: its id is the recipient's.
            sql.push("n.recipient_kind = 'street'");
            if let ListScope::Streets(streets) = scope {
                push_in(sql, "n.recipient_id", streets);
            }
        }
        Feed::Candidates(mine) => {
            sql.push("n.recipient_kind IN ('volunteer', 'resource')");
            push_in(sql, "n.recipient_id", mine);
        }
    }
}

/// Whether notification `id` is in `feed`.
pub async fn in_feed(db: &sqlx::AnyPool, feed: Feed<'_>, id: Uuid) -> Result<bool> {
    let mut sql = Sql::new("SELECT 1 AS one FROM notifications n WHERE n.id = ");
    sql.bind(id.to_string()).push(" AND ");
    push_feed(&mut sql, &feed);
    Ok(sql.fetch_optional(db).await?.is_some())
}

/// Marks notifications read for `reader` (again is no change).
pub async fn mark_read(tx: &mut Tx<'_>, reader: &str, ids: &[Uuid], at: &str) -> Result<()> {
    for id in ids {
        sqlx::query(
            "INSERT INTO notification_reads (reader, notification_id, read_at) VALUES ($1, $2, $3) \
             ON CONFLICT (reader, notification_id) DO NOTHING",
        )
        .bind(reader.to_string())
        .bind(id.to_string())
        .bind(at.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Marks every notification of `feed` up to `through` (by id) read for `reader`; answers how
/// many it marked.
pub async fn mark_all_read(
    tx: &mut Tx<'_>,
    feed: Feed<'_>,
    reader: &str,
    through: Uuid,
    at: &str,
) -> Result<u64> {
    let mut sql =
        Sql::new("INSERT INTO notification_reads (reader, notification_id, read_at) SELECT ");
    sql.bind(reader.to_string())
        .push(", n.id, ")
        .bind(at.to_string());
    sql.push(" FROM notifications n WHERE ");
    push_feed(&mut sql, &feed);
    sql.push(" AND n.id <= ").bind(through.to_string());
    sql.push(" AND NOT EXISTS (SELECT 1 FROM notification_reads r WHERE r.reader = ")
        .bind(reader.to_string())
        .push(" AND r.notification_id = n.id)");
    Ok(sql.execute(&mut **tx).await?)
}

/// The unit that owns each of `resources` a unit owns (those a volunteer owns are left out).
pub async fn units_owning(tx: &mut Tx<'_>, resources: &[Uuid]) -> Result<HashMap<Uuid, Uuid>> {
    column_of(tx, "resources", "owner_unit_id", resources).await
}

/// The demand of each of `orders`.
pub async fn demands_of_orders(tx: &mut Tx<'_>, orders: &[Uuid]) -> Result<HashMap<Uuid, Uuid>> {
    column_of(tx, "service_orders", "demand_id", orders).await
}

/// The id in `column` of each row of `table` among `ids` that has one.
async fn column_of(
    tx: &mut Tx<'_>,
    table: &str,
    column: &str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Uuid>> {
    let mut found = HashMap::new();
    if ids.is_empty() {
        return Ok(found);
    }
    let mut sql = Sql::new(format!(
        "SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"
    ));
    push_in(&mut sql, "id", ids);
    for r in sql.fetch_all(&mut **tx).await? {
        found.insert(get_uuid(&r, "id")?, get_uuid(&r, column)?);
    }
    Ok(found)
}
