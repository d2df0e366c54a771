//! Service orders (点单式派单): a demand is dispatched to the candidates its street's rule ranks
//! best; they are offered the order; the first to accept wins; the assignee starts and
//! completes it. Every change is an event.

use std::collections::HashMap;

use gongjian_plugin_sdk::PointsRequest;
use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use super::{dispatch, hooks, Core};
use crate::{
    domain::{
        access::{Action, ListScope, Principal, Role, Target},
        demand::Resident,
        format_ts, mask_address, mask_name, mask_phone,
        matching::RuleUsed,
        order::{
            CompleteRequest, DispatchRequest, Event, ListEvents, ListOrders, Offer, Order,
            ReasonRequest,
        },
        rules, unix_seconds, CandidateKind, Check, OfferStatus, OrderStatus, RuleKind, Urgency,
    },
    store::{
        counters,
        events::{record_event, record_events},
        for_update,
        orders::{cancel_order_row, lock_demand_of},
        page::{Page, PageRequest},
        rows::{get_enum, get_json, get_opt_enum, get_opt_uuid, get_uuid, push_in},
        Sql, Tx,
    },
    Error, Result,
};

/// Locks an order and its demand, as [`lock_order`], and reads the order for `caller`
/// through the transaction: what a change is decided from.
async fn load_for_change(tx: &mut Tx<'_>, caller: &Principal, id: Uuid) -> Result<Loaded> {
    lock_demand_of(tx, id).await?;
    // The order is locked by the read itself (and only the order, not the joined rows).
    let lock = match for_update(tx) {
        "" => String::new(),
        clause => format!("{clause} OF o"),
    };
    load_with(tx, caller, id, &lock).await
}

