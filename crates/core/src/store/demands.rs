//! The demand list's rows: reading and listing demands, writing a filed one and an edit.

use sqlx::{any::AnyRow, Any, AnyPool, Executor, Row};
use uuid::Uuid;

use super::{
    events::{add_events, record_event},
    for_update,
    notifications::{self, NewNotification},
    page::{Page, PageRequest},
    rows::{get_bool, get_enum, get_json, get_uuid, push_in, push_json_contains, to_json},
    Backend, Script, Sql, Tx,
};
use crate::{
    domain::{
        access::ListScope,
        demand::{Demand, DemandFacts, Resident, TriageRule},
        notification::NotificationType,
        Channel, DemandStatus, OrderStatus, Urgency,
    },
    Error, Result,
};

/// A demand as stored, unmasked: callers show it through [`shown_to`](crate::domain::demand::shown_to).
pub fn from_row(row: &AnyRow) -> Result<Demand> {
    Ok(Demand {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        grid_id: get_uuid(row, "grid_id")?,
        category: row.try_get("category")?,
        tags: get_json(row, "tags")?,
        urgency: Urgency::from_db(&row.try_get::<String, _>("urgency")?)?,
        channel: Channel::from_db(&row.try_get::<String, _>("channel")?)?,
        description: row.try_get("description")?,
        resident: Resident {
            name: row.try_get("resident_name")?,
            phone: row.try_get("resident_phone")?,
            address: row.try_get("resident_address")?,
        },
        resident_masked: false,
        window_start: row.try_get("window_start")?,
        window_end: row.try_get("window_end")?,
        status: DemandStatus::from_db(&row.try_get::<String, _>("status")?)?,
        flagged: get_bool(row, "flagged")?,
        triage: row
            .try_get::<Option<String>, _>("triage")?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| Error::Internal(anyhow::anyhow!("bad triage record: {e}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Writes a newly filed demand, filed by `filed_by` (a token id), into `script`, and records
/// `filed` (and `triaged`, when the street's triage rule ran) on it.
pub fn insert(script: &mut Script, demand: &Demand, filed_by: &str) {
    let sql = script.statement();
    sql.push(
        "INSERT INTO demands (id, street_id, grid_id, category, tags, urgency, channel, description, \
         resident_name, resident_phone, resident_address, window_start, window_end, status, filed_by, \
         triage, created_at, updated_at) VALUES (",
    );
    sql.bind(demand.id.to_string()).push(", ");
    sql.bind(demand.street_id.to_string()).push(", ");
    sql.bind(demand.grid_id.to_string()).push(", ");
    sql.bind(demand.category.clone()).push(", ");
    sql.bind(to_json(&demand.tags)).push(", ");
    sql.bind(demand.urgency.as_str()).push(", ");
    sql.bind(demand.channel.as_str()).push(", ");
    sql.bind(demand.description.clone()).push(", ");
    sql.bind(demand.resident.name.clone()).push(", ");
    sql.bind(demand.resident.phone.clone()).push(", ");
    sql.bind(demand.resident.address.clone()).push(", ");
    sql.bind(demand.window_start.clone()).push(", ");
    sql.bind(demand.window_end.clone()).push(", ");
    sql.bind(demand.status.as_str()).push(", ");
    sql.bind(filed_by.to_string()).push(", ");
    sql.bind(demand.triage.as_ref().map(to_json)).push(", ");
    sql.bind(demand.created_at.clone()).push(", ");
    sql.bind(demand.updated_at.clone()).push(")");
    // A new demand is marked for the figures: the folder gives it its facts.
    script
        .statement()
        .push(super::figures::MARK_SELECTED)
        .push("VALUES (")
        .bind(demand.id.to_string())
        .push(", 1)")
        .push(super::figures::MARK_UPSERT);
    let via = format!("via {}", demand.channel.as_str());
    let triaged = demand
        .triage
        .as_ref()
        .filter(|t| t.rule != TriageRule::None)
        .map(|t| t.summary());
    let mut events = vec![("demand", demand.id, filed_by, "filed", Some(via.as_str()))];
    if let Some(note) = &triaged {
        events.push((
            "demand",
            demand.id,
            "system",
            "triaged",
            Some(note.as_str()),
        ));
    }
    add_events(script, &demand.created_at, &events);
    notifications::add(
        script,
        &demand.created_at,
        &[NewNotification::demand(
            NotificationType::DemandFiled,
            demand.street_id,
            demand.id,
        )],
    );
}

/// A demand, or `NotFound`.
pub async fn get<'e>(db: impl Executor<'e, Database = Any>, id: Uuid) -> Result<Demand> {
    let row = sqlx::query("SELECT * FROM demands WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("demand"))?;
    from_row(&row)
}

/// The demands of `ids` that exist, in one query (a caller passes at most a few hundred).
pub async fn get_many<'e>(
    db: impl Executor<'e, Database = Any>,
    ids: &[Uuid],
) -> Result<Vec<Demand>> {
    let mut sql = Sql::new("SELECT * FROM demands WHERE 1 = 1");
    push_in(&mut sql, "id", ids);
    sql.fetch_all(db).await?.iter().map(from_row).collect()
}

/// A demand, locked until the transaction ends, or `NotFound`.
pub async fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<Demand> {
    let text = format!("SELECT * FROM demands WHERE id = $1{}", for_update(tx));
    let row = sqlx::query(&text)
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("demand"))?;
    from_row(&row)
}

/// The filters of a demand listing, checked.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub street: Option<Uuid>,
    pub grid: Option<Uuid>,
    pub status: Option<DemandStatus>,
    pub category: Option<&'a str>,
    pub channel: Option<Channel>,
    pub urgency: Option<Urgency>,
    pub tag: Option<&'a str>,
    pub flagged: Option<bool>,
    /// Filed at or after.
    pub filed_from: Option<String>,
    /// Filed before.
    pub filed_to: Option<String>,
}

/// A page of the demands in `scope` that pass `filter`, unmasked.
pub async fn list(
    db: &AnyPool,
    scope: ListScope,
    filter: Filter<'_>,
    page: &PageRequest,
) -> Result<Page<Demand>> {
    let mut sql = Sql::new("SELECT * FROM demands WHERE 1 = 1");
    if let ListScope::Streets(streets) = scope {
        push_in(&mut sql, "street_id", &streets);
    }
    if let Some(street) = filter.street {
        sql.push(" AND street_id = ").bind(street.to_string());
    }
    if let Some(grid) = filter.grid {
        sql.push(" AND grid_id = ").bind(grid.to_string());
    }
    if let Some(status) = filter.status {
        sql.push(" AND status = ").bind(status.as_str().to_string());
    }
    if let Some(category) = filter.category {
        sql.push(" AND category = ").bind(category.to_string());
    }
    if let Some(channel) = filter.channel {
        sql.push(" AND channel = ")
            .bind(channel.as_str().to_string());
    }
    if let Some(urgency) = filter.urgency {
        sql.push(" AND urgency = ")
            .bind(urgency.as_str().to_string());
    }
    if let Some(tag) = filter.tag {
        push_json_contains(&mut sql, "tags", tag);
    }
    if let Some(flagged) = filter.flagged {
        sql.push(" AND flagged = ").bind(i64::from(flagged));
    }
    if let Some(from) = filter.filed_from {
        sql.push(" AND created_at >= ").bind(from);
    }
    if let Some(to) = filter.filed_to {
        sql.push(" AND created_at < ").bind(to);
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |d| d.id))
}

/// The orders of a demand that are not finished, `(order, status)`.
pub async fn live_orders(tx: &mut Tx<'_>, demand: Uuid) -> Result<Vec<(Uuid, OrderStatus)>> {
    let rows = sqlx::query(
        "SELECT id, status FROM service_orders WHERE demand_id = $1 \
         AND status IN ('offered', 'accepted', 'in_progress', 'unassigned')",
    )
    .bind(demand.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                get_uuid(r, "id")?,
                get_enum(r, "status", OrderStatus::from_db)?,
            ))
        })
        .collect()
}

