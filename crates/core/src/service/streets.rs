//! Streets (the tenants) and their communities, grids and categories.

use super::Core;
use crate::domain::rules;
use crate::domain::street::{
    Category, CategoryList, Community, CreateCategory, CreateCommunity, CreateGrid, CreateStreet,
    Grid, ListGrids, ListStreets, Street, UpdateGrid, UpdateStreet,
};
use crate::error::{constraint_violation, unique_as_conflict};
use crate::store::counters;
use crate::store::page::ListPage;
use crate::store::rows::{get_uuid, require_street};
use crate::{
    domain::access::Principal,
    domain::access::RoleKind,
    domain::access::{Action, Target},
    domain::{is_default_category, Check, DEFAULT_CATEGORIES},
    store::db::Sql,
    store::page::{Page, PageRequest},
};
use crate::{Error, Result};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

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

async fn fetch_street(db: &sqlx::AnyPool, id: Uuid) -> Result<Street> {
    let row = sqlx::query("SELECT * FROM streets WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("street"))?;
    street_from_row(&row)
}

/// Lists streets. Every caller may read the map of streets.
pub async fn list_streets(
    core: &Core,
    _caller: &Principal,
    q: ListStreets,
) -> Result<Page<Street>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM streets WHERE 1 = 1");
    if let Some(d) = &q.district {
        sql.push(" AND district = ").bind(d.clone());
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows
        .iter()
        .map(street_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |s| s.id))
}