/// The candidates a caller can act as: a volunteer, and the resources it or its unit owns.
async fn identities(conn: &mut AnyConnection, caller: &Principal) -> Result<Vec<Uuid>> {
    let (column, owner) = match &caller.role {
        Role::Volunteer { volunteer, .. } => ("owner_volunteer_id", *volunteer),
        Role::Unit { unit, .. } => ("owner_unit_id", *unit),
        _ => return Ok(vec![]),
    };
    let rows = sqlx::query(&format!("SELECT id FROM resources WHERE {column} = $1"))
        .bind(owner.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let mut ids: Vec<Uuid> = rows
        .iter()
        .map(|r| get_uuid(r, "id"))
        .collect::<crate::Result<_>>()?;
    if let Role::Volunteer { volunteer, .. } = &caller.role {
        ids.push(*volunteer);
    }
    Ok(ids)
}

/// The caller's offer on an order.
#[derive(Debug, Clone)]
struct MyOffer {
    id: Uuid,
    kind: CandidateKind,
    candidate: Uuid,
    status: OfferStatus,
}

struct Loaded {
    row: AnyRow,
    street: Uuid,
    demand: Uuid,
    status: OrderStatus,
    assignee: Option<Uuid>,
    offer: Option<MyOffer>,
    is_assignee: bool,
}

impl Loaded {
    /// Recomputes the assignee's record in the candidate pool, if the order has one.
    async fn touch_assignee_load(&self, tx: &mut Tx<'_>) -> Result<()> {
        let kind = get_opt_enum(&self.row, "assignee_kind", CandidateKind::from_db)?;
        if let (Some(kind), Some(assignee)) = (kind, self.assignee) {
            counters::touch_load(tx, self.street, kind, assignee).await?;
        }
        Ok(())
    }

    /// What the points of completing the order are worked out from: when it was accepted,
    /// its deadline and its escalations.
    fn points_inputs(&self) -> Result<(Option<String>, Option<String>, i64)> {
        Ok((
            self.row.try_get("accepted_at")?,
            self.row.try_get("complete_deadline")?,
            self.row.try_get("escalations")?,
        ))
    }
}

/// The columns an order is read with: the order, what its demand asks for, and the number of
/// the plugin version that ranked it.
const ORDER_COLUMNS: &str =
    "SELECT o.*, d.category, d.urgency AS demand_urgency, d.description, d.grid_id, \
     d.window_start, d.window_end, d.resident_name, d.created_at AS demand_created_at, \
     d.resident_phone, d.resident_address, pv.number AS plugin_version_number \
     FROM service_orders o JOIN demands d ON d.id = o.demand_id \
     LEFT JOIN plugin_versions pv ON pv.id = o.plugin_version_id";

/// Reads an order for `caller`, through `conn`: a pooled connection for a read, or the
/// transaction of a change.
async fn load(conn: &mut AnyConnection, caller: &Principal, id: Uuid) -> Result<Loaded> {
    load_with(conn, caller, id, "").await
}

/// [`load`], with `lock` appended to the read of the order.
async fn load_with(
    conn: &mut AnyConnection,
    caller: &Principal,
    id: Uuid,
    lock: &str,
) -> Result<Loaded> {
    let row = sqlx::query(&format!("{ORDER_COLUMNS} WHERE o.id = $1{lock}"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("order"))?;
    let mine = identities(conn, caller).await?;
    let mut offers = caller_offers(conn, &[id], &mine).await?;
    loaded(caller, row, &mine, offers.remove(&id))
}

/// The first offer (by rank) of each of `orders` made to one of `mine`, in one query.
async fn caller_offers(
    conn: &mut AnyConnection,
    orders: &[Uuid],
    mine: &[Uuid],
) -> Result<HashMap<Uuid, MyOffer>> {
    let mut out = HashMap::new();
    if mine.is_empty() || orders.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new(
        "SELECT id, order_id, candidate_kind, candidate_id, status FROM order_offers WHERE 1 = 1",
    );
    push_in(&mut sql, "order_id", orders);
    push_in(&mut sql, "candidate_id", mine);
    sql.push(" ORDER BY order_id, rank");
    for r in sql.fetch_all(&mut *conn).await? {
        out.entry(get_uuid(&r, "order_id")?).or_insert(MyOffer {
            id: get_uuid(&r, "id")?,
            kind: get_enum(&r, "candidate_kind", CandidateKind::from_db)?,
            candidate: get_uuid(&r, "candidate_id")?,
            status: get_enum(&r, "status", OfferStatus::from_db)?,
        });
    }
    Ok(out)
}

/// An order read for `caller`, given the caller's identities and offer on it; refused
/// unless the caller may see it.
fn loaded(
    caller: &Principal,
    row: AnyRow,
    mine: &[Uuid],
    offer: Option<MyOffer>,
) -> Result<Loaded> {
    let street = get_uuid(&row, "street_id")?;
    let demand = get_uuid(&row, "demand_id")?;
    let status = OrderStatus::from_db(&row.try_get::<String, _>("status")?)?;
    let assignee = get_opt_uuid(&row, "assignee_id")?;
    let is_assignee = assignee.is_some_and(|a| mine.contains(&a));
    caller.authorize(
        Action::Read,
        Target::Order {
            street,
            party: offer.is_some() || is_assignee,
        },
    )?;
    Ok(Loaded {
        row,
        street,
        demand,
        status,
        assignee,
        offer,
        is_assignee,
    })
}

/// Every offer of each of `orders`, by rank, in one query.
async fn all_offers(
    conn: &mut AnyConnection,
    orders: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Offer>>> {
    let mut out: HashMap<Uuid, Vec<Offer>> = HashMap::new();
    if orders.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new("SELECT * FROM order_offers WHERE 1 = 1");
    push_in(&mut sql, "order_id", orders);
    sql.push(" ORDER BY order_id, rank");
    for r in sql.fetch_all(&mut *conn).await? {
        out.entry(get_uuid(&r, "order_id")?)
            .or_default()
            .push(Offer {
                candidate_kind: get_enum(&r, "candidate_kind", CandidateKind::from_db)?,
                candidate_id: get_uuid(&r, "candidate_id")?,
                rank: r.try_get("rank")?,
                status: get_enum(&r, "status", OfferStatus::from_db)?,
                reason: r.try_get("reason")?,
                offered_at: r.try_get("offered_at")?,
                responded_at: r.try_get("responded_at")?,
            });
    }
    Ok(out)
}

/// The order as `caller` sees it; `offers` are its offers when the caller sees the ranking.
fn order_view(caller: &Principal, l: &Loaded, offers: Option<Vec<Offer>>) -> Result<Order> {
    let row = &l.row;
    let id = get_uuid(row, "id")?;
    let staff = caller.sees_ranking(l.street);
    let resident = Resident {
        name: row.try_get("resident_name")?,
        phone: row.try_get("resident_phone")?,
        address: row.try_get("resident_address")?,
    };
    let carrying_out =
        l.is_assignee && matches!(l.status, OrderStatus::Accepted | OrderStatus::InProgress);
    let resident = if caller.sees_order_resident(l.street, carrying_out) {
        resident
    } else {
        Resident {
            name: mask_name(&resident.name),
            phone: mask_phone(&resident.phone),
            address: mask_address(&resident.address),
        }
    };
    Ok(Order {
        id,
        demand_id: l.demand,
        street_id: l.street,
        status: l.status,
        rule: RuleUsed {
            kind: get_enum(row, "rule_kind", RuleKind::from_db)?,
            version_id: get_opt_uuid(row, "plugin_version_id")?,
            version_number: row.try_get("plugin_version_number")?,
            content_hash: row.try_get("content_hash")?,
        },
        ranking: if staff {
            Some(get_json(row, "ranking")?)
        } else {
            None
        },
        offers: if staff {
            Some(offers.unwrap_or_default())
        } else {
            None
        },
        assignee_kind: get_opt_enum(row, "assignee_kind", CandidateKind::from_db)?,
        assignee_id: l.assignee,
        category: row.try_get("category")?,
        description: row.try_get("description")?,
        grid_id: get_uuid(row, "grid_id")?,
        window_start: row.try_get("window_start")?,
        window_end: row.try_get("window_end")?,
        resident,
        accepted_at: row.try_get("accepted_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        service_minutes: row.try_get("service_minutes")?,
        completion_note: row.try_get("completion_note")?,
        points: row.try_get("points")?,
        points_rule: row.try_get("points_rule")?,
        points_reason: row.try_get("points_reason")?,
        rating: row.try_get("rating")?,
        rating_comment: row.try_get("rating_comment")?,
        rated_at: row.try_get("rated_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The order as the caller sees it now, read through `conn`. A change answers with what its
/// own transaction reads before it commits, so a committed change never waits for another
/// connection to answer.
async fn answer(conn: &mut AnyConnection, caller: &Principal, id: Uuid) -> Result<Order> {
    let l = load(conn, caller, id).await?;
    let mut offers = if caller.sees_ranking(l.street) {
        all_offers(conn, &[id]).await?
    } else {
        HashMap::new()
    };
    order_view(caller, &l, offers.remove(&id))
}

/// Dispatches an open demand: ranks its candidates with the street's rule and offers the
/// order to the best of them. A demand whose order ran out of candidates (`unassigned`) is
/// dispatched again the same way, its old order cancelled; those who declined it are not
/// offered it again. A demand edited, cancelled or dispatched while it was being ranked is
/// not dispatched (409 `demand_changed` or `not_open`).
pub async fn dispatch(
    core: &Core,
    caller: &Principal,
    demand: Uuid,
    body: DispatchRequest,
) -> Result<Order> {
    let row = sqlx::query("SELECT street_id FROM demands WHERE id = $1")
        .bind(demand.to_string())
        .fetch_optional(core.db.read())
        .await?
        .ok_or(Error::NotFound("demand"))?;
    let street = get_uuid(&row, "street_id")?;
    caller.authorize(Action::Update, Target::Demand { street })?;
    let mut c = Check::new();
    if let Some(n) = body.offer_count {
        c.range_i64("offer_count", n, rules::OFFER_COUNT);
    }
    c.finish()?;
    // Ranked first, with no connection held while the rule runs; then written if the demand
    // is still as it was ranked.
    let ranked = dispatch::rank(core, demand, body.offer_count).await?;
    let actor = caller.token_id.to_string();
    let (caller, now) = (caller.clone(), core.now());
    let order = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                match dispatch::commit_dispatch(tx, now, ranked, &actor).await? {
                    dispatch::Dispatched::Order(id) => answer(tx, &caller, id).await.map(Some),
                    // The escalation is kept: it commits with nothing else.
                    dispatch::Dispatched::NoCandidates => Ok(None),
                }
            })
        })
        .await?;
    order.ok_or_else(|| {
        Error::conflict(
            "no_candidates",
            "no volunteer or resource of the street can take this demand now; the case was escalated",
        )
    })
}

pub async fn list(core: &Core, caller: &Principal, q: ListOrders) -> Result<Page<Order>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut conn = core.db.read().acquire().await?;
    let mine = identities(&mut conn, caller).await?;
    let mut sql = Sql::new(format!("{ORDER_COLUMNS} WHERE 1 = 1"));
    match caller.staff_scope() {
        Some(ListScope::All) => {}
        Some(ListScope::Streets(streets)) => push_in(&mut sql, "o.street_id", &streets),
        None => {
            // Volunteers and units see the orders offered to them or assigned to them.
            sql.push(" AND (EXISTS (SELECT 1 FROM order_offers f WHERE f.order_id = o.id");
            push_in(&mut sql, "f.candidate_id", &mine);
            sql.push(")");
            if mine.is_empty() {
                sql.push(")");
            } else {
                sql.push(" OR (1 = 1");
                push_in(&mut sql, "o.assignee_id", &mine);
                sql.push("))");
            }
        }
    }
    if let Some(s) = q.street_id {
        sql.push(" AND o.street_id = ").bind(s.to_string());
    }
    if let Some(d) = q.demand_id {
        sql.push(" AND o.demand_id = ").bind(d.to_string());
    }
    if let Some(s) = q.status {
        sql.push(" AND o.status = ").bind(s.as_str().to_string());
    }
    page.apply(&mut sql, "o.id");
    // A page is read in at most four queries, whatever its size: the caller's identities,
    // the orders, the caller's offers on them, and, for those who see rankings, every offer.
    let rows = sql.fetch_all(&mut *conn).await?;
    let ids = rows
        .iter()
        .map(|r| get_uuid(r, "id"))
        .collect::<Result<Vec<_>>>()?;
    let mut my_offers = caller_offers(&mut conn, &ids, &mine).await?;
    let mut items = Vec::with_capacity(rows.len());
    for (row, id) in rows.into_iter().zip(&ids) {
        items.push(loaded(caller, row, &mine, my_offers.remove(id))?);
    }
    let ranked: Vec<Uuid> = items
        .iter()
        .filter(|l| caller.sees_ranking(l.street))
        .map(|l| get_uuid(&l.row, "id"))
        .collect::<Result<_>>()?;
    let mut offers = all_offers(&mut conn, &ranked).await?;
    let items = items
        .iter()
        .zip(&ids)
        .map(|(l, id)| order_view(caller, l, offers.remove(id)))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |o| o.id))
}

pub async fn get(core: &Core, caller: &Principal, id: Uuid) -> Result<Order> {
    let mut conn = core.db.read().acquire().await?;
    answer(&mut conn, caller, id).await
}

/// Accepts an order offered to the caller, while the offer is open and its deadline has not
/// passed (409 `not_offered`, `offer_expired`). When several accept at once, exactly one wins;
/// the others get 409 `already_taken`. Accepting a resource's order uses one unit of its
/// capacity (409 `no_capacity`); a volunteer holds at most `max_open_orders` accepted or
/// started orders (409 `order_limit`).
pub async fn accept(core: &Core, caller: &Principal, id: Uuid) -> Result<Order> {
    let now = core.now();
    let at = format_ts(now);
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
    let l = load_for_change(&mut *tx, caller, id).await?;
    let Some(offer) = l.offer.clone() else {
        return Err(Error::forbidden("the order was not offered to you"));
    };
    if offer.status != OfferStatus::Open || l.status != OrderStatus::Offered {
        return Err(Error::conflict(
            "not_offered",
            format!(
                "the order is {} and your offer is {}",
                l.status, offer.status
            ),
        ));
    }
    let accept_by: Option<String> = l.row.try_get("accept_deadline")?;
    if let Some(deadline) = accept_by.filter(|d| d.as_str() <= at.as_str()) {
        return Err(Error::conflict(
            "offer_expired",
            format!("the offer expired at {deadline}; it goes to the next candidates"),
        ));
    }
    let category: String = l.row.try_get("category")?;
    let settings = crate::store::settings::settings_for(&mut **tx, l.street, &category).await?;
    let window_end: Option<String> = l.row.try_get("window_end")?;
    let filed: String = l.row.try_get("demand_created_at")?;
    let complete_by = dispatch::complete_deadline(&settings, now, window_end.as_deref(), &filed);
    let won = sqlx::query(
        "UPDATE service_orders SET status = 'accepted', assignee_kind = $1, assignee_id = $2, accepted_at = $3, updated_at = $3, \
         accept_deadline = NULL, complete_deadline = $5 WHERE id = $4 AND status = 'offered' AND assignee_id IS NULL",
    )
    .bind(offer.kind.as_str())
    .bind(offer.candidate.to_string())
    .bind(at.clone())
    .bind(id.to_string())
    .bind(format_ts(complete_by))
    .execute(&mut **tx)
    .await?;
    if won.rows_affected() == 0 {
        return Err(Error::conflict(
            "already_taken",
            "someone else accepted the order first",
        ));
    }
    let taken = sqlx::query(
        "UPDATE order_offers SET status = 'accepted', responded_at = $1 WHERE id = $2 AND status = 'open'",
    )
    .bind(at.clone())
    .bind(offer.id.to_string())
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_offered",
            "your offer is no longer open",
        ));
    }
    sqlx::query("UPDATE order_offers SET status = 'withdrawn', responded_at = $1 WHERE order_id = $2 AND status = 'open'")
        .bind(at.clone())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    let demand = l.demand;
    let started = sqlx::query(
        "UPDATE demands SET status = 'in_progress', updated_at = $1 WHERE id = $2 AND status = 'dispatched'",
    )
    .bind(at.clone())
    .bind(demand.to_string())
    .execute(&mut **tx)
    .await?;
    if started.rows_affected() == 0 {
        return Err(Error::conflict(
            "demand_changed",
            "the demand is no longer waiting for this order",
        ));
    }
    let actor = caller.token_id.to_string();
    record_events(
        &mut *tx,
        &at,
        &[
            (
                "order",
                id,
                &actor,
                "accepted",
                Some(&format!("{} {}", offer.kind, offer.candidate)),
            ),
            (
                "demand",
                demand,
                &actor,
                "accepted",
                Some(&format!("order {id}")),
            ),
        ],
    )
    .await?;
    // The answer is read before the candidate's row and the street's counters are locked:
    // every accept of the candidate waits for the one, every order change in the street for
    // the other, so they are taken last and held least.
    let order = answer(&mut *tx, caller, id).await?;
    if offer.kind == CandidateKind::Resource {
        let used = sqlx::query("UPDATE resources SET capacity_left = capacity_left - 1, updated_at = $1 WHERE id = $2 AND capacity_left > 0")
            .bind(at.clone())
            .bind(offer.candidate.to_string())
            .execute(&mut **tx)
            .await?;
        if used.rows_affected() == 0 {
            return Err(Error::conflict(
                "no_capacity",
                "the resource has no capacity left",
            ));
        }
    } else {
        // The limit is counted under the volunteer's lock: two accepts of different orders
        // by one volunteer take turns here, and the second counts the first.
        let lock = for_update(tx);
        let limit = sqlx::query(&format!(
            "SELECT max_open_orders FROM volunteers WHERE id = $1{lock}"
        ))
        .bind(offer.candidate.to_string())
        .fetch_one(&mut **tx)
        .await?
        .try_get::<i64, _>("max_open_orders")?;
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM service_orders WHERE assignee_id = $1 \
             AND status IN ('accepted', 'in_progress')",
        )
        .bind(offer.candidate.to_string())
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
        if open > limit {
            return Err(Error::conflict(
                "order_limit",
                "you hold as many open orders as you may",
            ));
        }
    }
    counters::touch_load(&mut *tx, l.street, offer.kind, offer.candidate).await?;
    Ok(order)
            })
        })
        .await
}

