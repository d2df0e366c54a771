//! The demand list (需求清单) after filing: listing demands in the caller's scope, reading one,
//! and editing one (including cancelling and reopening it). Filing is [`super::intake`].

use uuid::Uuid;

use super::{intake, Core};
use crate::{
    domain::{
        access::{Action, Principal, Target},
        demand::{check_resident, shown_to, Demand, ListDemands, UpdateDemand},
        rules, Check, DemandStatus, OrderStatus,
    },
    store::{
        demands::{self, Filter},
        events::Stamp,
        orders::{self, DemandAfter},
        page::{Page, PageRequest},
        streets::{category_exists, street_of_grid},
    },
    Error, Result,
};

async fn require_category(db: &sqlx::AnyPool, street: Uuid, category: &str) -> Result<()> {
    if category_exists(db, street, category).await? {
        Ok(())
    } else {
        Err(intake::unknown_category(category))
    }
}

/// The demands the caller may see, filtered and paged.
pub async fn list(core: &Core, caller: &Principal, q: ListDemands) -> Result<Page<Demand>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?.ordered(q.order);
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
    let filter = Filter {
        street: q.street_id,
        grid: q.grid_id,
        status: q.status,
        category: q.category.as_deref(),
        channel: q.channel,
        urgency: q.urgency,
        tag: q.tag.as_deref(),
        flagged: q.flagged,
        filed_from: from,
        filed_to: to,
    };
    let page = demands::list(core.db.read(), caller.member_scope(), filter, &page).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|d| shown_to(d, caller))
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// A demand as the caller may see it.
pub async fn get(core: &Core, caller: &Principal, id: Uuid) -> Result<Demand> {
    let demand = demands::get(core.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Demand {
            street: demand.street_id,
        },
    )?;
    Ok(shown_to(demand, caller))
}

/// The status an edit moves a demand to: `cancelled` from open or dispatched, `open` from
/// cancelled.
fn next_status(current: DemandStatus, asked: Option<DemandStatus>) -> Result<DemandStatus> {
    match asked {
        None => Ok(current),
        Some(next) if next == current => Ok(current),
        Some(DemandStatus::Cancelled)
            if matches!(current, DemandStatus::Open | DemandStatus::Dispatched) =>
        {
            Ok(DemandStatus::Cancelled)
        }
        Some(DemandStatus::Open) if current == DemandStatus::Cancelled => Ok(DemandStatus::Open),
        Some(next) => {
            let hint = if current == DemandStatus::InProgress {
                "; cancel its order first"
            } else {
                ""
            };
            Err(Error::Conflict {
                code: "invalid_transition",
                message: format!("a demand cannot go from {current} to {next} by an edit{hint}"),
                field: Some("status".into()),
            })
        }
    }
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
    let street = demands::get(core.db.read(), id).await?.street_id;
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
    let demand = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                // The demand as it stands, locked until the edit commits.
                let cur = demands::lock(tx, id).await?;
                let window_start = start.unwrap_or(cur.window_start.clone());
                let window_end = end.unwrap_or(cur.window_end.clone());
                let mut c = Check::new();
                c.window("window_end", &window_start, &window_end);
                c.finish()?;
                let was = cur.status;
                let status = next_status(was, body.status)?;
                // Its order goes with it: offered (or out of candidates), never yet accepted.
                if (was, status) == (DemandStatus::Dispatched, DemandStatus::Cancelled) {
                    let by = Stamp {
                        actor: &actor,
                        at: &now,
                    };
                    let from = [OrderStatus::Offered, OrderStatus::Unassigned];
                    for (order, order_status) in demands::live_orders(tx, id).await? {
                        let why = "the demand was cancelled";
                        let cancelled =
                            orders::cancel(tx, by, order, &from, why, DemandAfter::Unchanged)
                                .await?
                                .ok_or_else(|| Error::Conflict {
                                    code: "invalid_transition",
                                    message: format!(
                                        "the demand's order {order} is {order_status}; cancel the order first"
                                    ),
                                    field: Some("status".into()),
                                })?;
                        // Nobody holds an offered or unassigned order: nothing to settle.
                        cancelled.settle(tx).await?;
                    }
                }
                let before = cur.clone();
                let edited = Demand {
                    grid_id: body.grid_id.unwrap_or(cur.grid_id),
                    category: category.unwrap_or(cur.category),
                    tags: tags.unwrap_or(cur.tags),
                    urgency: body.urgency.unwrap_or(cur.urgency),
                    description: description.unwrap_or(cur.description),
                    resident: resident.unwrap_or(cur.resident),
                    window_start,
                    window_end,
                    status,
                    updated_at: now.clone(),
                    ..cur
                };
                demands::update(tx, &actor, &edited, &before).await?;
                Ok(edited)
            })
        })
        .await?;
    Ok(shown_to(demand, caller))
}
