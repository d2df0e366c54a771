//! What the candidate pool (`service::pool`) is built from: a street's counters, its grids,
//! the volunteers and resources that can be matched, and their records (`candidate_loads`)
//! and capacity left.

use std::collections::HashMap;

use sqlx::{any::AnyRow, AnyPool, Row};
use uuid::Uuid;

use super::{
    plugins::{active_of_row, ActiveVersion, ACTIVE_COLUMNS},
    rows::{get_bool, get_json, get_opt_uuid, get_uuid},
    tokens::{self, principal_of_row, PRINCIPAL_COLUMNS, PRINCIPAL_JOINS},
};
use crate::{
    domain::{access::Principal, WeeklySlot},
    Error, Result,
};

/// A street's code and the counters of its two tiers.
pub struct Counters {
    pub code: String,
    pub registry_version: i64,
    pub load_version: i64,
}

/// A street's counters (one indexed read), or `NotFound`.
pub async fn counters(db: &AnyPool, street: Uuid) -> Result<Counters> {
    let row = sqlx::query("SELECT code, registry_version, load_version FROM streets WHERE id = $1")
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("street"))?;
    counters_of_row(&row)
}

/// The counters in a row of `streets`' `code`, `registry_version` and `load_version`.
fn counters_of_row(row: &AnyRow) -> Result<Counters> {
    Ok(Counters {
        code: row.try_get("code")?,
        registry_version: row.try_get("registry_version")?,
        load_version: row.try_get("load_version")?,
    })
}

/// Where a demand filed in a grid goes: the grid's street, the street's counters and its
/// active rule, read at once (a filing's first read).
pub struct FilingPlace {
    pub street: Uuid,
    pub counters: Counters,
    pub active: Option<ActiveVersion>,
}

/// The columns (with [`ACTIVE_COLUMNS`]) and joins of a filing's place, after a `FROM` or a
/// join naming the grid `g` (every grid has its street: the joins may all be outer).
const PLACE: &str = "g.street_id AS place_street, s.code, s.registry_version, s.load_version";
const PLACE_JOINS: &str = "LEFT JOIN streets s ON s.id = g.street_id \
     LEFT JOIN street_plugins sp ON sp.street_id = s.id \
     LEFT JOIN plugin_versions v ON v.id = sp.active_version_id AND v.status = 'ready'";

/// The place of a filing in `grid`; `None` for an unknown grid.
pub async fn filing_place(db: &AnyPool, grid: Uuid) -> Result<Option<FilingPlace>> {
    let row = sqlx::query(&format!(
        "SELECT {PLACE}, {ACTIVE_COLUMNS} FROM grids g {PLACE_JOINS} WHERE g.id = $1"
    ))
    .bind(grid.to_string())
    .fetch_optional(db)
    .await?;
    row.as_ref().map(place_of_row).transpose()
}

/// The caller a bearer token names and the place of its filing in `grid`, in one read: a
/// filing's first, so that it waits for one answer of the database instead of two. `None`
/// when the token names no principal ([`tokens::resolve`]); the place `None` for an unknown grid.
pub async fn caller_and_place(
    db: &AnyPool,
    token: &str,
    grid: Uuid,
) -> Result<Option<(Principal, Option<FilingPlace>)>> {
    // The grid is joined to the token's row, so a token with no grid still answers a row.
    let row = sqlx::query(&format!(
        "SELECT {PRINCIPAL_COLUMNS}, {PLACE}, {ACTIVE_COLUMNS} FROM api_tokens t {PRINCIPAL_JOINS} \
         LEFT JOIN grids g ON g.id = $2 {PLACE_JOINS} \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
    ))
    .bind(tokens::hash_token(token))
    .bind(grid.to_string())
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(caller) = principal_of_row(db, &row).await? else {
        return Ok(None);
    };
    let place = row
        .try_get::<Option<String>, _>("place_street")?
        .map(|_| place_of_row(&row))
        .transpose()?;
    Ok(Some((caller, place)))
}

fn place_of_row(row: &AnyRow) -> Result<FilingPlace> {
    let active = row
        .try_get::<Option<String>, _>("version_id")?
        .map(|_| active_of_row(row))
        .transpose()?;
    Ok(FilingPlace {
        street: get_uuid(row, "place_street")?,
        counters: counters_of_row(row)?,
        active,
    })
}

/// A street's grids: id → (code, community name).
pub async fn grid_places(db: &AnyPool, street: Uuid) -> Result<HashMap<Uuid, (String, String)>> {
    sqlx::query(
        "SELECT g.id, g.code, c.name FROM grids g JOIN communities c ON c.id = g.community_id WHERE g.street_id = $1",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((get_uuid(r, "id")?, (r.try_get("code")?, r.try_get("name")?))))
    .collect()
}