/// Declines an offered order, with a reason. When every open offer is declined, the next
/// candidates of the ranking are offered it; when the ranking runs out, it is unassigned.
pub async fn decline(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ReasonRequest,
) -> Result<Order> {
    let mut c = Check::new();
    let reason = c.text("reason", &body.reason, rules::REASON);
    c.finish()?;
    let now = core.now();
    let at = format_ts(now);
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
    let l = load_for_change(&mut *tx, caller, id).await?;
    let Some(offer) = l.offer.clone() else {
        return Err(Error::forbidden("the order was not offered to you"));
    };
    if offer.status != OfferStatus::Open {
        return Err(Error::conflict(
            "not_offered",
            format!("your offer is {}", offer.status),
        ));
    }
    let closed = sqlx::query("UPDATE order_offers SET status = 'declined', reason = $1, responded_at = $2 WHERE id = $3 AND status = 'open'")
        .bind(reason.clone())
        .bind(at.clone())
        .bind(offer.id.to_string())
        .execute(&mut **tx)
        .await?;
    if closed.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_offered",
            "your offer is no longer open",
        ));
    }
    let actor = caller.token_id.to_string();
    record_event(&mut *tx, &at, "order", id, &actor, "declined", Some(&reason)).await?;
    let open: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM order_offers WHERE order_id = $1 AND status = 'open'",
    )
    .bind(id.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?;
    if open == 0 && l.status == OrderStatus::Offered {
        dispatch::offer_onward(&mut *tx, now, id, "every open offer was declined").await?;
    }
    let order = answer(&mut *tx, caller, id).await?;
    Ok(order)
            })
        })
        .await
}

