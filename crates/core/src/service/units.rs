//! The registry of co-building units (共建单位). A unit may co-build with several streets.

use super::Core;
use crate::domain::rules;
use crate::domain::unit::{CreateUnit, ListUnits, Unit, UpdateUnit};
use crate::store::counters;
use crate::store::rows::{get_uuid, require_all, with_links};
use crate::store::units::{street_ids, STREET_LINKS};
use crate::{
    domain::access::Principal,
    domain::access::RoleKind,
    domain::access::{Action, RegistryScope, Target},
    domain::{Check, UnitKind},
    store::db::Sql,
    store::page::{Page, PageRequest},
};
use crate::{Error, Result};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

fn unit_from_row(row: &AnyRow, street_ids: Vec<Uuid>) -> Result<Unit> {
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

/// Reads a unit (archived or not), or 404.
pub async fn fetch_unit(db: &sqlx::AnyPool, id: Uuid) -> Result<Unit> {
    let row = sqlx::query("SELECT * FROM units WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("unit"))?;
    let streets = street_ids(db, id).await?;
    unit_from_row(&row, streets)
}

struct UnitFields {
    name: String,
    kind: UnitKind,
    contact_name: String,
    contact_phone: String,
    address: Option<String>,
    description: Option<String>,
    street_ids: Vec<Uuid>,
}

fn check_unit(c: &mut Check, f: UnitFields) -> UnitFields {
    if f.street_ids.is_empty() {
        c.push(
            "street_ids",
            "required",
            "a unit co-builds with at least one street",
        );
    }
    c.ids("street_ids", &f.street_ids, rules::STREET_IDS);
    UnitFields {
        name: c.text("name", &f.name, rules::NAME),
        kind: f.kind,
        contact_name: c.text("contact_name", &f.contact_name, rules::PERSON_NAME),
        contact_phone: c.phone("contact_phone", &f.contact_phone),
        address: c.opt_text("address", f.address.as_deref(), rules::ADDRESS),
        description: c.opt_text("description", f.description.as_deref(), rules::DESCRIPTION),
        street_ids: f.street_ids,
    }
}

async fn write_streets(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    unit: Uuid,
    streets: &[Uuid],
) -> Result<()> {
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

/// Lists units. Street staff see the units co-building with their street; a unit sees itself.
pub async fn list_units(core: &Core, caller: &Principal, q: ListUnits) -> Result<Page<Unit>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM units u WHERE 1 = 1");
    match caller.unit_scope()? {
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
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = with_links(core.db.read(), &rows, STREET_LINKS, unit_from_row).await?;
    Ok(page.finish(items, |u| u.id))
}

/// Registers a co-building unit. The district registers any; a street admin registers units
/// for its own street.
pub async fn create_unit(core: &Core, caller: &Principal, body: CreateUnit) -> Result<Unit> {
    caller.require(
        &[RoleKind::DistrictAdmin, RoleKind::StreetAdmin],
        "register units",
    )?;
    let mut c = Check::new();
    let f = check_unit(
        &mut c,
        UnitFields {
            name: body.name,
            kind: body.kind,
            contact_name: body.contact_name,
            contact_phone: body.contact_phone,
            address: body.address,
            description: body.description,
            street_ids: body.street_ids,
        },
    );
    c.finish()?;
    caller.authorize(
        Action::Create,
        Target::Unit {
            id: Uuid::nil(),
            streets: &f.street_ids,
        },
    )?;
    require_all(core.db.write(), "streets", "street_ids", &f.street_ids).await?;
    let id = Uuid::now_v7();
    let now = core.now_ts();
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "INSERT INTO units (id, name, kind, contact_name, contact_phone, address, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id.to_string())
    .bind(f.name)
    .bind(f.kind.as_str())
    .bind(f.contact_name)
    .bind(f.contact_phone)
    .bind(f.address)
    .bind(f.description)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    write_streets(&mut tx, id, &f.street_ids).await?;
    tx.commit().await?;
    fetch_unit(core.db.write(), id).await
}

pub async fn get_unit(core: &Core, caller: &Principal, id: Uuid) -> Result<Unit> {
    let unit = fetch_unit(core.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Unit {
            id,
            streets: &unit.street_ids,
        },
    )?;
    Ok(unit)
}

pub async fn update_unit(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateUnit,
) -> Result<Unit> {
    let current = fetch_unit(core.db.write(), id).await?;
    caller.authorize(
        Action::Update,
        Target::Unit {
            id,
            streets: &current.street_ids,
        },
    )?;
    let mut c = Check::new();
    let f = check_unit(
        &mut c,
        UnitFields {
            name: body.name.unwrap_or(current.name),
            kind: body.kind.unwrap_or(current.kind),
            contact_name: body.contact_name.unwrap_or(current.contact_name),
            contact_phone: body.contact_phone.unwrap_or(current.contact_phone),
            address: body.address.unwrap_or(current.address),
            description: body.description.unwrap_or(current.description),
            street_ids: body
                .street_ids
                .clone()
                .unwrap_or(current.street_ids.clone()),
        },
    );
    c.finish()?;
    if body.street_ids.is_some() {
        caller.authorize_unit_streets(&current.street_ids, &f.street_ids)?;
        require_all(core.db.write(), "streets", "street_ids", &f.street_ids).await?;
    }
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "UPDATE units SET name = $1, kind = $2, contact_name = $3, contact_phone = $4, address = $5, \
         description = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(f.name)
    .bind(f.kind.as_str())
    .bind(f.contact_name)
    .bind(f.contact_phone)
    .bind(f.address)
    .bind(f.description)
    .bind(core.now_ts())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if body.street_ids.is_some() {
        write_streets(&mut tx, id, &f.street_ids).await?;
    }
    // Matching sees the kind of the unit that owns a resource.
    counters::touch_owned_registry(&mut tx, counters::Owner::Unit, id).await?;
    tx.commit().await?;
    fetch_unit(core.db.write(), id).await
}

/// Archives a unit: it disappears from listings, its tokens stop working, its history stays.
pub async fn archive_unit(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let current = fetch_unit(core.db.write(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Unit {
            id,
            streets: &current.street_ids,
        },
    )?;
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "UPDATE units SET archived_at = $1, updated_at = $1 WHERE id = $2 AND archived_at IS NULL",
    )
    .bind(core.now_ts())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    // Its resources are no longer matched.
    counters::touch_owned_registry(&mut tx, counters::Owner::Unit, id).await?;
    tx.commit().await?;
    Ok(())
}