/// A volunteer who can be matched.
pub struct VolunteerRow {
    pub id: Uuid,
    pub name: String,
    pub skills: Vec<String>,
    pub team: Option<String>,
    pub party_member: bool,
    pub availability: Vec<WeeklySlot>,
    pub max_open_orders: i64,
    pub home_grid: Uuid,
}

/// The street's volunteers who can be matched (active, not archived, with room for an
/// order), in id order.
pub async fn volunteers(db: &AnyPool, street: Uuid) -> Result<Vec<VolunteerRow>> {
    sqlx::query(
        "SELECT id, name, skills, team, party_member, availability, max_open_orders, home_grid_id \
         FROM volunteers WHERE street_id = $1 AND active = 1 AND archived_at IS NULL AND max_open_orders > 0 \
         ORDER BY id",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|v| {
        Ok(VolunteerRow {
            id: get_uuid(v, "id")?,
            name: v.try_get("name")?,
            skills: get_json(v, "skills")?,
            team: v.try_get("team")?,
            party_member: get_bool(v, "party_member")?,
            availability: get_json(v, "availability")?,
            max_open_orders: v.try_get("max_open_orders")?,
            home_grid: get_uuid(v, "home_grid_id")?,
        })
    })
    .collect()
}

/// A resource that can be matched.
pub struct ResourceRow {
    pub id: Uuid,
    pub title: String,
    pub category: String,
    pub tags: Vec<String>,
    pub served_grids: Vec<Uuid>,
    pub available_from: Option<String>,
    pub available_until: Option<String>,
    pub owned_by_unit: bool,
    /// The kind of the owning unit.
    pub unit_kind: Option<String>,
    /// The owning volunteer's home grid.
    pub volunteer_grid: Option<Uuid>,
}

/// The active resources serving the street whose unit (if a unit owns them) is not
/// archived, in id order.
pub async fn resources(db: &AnyPool, street: Uuid) -> Result<Vec<ResourceRow>> {
    sqlx::query(
        "SELECT r.id, r.title, r.category, r.tags, r.served_grid_ids, r.available_from, r.available_until, \
         r.owner_unit_id, u.kind AS unit_kind, v.home_grid_id AS volunteer_grid \
         FROM resources r JOIN resource_streets rs ON rs.resource_id = r.id AND rs.street_id = $1 \
         LEFT JOIN units u ON u.id = r.owner_unit_id LEFT JOIN volunteers v ON v.id = r.owner_volunteer_id \
         WHERE r.status = 'active' AND u.archived_at IS NULL ORDER BY r.id",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(ResourceRow {
            id: get_uuid(r, "id")?,
            title: r.try_get("title")?,
            category: r.try_get("category")?,
            tags: get_json(r, "tags")?,
            served_grids: get_json(r, "served_grid_ids")?,
            available_from: r.try_get("available_from")?,
            available_until: r.try_get("available_until")?,
            owned_by_unit: get_opt_uuid(r, "owner_unit_id")?.is_some(),
            unit_kind: r.try_get("unit_kind")?,
            volunteer_grid: get_opt_uuid(r, "volunteer_grid")?,
        })
    })
    .collect()
}

/// A candidate's record in a street, as `candidate_loads` keeps it.
pub struct LoadRow {
    pub candidate: Uuid,
    pub open_orders: i64,
    pub completed_orders: i64,
    pub service_minutes: i64,
    pub last_order_at: Option<String>,
    pub average_rating: Option<f64>,
}

/// The records of the street's candidates.
pub async fn loads(db: &AnyPool, street: Uuid) -> Result<Vec<LoadRow>> {
    sqlx::query(
        "SELECT candidate_id, open_orders, completed_orders, service_minutes, last_order_at, average_rating \
         FROM candidate_loads WHERE street_id = $1",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok(LoadRow {
            candidate: get_uuid(r, "candidate_id")?,
            open_orders: r.try_get("open_orders")?,
            completed_orders: r.try_get("completed_orders")?,
            service_minutes: r.try_get("service_minutes")?,
            last_order_at: r.try_get("last_order_at")?,
            average_rating: r.try_get("average_rating")?,
        })
    })
    .collect()
}

/// The capacity left of each active resource serving the street.
pub async fn capacity_left(db: &AnyPool, street: Uuid) -> Result<HashMap<Uuid, i64>> {
    sqlx::query(
        "SELECT r.id, r.capacity_left FROM resources r \
         JOIN resource_streets rs ON rs.resource_id = r.id AND rs.street_id = $1 WHERE r.status = 'active'",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((get_uuid(r, "id")?, r.try_get("capacity_left")?)))
    .collect()
}