/// Checks that the caller is the order's assignee and the order is in `from`.
fn assignee_at(l: Loaded, from: OrderStatus) -> Result<Loaded> {
    if !l.is_assignee {
        return Err(Error::forbidden("only the order's assignee may do that"));
    }
    if l.status != from {
        return Err(Error::conflict(
            "invalid_transition",
            format!("the order is {}, not {from}", l.status),
        ));
    }
    Ok(l)
}

/// Starts an accepted order (the assignee).
pub async fn start(core: &Core, caller: &Principal, id: Uuid) -> Result<Order> {
    let at = core.now_ts();
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
    assignee_at(
        load_for_change(&mut *tx, caller, id).await?,
        OrderStatus::Accepted,
    )?;
    let moved = sqlx::query("UPDATE service_orders SET status = 'in_progress', started_at = $1, updated_at = $1 WHERE id = $2 AND status = 'accepted'")
        .bind(at.clone())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    if moved.rows_affected() == 0 {
        return Err(Error::conflict(
            "invalid_transition",
            "the order changed meanwhile",
        ));
    }
    record_event(
        &mut *tx,
        &at,
        "order",
        id,
        &caller.token_id.to_string(),
        "started",
        None,
    )
    .await?;
    let order = answer(&mut *tx, caller, id).await?;
    Ok(order)
            })
        })
        .await
}

