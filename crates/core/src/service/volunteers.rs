//! The registry of volunteers (志愿者). A volunteer belongs to the street of its home grid.

use super::Core;
use crate::domain::rules;
use crate::domain::volunteer::{CreateVolunteer, ListVolunteers, UpdateVolunteer, Volunteer};
use crate::store::counters::{self, Owner};
use crate::store::rows::{get_bool, get_json, get_uuid, push_json_contains, to_json};
use crate::store::streets::grid_street;
use crate::{
    domain::access::Principal,
    domain::access::{Action, RegistryScope, Target},
    domain::{Check, WeeklySlot},
    store::db::Sql,
    store::page::{Page, PageRequest},
};
use crate::{Error, Result};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

pub const DEFAULT_MAX_OPEN_ORDERS: i64 = 3;

fn volunteer_from_row(row: &AnyRow) -> Result<Volunteer> {
    Ok(Volunteer {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        home_grid_id: get_uuid(row, "home_grid_id")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        skills: get_json(row, "skills")?,
        team: row.try_get("team")?,
        party_member: get_bool(row, "party_member")?,
        availability: get_json(row, "availability")?,
        max_open_orders: row.try_get("max_open_orders")?,
        active: get_bool(row, "active")?,
        archived_at: row.try_get("archived_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn fetch_volunteer<'e, E>(db: E, id: Uuid) -> Result<Volunteer>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT * FROM volunteers WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("volunteer"))?;
    volunteer_from_row(&row)
}

struct Fields {
    name: String,
    phone: String,
    skills: Vec<String>,
    team: Option<String>,
    availability: Vec<WeeklySlot>,
    max_open_orders: i64,
}

fn check_fields(c: &mut Check, f: Fields) -> Fields {
    c.weekly("availability", &f.availability);
    Fields {
        name: c.text("name", &f.name, rules::PERSON_NAME),
        phone: c.phone("phone", &f.phone),
        skills: c.labels("skills", &f.skills),
        team: c.opt_text("team", f.team.as_deref(), rules::TEAM),
        max_open_orders: c.range_i64("max_open_orders", f.max_open_orders, rules::MAX_OPEN_ORDERS),
        availability: f.availability,
    }
}

async fn home_street(db: &sqlx::AnyPool, grid: Uuid) -> crate::Result<Uuid> {
    grid_street(db, grid)
        .await?
        .ok_or_else(|| Error::field("home_grid_id", "unknown_reference", "no grid has this id"))
}

pub async fn list_volunteers(
    core: &Core,
    caller: &Principal,
    q: ListVolunteers,
) -> Result<Page<Volunteer>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM volunteers WHERE 1 = 1");
    match caller.volunteer_scope()? {
        RegistryScope::All => {}
        RegistryScope::Street(street) => {
            sql.push(" AND street_id = ").bind(street.to_string());
        }
        RegistryScope::Own(id) => {
            sql.push(" AND id = ").bind(id.to_string());
        }
    }
    if let Some(street) = q.street_id {
        sql.push(" AND street_id = ").bind(street.to_string());
    }
    if let Some(grid) = q.grid_id {
        sql.push(" AND home_grid_id = ").bind(grid.to_string());
    }
    if let Some(team) = &q.team {
        sql.push(" AND team = ").bind(team.clone());
    }
    if let Some(skill) = &q.skill {
        push_json_contains(&mut sql, "skills", skill);
    }
    if let Some(pm) = q.party_member {
        sql.push(" AND party_member = ").bind(i64::from(pm));
    }
    if let Some(active) = q.active {
        sql.push(" AND active = ").bind(i64::from(active));
    }
    if !q.include_archived.unwrap_or(false) {
        sql.push(" AND archived_at IS NULL");
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows
        .iter()
        .map(volunteer_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |v| v.id))
}

/// Registers a volunteer in the street of its home grid.
pub async fn create_volunteer(
    core: &Core,
    caller: &Principal,
    body: CreateVolunteer,
) -> Result<Volunteer> {
    let mut c = Check::new();
    let f = check_fields(
        &mut c,
        Fields {
            name: body.name,
            phone: body.phone,
            skills: body.skills,
            team: body.team,
            availability: body.availability,
            max_open_orders: body.max_open_orders.unwrap_or(DEFAULT_MAX_OPEN_ORDERS),
        },
    );
    c.finish()?;
    let street = home_street(core.db.write(), body.home_grid_id).await?;
    caller.authorize(
        Action::Create,
        Target::Volunteer {
            id: Uuid::nil(),
            street,
        },
    )?;
    let id = Uuid::now_v7();
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "INSERT INTO volunteers (id, street_id, home_grid_id, name, phone, skills, team, party_member, \
         availability, max_open_orders, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(id.to_string())
    .bind(street.to_string())
    .bind(body.home_grid_id.to_string())
    .bind(f.name)
    .bind(f.phone)
    .bind(to_json(&f.skills))
    .bind(f.team)
    .bind(i64::from(body.party_member))
    .bind(to_json(&f.availability))
    .bind(f.max_open_orders)
    .bind(i64::from(body.active.unwrap_or(true)))
    .bind(core.now_ts())
    .execute(&mut *tx)
    .await?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    fetch_volunteer(core.db.write(), id).await
}

pub async fn get_volunteer(core: &Core, caller: &Principal, id: Uuid) -> Result<Volunteer> {
    let v = fetch_volunteer(core.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Volunteer {
            id,
            street: v.street_id,
        },
    )?;
    Ok(v)
}

pub async fn update_volunteer(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateVolunteer,
) -> Result<Volunteer> {
    let cur = fetch_volunteer(core.db.read(), id).await?;
    caller.authorize(
        Action::Update,
        Target::Volunteer {
            id,
            street: cur.street_id,
        },
    )?;
    if body.max_open_orders.is_some() {
        caller.authorize_order_limit(cur.street_id)?;
    }
    // The fields are checked as they will stand, but only those the request names are
    // written, so two edits of different fields at once both hold (an admin's new limit is
    // not undone by the volunteer's new phone).
    let mut c = Check::new();
    let f = check_fields(
        &mut c,
        Fields {
            name: body.name.clone().unwrap_or(cur.name),
            phone: body.phone.clone().unwrap_or(cur.phone),
            skills: body.skills.clone().unwrap_or(cur.skills),
            team: body.team.clone().unwrap_or(cur.team),
            availability: body.availability.clone().unwrap_or(cur.availability),
            max_open_orders: body.max_open_orders.unwrap_or(cur.max_open_orders),
        },
    );
    c.finish()?;
    if let Some(grid) = body.home_grid_id {
        if home_street(core.db.read(), grid).await? != cur.street_id {
            return Err(Error::field(
                "home_grid_id",
                "other_street",
                "the home grid must be in the volunteer's street",
            ));
        }
    }
    let mut sql = Sql::new("UPDATE volunteers SET updated_at = ");
    sql.bind(core.now_ts());
    if let Some(grid) = body.home_grid_id {
        sql.push(", home_grid_id = ").bind(grid.to_string());
    }
    if body.name.is_some() {
        sql.push(", name = ").bind(f.name);
    }
    if body.phone.is_some() {
        sql.push(", phone = ").bind(f.phone);
    }
    if body.skills.is_some() {
        sql.push(", skills = ").bind(to_json(&f.skills));
    }
    if body.team.is_some() {
        sql.push(", team = ").bind(f.team);
    }
    if let Some(party) = body.party_member {
        sql.push(", party_member = ").bind(i64::from(party));
    }
    if body.availability.is_some() {
        sql.push(", availability = ").bind(to_json(&f.availability));
    }
    if body.max_open_orders.is_some() {
        sql.push(", max_open_orders = ").bind(f.max_open_orders);
    }
    if let Some(active) = body.active {
        sql.push(", active = ").bind(i64::from(active));
    }
    sql.push(" WHERE id = ").bind(id.to_string());
    let mut tx = core.db.write().begin().await?;
    sql.execute(&mut *tx).await?;
    // Its resources name its home grid too.
    counters::touch_registry(&mut tx, cur.street_id).await?;
    counters::touch_owned_registry(&mut tx, Owner::Volunteer, id).await?;
    let answer = fetch_volunteer(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(answer)
}

/// Archives a volunteer: hidden from listings, no longer matched, its tokens stop working.
pub async fn archive_volunteer(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let cur = fetch_volunteer(core.db.write(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Volunteer {
            id,
            street: cur.street_id,
        },
    )?;
    let mut tx = core.db.write().begin().await?;
    sqlx::query("UPDATE volunteers SET archived_at = $1, active = 0, updated_at = $1 WHERE id = $2 AND archived_at IS NULL")
        .bind(core.now_ts())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    counters::touch_registry(&mut tx, cur.street_id).await?;
    tx.commit().await?;
    Ok(())
}