/// Registers a street (district admins only).
pub async fn create_street(core: &Core, caller: &Principal, body: CreateStreet) -> Result<Street> {
    caller.require(&[RoleKind::DistrictAdmin], "register streets")?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    let code = c.code("code", &body.code, rules::CODE);
    let district = c.text("district", &body.district, rules::PLACE_NAME);
    c.finish()?;
    let id = Uuid::now_v7();
    let now = core.now_ts();
    sqlx::query("INSERT INTO streets (id, name, code, district, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
        .bind(id.to_string())
        .bind(name)
        .bind(code)
        .bind(district)
        .bind(now)
        .execute(core.db.write())
        .await
        .map_err(|e| unique_as_conflict(e, "code", "a street with this code exists"))?;
    let street = fetch_street(core.db.write(), id).await?;
    Ok(street)
}

pub async fn get_street(core: &Core, caller: &Principal, id: Uuid) -> Result<Street> {
    let street = fetch_street(core.db.read(), id).await?;
    caller.authorize(Action::Read, Target::Street(id))?;
    Ok(street)
}

pub async fn update_street(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateStreet,
) -> Result<Street> {
    let current = fetch_street(core.db.write(), id).await?;
    caller.authorize(Action::Update, Target::Street(id))?;
    let mut c = Check::new();
    let name = body
        .name
        .map(|v| c.text("name", &v, rules::PLACE_NAME))
        .unwrap_or(current.name);
    let code = body
        .code
        .map(|v| c.code("code", &v, rules::CODE))
        .unwrap_or(current.code);
    let district = body
        .district
        .map(|v| c.text("district", &v, rules::PLACE_NAME))
        .unwrap_or(current.district);
    c.finish()?;
    sqlx::query(
        "UPDATE streets SET name = $1, code = $2, district = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(name)
    .bind(code)
    .bind(district)
    .bind(core.now_ts())
    .bind(id.to_string())
    .execute(core.db.write())
    .await
    .map_err(|e| unique_as_conflict(e, "code", "a street with this code exists"))?;
    fetch_street(core.db.write(), id).await
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

async fn fetch_community(db: &sqlx::AnyPool, street: Uuid, id: Uuid) -> Result<Community> {
    let row = sqlx::query("SELECT * FROM communities WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("community"))?;
    community_from_row(&row)
}

pub async fn list_communities(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    q: ListPage,
) -> Result<Page<Community>> {
    require_street(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM communities WHERE street_id = ");
    sql.bind(street.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows
        .iter()
        .map(community_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |c| c.id))
}

pub async fn create_community(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    body: CreateCommunity,
) -> Result<Community> {
    require_street(core.db.write(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    c.finish()?;
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO communities (id, street_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(id.to_string())
        .bind(street.to_string())
        .bind(name)
        .bind(core.now_ts())
        .execute(core.db.write())
        .await
        .map_err(|e| unique_as_conflict(e, "name", "the street has a community with this name"))?;
    let community = fetch_community(core.db.write(), street, id).await?;
    Ok(community)
}

pub async fn update_community(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
    body: CreateCommunity,
) -> Result<Community> {
    fetch_community(core.db.write(), street, id).await?;
    caller.authorize(Action::Update, Target::StreetArea(street))?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    c.finish()?;
    let mut tx = core.db.write().begin().await?;
    sqlx::query("UPDATE communities SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(core.now_ts())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_as_conflict(e, "name", "the street has a community with this name"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    fetch_community(core.db.write(), street, id).await
}

/// Deletes a community that has no grids.
pub async fn delete_community(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
) -> Result<()> {
    fetch_community(core.db.write(), street, id).await?;
    caller.authorize(Action::Delete, Target::StreetArea(street))?;
    sqlx::query("DELETE FROM communities WHERE id = $1")
        .bind(id.to_string())
        .execute(core.db.write())
        .await
        .map_err(in_use)?;
    Ok(())
}

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

async fn fetch_grid(db: &sqlx::AnyPool, street: Uuid, id: Uuid) -> Result<Grid> {
    let row = sqlx::query("SELECT * FROM grids WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("grid"))?;
    grid_from_row(&row)
}

fn check_grid_fields(
    c: &mut Check,
    code: Option<&str>,
    name: Option<&str>,
    households: Option<i64>,
) -> (Option<String>, Option<String>) {
    let code = code.map(|v| c.code("code", v, rules::CODE));
    let name = name.map(|v| c.text("name", v, rules::PLACE_NAME));
    if let Some(h) = households {
        c.range_i64("households", h, rules::HOUSEHOLDS);
    }
    (code, name)
}

async fn require_community(db: &sqlx::AnyPool, street: Uuid, community: Uuid) -> Result<()> {
    match fetch_community(db, street, community).await {
        Ok(_) => Ok(()),
        Err(Error::NotFound(_)) => Err(Error::field(
            "community_id",
            "unknown_reference",
            "no community with this id in the street",
        )),
        Err(e) => Err(e),
    }
}

pub async fn list_grids(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    q: ListGrids,
) -> Result<Page<Grid>> {
    require_street(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM grids WHERE street_id = ");
    sql.bind(street.to_string());
    if let Some(community) = q.community_id {
        sql.push(" AND community_id = ").bind(community.to_string());
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows.iter().map(grid_from_row).collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |g| g.id))
}

pub async fn create_grid(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    body: CreateGrid,
) -> Result<Grid> {
    require_street(core.db.write(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let (code, name) =
        check_grid_fields(&mut c, Some(&body.code), Some(&body.name), body.households);
    c.finish()?;
    require_community(core.db.write(), street, body.community_id).await?;
    let id = Uuid::now_v7();
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "INSERT INTO grids (id, street_id, community_id, code, name, households, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(id.to_string())
    .bind(street.to_string())
    .bind(body.community_id.to_string())
    .bind(code)
    .bind(name)
    .bind(body.households)
    .bind(core.now_ts())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "code", "the street has a grid with this code"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    let grid = fetch_grid(core.db.write(), street, id).await?;
    Ok(grid)
}

pub async fn get_grid(core: &Core, caller: &Principal, street: Uuid, id: Uuid) -> Result<Grid> {
    let grid = fetch_grid(core.db.read(), street, id).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    Ok(grid)
}

pub async fn update_grid(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
    body: UpdateGrid,
) -> Result<Grid> {
    let current = fetch_grid(core.db.write(), street, id).await?;
    caller.authorize(Action::Update, Target::StreetArea(street))?;
    let mut c = Check::new();
    let (code, name) = check_grid_fields(
        &mut c,
        body.code.as_deref(),
        body.name.as_deref(),
        body.households.flatten(),
    );
    c.finish()?;
    let community = body.community_id.unwrap_or(current.community_id);
    if body.community_id.is_some() {
        require_community(core.db.write(), street, community).await?;
    }
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "UPDATE grids SET community_id = $1, code = $2, name = $3, households = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(community.to_string())
    .bind(code.unwrap_or(current.code))
    .bind(name.unwrap_or(current.name))
    .bind(body.households.unwrap_or(current.households))
    .bind(core.now_ts())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "code", "the street has a grid with this code"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    fetch_grid(core.db.write(), street, id).await
}

/// Deletes a grid that no volunteer or demand refers to.
pub async fn delete_grid(core: &Core, caller: &Principal, street: Uuid, id: Uuid) -> Result<()> {
    fetch_grid(core.db.write(), street, id).await?;
    caller.authorize(Action::Delete, Target::StreetArea(street))?;
    let mut tx = core.db.write().begin().await?;
    sqlx::query("DELETE FROM grids WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(in_use)?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Categories

pub async fn list_categories(
    core: &Core,
    caller: &Principal,
    street: Uuid,
) -> Result<CategoryList> {
    require_street(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let mut items: Vec<Category> = DEFAULT_CATEGORIES
        .iter()
        .map(|(code, label)| Category {
            code: code.to_string(),
            label: label.to_string(),
            builtin: true,
        })
        .collect();
    let rows = sqlx::query("SELECT code, label FROM categories WHERE street_id = $1 ORDER BY code")
        .bind(street.to_string())
        .fetch_all(core.db.read())
        .await?;
    for row in rows {
        items.push(Category {
            code: row.try_get("code")?,
            label: row.try_get("label")?,
            builtin: false,
        });
    }
    Ok(CategoryList { items })
}

pub async fn create_category(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    body: CreateCategory,
) -> Result<Category> {
    require_street(core.db.write(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let code = c.code("code", &body.code, rules::CODE);
    let label = c.text("label", &body.label, rules::CATEGORY_LABEL);
    c.finish()?;
    if is_default_category(&code) {
        return Err(Error::Conflict {
            code: "already_exists",
            message: "this is a built-in category".into(),
            field: Some("code".into()),
        });
    }
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "INSERT INTO categories (street_id, code, label, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(street.to_string())
    .bind(code.clone())
    .bind(label.clone())
    .bind(core.now_ts())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "code", "the street has a category with this code"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(Category {
        code,
        label,
        builtin: false,
    })
}
