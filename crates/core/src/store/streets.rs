//! Streets and what each street keeps of its own: communities, grids and categories.
//!
//! A write that changes what matching sees of a street (a grid, a community's name, a
//! category) moves the street's registry counter in the same transaction (see
//! [`counters`](super::counters)), so no caller can forget it.

use sqlx::{any::AnyRow, Any, AnyPool, Executor, Row};
use uuid::Uuid;

use super::{
    counters, for_update,
    page::{Page, PageRequest},
    rows::get_uuid,
    Sql, Tx,
};
use crate::{
    domain::{
        is_default_category,
        street::{Community, Grid, Street},
    },
    error::{constraint_violation, unique_as_conflict},
    Error, Result,
};

// ---------------------------------------------------------------------------------------------
// Streets

fn street_from_row(row: &AnyRow) -> Result<Street> {
    Ok(Street {
        id: get_uuid(row, "id")?,
        name: row.try_get("name")?,
        code: row.try_get("code")?,
        district: row.try_get("district")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn street_code_taken(e: sqlx::Error) -> Error {
    unique_as_conflict(e, "code", "a street with this code exists")
}

/// A street, or `NotFound`.
pub async fn get<'e>(db: impl Executor<'e, Database = Any>, id: Uuid) -> Result<Street> {
    let row = sqlx::query("SELECT * FROM streets WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("street"))?;
    street_from_row(&row)
}

/// A street, locked until the transaction ends, or `NotFound`.
pub async fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<Street> {
    let text = format!("SELECT * FROM streets WHERE id = $1{}", for_update(tx));
    let row = sqlx::query(&text)
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("street"))?;
    street_from_row(&row)
}

/// `NotFound` unless the street exists.
pub async fn require<'e>(db: impl Executor<'e, Database = Any>, id: Uuid) -> Result<()> {
    let found = sqlx::query("SELECT 1 FROM streets WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?;
    found.map(|_| ()).ok_or(Error::NotFound("street"))
}

/// A page of streets, of one district if given.
pub async fn list(
    db: &AnyPool,
    district: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Street>> {
    let mut sql = Sql::new("SELECT * FROM streets WHERE 1 = 1");
    if let Some(d) = district {
        sql.push(" AND district = ").bind(d.to_string());
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows
        .iter()
        .map(street_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |s| s.id))
}

/// Writes a new street; a taken code is a conflict on `code`.
pub async fn insert(tx: &mut Tx<'_>, street: &Street) -> Result<()> {
    sqlx::query(
        "INSERT INTO streets (id, name, code, district, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(street.id.to_string())
    .bind(street.name.clone())
    .bind(street.code.clone())
    .bind(street.district.clone())
    .bind(street.created_at.clone())
    .bind(street.updated_at.clone())
    .execute(&mut **tx)
    .await
    .map_err(street_code_taken)?;
    Ok(())
}

/// Writes a street's name, code, district and `updated_at`.
pub async fn update(tx: &mut Tx<'_>, street: &Street) -> Result<()> {
    sqlx::query(
        "UPDATE streets SET name = $1, code = $2, district = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(street.name.clone())
    .bind(street.code.clone())
    .bind(street.district.clone())
    .bind(street.updated_at.clone())
    .bind(street.id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(street_code_taken)?;
    Ok(())
}

/// The street a grid belongs to, if the grid exists.
pub async fn grid_street<'e>(
    db: impl Executor<'e, Database = Any>,
    grid: Uuid,
) -> Result<Option<Uuid>> {
    let row = sqlx::query("SELECT street_id FROM grids WHERE id = $1")
        .bind(grid.to_string())
        .fetch_optional(db)
        .await?;
    row.map(|r| get_uuid(&r, "street_id")).transpose()
}

/// The street of the grid a request names in `field`; an unknown grid is an error on that
/// field.
pub async fn street_of_grid<'e>(
    db: impl Executor<'e, Database = Any>,
    grid: Uuid,
    field: &str,
) -> Result<Uuid> {
    grid_street(db, grid)
        .await?
        .ok_or_else(|| Error::field(field, "unknown_reference", "no grid has this id"))
}

/// A foreign-key violation on delete as the conflict a caller can act on.
fn in_use(err: sqlx::Error) -> Error {
    match constraint_violation(&err) {
        Some(sqlx::error::ErrorKind::ForeignKeyViolation) => Error::conflict(
            "in_use",
            "other records still refer to it; move or archive them first",
        ),
        _ => err.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Communities

fn community_from_row(row: &AnyRow) -> Result<Community> {
    Ok(Community {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn community_name_taken(e: sqlx::Error) -> Error {
    unique_as_conflict(e, "name", "the street has a community with this name")
}

/// A community of `street`, or `NotFound`.
pub async fn get_community<'e>(
    db: impl Executor<'e, Database = Any>,
    street: Uuid,
    id: Uuid,
) -> Result<Community> {
    let row = sqlx::query("SELECT * FROM communities WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("community"))?;
    community_from_row(&row)
}

pub async fn list_communities(
    db: &AnyPool,
    street: Uuid,
    page: &PageRequest,
) -> Result<Page<Community>> {
    let mut sql = Sql::new("SELECT * FROM communities WHERE street_id = ");
    sql.bind(street.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows
        .iter()
        .map(community_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |c| c.id))
}

/// Writes a new community; a name the street already has is a conflict on `name`.
pub async fn insert_community(tx: &mut Tx<'_>, community: &Community) -> Result<()> {
    sqlx::query(
        "INSERT INTO communities (id, street_id, name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(community.id.to_string())
    .bind(community.street_id.to_string())
    .bind(community.name.clone())
    .bind(community.created_at.clone())
    .bind(community.updated_at.clone())
    .execute(&mut **tx)
    .await
    .map_err(community_name_taken)?;
    Ok(())
}

/// Renames a community of `street` (the candidates of its grids show it) and moves the
/// street's registry counter; `NotFound` if it is not the street's.
pub async fn rename_community(
    tx: &mut Tx<'_>,
    street: Uuid,
    id: Uuid,
    name: &str,
    at: &str,
) -> Result<()> {
    let changed = sqlx::query(
        "UPDATE communities SET name = $1, updated_at = $2 WHERE id = $3 AND street_id = $4",
    )
    .bind(name.to_string())
    .bind(at.to_string())
    .bind(id.to_string())
    .bind(street.to_string())
    .execute(&mut **tx)
    .await
    .map_err(community_name_taken)?
    .rows_affected();
    if changed == 0 {
        return Err(Error::NotFound("community"));
    }
    counters::touch_registry(tx, street).await
}

/// Deletes a community of `street`; one that grids still refer to is a conflict (`in_use`).
pub async fn delete_community(tx: &mut Tx<'_>, street: Uuid, id: Uuid) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM communities WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .execute(&mut **tx)
        .await
        .map_err(in_use)?
        .rows_affected();
    if deleted == 0 {
        return Err(Error::NotFound("community"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Grids

fn grid_from_row(row: &AnyRow) -> Result<Grid> {
    Ok(Grid {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        community_id: get_uuid(row, "community_id")?,
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        households: row.try_get("households")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn grid_code_taken(e: sqlx::Error) -> Error {
    unique_as_conflict(e, "code", "the street has a grid with this code")
}

/// A grid of `street`, or `NotFound`.
pub async fn get_grid<'e>(
    db: impl Executor<'e, Database = Any>,
    street: Uuid,
    id: Uuid,
) -> Result<Grid> {
    let row = sqlx::query("SELECT * FROM grids WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("grid"))?;
    grid_from_row(&row)
}

/// A grid of `street`, locked until the transaction ends, or `NotFound`.
pub async fn lock_grid(tx: &mut Tx<'_>, street: Uuid, id: Uuid) -> Result<Grid> {
    let text = format!(
        "SELECT * FROM grids WHERE id = $1 AND street_id = $2{}",
        for_update(tx)
    );
    let row = sqlx::query(&text)
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("grid"))?;
    grid_from_row(&row)
}

/// A page of a street's grids, of one community if given.
pub async fn list_grids(
    db: &AnyPool,
    street: Uuid,
    community: Option<Uuid>,
    page: &PageRequest,
) -> Result<Page<Grid>> {
    let mut sql = Sql::new("SELECT * FROM grids WHERE street_id = ");
    sql.bind(street.to_string());
    if let Some(community) = community {
        sql.push(" AND community_id = ").bind(community.to_string());
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows.iter().map(grid_from_row).collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |g| g.id))
}

/// Writes a new grid and moves the street's registry counter; a code the street already has
/// is a conflict on `code`.
pub async fn insert_grid(tx: &mut Tx<'_>, grid: &Grid) -> Result<()> {
    sqlx::query(
        "INSERT INTO grids (id, street_id, community_id, code, name, households, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(grid.id.to_string())
    .bind(grid.street_id.to_string())
    .bind(grid.community_id.to_string())
    .bind(grid.code.clone())
    .bind(grid.name.clone())
    .bind(grid.households)
    .bind(grid.created_at.clone())
    .bind(grid.updated_at.clone())
    .execute(&mut **tx)
    .await
    .map_err(grid_code_taken)?;
    counters::touch_registry(tx, grid.street_id).await
}

/// Writes a grid's community, code, name, households and `updated_at`, and moves the
/// street's registry counter.
pub async fn update_grid(tx: &mut Tx<'_>, grid: &Grid) -> Result<()> {
    sqlx::query(
        "UPDATE grids SET community_id = $1, code = $2, name = $3, households = $4, updated_at = $5 \
         WHERE id = $6 AND street_id = $7",
    )
    .bind(grid.community_id.to_string())
    .bind(grid.code.clone())
    .bind(grid.name.clone())
    .bind(grid.households)
    .bind(grid.updated_at.clone())
    .bind(grid.id.to_string())
    .bind(grid.street_id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(grid_code_taken)?;
    counters::touch_registry(tx, grid.street_id).await
}

/// Deletes a grid of `street` and moves its registry counter; one that volunteers or
/// demands still refer to is a conflict (`in_use`).
pub async fn delete_grid(tx: &mut Tx<'_>, street: Uuid, id: Uuid) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM grids WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .execute(&mut **tx)
        .await
        .map_err(in_use)?
        .rows_affected();
    if deleted == 0 {
        return Err(Error::NotFound("grid"));
    }
    counters::touch_registry(tx, street).await
}

// ---------------------------------------------------------------------------------------------
// Categories

/// The categories a street added, as `(code, label)` in code order.
pub async fn own_categories(db: &AnyPool, street: Uuid) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT code, label FROM categories WHERE street_id = $1 ORDER BY code")
        .bind(street.to_string())
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("code")?, row.try_get("label")?)))
        .collect()
}

/// Writes a category of the street and moves its registry counter; a code the street
/// already has is a conflict on `code`.
pub async fn insert_category(
    tx: &mut Tx<'_>,
    street: Uuid,
    code: &str,
    label: &str,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO categories (street_id, code, label, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(street.to_string())
    .bind(code.to_string())
    .bind(label.to_string())
    .bind(at.to_string())
    .execute(&mut **tx)
    .await
    .map_err(|e| unique_as_conflict(e, "code", "the street has a category with this code"))?;
    counters::touch_registry(tx, street).await
}

/// Whether `code` is a category of `street`: built in, or one the street added.
pub async fn category_exists<'e>(
    db: impl Executor<'e, Database = Any>,
    street: Uuid,
    code: &str,
) -> Result<bool> {
    if is_default_category(code) {
        return Ok(true);
    }
    let row = sqlx::query("SELECT 1 FROM categories WHERE street_id = $1 AND code = $2")
        .bind(street.to_string())
        .bind(code.to_string())
        .fetch_optional(db)
        .await?;
    Ok(row.is_some())
}