/// Writes an edited demand (its grid, category, tags, urgency, description, resident,
/// window, status and `updated_at`) if its status is still `before`'s, `demand_changed` if
/// not; records `edited`, `cancelled` or `reopened` on it, by what its status became.
pub async fn update(tx: &mut Tx<'_>, actor: &str, d: &Demand, before: &Demand) -> Result<()> {
    let was = before.status;
    // Whether the resident's later demands are repeats depends on this one's resident and
    // category, before the edit and after.
    let resident_moved = before.resident.phone != d.resident.phone || before.category != d.category;
    if resident_moved {
        super::figures::mark_followers(tx, d.id).await?;
    }
    let text = super::figures::update_and_mark(
        "UPDATE demands SET grid_id = $1, category = $2, tags = $3, urgency = $4, description = $5, \
         resident_name = $6, resident_phone = $7, resident_address = $8, window_start = $9, window_end = $10, \
         status = $11, updated_at = $12 WHERE id = $13 AND status = $14",
        "$13",
        Backend::of_tx(tx),
    );
    let updated = sqlx::query(&text)
        .bind(d.grid_id.to_string())
        .bind(d.category.clone())
        .bind(to_json(&d.tags))
        .bind(d.urgency.as_str())
        .bind(d.description.clone())
        .bind(d.resident.name.clone())
        .bind(d.resident.phone.clone())
        .bind(d.resident.address.clone())
        .bind(d.window_start.clone())
        .bind(d.window_end.clone())
        .bind(d.status.as_str())
        .bind(d.updated_at.clone())
        .bind(d.id.to_string())
        .bind(was.as_str())
        .execute(&mut **tx)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::conflict(
            "demand_changed",
            "the demand changed meanwhile; read it and edit it again",
        ));
    }
    if resident_moved {
        super::figures::mark_followers(tx, d.id).await?;
    }
    let action = match (was, d.status) {
        (a, b) if a == b => "edited",
        (_, DemandStatus::Cancelled) => "cancelled",
        _ => "reopened",
    };
    record_event(tx, &d.updated_at, "demand", d.id, actor, action, None).await
}