/// Completes an order in progress (the assignee), recording the service time.
pub async fn complete(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: CompleteRequest,
) -> Result<Order> {
    let mut c = Check::new();
    let minutes = c.range_i64(
        "service_minutes",
        body.service_minutes,
        rules::SERVICE_MINUTES,
    );
    let note = c.opt_text("note", body.note.as_deref(), rules::ORDER_NOTE);
    c.finish()?;
    // The points rule is a plugin call: it runs before the transaction, on the order as read
    // now, and the transaction then checks that the order is still as it was read.
    let read = {
        let mut conn = core.db.read().acquire().await?;
        assignee_at(load(&mut conn, caller, id).await?, OrderStatus::InProgress)?
    };
    let completed = core.now();
    let points = award(core, &read, minutes, completed).await?;
    let at = format_ts(completed);
    let actor = caller.token_id.to_string();
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
    let l = assignee_at(
        load_for_change(&mut *tx, caller, id).await?,
        OrderStatus::InProgress,
    )?;
    if l.points_inputs()? != read.points_inputs()? {
        return Err(Error::conflict(
            "order_changed",
            "the order changed while its points were worked out; complete it again",
        ));
    }
    let moved = sqlx::query(
        "UPDATE service_orders SET status = 'completed', completed_at = $1, updated_at = $1, service_minutes = $2, \
         completion_note = $3, points = $5, points_rule = $6, points_reason = $7, complete_deadline = NULL \
         WHERE id = $4 AND status = 'in_progress'",
    )
    .bind(at.clone())
    .bind(minutes)
    .bind(note.clone())
    .bind(id.to_string())
    .bind(points.points)
    .bind(points.rule.clone())
    .bind(points.reason.clone())
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Err(Error::conflict(
            "invalid_transition",
            "the order changed meanwhile",
        ));
    }
    let demand = l.demand;
    let done_demand = sqlx::query(
        "UPDATE demands SET status = 'completed', updated_at = $1 WHERE id = $2 AND status = 'in_progress'",
    )
    .bind(at.clone())
    .bind(demand.to_string())
    .execute(&mut **tx)
    .await?;
    if done_demand.rows_affected() == 0 {
        return Err(Error::conflict(
            "demand_changed",
            "the demand is no longer in progress with this order",
        ));
    }
    let done = format!(
        "{minutes} minutes; {} points ({}: {})",
        points.points, points.rule, points.reason
    );
    record_events(
        &mut *tx,
        &at,
        &[
            ("order", id, &actor, "completed", Some(&done)),
            (
                "demand",
                demand,
                &actor,
                "completed",
                Some(&format!("order {id}")),
            ),
        ],
    )
    .await?;
    let order = answer(&mut *tx, caller, id).await?;
    l.touch_assignee_load(&mut *tx).await?;
    Ok(order)
            })
        })
        .await
}

