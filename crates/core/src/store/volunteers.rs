//! Volunteers. A volunteer belongs to the street of its home grid.
//!
//! A change to a volunteer moves its street's registry counter (and, for a change of profile,
//! the counters of every street its resources serve) in the write itself.

use sqlx::{any::AnyRow, Any, AnyPool, Executor, Row};
use uuid::Uuid;

use super::{
    counters::{self, Owner},
    page::{Page, PageRequest},
    rows::{get_bool, get_json, get_uuid, push_json_contains, to_json},
    Sql, Tx,
};
use crate::{
    domain::{
        access::RegistryScope,
        volunteer::{ListVolunteers, Volunteer},
        WeeklySlot,
    },
    Error, Result,
};

fn from_row(row: &AnyRow) -> Result<Volunteer> {
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

/// A volunteer (archived or not), or `NotFound`.
pub async fn get<'e>(db: impl Executor<'e, Database = Any>, id: Uuid) -> Result<Volunteer> {
    let row = sqlx::query("SELECT * FROM volunteers WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("volunteer"))?;
    from_row(&row)
}

/// A page of the volunteers in `scope`, filtered as the caller asked.
pub async fn list(
    db: &AnyPool,
    scope: RegistryScope,
    q: &ListVolunteers,
    page: &PageRequest,
) -> Result<Page<Volunteer>> {
    let mut sql = Sql::new("SELECT * FROM volunteers WHERE 1 = 1");
    match scope {
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
    let rows = sql.fetch_all(db).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |v| v.id))
}

/// Writes a new volunteer and moves its street's registry counter.
pub async fn insert(tx: &mut Tx<'_>, v: &Volunteer) -> Result<()> {
    sqlx::query(
        "INSERT INTO volunteers (id, street_id, home_grid_id, name, phone, skills, team, party_member, \
         availability, max_open_orders, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(v.id.to_string())
    .bind(v.street_id.to_string())
    .bind(v.home_grid_id.to_string())
    .bind(v.name.clone())
    .bind(v.phone.clone())
    .bind(to_json(&v.skills))
    .bind(v.team.clone())
    .bind(i64::from(v.party_member))
    .bind(to_json(&v.availability))
    .bind(v.max_open_orders)
    .bind(i64::from(v.active))
    .bind(v.created_at.clone())
    .bind(v.updated_at.clone())
    .execute(&mut **tx)
    .await?;
    counters::touch_registry(tx, v.street_id).await
}

/// The fields an edit names; the others stay as they are in the row.
#[derive(Debug, Default)]
pub struct Edit {
    pub home_grid_id: Option<Uuid>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub skills: Option<Vec<String>>,
    pub team: Option<Option<String>>,
    pub party_member: Option<bool>,
    pub availability: Option<Vec<WeeklySlot>>,
    pub max_open_orders: Option<i64>,
    pub active: Option<bool>,
}

/// Writes only the fields the edit names, so two edits of different fields at once both
/// hold, and moves the registry counters of its street and of the streets its resources
/// serve (they name its home grid). Answers the volunteer as written.
pub async fn update(tx: &mut Tx<'_>, id: Uuid, edit: Edit, at: &str) -> Result<Volunteer> {
    let mut sql = Sql::new("UPDATE volunteers SET updated_at = ");
    sql.bind(at.to_string());
    if let Some(grid) = edit.home_grid_id {
        sql.push(", home_grid_id = ").bind(grid.to_string());
    }
    if let Some(name) = edit.name {
        sql.push(", name = ").bind(name);
    }
    if let Some(phone) = edit.phone {
        sql.push(", phone = ").bind(phone);
    }
    if let Some(skills) = &edit.skills {
        sql.push(", skills = ").bind(to_json(skills));
    }
    if let Some(team) = edit.team {
        sql.push(", team = ").bind(team);
    }
    if let Some(party) = edit.party_member {
        sql.push(", party_member = ").bind(i64::from(party));
    }
    if let Some(availability) = &edit.availability {
        sql.push(", availability = ").bind(to_json(availability));
    }
    if let Some(max) = edit.max_open_orders {
        sql.push(", max_open_orders = ").bind(max);
    }
    if let Some(active) = edit.active {
        sql.push(", active = ").bind(i64::from(active));
    }
    sql.push(" WHERE id = ").bind(id.to_string());
    if sql.execute(&mut **tx).await? == 0 {
        return Err(Error::NotFound("volunteer"));
    }
    let volunteer = get(&mut **tx, id).await?;
    counters::touch_registry(tx, volunteer.street_id).await?;
    counters::touch_owned_registry(tx, Owner::Volunteer, id).await?;
    Ok(volunteer)
}

/// Archives a volunteer (once) and moves its street's registry counter: it is no longer
/// matched.
pub async fn archive(tx: &mut Tx<'_>, id: Uuid, street: Uuid, at: &str) -> Result<()> {
    sqlx::query(
        "UPDATE volunteers SET archived_at = $1, active = 0, updated_at = $1 \
         WHERE id = $2 AND archived_at IS NULL",
    )
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    counters::touch_registry(tx, street).await
}
