//! The demand list (需求清单) after filing: listing demands in the caller's scope, reading one,
//! and editing one (including cancelling and reopening it). Filing is [`super::intake`].

use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

use super::{intake, Core};
use crate::{
    domain::{
        access::{Action, ListScope, Principal, Target},
        demand::{check_resident, shown_to, Demand, ListDemands, Resident, UpdateDemand},
        rules, Check, DemandStatus, OrderStatus,
    },
    store::{
        demands,
        events::{record_events, NewEvent},
        for_update,
        orders::cancel_order_row,
        page::{Page, PageRequest},
        rows::{get_json, get_uuid, push_in, push_json_contains, to_json},
        streets::{category_exists, street_of_grid},
        Sql,
    },
    Error, Result,
};

fn demand_from_row(row: &AnyRow, caller: &Principal) -> Result<Demand> {
    Ok(shown_to(demands::from_row(row)?, caller))
}

async fn require_category(db: &sqlx::AnyPool, street: Uuid, category: &str) -> Result<()> {
    if category_exists(db, street, category).await? {
        Ok(())
    } else {
        Err(intake::unknown_category(category))
    }
}

/// The demands the caller may see, filtered and paged.
pub async fn list(core: &Core, caller: &Principal, q: ListDemands) -> Result<Page<Demand>> {
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
        });
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
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows
        .iter()
        .map(|r| demand_from_row(r, caller))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |d| d.id))
}

/// A demand as the caller may see it.
pub async fn get(core: &Core, caller: &Principal, id: Uuid) -> Result<Demand> {
    let row = demands::fetch_row(core.db.read(), id).await?;
    let street = get_uuid(&row, "street_id")?;
    caller.authorize(Action::Read, Target::Demand { street })?;
    demand_from_row(&row, caller)
}

/// Edits a demand (the street's admins and grid workers). `status` moves it by hand:
/// `cancelled` withdraws an open or dispatched demand — a dispatched one's order is cancelled
/// with it and its open offers withdrawn, so nobody can accept it any more; a demand whose
/// order was accepted is cancelled by cancelling that order first (409 `invalid_transition`).
/// `open` reopens a cancelled one. The edit is decided from the demand as it stands when the
/// edit is written, so it never undoes a dispatch, an accept or a completion made meanwhile.
pub async fn update(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateDemand,
) -> Result<Demand> {
    // Access and the references the edit names are checked first; a demand never changes
    // street.
    let street = get_uuid(&demands::fetch_row(core.db.read(), id).await?, "street_id")?;
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
        if street_of_grid(core.db.read(), grid, "grid_id").await? != street {
            return Err(Error::field(
                "grid_id",
                "other_street",
                "the grid must be in the demand's street",
            ));
        }
    }
    if let Some(category) = &category {
        require_category(core.db.read(), street, category).await?;
    }
    let now = core.now_ts();
    let actor = caller.token_id.to_string();
    let mut tx = core.db.write().begin().await?;
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
            });
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
                });
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
        ));
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
    let answer = demand_from_row(&row, caller)?;
    tx.commit().await?;
    Ok(answer)
}
