//! The demand list's rows: reading a demand and writing a filed one.

use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

use super::{
    rows::{get_bool, get_json, get_uuid, to_json},
    Tx,
};
use crate::{
    domain::{
        demand::{Demand, Resident},
        Channel, DemandStatus, Urgency,
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

/// A demand's row, or `NotFound`.
pub async fn fetch_row(db: &sqlx::AnyPool, id: Uuid) -> Result<AnyRow> {
    sqlx::query("SELECT * FROM demands WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("demand"))
}

/// Writes a newly filed demand, filed by `filed_by` (a token id).
pub async fn insert(tx: &mut Tx<'_>, demand: &Demand, filed_by: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO demands (id, street_id, grid_id, category, tags, urgency, channel, description, \
         resident_name, resident_phone, resident_address, window_start, window_end, status, filed_by, \
         triage, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(demand.id.to_string())
    .bind(demand.street_id.to_string())
    .bind(demand.grid_id.to_string())
    .bind(demand.category.clone())
    .bind(to_json(&demand.tags))
    .bind(demand.urgency.as_str())
    .bind(demand.channel.as_str())
    .bind(demand.description.clone())
    .bind(demand.resident.name.clone())
    .bind(demand.resident.phone.clone())
    .bind(demand.resident.address.clone())
    .bind(demand.window_start.clone())
    .bind(demand.window_end.clone())
    .bind(demand.status.as_str())
    .bind(filed_by.to_string())
    .bind(demand.triage.as_ref().map(to_json))
    .bind(demand.created_at.clone())
    .bind(demand.updated_at.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
