//! Co-building units and the streets each co-builds with (`unit_streets`).
//!
//! A change to a unit moves the registry counter of every street its resources serve (the
//! matching sees the kind of the unit that owns a resource), in the write itself.

use sqlx::{any::AnyRow, AnyConnection, AnyPool, Row};
use uuid::Uuid;

use super::{
    counters, lock_row,
    page::{Page, PageRequest},
    rows::{get_uuid, links, with_links},
    Sql, Tx,
};
use crate::{
    domain::{
        access::RegistryScope,
        unit::{ListUnits, Unit},
        UnitKind,
    },
    Error, Result,
};

/// The unit's link table to the streets it co-builds with.
pub const STREET_LINKS: (&str, &str, &str) = ("unit_streets", "unit_id", "street_id");

/// The streets a unit co-builds with, sorted.
pub async fn street_ids(conn: &mut AnyConnection, unit: Uuid) -> Result<Vec<Uuid>> {
    let (table, owner, linked) = STREET_LINKS;
    Ok(links(conn, table, owner, linked, &[unit])
        .await?
        .remove(&unit)
        .unwrap_or_default())
}

fn from_row(row: &AnyRow, street_ids: Vec<Uuid>) -> Result<Unit> {
    Ok(Unit {
        id: get_uuid(row, "id")?,
        name: row.try_get("name")?,
        kind: UnitKind::from_db(&row.try_get::<String, _>("kind")?)?,
        contact_name: row.try_get("contact_name")?,
        contact_phone: row.try_get("contact_phone")?,
        address: row.try_get("address")?,
        description: row.try_get("description")?,
        street_ids,
        archived_at: row.try_get("archived_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A unit (archived or not) with its streets, or `NotFound`.
pub async fn read(conn: &mut AnyConnection, id: Uuid) -> Result<Unit> {
    let row = sqlx::query("SELECT * FROM units WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("unit"))?;
    let streets = street_ids(conn, id).await?;
    from_row(&row, streets)
}

/// [`read`] on a connection of the pool.
pub async fn get(db: &AnyPool, id: Uuid) -> Result<Unit> {
    read(&mut *db.acquire().await?, id).await
}

/// A unit, locked until the transaction ends, or `NotFound`.
pub async fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<Unit> {
    lock_row(tx, "units", id).await?;
    read(tx, id).await
}

/// A page of the units in `scope`, filtered as the caller asked.
pub async fn list(
    db: &AnyPool,
    scope: RegistryScope,
    q: &ListUnits,
    page: &PageRequest,
) -> Result<Page<Unit>> {
    let mut sql = Sql::new("SELECT * FROM units u WHERE 1 = 1");
    match scope {
        RegistryScope::All => {}
        RegistryScope::Street(street) => {
            sql.push(" AND EXISTS (SELECT 1 FROM unit_streets us WHERE us.unit_id = u.id AND us.street_id = ")
                .bind(street.to_string())
                .push(")");
        }
        RegistryScope::Own(unit) => {
            sql.push(" AND u.id = ").bind(unit.to_string());
        }
    }
    if let Some(street) = q.street_id {
        sql.push(" AND EXISTS (SELECT 1 FROM unit_streets us2 WHERE us2.unit_id = u.id AND us2.street_id = ")
            .bind(street.to_string())
            .push(")");
    }
    if let Some(kind) = q.kind {
        sql.push(" AND u.kind = ").bind(kind.as_str().to_string());
    }
    if !q.include_archived.unwrap_or(false) {
        sql.push(" AND u.archived_at IS NULL");
    }
    page.apply(&mut sql, "u.id");
    let mut conn = db.acquire().await?;
    let rows = sql.fetch_all(&mut *conn).await?;
    let items = with_links(&mut conn, &rows, STREET_LINKS, from_row).await?;
    Ok(page.finish(items, |u| u.id))
}

async fn write_streets(tx: &mut Tx<'_>, unit: Uuid, streets: &[Uuid]) -> Result<()> {
    sqlx::query("DELETE FROM unit_streets WHERE unit_id = $1")
        .bind(unit.to_string())
        .execute(&mut **tx)
        .await?;
    for s in streets {
        sqlx::query("INSERT INTO unit_streets (unit_id, street_id) VALUES ($1, $2)")
            .bind(unit.to_string())
            .bind(s.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes a new unit and its streets.
pub async fn insert(tx: &mut Tx<'_>, unit: &Unit) -> Result<()> {
    sqlx::query(
        "INSERT INTO units (id, name, kind, contact_name, contact_phone, address, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(unit.id.to_string())
    .bind(unit.name.clone())
    .bind(unit.kind.as_str())
    .bind(unit.contact_name.clone())
    .bind(unit.contact_phone.clone())
    .bind(unit.address.clone())
    .bind(unit.description.clone())
    .bind(unit.created_at.clone())
    .bind(unit.updated_at.clone())
    .execute(&mut **tx)
    .await?;
    write_streets(tx, unit.id, &unit.street_ids).await
}

/// Writes a unit's profile and streets, and moves the registry counter of every street its
/// resources serve.
pub async fn update(tx: &mut Tx<'_>, unit: &Unit) -> Result<()> {
    sqlx::query(
        "UPDATE units SET name = $1, kind = $2, contact_name = $3, contact_phone = $4, address = $5, \
         description = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(unit.name.clone())
    .bind(unit.kind.as_str())
    .bind(unit.contact_name.clone())
    .bind(unit.contact_phone.clone())
    .bind(unit.address.clone())
    .bind(unit.description.clone())
    .bind(unit.updated_at.clone())
    .bind(unit.id.to_string())
    .execute(&mut **tx)
    .await?;
    write_streets(tx, unit.id, &unit.street_ids).await?;
    counters::touch_owned_registry(tx, counters::Owner::Unit, unit.id).await
}

/// Archives a unit (once; archiving again changes nothing) and moves the registry counter of
/// every street its resources served: they are no longer matched.
pub async fn archive(tx: &mut Tx<'_>, id: Uuid, at: &str) -> Result<()> {
    sqlx::query(
        "UPDATE units SET archived_at = $1, updated_at = $1 WHERE id = $2 AND archived_at IS NULL",
    )
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    counters::touch_owned_registry(tx, counters::Owner::Unit, id).await
}
