//! The demand list (需求清单): what residents need, from every channel. A demand carries the
//! resident's personal data, shown in full only to the street's own admins and grid workers.

use axum::{
    extract::{Path, State},
    Json,
};
use gongjian_core::Error;
use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, Row};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    get_json, get_uuid, push_in, push_json_contains,
    streets::{category_exists, grid_street},
    to_json, Created,
};
use crate::{
    error::{AppError, AppResult},
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::{
    domain::access::Principal,
    domain::access::{Action, ListScope, Target},
    domain::{
        format_ts, mask_address, mask_name, mask_phone, Channel, Check, DemandStatus, Urgency,
    },
    store::db::{for_update, Sql},
    store::page::{Page, PageRequest},
};
use gongjian_core::{
    domain::OrderStatus,
    store::{
        events::{record_events, NewEvent},
        orders::cancel_order_row,
    },
};
use gongjian_core::{
    service::dispatch,
    service::hooks::{self, Intake, Triage},
    service::matching::{self, DemandFacts},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_demands, create_demand))
        .routes(routes!(get_demand, update_demand))
}

/// The resident behind a demand: personal data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resident {
    pub name: String,
    pub phone: String,
    pub address: String,
}

/// The resident as an answer shows them: in full, or masked for those who may not see it.
/// (Masked text does not follow the input rules of [`Resident`].)
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ResidentView {
    name: String,
    phone: String,
    address: String,
}

