//! The registry of co-building units (共建单位). A unit may co-build with several streets.

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

use super::{get_uuid, links, require_all, with_links, Created};
use crate::{
    error::{AppError, AppResult},
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::store::counters;
use gongjian_core::{
    domain::access::Principal,
    domain::access::RoleKind,
    domain::access::{Action, RegistryScope, Target},
    domain::{Check, UnitKind},
    store::db::Sql,
    store::page::{Page, PageRequest},
};

/// The link table of the streets a unit co-builds with.
const LINKS: (&str, &str, &str) = ("unit_streets", "unit_id", "street_id");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_units, create_unit))
        .routes(routes!(get_unit, update_unit, archive_unit))
}

/// An organisation that signed up to serve one or more streets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Unit {
    pub id: Uuid,
    pub name: String,
    pub kind: UnitKind,
    pub contact_name: String,
    pub contact_phone: String,
    pub address: Option<String>,
    pub description: Option<String>,
    /// The streets the unit co-builds with.
    pub street_ids: Vec<Uuid>,
    /// When the unit was archived; archived units are hidden from listings by default.
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUnit {
    pub name: String,
    pub kind: UnitKind,
    pub contact_name: String,
    pub contact_phone: String,
    pub address: Option<String>,
    pub description: Option<String>,
    /// At least one street.
    pub street_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUnit {
    pub name: Option<String>,
    pub kind: Option<UnitKind>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    #[serde(default, deserialize_with = "gongjian_core::domain::double_option")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "gongjian_core::domain::double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub street_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUnits {
    /// Only units co-building with this street.
    pub street_id: Option<Uuid>,
    pub kind: Option<UnitKind>,
    /// Include archived units (default false).
    pub include_archived: Option<bool>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn unit_from_row(row: &AnyRow, street_ids: Vec<Uuid>) -> AppResult<Unit> {
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

/// The streets a unit co-builds with, in a stable order.
pub async fn street_ids(db: &sqlx::AnyPool, unit: Uuid) -> Result<Vec<Uuid>, AppError> {
    Ok(links(db, LINKS.0, LINKS.1, LINKS.2, &[unit])
        .await?
        .remove(&unit)
        .unwrap_or_default())
}

/// Reads a unit (archived or not), or 404.
pub async fn fetch_unit(db: &sqlx::AnyPool, id: Uuid) -> AppResult<Unit> {
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
) -> AppResult<()> {
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
#[utoipa::path(get, path = "/api/v1/units", tag = "units", params(ListUnits),
    responses((status = 200, body = Page<Unit>), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_units(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListUnits>,
) -> AppResult<Json<Page<Unit>>> {
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
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = with_links(state.db.read(), &rows, LINKS, unit_from_row).await?;
    Ok(Json(page.finish(items, |u| u.id)))
}

/// Registers a co-building unit. The district registers any; a street admin registers units
/// for its own street.
#[utoipa::path(post, path = "/api/v1/units", tag = "units", request_body = CreateUnit,
    responses((status = 201, body = Unit), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_unit(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateUnit>,
) -> AppResult<Created<Unit>> {
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
    require_all(state.db.write(), "streets", "street_ids", &f.street_ids).await?;
    let id = Uuid::now_v7();
    let now = state.now_ts();
    let mut tx = state.db.write().begin().await?;
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
    Ok(Created(
        format!("/api/v1/units/{id}"),
        fetch_unit(state.db.write(), id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/units/{id}", tag = "units",
    params(("id" = Uuid, Path, description = "unit id")),
    responses((status = 200, body = Unit), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_unit(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Unit>> {
    let id = path_id("id", &id)?;
    let unit = fetch_unit(state.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Unit {
            id,
            streets: &unit.street_ids,
        },
    )?;
    Ok(Json(unit))
}

#[utoipa::path(patch, path = "/api/v1/units/{id}", tag = "units", request_body = UpdateUnit,
    params(("id" = Uuid, Path, description = "unit id")),
    responses((status = 200, body = Unit), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_unit(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUnit>,
) -> AppResult<Json<Unit>> {
    let id = path_id("id", &id)?;
    let current = fetch_unit(state.db.write(), id).await?;
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
        require_all(state.db.write(), "streets", "street_ids", &f.street_ids).await?;
    }
    let mut tx = state.db.write().begin().await?;
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
    .bind(state.now_ts())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if body.street_ids.is_some() {
        write_streets(&mut tx, id, &f.street_ids).await?;
    }
    // Matching sees the kind of the unit that owns a resource.
    counters::touch_owned_registry(&mut tx, counters::Owner::Unit, id).await?;
    tx.commit().await?;
    Ok(Json(fetch_unit(state.db.write(), id).await?))
}

/// Archives a unit: it disappears from listings, its tokens stop working, its history stays.
#[utoipa::path(delete, path = "/api/v1/units/{id}", tag = "units",
    params(("id" = Uuid, Path, description = "unit id")),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn archive_unit(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("id", &id)?;
    let current = fetch_unit(state.db.write(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Unit {
            id,
            streets: &current.street_ids,
        },
    )?;
    let mut tx = state.db.write().begin().await?;
    sqlx::query(
        "UPDATE units SET archived_at = $1, updated_at = $1 WHERE id = $2 AND archived_at IS NULL",
    )
    .bind(state.now_ts())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    // Its resources are no longer matched.
    counters::touch_owned_registry(&mut tx, counters::Owner::Unit, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
