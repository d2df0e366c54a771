//! Streets (the tenants) and their communities, grids and categories.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use gongjian_core::Error;
use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, Row};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{get_uuid, require_street, Created};
use crate::{
    error::{AppError, AppResult},
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::error::{constraint_violation, unique_as_conflict};
use gongjian_core::store::counters;
use gongjian_core::{
    domain::access::Principal,
    domain::access::RoleKind,
    domain::access::{Action, Target},
    domain::{is_default_category, Check, DEFAULT_CATEGORIES},
    store::db::Sql,
    store::page::{Page, PageRequest},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streets, create_street))
        .routes(routes!(get_street, update_street))
        .routes(routes!(list_communities, create_community))
        .routes(routes!(update_community, delete_community))
        .routes(routes!(list_grids, create_grid))
        .routes(routes!(get_grid, update_grid, delete_grid))
        .routes(routes!(list_categories, create_category))
}

// ---------------------------------------------------------------------------------------------
// Streets

/// A sub-district government office: the tenant that runs the platform for its area.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Street {
    pub id: Uuid,
    /// e.g. 市西街道
    pub name: String,
    /// A short code unique across the district, e.g. `shixi`.
    pub code: String,
    /// The district the street belongs to, e.g. 滨城区.
    pub district: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStreet {
    pub name: String,
    pub code: String,
    pub district: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStreet {
    pub name: Option<String>,
    pub code: Option<String>,
    pub district: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListStreets {
    /// Only streets of this district.
    pub district: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn street_from_row(row: &AnyRow) -> AppResult<Street> {
    Ok(Street {
        id: get_uuid(row, "id")?,
        name: row.try_get("name")?,
        code: row.try_get("code")?,
        district: row.try_get("district")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn fetch_street(db: &sqlx::AnyPool, id: Uuid) -> AppResult<Street> {
    let row = sqlx::query("SELECT * FROM streets WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("street"))?;
    street_from_row(&row)
}

/// Lists streets. Every caller may read the map of streets.
#[utoipa::path(get, path = "/api/v1/streets", tag = "streets", params(ListStreets),
    responses((status = 200, body = Page<Street>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_streets(
    State(state): State<AppState>,
    _caller: Principal,
    ApiQuery(q): ApiQuery<ListStreets>,
) -> AppResult<Json<Page<Street>>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM streets WHERE 1 = 1");
    if let Some(d) = &q.district {
        sql.push(" AND district = ").bind(d.clone());
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(street_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |s| s.id)))
}

/// Registers a street (district admins only).
#[utoipa::path(post, path = "/api/v1/streets", tag = "streets", request_body = CreateStreet,
    responses((status = 201, body = Street), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_street(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateStreet>,
) -> AppResult<Created<Street>> {
    caller.require(&[RoleKind::DistrictAdmin], "register streets")?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    let code = c.code("code", &body.code, rules::CODE);
    let district = c.text("district", &body.district, rules::PLACE_NAME);
    c.finish()?;
    let id = Uuid::now_v7();
    let now = state.now_ts();
    sqlx::query("INSERT INTO streets (id, name, code, district, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
        .bind(id.to_string())
        .bind(name)
        .bind(code)
        .bind(district)
        .bind(now)
        .execute(state.db.write())
        .await
        .map_err(|e| unique_as_conflict(e, "code", "a street with this code exists"))?;
    let street = fetch_street(state.db.write(), id).await?;
    Ok(Created(format!("/api/v1/streets/{id}"), street))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = Street), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_street(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Street>> {
    let id = path_id("id", &id)?;
    let street = fetch_street(state.db.read(), id).await?;
    caller.authorize(Action::Read, Target::Street(id))?;
    Ok(Json(street))
}

#[utoipa::path(patch, path = "/api/v1/streets/{id}", tag = "streets", request_body = UpdateStreet,
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = Street), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_street(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateStreet>,
) -> AppResult<Json<Street>> {
    let id = path_id("id", &id)?;
    let current = fetch_street(state.db.write(), id).await?;
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
    .bind(state.now_ts())
    .bind(id.to_string())
    .execute(state.db.write())
    .await
    .map_err(|e| unique_as_conflict(e, "code", "a street with this code exists"))?;
    Ok(Json(fetch_street(state.db.write(), id).await?))
}

// ---------------------------------------------------------------------------------------------
// Communities

/// A community (社区) inside a street.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Community {
    pub id: Uuid,
    pub street_id: Uuid,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommunity {
    pub name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListPage {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn community_from_row(row: &AnyRow) -> AppResult<Community> {
    Ok(Community {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn fetch_community(db: &sqlx::AnyPool, street: Uuid, id: Uuid) -> AppResult<Community> {
    let row = sqlx::query("SELECT * FROM communities WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("community"))?;
    community_from_row(&row)
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/communities", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ListPage),
    responses((status = 200, body = Page<Community>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_communities(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiQuery(q): ApiQuery<ListPage>,
) -> AppResult<Json<Page<Community>>> {
    let street = path_id("id", &street)?;
    require_street(state.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM communities WHERE street_id = ");
    sql.bind(street.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(community_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |c| c.id)))
}

#[utoipa::path(post, path = "/api/v1/streets/{id}/communities", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")), request_body = CreateCommunity,
    responses((status = 201, body = Community), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_community(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiJson(body): ApiJson<CreateCommunity>,
) -> AppResult<Created<Community>> {
    let street = path_id("id", &street)?;
    require_street(state.db.write(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    c.finish()?;
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO communities (id, street_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(id.to_string())
        .bind(street.to_string())
        .bind(name)
        .bind(state.now_ts())
        .execute(state.db.write())
        .await
        .map_err(|e| unique_as_conflict(e, "name", "the street has a community with this name"))?;
    let community = fetch_community(state.db.write(), street, id).await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/communities/{id}"),
        community,
    ))
}

#[utoipa::path(patch, path = "/api/v1/streets/{id}/communities/{community_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("community_id" = Uuid, Path)),
    request_body = CreateCommunity,
    responses((status = 200, body = Community), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_community(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateCommunity>,
) -> AppResult<Json<Community>> {
    let street = path_id("id", &street)?;
    let id = path_id("community_id", &id)?;
    fetch_community(state.db.write(), street, id).await?;
    caller.authorize(Action::Update, Target::StreetArea(street))?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    c.finish()?;
    let mut tx = state.db.write().begin().await?;
    sqlx::query("UPDATE communities SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(state.now_ts())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_as_conflict(e, "name", "the street has a community with this name"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(Json(fetch_community(state.db.write(), street, id).await?))
}

/// Deletes a community that has no grids.
#[utoipa::path(delete, path = "/api/v1/streets/{id}/communities/{community_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("community_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn delete_community(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let street = path_id("id", &street)?;
    let id = path_id("community_id", &id)?;
    fetch_community(state.db.write(), street, id).await?;
    caller.authorize(Action::Delete, Target::StreetArea(street))?;
    sqlx::query("DELETE FROM communities WHERE id = $1")
        .bind(id.to_string())
        .execute(state.db.write())
        .await
        .map_err(in_use)?;
    Ok(StatusCode::NO_CONTENT)
}

fn in_use(err: sqlx::Error) -> AppError {
    match constraint_violation(&err) {
        Some(sqlx::error::ErrorKind::ForeignKeyViolation) => Error::conflict(
            "in_use",
            "other records still refer to it; move or archive them first",
        )
        .into(),
        _ => err.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Grids

/// A grid (网格): the smallest area, with a code unique in its street ("one grid, one code").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Grid {
    pub id: Uuid,
    pub street_id: Uuid,
    pub community_id: Uuid,
    pub code: String,
    pub name: String,
    /// Households in the grid, if known (300–500 in town).
    pub households: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrid {
    pub community_id: Uuid,
    pub code: String,
    pub name: String,
    pub households: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGrid {
    pub community_id: Option<Uuid>,
    pub code: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "gongjian_core::domain::double_option")]
    #[schema(value_type = Option<i64>)]
    pub households: Option<Option<i64>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListGrids {
    pub community_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn grid_from_row(row: &AnyRow) -> AppResult<Grid> {
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

async fn fetch_grid(db: &sqlx::AnyPool, street: Uuid, id: Uuid) -> AppResult<Grid> {
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

async fn require_community(db: &sqlx::AnyPool, street: Uuid, community: Uuid) -> AppResult<()> {
    match fetch_community(db, street, community).await {
        Ok(_) => Ok(()),
        Err(AppError::Core(Error::NotFound(_))) => Err(Error::field(
            "community_id",
            "unknown_reference",
            "no community with this id in the street",
        )
        .into()),
        Err(e) => Err(e),
    }
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/grids", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ListGrids),
    responses((status = 200, body = Page<Grid>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_grids(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiQuery(q): ApiQuery<ListGrids>,
) -> AppResult<Json<Page<Grid>>> {
    let street = path_id("id", &street)?;
    require_street(state.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM grids WHERE street_id = ");
    sql.bind(street.to_string());
    if let Some(community) = q.community_id {
        sql.push(" AND community_id = ").bind(community.to_string());
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(grid_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |g| g.id)))
}

#[utoipa::path(post, path = "/api/v1/streets/{id}/grids", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")), request_body = CreateGrid,
    responses((status = 201, body = Grid), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiJson(body): ApiJson<CreateGrid>,
) -> AppResult<Created<Grid>> {
    let street = path_id("id", &street)?;
    require_street(state.db.write(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let (code, name) =
        check_grid_fields(&mut c, Some(&body.code), Some(&body.name), body.households);
    c.finish()?;
    require_community(state.db.write(), street, body.community_id).await?;
    let id = Uuid::now_v7();
    let mut tx = state.db.write().begin().await?;
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
    .bind(state.now_ts())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "code", "the street has a grid with this code"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    let grid = fetch_grid(state.db.write(), street, id).await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/grids/{id}"),
        grid,
    ))
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/grids/{grid_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("grid_id" = Uuid, Path)),
    responses((status = 200, body = Grid), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<Json<Grid>> {
    let street = path_id("id", &street)?;
    let id = path_id("grid_id", &id)?;
    let grid = fetch_grid(state.db.read(), street, id).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    Ok(Json(grid))
}

#[utoipa::path(patch, path = "/api/v1/streets/{id}/grids/{grid_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("grid_id" = Uuid, Path)),
    request_body = UpdateGrid,
    responses((status = 200, body = Grid), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateGrid>,
) -> AppResult<Json<Grid>> {
    let street = path_id("id", &street)?;
    let id = path_id("grid_id", &id)?;
    let current = fetch_grid(state.db.write(), street, id).await?;
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
        require_community(state.db.write(), street, community).await?;
    }
    let mut tx = state.db.write().begin().await?;
    sqlx::query(
        "UPDATE grids SET community_id = $1, code = $2, name = $3, households = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(community.to_string())
    .bind(code.unwrap_or(current.code))
    .bind(name.unwrap_or(current.name))
    .bind(body.households.unwrap_or(current.households))
    .bind(state.now_ts())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "code", "the street has a grid with this code"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(Json(fetch_grid(state.db.write(), street, id).await?))
}

/// Deletes a grid that no volunteer or demand refers to.
#[utoipa::path(delete, path = "/api/v1/streets/{id}/grids/{grid_id}", tag = "streets",
    params(("id" = Uuid, Path, description = "street id"), ("grid_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn delete_grid(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let street = path_id("id", &street)?;
    let id = path_id("grid_id", &id)?;
    fetch_grid(state.db.write(), street, id).await?;
    caller.authorize(Action::Delete, Target::StreetArea(street))?;
    let mut tx = state.db.write().begin().await?;
    sqlx::query("DELETE FROM grids WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(in_use)?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Categories

/// A category of service. The built-in taxonomy is the same in every street; a street may add
/// its own.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub code: String,
    pub label: String,
    /// True for the built-in taxonomy, false for the street's own additions.
    pub builtin: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    /// Lowercase letters, digits, `_` and `-`.
    pub code: String,
    pub label: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<Category>,
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/categories", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = CategoryList), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_categories(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
) -> AppResult<Json<CategoryList>> {
    let street = path_id("id", &street)?;
    require_street(state.db.read(), street).await?;
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
        .fetch_all(state.db.read())
        .await?;
    for row in rows {
        items.push(Category {
            code: row.try_get("code")?,
            label: row.try_get("label")?,
            builtin: false,
        });
    }
    Ok(Json(CategoryList { items }))
}

#[utoipa::path(post, path = "/api/v1/streets/{id}/categories", tag = "streets",
    params(("id" = Uuid, Path, description = "street id")), request_body = CreateCategory,
    responses((status = 201, body = Category), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_category(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
    ApiJson(body): ApiJson<CreateCategory>,
) -> AppResult<Created<Category>> {
    let street = path_id("id", &street)?;
    require_street(state.db.write(), street).await?;
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
        }
        .into());
    }
    let mut tx = state.db.write().begin().await?;
    sqlx::query(
        "INSERT INTO categories (street_id, code, label, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(street.to_string())
    .bind(code.clone())
    .bind(label.clone())
    .bind(state.now_ts())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "code", "the street has a category with this code"))?;
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(Created(
        format!("/api/v1/streets/{street}/categories"),
        Category {
            code,
            label,
            builtin: false,
        },
    ))
}
