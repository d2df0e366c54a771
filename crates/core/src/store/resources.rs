//! The resource list's rows and the streets each resource serves (`resource_streets`).
//!
//! Every write moves the counters of the streets the resource serves (before and after a
//! change of streets) in the write itself, so the candidate pools of every host see it.

use sqlx::{any::AnyRow, AnyConnection, AnyPool, Row};
use uuid::Uuid;

use super::{
    counters, lock_row,
    page::{Page, PageRequest},
    rows::{
        get_json, get_opt_uuid, get_uuid, links, push_in, push_json_contains, to_json, with_links,
    },
    streets::grid_street,
    Sql, Tx,
};
use crate::{
    domain::{
        access::{ListScope, Owner},
        resource::{ListResources, Resource},
        ResourceStatus,
    },
    Error, Result,
};

/// The link table of the streets a resource serves.
const LINKS: (&str, &str, &str) = ("resource_streets", "resource_id", "street_id");

async fn street_ids(conn: &mut AnyConnection, resource: Uuid) -> Result<Vec<Uuid>> {
    Ok(links(conn, LINKS.0, LINKS.1, LINKS.2, &[resource])
        .await?
        .remove(&resource)
        .unwrap_or_default())
}

fn from_row(row: &AnyRow, street_ids: Vec<Uuid>) -> Result<Resource> {
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

/// A resource with its streets and its owner (a volunteer with the volunteer's street), or
/// `NotFound`.
pub async fn read(conn: &mut AnyConnection, id: Uuid) -> Result<(Resource, Owner)> {
    let row = sqlx::query(
        "SELECT r.*, v.street_id AS volunteer_street FROM resources r \
         LEFT JOIN volunteers v ON v.id = r.owner_volunteer_id WHERE r.id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound("resource"))?;
    let resource = from_row(&row, street_ids(conn, id).await?)?;
    let owner = match (resource.owner_unit_id, resource.owner_volunteer_id) {
        (Some(u), _) => Owner::Unit(u),
        (None, Some(v)) => Owner::Volunteer {
            id: v,
            street: get_opt_uuid(&row, "volunteer_street")?.unwrap_or_default(),
        },
        (None, None) => {
            return Err(Error::Internal(anyhow::anyhow!(
                "resource {id} has no owner"
            )))
        }
    };
    Ok((resource, owner))
}

/// [`read`] on a connection of the pool.
pub async fn get(db: &AnyPool, id: Uuid) -> Result<(Resource, Owner)> {
    read(&mut *db.acquire().await?, id).await
}

/// A resource, locked until the transaction ends, or `NotFound`.
pub async fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<(Resource, Owner)> {
    lock_row(tx, "resources", id).await?;
    read(tx, id).await
}

/// A page of resources: in `scope` (plus the caller's `own` resources wherever they serve),
/// filtered as the caller asked; archived ones only when asked for by status.
pub async fn list(
    db: &AnyPool,
    scope: ListScope,
    own: Option<Owner>,
    q: &ListResources,
    page: &PageRequest,
) -> Result<Page<Resource>> {
    let mut conn = db.acquire().await?;
    let mut sql = Sql::new("SELECT r.* FROM resources r WHERE 1 = 1");
    if let ListScope::Streets(streets) = scope {
        sql.push(" AND (EXISTS (SELECT 1 FROM resource_streets rs WHERE rs.resource_id = r.id");
        push_in(&mut sql, "rs.street_id", &streets);
        sql.push(")");
        match own {
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
        let street = grid_street(&mut *conn, grid).await?.unwrap_or_default();
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
    let rows = sql.fetch_all(&mut *conn).await?;
    let items = with_links(&mut conn, &rows, LINKS, from_row).await?;
    Ok(page.finish(items, |r| r.id))
}

async fn write_streets(tx: &mut Tx<'_>, id: Uuid, streets: &[Uuid]) -> Result<()> {
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

/// Writes a new resource with its streets, its capacity all left.
pub async fn insert(tx: &mut Tx<'_>, r: &Resource) -> Result<()> {
    sqlx::query(
        "INSERT INTO resources (id, owner_unit_id, owner_volunteer_id, title, category, tags, description, \
         capacity, capacity_left, served_grid_ids, available_from, available_until, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(r.id.to_string())
    .bind(r.owner_unit_id.map(|u| u.to_string()))
    .bind(r.owner_volunteer_id.map(|v| v.to_string()))
    .bind(r.title.clone())
    .bind(r.category.clone())
    .bind(to_json(&r.tags))
    .bind(r.description.clone())
    .bind(r.capacity)
    .bind(r.capacity_left)
    .bind(to_json(&r.served_grid_ids))
    .bind(r.available_from.clone())
    .bind(r.available_until.clone())
    .bind(r.status.as_str())
    .bind(r.created_at.clone())
    .bind(r.updated_at.clone())
    .execute(&mut **tx)
    .await?;
    write_streets(tx, r.id, &r.street_ids).await
}

/// Writes an edited resource, if its status is still `was`. The capacity left moves by the
/// change of capacity as the row stands when it is written (accepts take from it), and may
/// not fall below zero: `capacity_in_use` on `capacity`. A status changed meanwhile (an
/// archive) is `concurrent_change` and is not undone. `streets_changed` rewrites the
/// streets served. Answers the resource as written.
pub async fn update(
    tx: &mut Tx<'_>,
    r: &Resource,
    was: ResourceStatus,
    streets_changed: bool,
) -> Result<Resource> {
    let updated = sqlx::query(
        "UPDATE resources SET title = $1, category = $2, tags = $3, description = $4, capacity = $5, \
         capacity_left = capacity_left + ($5 - capacity), served_grid_ids = $6, available_from = $7, \
         available_until = $8, status = $9, updated_at = $10 \
         WHERE id = $11 AND status = $12 AND capacity_left + ($5 - capacity) >= 0",
    )
    .bind(r.title.clone())
    .bind(r.category.clone())
    .bind(to_json(&r.tags))
    .bind(r.description.clone())
    .bind(r.capacity)
    .bind(to_json(&r.served_grid_ids))
    .bind(r.available_from.clone())
    .bind(r.available_until.clone())
    .bind(r.status.as_str())
    .bind(r.updated_at.clone())
    .bind(r.id.to_string())
    .bind(was.as_str())
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        let now: String = sqlx::query("SELECT status FROM resources WHERE id = $1")
            .bind(r.id.to_string())
            .fetch_one(&mut **tx)
            .await?
            .try_get("status")?;
        return Err(if now != was.as_str() {
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
    if streets_changed {
        write_streets(tx, r.id, &r.street_ids).await?;
    } else {
        counters::touch_resource(tx, r.id).await?;
    }
    Ok(read(tx, r.id).await?.0)
}

/// Archives a resource: no longer offered or matched.
pub async fn archive(tx: &mut Tx<'_>, id: Uuid, at: &str) -> Result<()> {
    sqlx::query("UPDATE resources SET status = 'archived', updated_at = $1 WHERE id = $2")
        .bind(at.to_string())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    counters::touch_resource(tx, id).await
}