/// A resident's need.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Demand {
    pub id: Uuid,
    pub street_id: Uuid,
    pub grid_id: Uuid,
    pub category: String,
    pub tags: Vec<String>,
    pub urgency: Urgency,
    pub channel: Channel,
    pub description: String,
    /// In full for the street's admins and grid workers; masked (`张**`, `138****5678`) for
    /// everyone else.
    #[schema(value_type = ResidentView)]
    pub resident: Resident,
    /// Whether `resident` is masked in this response.
    pub resident_masked: bool,
    /// When the resident wants the service, RFC 3339.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub status: DemandStatus,
    /// Set when the resident rated the service 2 or less: the street looks at it again.
    pub flagged: bool,
    /// How the street's rule triaged it on intake (absent for demands filed before triage).
    pub triage: Option<Triage>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDemand {
    /// The grid where the service is needed; the demand belongs to its street.
    pub grid_id: Uuid,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Default `normal`.
    pub urgency: Option<Urgency>,
    pub channel: Channel,
    pub description: String,
    pub resident: Resident,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDemand {
    pub grid_id: Option<Uuid>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub urgency: Option<Urgency>,
    pub description: Option<String>,
    pub resident: Option<Resident>,
    #[serde(default, deserialize_with = "gongjian_core::domain::double_option")]
    #[schema(value_type = Option<String>)]
    pub window_start: Option<Option<String>>,
    #[serde(default, deserialize_with = "gongjian_core::domain::double_option")]
    #[schema(value_type = Option<String>)]
    pub window_end: Option<Option<String>>,
    /// `cancelled` withdraws an open or dispatched demand; `open` reopens a cancelled one.
    /// Other statuses are reached through dispatch.
    pub status: Option<DemandStatus>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDemands {
    pub street_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub status: Option<DemandStatus>,
    pub category: Option<String>,
    pub channel: Option<Channel>,
    pub urgency: Option<Urgency>,
    pub tag: Option<String>,
    /// Only demands flagged by a low rating (or only those not flagged).
    pub flagged: Option<bool>,
    /// Only demands filed at or after this instant (RFC 3339).
    pub filed_from: Option<String>,
    /// Only demands filed before this instant (RFC 3339).
    pub filed_to: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn demand_from_row(row: &AnyRow, caller: &Principal) -> AppResult<Demand> {
    let demand = Demand {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        grid_id: get_uuid(row, "grid_id")?,
        category: row.try_get("category")?,
        tags: get_json(row, "tags")?,
        urgency: Urgency::from_db(&row.try_get::<String, _>("urgency")?)?,
        channel: Channel::from_db(&row.try_get::<String, _>("channel")?)?,
        description: row.try_get("description")?,
        resident: Resident {
            name: row.try_get("resident_name")?,
            phone: row.try_get("resident_phone")?,
            address: row.try_get("resident_address")?,
        },
        resident_masked: false,
        window_start: row.try_get("window_start")?,
        window_end: row.try_get("window_end")?,
        status: DemandStatus::from_db(&row.try_get::<String, _>("status")?)?,
        flagged: super::get_bool(row, "flagged")?,
        triage: row
            .try_get::<Option<String>, _>("triage")?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| Error::Internal(anyhow::anyhow!("bad triage record: {e}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    };
    Ok(shown_to(demand, caller))
}

/// A demand as `caller` may see it: the resident's data masked unless the caller needs it.
fn shown_to(mut demand: Demand, caller: &Principal) -> Demand {
    if !caller.sees_resident_data(demand.street_id) {
        let r = &demand.resident;
        demand.resident = Resident {
            name: mask_name(&r.name),
            phone: mask_phone(&r.phone),
            address: mask_address(&r.address),
        };
        demand.resident_masked = true;
    }
    demand
}

async fn fetch_row(db: &sqlx::AnyPool, id: Uuid) -> AppResult<AnyRow> {
    sqlx::query("SELECT * FROM demands WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("demand").into())
}

fn check_resident(c: &mut Check, r: &Resident) -> Resident {
    Resident {
        name: c.text("resident.name", &r.name, rules::PERSON_NAME),
        phone: c.phone("resident.phone", &r.phone),
        address: c.text("resident.address", &r.address, rules::ADDRESS),
    }
}

async fn grid_in_street(db: &sqlx::AnyPool, grid: Uuid) -> gongjian_core::Result<Uuid> {
    grid_street(db, grid)
        .await?
        .ok_or_else(|| Error::field("grid_id", "unknown_reference", "no grid has this id"))
}

async fn require_category(db: &sqlx::AnyPool, street: Uuid, category: &str) -> AppResult<()> {
    if category_exists(db, street, category).await? {
        Ok(())
    } else {
        Err(unknown_category(category))
    }
}

fn unknown_category(category: &str) -> AppError {
    Error::field(
        "category",
        "unknown_category",
        format!("{category:?} is not a category of this street"),
    )
    .into()
}

#[utoipa::path(get, path = "/api/v1/demands", tag = "demands", params(ListDemands),
    responses((status = 200, body = Page<Demand>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_demands(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListDemands>,
) -> AppResult<Json<Page<Demand>>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut c = Check::new();
    let from = c.ts("filed_from", q.filed_from.as_deref());
    let to = c.ts("filed_to", q.filed_to.as_deref());
    if !c.errors.is_empty() {
        let e = c.errors.remove(0);
        return Err(Error::BadRequest {
            code: "invalid_query",
            message: e.message,
            field: Some(e.field),
        }
        .into());
    }
    let mut sql = Sql::new("SELECT * FROM demands WHERE 1 = 1");
    if let ListScope::Streets(streets) = caller.member_scope() {
        push_in(&mut sql, "street_id", &streets);
    }
    if let Some(street) = q.street_id {
        sql.push(" AND street_id = ").bind(street.to_string());
    }
    if let Some(grid) = q.grid_id {
        sql.push(" AND grid_id = ").bind(grid.to_string());
    }
    if let Some(status) = q.status {
        sql.push(" AND status = ").bind(status.as_str().to_string());
    }
    if let Some(category) = &q.category {
        sql.push(" AND category = ").bind(category.clone());
    }
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ")
            .bind(channel.as_str().to_string());
    }
    if let Some(urgency) = q.urgency {
        sql.push(" AND urgency = ")
            .bind(urgency.as_str().to_string());
    }
    if let Some(tag) = &q.tag {
        push_json_contains(&mut sql, "tags", tag);
    }
    if let Some(flagged) = q.flagged {
        sql.push(" AND flagged = ").bind(i64::from(flagged));
    }
    if let Some(from) = from {
        sql.push(" AND created_at >= ").bind(from);
    }
    if let Some(to) = to {
        sql.push(" AND created_at < ").bind(to);
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(|r| demand_from_row(r, &caller))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |d| d.id)))
}

/// Files a demand (the street's admins and grid workers).
#[utoipa::path(post, path = "/api/v1/demands", tag = "demands", request_body = CreateDemand,
    responses((status = 201, body = Demand), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_demand(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateDemand>,
) -> AppResult<Created<Demand>> {
    // Reads only: the writes go through the committer.
    let db = state.db.read();
    let mut c = Check::new();
    let category = c.code("category", &body.category, rules::CODE);
    let tags = c.labels("tags", &body.tags);
    let description = c.text("description", &body.description, rules::DESCRIPTION);
    let resident = check_resident(&mut c, &body.resident);
    let start = c.ts("window_start", body.window_start.as_deref());
    let end = c.ts("window_end", body.window_end.as_deref());
    c.window("window_end", &start, &end);
    c.finish()?;
    let street = grid_in_street(db, body.grid_id).await?;
    caller.authorize(Action::Create, Target::Demand { street })?;
    // The street's pool is current as of this read; it knows the street's categories.
    let pool = state.pools.get(db, street).await?;
    if !pool.has_category(&category) {
        return Err(unknown_category(&category));
    }
    let id = Uuid::now_v7();
    let filed = state.now();
    let filed_at = format_ts(filed);
    let urgency = body.urgency.unwrap_or(Urgency::Normal);
    let mut facts = DemandFacts {
        id,
        street,
        grid: body.grid_id,
        category,
        tags,
        urgency,
        window_start: start,
        window_end: end,
        filed_at: filed_at.clone(),
        status: "open".into(),
    };
    // The street's rule may correct what was filed; the decision is kept either way.
    let active = matching::active_version(&state, street).await?;
    let triage = hooks::triage(
        &state,
        active.as_ref(),
        &pool,
        &mut facts,
        Intake {
            channel: body.channel,
            description: &description,
            resident: [&resident.name, &resident.phone, &resident.address],
        },
    )
    .await?;
    // A street may dispatch a category as soon as it is filed: then the demand is ranked
    // before it is written, and the filing and its order commit together.
    let settings = pool.settings(&facts.category);
    let plan = if settings.auto_dispatch {
        match dispatch::plan(&state, &facts, active, Some(pool), settings, None).await {
            Ok(plan) => Some(plan),
            Err(e) => {
                tracing::warn!(demand = %id, error = %e, "automatic dispatch failed; the demand stays open");
                None
            }
        }
    } else {
        None
    };
    // Written through the committer: concurrent filings share one commit.
    let actor = caller.token_id.to_string();
    let triage_json = to_json(&triage);
    let triaged = (triage.rule != "none").then(|| triage.summary());
    let (channel, grid) = (body.channel, body.grid_id);
    // What was written, to answer with, without reading it back.
    let answer = Demand {
        id,
        street_id: street,
        grid_id: grid,
        category: facts.category.clone(),
        tags: facts.tags.clone(),
        urgency: facts.urgency,
        channel,
        description: description.clone(),
        resident: resident.clone(),
        resident_masked: false,
        window_start: facts.window_start.clone(),
        window_end: facts.window_end.clone(),
        status: DemandStatus::Open,
        flagged: false,
        triage: Some(triage.clone()),
        created_at: filed_at.clone(),
        updated_at: filed_at.clone(),
    };
    // Filed as dispatched when it is about to be: one statement fewer.
    let status = match &plan {
        Some(p) if !p.matched.ranked.is_empty() => DemandStatus::Dispatched,
        _ => DemandStatus::Open,
    };
    state
        .db
        .transact(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO demands (id, street_id, grid_id, category, tags, urgency, channel, description, \
                     resident_name, resident_phone, resident_address, window_start, window_end, status, filed_by, \
                     triage, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)",
                )
                .bind(id.to_string())
                .bind(street.to_string())
                .bind(grid.to_string())
                .bind(facts.category.clone())
                .bind(to_json(&facts.tags))
                .bind(facts.urgency.as_str())
                .bind(channel.as_str())
                .bind(description)
                .bind(resident.name)
                .bind(resident.phone)
                .bind(resident.address)
                .bind(facts.window_start.clone())
                .bind(facts.window_end.clone())
                .bind(status.as_str())
                .bind(actor.clone())
                .bind(triage_json)
                .bind(filed_at.clone())
                .execute(&mut **tx)
                .await?;
                let via = format!("via {}", channel.as_str());
                let mut events = vec![("demand", id, actor.as_str(), "filed", Some(via.as_str()))];
                if let Some(note) = &triaged {
                    events.push(("demand", id, "system", "triaged", Some(note.as_str())));
                }
                record_events(tx, &filed_at, &events).await?;
                if let Some(plan) = &plan {
                    dispatch::write(tx, filed, &facts, plan, "system", false).await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(Created(
        format!("/api/v1/demands/{id}"),
        shown_to(Demand { status, ..answer }, &caller),
    ))
}

#[utoipa::path(get, path = "/api/v1/demands/{id}", tag = "demands",
    params(("id" = Uuid, Path, description = "demand id")),
    responses((status = 200, body = Demand), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_demand(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Demand>> {
    let id = path_id("id", &id)?;
    let row = fetch_row(state.db.read(), id).await?;
    let street = get_uuid(&row, "street_id")?;
    caller.authorize(Action::Read, Target::Demand { street })?;
    Ok(Json(demand_from_row(&row, &caller)?))
}

/// Edits a demand (the street's admins and grid workers). `status` moves it by hand:
/// `cancelled` withdraws an open or dispatched demand — a dispatched one's order is cancelled
/// with it and its open offers withdrawn, so nobody can accept it any more; a demand whose
/// order was accepted is cancelled by cancelling that order first (409 `invalid_transition`).
/// `open` reopens a cancelled one. The edit is decided from the demand as it stands when the
/// edit is written, so it never undoes a dispatch, an accept or a completion made meanwhile.
#[utoipa::path(patch, path = "/api/v1/demands/{id}", tag = "demands", request_body = UpdateDemand,
    params(("id" = Uuid, Path, description = "demand id")),
    responses((status = 200, body = Demand), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_demand(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateDemand>,
) -> AppResult<Json<Demand>> {
    let id = path_id("id", &id)?;
    // Access and the references the edit names are checked first; a demand never changes
    // street.
    let street = get_uuid(&fetch_row(state.db.read(), id).await?, "street_id")?;
    caller.authorize(Action::Update, Target::Demand { street })?;
    let mut c = Check::new();
    let category = body
        .category
        .as_deref()
        .map(|v| c.code("category", v, rules::CODE));
    let tags = body.tags.as_deref().map(|v| c.labels("tags", v));
    let description = body
        .description
        .as_deref()
        .map(|v| c.text("description", v, rules::DESCRIPTION));
    let resident = body.resident.as_ref().map(|r| check_resident(&mut c, r));
    let start = body
        .window_start
        .as_ref()
        .map(|v| c.ts("window_start", v.as_deref()));
    let end = body
        .window_end
        .as_ref()
        .map(|v| c.ts("window_end", v.as_deref()));
    c.finish()?;
    if let Some(grid) = body.grid_id {
        if grid_in_street(state.db.read(), grid).await? != street {
            return Err(Error::field(
                "grid_id",
                "other_street",
                "the grid must be in the demand's street",
            )
            .into());
        }
    }
    if let Some(category) = &category {
        require_category(state.db.read(), street, category).await?;
    }
    let now = state.now_ts();
    let actor = caller.token_id.to_string();
    let mut tx = state.db.write().begin().await?;
    // The demand as it stands, locked until the edit commits.
    let row = sqlx::query(&format!(
        "SELECT * FROM demands WHERE id = $1{}",
        for_update(&tx)
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("demand"))?;
    let start = match start {
        Some(v) => v,
        None => row.try_get("window_start")?,
    };
    let end = match end {
        Some(v) => v,
        None => row.try_get("window_end")?,
    };
    let mut c = Check::new();
    c.window("window_end", &start, &end);
    c.finish()?;
    let current = DemandStatus::from_db(&row.try_get::<String, _>("status")?)?;
    let status = match body.status {
        None => current,
        Some(next) if next == current => current,
        Some(DemandStatus::Cancelled)
            if matches!(current, DemandStatus::Open | DemandStatus::Dispatched) =>
        {
            DemandStatus::Cancelled
        }
        Some(DemandStatus::Open) if current == DemandStatus::Cancelled => DemandStatus::Open,
        Some(next) => {
            let hint = if current == DemandStatus::InProgress {
                "; cancel its order first"
            } else {
                ""
            };
            return Err(Error::Conflict {
                code: "invalid_transition",
                message: format!("a demand cannot go from {current} to {next} by an edit{hint}"),
                field: Some("status".into()),
            }
            .into());
        }
    };
    // Its order goes with it: offered (or out of candidates), never yet accepted.
    const WITH_THE_DEMAND: &str = "the demand was cancelled";
    let mut cancelled = Vec::new();
    if (current, status) == (DemandStatus::Dispatched, DemandStatus::Cancelled) {
        let live = sqlx::query(
            "SELECT id, status FROM service_orders WHERE demand_id = $1 \
             AND status IN ('offered', 'accepted', 'in_progress', 'unassigned')",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        for order in &live {
            let order_id = get_uuid(order, "id")?;
            let from = [OrderStatus::Offered, OrderStatus::Unassigned];
            if !cancel_order_row(&mut tx, &now, order_id, &from, Some(WITH_THE_DEMAND)).await? {
                return Err(Error::Conflict {
                    code: "invalid_transition",
                    message: format!(
                        "the demand's order {order_id} is {}; cancel the order first",
                        order.try_get::<String, _>("status")?
                    ),
                    field: Some("status".into()),
                }
                .into());
            }
            cancelled.push(order_id);
        }
    }
    let category = match category {
        Some(v) => v,
        None => row.try_get("category")?,
    };
    let tags = match tags {
        Some(v) => v,
        None => get_json(&row, "tags")?,
    };
    let description = match description {
        Some(v) => v,
        None => row.try_get("description")?,
    };
    let resident = match resident {
        Some(r) => r,
        None => Resident {
            name: row.try_get("resident_name")?,
            phone: row.try_get("resident_phone")?,
            address: row.try_get("resident_address")?,
        },
    };
    let grid = match body.grid_id {
        Some(g) => g,
        None => get_uuid(&row, "grid_id")?,
    };
    let urgency = match body.urgency {
        Some(u) => u.as_str().to_string(),
        None => row.try_get::<String, _>("urgency")?,
    };
    let updated = sqlx::query(
        "UPDATE demands SET grid_id = $1, category = $2, tags = $3, urgency = $4, description = $5, \
         resident_name = $6, resident_phone = $7, resident_address = $8, window_start = $9, window_end = $10, \
         status = $11, updated_at = $12 WHERE id = $13 AND status = $14",
    )
    .bind(grid.to_string())
    .bind(category)
    .bind(to_json(&tags))
    .bind(urgency)
    .bind(description)
    .bind(resident.name)
    .bind(resident.phone)
    .bind(resident.address)
    .bind(start)
    .bind(end)
    .bind(status.as_str())
    .bind(now.clone())
    .bind(id.to_string())
    .bind(current.as_str())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::conflict(
            "demand_changed",
            "the demand changed meanwhile; read it and edit it again",
        )
        .into());
    }
    let action = match (current, status) {
        (a, b) if a == b => "edited",
        (_, DemandStatus::Cancelled) => "cancelled",
        _ => "reopened",
    };
    let mut events: Vec<NewEvent<'_>> = cancelled
        .iter()
        .map(|order| {
            (
                "order",
                *order,
                actor.as_str(),
                "cancelled",
                Some(WITH_THE_DEMAND),
            )
        })
        .collect();
    events.push(("demand", id, actor.as_str(), action, None));
    record_events(&mut tx, &now, &events).await?;
    let row = sqlx::query("SELECT * FROM demands WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
    let answer = demand_from_row(&row, &caller)?;
    tx.commit().await?;
    Ok(Json(answer))
}
