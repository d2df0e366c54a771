//! The resource list (资源清单): what units and volunteers offer, where and when, and how much
//! of it is left.

use super::units::fetch_unit;
use super::volunteers::fetch_volunteer;
use super::Core;
use crate::domain::resource::{
    CreateResource, ListResources, Resource, StatusChange, UpdateResource,
};
use crate::domain::rules;
use crate::store::counters;
use crate::store::rows::{
    get_json, get_opt_uuid, get_uuid, links, push_in, push_json_contains, require_all, to_json,
    with_links,
};
use crate::store::streets::{category_exists, grid_street};
use crate::{
    domain::access::Principal,
    domain::access::Role,
    domain::access::{Action, ListScope, Owner, Target},
    domain::{Check, ResourceStatus},
    store::db::Sql,
    store::page::{Page, PageRequest},
};
use crate::{Error, Result};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

/// The link table of the streets a resource serves.
const LINKS: (&str, &str, &str) = ("resource_streets", "resource_id", "street_id");

impl From<StatusChange> for ResourceStatus {
    fn from(s: StatusChange) -> Self {
        match s {
            StatusChange::Active => ResourceStatus::Active,
            StatusChange::Paused => ResourceStatus::Paused,
        }
    }
}

impl Resource {
    fn owner(&self, volunteer_street: impl Fn() -> Uuid) -> Owner {
        match (self.owner_unit_id, self.owner_volunteer_id) {
            (Some(u), _) => Owner::Unit(u),
            (None, Some(v)) => Owner::Volunteer {
                id: v,
                street: volunteer_street(),
            },
            (None, None) => unreachable!("a CHECK constraint requires an owner"),
        }
    }
}

async fn street_ids(db: &sqlx::AnyPool, resource: Uuid) -> Result<Vec<Uuid>> {
    Ok(links(db, LINKS.0, LINKS.1, LINKS.2, &[resource])
        .await?
        .remove(&resource)
        .unwrap_or_default())
}