/// The points an order completing now earns under the street's rule.
async fn award(
    core: &Core,
    l: &Loaded,
    minutes: i64,
    completed: time::OffsetDateTime,
) -> Result<hooks::Points> {
    let row = &l.row;
    let seconds = |col: &str| -> Result<Option<i64>> {
        Ok(row
            .try_get::<Option<String>, _>(col)?
            .as_deref()
            .and_then(unix_seconds))
    };
    let kind = get_opt_enum(row, "assignee_kind", CandidateKind::from_db)?;
    let street = sqlx::query(
        "SELECT s.code, COALESCE(cl.completed_orders, 0) AS completed FROM streets s \
         LEFT JOIN candidate_loads cl ON cl.street_id = s.id AND cl.candidate_id = $2 WHERE s.id = $1",
    )
    .bind(l.street.to_string())
    .bind(l.assignee.map(|a| a.to_string()).unwrap_or_default())
    .fetch_one(core.db.read())
    .await?;
    let req = PointsRequest {
        street: street.try_get("code")?,
        category: row.try_get("category")?,
        urgency: Urgency::from_db(&row.try_get::<String, _>("demand_urgency")?)?.to_plugin(),
        assignee_kind: kind.unwrap_or(CandidateKind::Volunteer).to_plugin(),
        service_minutes: u32::try_from(minutes).unwrap_or(0),
        filed_at: seconds("demand_created_at")?.unwrap_or(0),
        accepted_at: seconds("accepted_at")?.unwrap_or(0),
        completed_at: completed.unix_timestamp(),
        complete_by: seconds("complete_deadline")?,
        escalations: u32::try_from(row.try_get::<i64, _>("escalations")?).unwrap_or(0),
        completed_before: u32::try_from(street.try_get::<i64, _>("completed")?).unwrap_or(0),
        config: String::new(),
    };
    hooks::award(core, l.street, req).await
}