const FACTS: &str =
    "SELECT street_id, grid_id, category, tags, urgency, window_start, window_end, \
     created_at, status FROM demands WHERE id = $1";

fn facts_from_row(id: Uuid, d: &AnyRow) -> Result<DemandFacts> {
    Ok(DemandFacts {
        id,
        street: get_uuid(d, "street_id")?,
        grid: get_uuid(d, "grid_id")?,
        category: d.try_get("category")?,
        tags: get_json(d, "tags")?,
        urgency: get_enum(d, "urgency", Urgency::from_db)?,
        window_start: d.try_get("window_start")?,
        window_end: d.try_get("window_end")?,
        filed_at: d.try_get("created_at")?,
        status: get_enum(d, "status", DemandStatus::from_db)?,
    })
}

/// What matching needs of a demand (no personal data), or `NotFound`.
pub async fn facts<'e>(db: impl Executor<'e, Database = Any>, id: Uuid) -> Result<DemandFacts> {
    let row = sqlx::query(FACTS)
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("demand"))?;
    facts_from_row(id, &row)
}

/// [`facts`], the demand locked until the transaction ends.
pub async fn lock_facts(tx: &mut Tx<'_>, id: Uuid) -> Result<DemandFacts> {
    let text = format!("{FACTS}{}", for_update(tx));
    let row = sqlx::query(&text)
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("demand"))?;
    facts_from_row(id, &row)
}

/// Moves a demand from status `from` to `to` at `at`, by a compare-and-set, and marks it for
/// the figures: false, and nothing changed, if it was not in `from`.
pub async fn move_status(
    tx: &mut Tx<'_>,
    id: Uuid,
    from: DemandStatus,
    to: DemandStatus,
    at: &str,
) -> Result<bool> {
    let text = super::figures::update_and_mark(
        "UPDATE demands SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        "$3",
        Backend::of_tx(tx),
    );
    let moved = sqlx::query(&text)
        .bind(to.as_str())
        .bind(at.to_string())
        .bind(id.to_string())
        .bind(from.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(moved.rows_affected() > 0)
}