fn resource_from_row(row: &AnyRow, street_ids: Vec<Uuid>) -> Result<Resource> {
    Ok(Resource {
        id: get_uuid(row, "id")?,
        owner_unit_id: get_opt_uuid(row, "owner_unit_id")?,
        owner_volunteer_id: get_opt_uuid(row, "owner_volunteer_id")?,
        title: row.try_get("title")?,
        category: row.try_get("category")?,
        tags: get_json(row, "tags")?,
        description: row.try_get("description")?,
        capacity: row.try_get("capacity")?,
        capacity_left: row.try_get("capacity_left")?,
        street_ids,
        served_grid_ids: get_json(row, "served_grid_ids")?,
        available_from: row.try_get("available_from")?,
        available_until: row.try_get("available_until")?,
        status: ResourceStatus::from_db(&row.try_get::<String, _>("status")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn fetch_resource(db: &sqlx::AnyPool, id: Uuid) -> Result<(Resource, Owner)> {
    let row = sqlx::query(
        "SELECT r.*, v.street_id AS volunteer_street FROM resources r \
         LEFT JOIN volunteers v ON v.id = r.owner_volunteer_id WHERE r.id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound("resource"))?;
    let resource = resource_from_row(&row, street_ids(db, id).await?)?;
    let volunteer_street = get_opt_uuid(&row, "volunteer_street")?;
    let owner = resource.owner(|| volunteer_street.unwrap_or_default());
    Ok((resource, owner))
}

/// Validates streets, grids and category against each other and the database.
async fn check_placement(
    db: &sqlx::AnyPool,
    category: &str,
    streets: &[Uuid],
    grids: &[Uuid],
) -> Result<()> {
    let mut c = Check::new();
    if streets.is_empty() {
        c.push(
            "street_ids",
            "required",
            "a resource serves at least one street",
        );
    }
    c.finish()?;
    require_all(db, "streets", "street_ids", streets).await?;
    for (i, grid) in grids.iter().enumerate() {
        match grid_street(db, *grid).await? {
            Some(s) if streets.contains(&s) => {}
            Some(_) => {
                return Err(Error::field(
                    format!("served_grid_ids[{i}]"),
                    "other_street",
                    "the grid is not in one of the streets served",
                ))
            }
            None => {
                return Err(Error::field(
                    format!("served_grid_ids[{i}]"),
                    "unknown_reference",
                    "no grid has this id",
                ))
            }
        }
    }
    for street in streets {
        if !category_exists(db, *street, category).await? {
            return Err(Error::field(
                "category",
                "unknown_category",
                format!("{category:?} is not a category of every street served"),
            ));
        }
    }
    Ok(())
}

pub async fn list_resources(
    core: &Core,
    caller: &Principal,
    q: ListResources,
) -> Result<Page<Resource>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT r.* FROM resources r WHERE 1 = 1");
    if let ListScope::Streets(streets) = caller.member_scope() {
        sql.push(" AND (EXISTS (SELECT 1 FROM resource_streets rs WHERE rs.resource_id = r.id");
        push_in(&mut sql, "rs.street_id", &streets);
        sql.push(")");
        match caller.own_resources() {
            Some(Owner::Unit(u)) => {
                sql.push(" OR r.owner_unit_id = ").bind(u.to_string());
            }
            Some(Owner::Volunteer { id, .. }) => {
                sql.push(" OR r.owner_volunteer_id = ").bind(id.to_string());
            }
            None => {}
        }
        sql.push(")");
    }
    if let Some(street) = q.street_id {
        sql.push(" AND EXISTS (SELECT 1 FROM resource_streets rs2 WHERE rs2.resource_id = r.id AND rs2.street_id = ")
            .bind(street.to_string())
            .push(")");
    }
    if let Some(grid) = q.grid_id {
        let street = grid_street(core.db.read(), grid).await?.unwrap_or_default();
        sql.push(" AND EXISTS (SELECT 1 FROM resource_streets rs3 WHERE rs3.resource_id = r.id AND rs3.street_id = ")
            .bind(street.to_string())
            .push(") AND (r.served_grid_ids = '[]'");
        sql.push(" OR r.served_grid_ids LIKE ")
            .bind(format!("%{grid}%"))
            .push(")");
    }
    if let Some(u) = q.owner_unit_id {
        sql.push(" AND r.owner_unit_id = ").bind(u.to_string());
    }
    if let Some(v) = q.owner_volunteer_id {
        sql.push(" AND r.owner_volunteer_id = ").bind(v.to_string());
    }
    if let Some(cat) = &q.category {
        sql.push(" AND r.category = ").bind(cat.clone());
    }
    if let Some(tag) = &q.tag {
        push_json_contains(&mut sql, "r.tags", tag);
    }
    match q.status {
        Some(s) => {
            sql.push(" AND r.status = ").bind(s.as_str().to_string());
        }
        None => {
            sql.push(" AND r.status <> 'archived'");
        }
    }
    page.apply(&mut sql, "r.id");
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = with_links(core.db.read(), &rows, LINKS, resource_from_row).await?;
    Ok(page.finish(items, |r| r.id))
}

/// Registers a resource on offer.
pub async fn create_resource(
    core: &Core,
    caller: &Principal,
    body: CreateResource,
) -> Result<Resource> {
    let db = core.db.write();
    // The owner: named in the body, or the caller itself.
    let (unit, volunteer) = match (body.owner_unit_id, body.owner_volunteer_id, &caller.role) {
        (Some(_), Some(_), _) => {
            return Err(Error::field(
                "owner_volunteer_id",
                "conflicting",
                "name one owner: a unit or a volunteer",
            ))
        }
        (None, None, Role::Unit { unit, .. }) => (Some(*unit), None),
        (None, None, Role::Volunteer { volunteer, .. }) => (None, Some(*volunteer)),
        (None, None, _) => {
            return Err(Error::field(
                "owner_unit_id",
                "required",
                "name the owner: owner_unit_id or owner_volunteer_id",
            ))
        }
        (u, v, _) => (u, v),
    };
    let owner = match (unit, volunteer) {
        (Some(u), _) => {
            let unit = fetch_unit(db, u).await.map_err(|_| {
                Error::field("owner_unit_id", "unknown_reference", "no unit has this id")
            })?;
            if unit.archived_at.is_some() {
                return Err(Error::Conflict {
                    code: "archived",
                    message: "the unit is archived".into(),
                    field: Some("owner_unit_id".into()),
                });
            }
            Owner::Unit(u)
        }
        (None, Some(v)) => {
            let vol = fetch_volunteer(db, v).await.map_err(|_| {
                Error::field(
                    "owner_volunteer_id",
                    "unknown_reference",
                    "no volunteer has this id",
                )
            })?;
            if vol.archived_at.is_some() {
                return Err(Error::Conflict {
                    code: "archived",
                    message: "the volunteer is archived".into(),
                    field: Some("owner_volunteer_id".into()),
                });
            }
            Owner::Volunteer {
                id: v,
                street: vol.street_id,
            }
        }
        (None, None) => unreachable!(),
    };
    let mut c = Check::new();
    let title = c.text("title", &body.title, rules::TITLE);
    let category = c.code("category", &body.category, rules::CODE);
    let tags = c.labels("tags", &body.tags);
    let description = c.opt_text(
        "description",
        body.description.as_deref(),
        rules::DESCRIPTION,
    );
    let capacity = c.range_i64("capacity", body.capacity, rules::CAPACITY);
    let mut streets = body.street_ids;
    if let (true, Owner::Volunteer { street, .. }) = (streets.is_empty(), owner) {
        streets.push(street);
    }
    c.ids("street_ids", &streets, rules::STREET_IDS);
    let grids = body.served_grid_ids;
    c.ids("served_grid_ids", &grids, rules::GRID_IDS);
    let from = c.ts("available_from", body.available_from.as_deref());
    let until = c.ts("available_until", body.available_until.as_deref());
    c.window("available_until", &from, &until);
    c.finish()?;
    caller.authorize(
        Action::Create,
        Target::Resource {
            owner,
            streets: &streets,
        },
    )?;
    check_placement(db, &category, &streets, &grids).await?;

    let id = Uuid::now_v7();
    let now = core.now_ts();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO resources (id, owner_unit_id, owner_volunteer_id, title, category, tags, description, \
         capacity, capacity_left, served_grid_ids, available_from, available_until, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, 'active', $12, $12)",
    )
    .bind(id.to_string())
    .bind(unit.map(|u| u.to_string()))
    .bind(volunteer.filter(|_| unit.is_none()).map(|v| v.to_string()))
    .bind(title)
    .bind(category)
    .bind(to_json(&tags))
    .bind(description)
    .bind(capacity)
    .bind(to_json(&grids))
    .bind(from)
    .bind(until)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    write_streets(&mut tx, id, &streets).await?;
    tx.commit().await?;
    let (resource, _) = fetch_resource(db, id).await?;
    Ok(resource)
}

async fn write_streets(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: Uuid,
    streets: &[Uuid],
) -> Result<()> {
    // The streets it leaves and the streets it joins both see the change.
    counters::touch_resource(tx, id).await?;
    sqlx::query("DELETE FROM resource_streets WHERE resource_id = $1")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    for s in streets {
        sqlx::query("INSERT INTO resource_streets (resource_id, street_id) VALUES ($1, $2)")
            .bind(id.to_string())
            .bind(s.to_string())
            .execute(&mut **tx)
            .await?;
    }
    counters::touch_resource(tx, id).await
}

pub async fn get_resource(core: &Core, caller: &Principal, id: Uuid) -> Result<Resource> {
    let (resource, owner) = fetch_resource(core.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Resource {
            owner,
            streets: &resource.street_ids,
        },
    )?;
    Ok(resource)
}

pub async fn update_resource(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateResource,
) -> Result<Resource> {
    let db = core.db.write();
    let (cur, owner) = fetch_resource(db, id).await?;
    caller.authorize(
        Action::Update,
        Target::Resource {
            owner,
            streets: &cur.street_ids,
        },
    )?;
    let mut c = Check::new();
    let title = body
        .title
        .map(|t| c.text("title", &t, rules::TITLE))
        .unwrap_or(cur.title);
    let category = body
        .category
        .map(|t| c.code("category", &t, rules::CODE))
        .unwrap_or(cur.category);
    let tags = body.tags.map(|t| c.labels("tags", &t)).unwrap_or(cur.tags);
    let description = match body.description {
        Some(d) => c.opt_text("description", d.as_deref(), rules::DESCRIPTION),
        None => cur.description,
    };
    let capacity = body
        .capacity
        .map(|v| c.range_i64("capacity", v, rules::CAPACITY))
        .unwrap_or(cur.capacity);
    let streets = body.street_ids.clone().unwrap_or(cur.street_ids.clone());
    c.ids("street_ids", &streets, rules::STREET_IDS);
    let grids = body.served_grid_ids.unwrap_or(cur.served_grid_ids);
    c.ids("served_grid_ids", &grids, rules::GRID_IDS);
    let from = match body.available_from {
        Some(v) => c.ts("available_from", v.as_deref()),
        None => cur.available_from,
    };
    let until = match body.available_until {
        Some(v) => c.ts("available_until", v.as_deref()),
        None => cur.available_until,
    };
    c.window("available_until", &from, &until);
    let status = body.status.map_or(cur.status, ResourceStatus::from);
    c.finish()?;
    if cur.status == ResourceStatus::Archived && body.status.is_some() {
        return Err(Error::Conflict {
            code: "invalid_transition",
            message: "an archived resource stays archived".into(),
            field: Some("status".into()),
        });
    }
    if body.street_ids.is_some() {
        // The new set must be one the caller could have registered.
        caller.authorize(
            Action::Create,
            Target::Resource {
                owner,
                streets: &streets,
            },
        )?;
    }
    check_placement(db, &category, &streets, &grids).await?;
    let mut tx = db.begin().await?;
    // The capacity left moves by the change of capacity as the row stands when it is written
    // (accepts take from it meanwhile), and the status is the one the edit was decided from:
    // an archive made meanwhile is not undone.
    let updated = sqlx::query(
        "UPDATE resources SET title = $1, category = $2, tags = $3, description = $4, capacity = $5, \
         capacity_left = capacity_left + ($5 - capacity), served_grid_ids = $6, available_from = $7, \
         available_until = $8, status = $9, updated_at = $10 \
         WHERE id = $11 AND status = $12 AND capacity_left + ($5 - capacity) >= 0",
    )
    .bind(title)
    .bind(category)
    .bind(to_json(&tags))
    .bind(description)
    .bind(capacity)
    .bind(to_json(&grids))
    .bind(from)
    .bind(until)
    .bind(status.as_str())
    .bind(core.now_ts())
    .bind(id.to_string())
    .bind(cur.status.as_str())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        let now: String = sqlx::query("SELECT status FROM resources WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?
            .try_get("status")?;
        return Err(if now != cur.status.as_str() {
            Error::conflict(
                "concurrent_change",
                "the resource was archived or changed status meanwhile; read it again",
            )
        } else {
            Error::Conflict {
                code: "capacity_in_use",
                message: "the new capacity is less than what is already in use".into(),
                field: Some("capacity".into()),
            }
        });
    }
    if body.street_ids.is_some() {
        write_streets(&mut tx, id, &streets).await?;
    } else {
        counters::touch_resource(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(fetch_resource(db, id).await?.0)
}

/// Archives a resource: it is no longer offered or matched; its history stays.
pub async fn archive_resource(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let (cur, owner) = fetch_resource(core.db.write(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Resource {
            owner,
            streets: &cur.street_ids,
        },
    )?;
    let mut tx = core.db.write().begin().await?;
    sqlx::query("UPDATE resources SET status = 'archived', updated_at = $1 WHERE id = $2")
        .bind(core.now_ts())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    counters::touch_resource(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}