/// Cancels an order that is not finished (the street's admins). The demand opens again and
/// a resource gets back the capacity the order took.
pub async fn cancel(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ReasonRequest,
) -> Result<Order> {
    let mut c = Check::new();
    let reason = c.text("reason", &body.reason, rules::REASON);
    c.finish()?;
    let at = core.now_ts();
    let actor = caller.token_id.to_string();
    let caller = caller.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let caller = &caller;
    let l = load_for_change(&mut *tx, caller, id).await?;
    caller.authorize(
        Action::Update,
        Target::Order {
            street: l.street,
            party: l.offer.is_some() || l.is_assignee,
        },
    )?;
    if matches!(l.status, OrderStatus::Completed | OrderStatus::Cancelled) {
        return Err(Error::conflict(
            "invalid_transition",
            format!("the order is {}", l.status),
        ));
    }
    if !cancel_order_row(&mut *tx, &at, id, &[l.status], None).await? {
        return Err(Error::conflict(
            "invalid_transition",
            "the order changed meanwhile",
        ));
    }
    let took_capacity = matches!(l.status, OrderStatus::Accepted | OrderStatus::InProgress)
        && get_opt_enum(&l.row, "assignee_kind", CandidateKind::from_db)?
            == Some(CandidateKind::Resource);
    if let (true, Some(resource)) = (took_capacity, l.assignee) {
        sqlx::query("UPDATE resources SET capacity_left = capacity_left + 1, updated_at = $1 WHERE id = $2 AND capacity_left < capacity")
            .bind(at.clone())
            .bind(resource.to_string())
            .execute(&mut **tx)
            .await?;
    }
    let demand = l.demand;
    let reopened = sqlx::query("UPDATE demands SET status = 'open', updated_at = $1 WHERE id = $2 AND status IN ('dispatched', 'in_progress')")
        .bind(at.clone())
        .bind(demand.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected()
        > 0;
    let note = format!("order {id} cancelled: {reason}");
    let mut events = vec![(
        "order",
        id,
        actor.as_str(),
        "cancelled",
        Some(reason.as_str()),
    )];
    if reopened {
        events.push((
            "demand",
            demand,
            actor.as_str(),
            "reopened",
            Some(note.as_str()),
        ));
    }
    record_events(&mut *tx, &at, &events).await?;
    let order = answer(&mut *tx, caller, id).await?;
    l.touch_assignee_load(&mut *tx).await?;
    Ok(order)
            })
        })
        .await
}

async fn events_of(core: &Core, kind: &str, id: Uuid, q: &ListEvents) -> Result<Page<Event>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM events WHERE subject_kind = ");
    sql.bind(kind.to_string())
        .push(" AND subject_id = ")
        .bind(id.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(Event {
                id: get_uuid(r, "id")?,
                subject_kind: r.try_get("subject_kind")?,
                subject_id: get_uuid(r, "subject_id")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                note: r.try_get("note")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |e| e.id))
}

/// Every change to an order: who, when, what, why.
pub async fn order_events(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    q: ListEvents,
) -> Result<Page<Event>> {
    {
        let mut conn = core.db.read().acquire().await?;
        load(&mut conn, caller, id).await?;
    }
    events_of(core, "order", id, &q).await
}

/// Every change to a demand: who, when, what, why.
pub async fn demand_events(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    q: ListEvents,
) -> Result<Page<Event>> {
    let row = sqlx::query("SELECT street_id FROM demands WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(core.db.read())
        .await?
        .ok_or(Error::NotFound("demand"))?;
    caller.authorize(
        Action::Read,
        Target::Demand {
            street: get_uuid(&row, "street_id")?,
        },
    )?;
    events_of(core, "demand", id, &q).await
}
