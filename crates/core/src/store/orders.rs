//! Service orders as rows: the locks every change takes, and the row changes more than one
//! operation makes.

use std::collections::{HashMap, HashSet};

use sqlx::{any::AnyRow, AnyConnection, AnyPool, Row};
use uuid::Uuid;

use super::{
    counters,
    events::record_event,
    for_update, lock_row,
    page::PageRequest,
    rows::{get_enum, get_json, get_opt_enum, get_opt_uuid, get_uuid, push_in, to_json},
    Sql, Tx,
};
use crate::{
    domain::{
        access::ListScope,
        demand::Resident,
        matching::{RankedCandidate, RuleUsed},
        order::{ListOrders, Offer, Order},
        CandidateKind, OfferStatus, OrderStatus, RuleKind, Urgency,
    },
    Error, Result,
};

/// Locks an order and its demand for a change, the demand first. Every transaction that
/// changes a demand and its orders takes them in that order — demand, order, offers, then the
/// candidate's row, then the street's counters — so no two of them ever wait on each other.
/// What the transaction then reads of them holds until it commits.
pub async fn lock_order(tx: &mut Tx<'_>, id: Uuid) -> Result<()> {
    lock_demand_of(tx, id).await?;
    lock_row(tx, "service_orders", id).await?;
    Ok(())
}

/// Locks the demand of an order (see [`lock_order`]).
pub async fn lock_demand_of(tx: &mut Tx<'_>, order: Uuid) -> Result<()> {
    let lock = for_update(tx);
    if !lock.is_empty() {
        sqlx::query(&format!(
            "SELECT id FROM demands WHERE id = (SELECT demand_id FROM service_orders WHERE id = $1){lock}"
        ))
        .bind(order.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Cancels order `id` if it is in one of `from`, at `at`: its deadlines are cleared and its
/// open offers withdrawn (with `why`, if given). False when the order was in none of `from`.
pub async fn cancel_order_row(
    tx: &mut Tx<'_>,
    at: &str,
    id: Uuid,
    from: &[OrderStatus],
    why: Option<&str>,
) -> Result<bool> {
    let mut sql = Sql::new("UPDATE service_orders SET status = 'cancelled', updated_at = ");
    sql.bind(at.to_string())
        .push(", accept_deadline = NULL, complete_deadline = NULL WHERE id = ")
        .bind(id.to_string())
        .push(" AND status IN (");
    for (i, status) in from.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(status.as_str());
    }
    sql.push(")");
    if sql.execute(&mut **tx).await? == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', reason = $1, responded_at = $2 \
         WHERE order_id = $3 AND status = 'open'",
    )
    .bind(why.map(str::to_string))
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Orders whose offers were not answered by their deadline, `(order, deadline)`, earliest
/// first, at most `limit`.
pub async fn expired_offers(db: &AnyPool, now: &str, limit: i64) -> Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query(
        "SELECT id, accept_deadline FROM service_orders WHERE status = 'offered' AND accept_deadline IS NOT NULL \
         AND accept_deadline <= $1 ORDER BY accept_deadline LIMIT $2",
    )
    .bind(now.to_string())
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| Ok((get_uuid(r, "id")?, r.try_get("accept_deadline")?)))
        .collect()
}

/// Claims an expired accept deadline at `now` by a compare-and-set on it, so that of several
/// hosts on one database only one acts on it: the deadline is cleared, the open offers are
/// withdrawn and the event recorded. False if another host (or an answer) came first.
pub async fn claim_expired_offer(
    tx: &mut Tx<'_>,
    id: Uuid,
    deadline: &str,
    now: &str,
) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE service_orders SET accept_deadline = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'offered' AND accept_deadline = $3",
    )
    .bind(now.to_string())
    .bind(id.to_string())
    .bind(deadline.to_string())
    .execute(&mut **tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', reason = 'no answer in time', responded_at = $1 \
         WHERE order_id = $2 AND status = 'open'",
    )
    .bind(now.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    record_event(
        tx,
        now,
        "order",
        id,
        "system",
        "offer_expired",
        Some("no answer in time"),
    )
    .await?;
    Ok(true)
}

/// An order not completed by its deadline.
#[derive(Debug, Clone)]
pub struct Overdue {
    pub id: Uuid,
    pub street: Uuid,
    pub demand: Uuid,
    pub deadline: String,
    pub category: String,
}

/// Accepted or started orders past their completion deadline, earliest first, at most
/// `limit`.
pub async fn overdue(db: &AnyPool, now: &str, limit: i64) -> Result<Vec<Overdue>> {
    let rows = sqlx::query(
        "SELECT o.id, o.street_id, o.demand_id, o.complete_deadline, d.category FROM service_orders o \
         JOIN demands d ON d.id = o.demand_id WHERE o.status IN ('accepted', 'in_progress') \
         AND o.complete_deadline IS NOT NULL AND o.complete_deadline <= $1 ORDER BY o.complete_deadline LIMIT $2",
    )
    .bind(now.to_string())
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Overdue {
                id: get_uuid(r, "id")?,
                street: get_uuid(r, "street_id")?,
                demand: get_uuid(r, "demand_id")?,
                deadline: r.try_get("complete_deadline")?,
                category: r.try_get("category")?,
            })
        })
        .collect()
}

/// Claims a passed completion deadline by a compare-and-set on it, moving it to
/// `new_deadline`. False if another host (or a completion) came first.
pub async fn claim_overdue(
    tx: &mut Tx<'_>,
    id: Uuid,
    deadline: &str,
    new_deadline: &str,
    now: &str,
) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE service_orders SET complete_deadline = $1, updated_at = $2 \
         WHERE id = $3 AND status IN ('accepted', 'in_progress') AND complete_deadline = $4",
    )
    .bind(new_deadline.to_string())
    .bind(now.to_string())
    .bind(id.to_string())
    .bind(deadline.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() > 0)
}

/// Whom an escalation goes to: the street's admins, and the district's departments (街呼区应).
pub const ESCALATED_TO: &str = "street_admins,district";

/// Records an escalation (吹哨) at `at` with its events on the demand and, if given, the
/// order (whose escalation count it moves), in the transaction of the change that caused it.
#[allow(clippy::too_many_arguments)]
pub async fn escalate(
    tx: &mut Tx<'_>,
    at: &str,
    street: Uuid,
    demand: Uuid,
    order: Option<Uuid>,
    reason: &str,
    deadline: &str,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO escalations (id, street_id, demand_id, order_id, reason, escalated_to, deadline, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(street.to_string())
    .bind(demand.to_string())
    .bind(order.map(|o| o.to_string()))
    .bind(reason.to_string())
    .bind(ESCALATED_TO)
    .bind(deadline.to_string())
    .bind(at.to_string())
    .execute(&mut **tx)
    .await?;
    let note = format!(
        "{reason}; escalated to the street's admins and the district; new deadline {deadline}"
    );
    record_event(tx, at, "demand", demand, actor, "escalated", Some(&note)).await?;
    if let Some(order) = order {
        sqlx::query("UPDATE service_orders SET escalations = escalations + 1 WHERE id = $1")
            .bind(order.to_string())
            .execute(&mut **tx)
            .await?;
        record_event(tx, at, "order", order, actor, "escalated", Some(&note)).await?;
    }
    Ok(())
}

/// Offers `order` to the candidates of `ranking` from position `from`, at most `count`, in
/// one statement; answers how many were offered.
pub async fn insert_offers(
    tx: &mut Tx<'_>,
    at: &str,
    order: Uuid,
    ranking: &[RankedCandidate],
    from: usize,
    count: usize,
) -> Result<usize> {
    let mut sql = Sql::new(
        "INSERT INTO order_offers (id, order_id, candidate_kind, candidate_id, rank, status, offered_at) VALUES ",
    );
    let mut n = 0;
    for (rank, c) in ranking.iter().enumerate().skip(from).take(count) {
        if n > 0 {
            sql.push(", ");
        }
        sql.push("(");
        sql.bind(Uuid::now_v7().to_string()).push(", ");
        sql.bind(order.to_string()).push(", ");
        sql.bind(c.kind.as_str()).push(", ");
        sql.bind(c.id.to_string()).push(", ");
        sql.bind(rank as i64).push(", 'open', ");
        sql.bind(at.to_string()).push(")");
        n += 1;
    }
    if n > 0 {
        sql.execute(&mut **tx).await?;
    }
    Ok(n)
}

/// Moves an order's place in its ranking to `next_rank` and its accept deadline (none when
/// nothing is offered).
pub async fn advance(
    tx: &mut Tx<'_>,
    order: Uuid,
    next_rank: usize,
    accept_deadline: Option<&str>,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE service_orders SET next_rank = $1, accept_deadline = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(next_rank as i64)
    .bind(accept_deadline.map(str::to_string))
    .bind(at.to_string())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A new order of a demand, offered to the first `offered` candidates of its ranking.
pub struct NewOrder<'a> {
    pub id: Uuid,
    pub demand: Uuid,
    pub street: Uuid,
    pub rule: &'a RuleUsed,
    pub ranking: &'a [RankedCandidate],
    pub offer_count: usize,
    pub offered: usize,
    pub accept_deadline: &'a str,
    pub created_by: &'a str,
    pub at: &'a str,
}

/// Writes a new offered order with its rule and ranking, and its first offers.
pub async fn insert(tx: &mut Tx<'_>, o: &NewOrder<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_orders (id, demand_id, street_id, status, rule_kind, plugin_version_id, content_hash, ranking, \
         offer_count, next_rank, accept_deadline, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, 'offered', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(o.id.to_string())
    .bind(o.demand.to_string())
    .bind(o.street.to_string())
    .bind(o.rule.kind.as_str())
    .bind(o.rule.version_id.map(|v| v.to_string()))
    .bind(o.rule.content_hash.clone())
    .bind(to_json(&o.ranking))
    .bind(o.offer_count as i64)
    .bind(o.offered as i64)
    .bind(o.accept_deadline.to_string())
    .bind(o.created_by.to_string())
    .bind(o.at.to_string())
    .execute(&mut **tx)
    .await?;
    insert_offers(tx, o.at, o.id, o.ranking, 0, o.offered).await?;
    Ok(())
}

/// The latest order of a demand that ran out of candidates, if any.
pub async fn last_unassigned(tx: &mut Tx<'_>, demand: Uuid) -> Result<Option<Uuid>> {
    sqlx::query(
        "SELECT id FROM service_orders WHERE demand_id = $1 AND status = 'unassigned' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(demand.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| get_uuid(&r, "id"))
    .transpose()
}

/// The candidates who declined an order of the demand.
pub async fn declined_by(tx: &mut Tx<'_>, demand: Uuid) -> Result<HashSet<Uuid>> {
    sqlx::query(
        "SELECT f.candidate_id FROM order_offers f JOIN service_orders o ON o.id = f.order_id \
         WHERE o.demand_id = $1 AND f.status = 'declined'",
    )
    .bind(demand.to_string())
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| get_uuid(r, "candidate_id"))
    .collect()
}

/// Where an order stands in its ranking.
pub struct Progress {
    pub street: Uuid,
    pub demand: Uuid,
    pub category: String,
    pub ranking: Vec<RankedCandidate>,
    pub next_rank: usize,
    pub offer_count: usize,
}

pub async fn progress(tx: &mut Tx<'_>, order: Uuid) -> Result<Progress> {
    let row = sqlx::query(
        "SELECT o.street_id, o.demand_id, o.ranking, o.next_rank, o.offer_count, d.category \
         FROM service_orders o JOIN demands d ON d.id = o.demand_id WHERE o.id = $1",
    )
    .bind(order.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(Progress {
        street: get_uuid(&row, "street_id")?,
        demand: get_uuid(&row, "demand_id")?,
        category: row.try_get("category")?,
        ranking: get_json(&row, "ranking")?,
        next_rank: usize::try_from(row.try_get::<i64, _>("next_rank")?).unwrap_or(0),
        offer_count: usize::try_from(row.try_get::<i64, _>("offer_count")?).unwrap_or(0),
    })
}

/// Marks an order whose ranking is used up as unassigned, its accept deadline cleared.
pub async fn mark_unassigned(tx: &mut Tx<'_>, order: Uuid, at: &str) -> Result<()> {
    sqlx::query(
        "UPDATE service_orders SET status = 'unassigned', accept_deadline = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(at.to_string())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading orders

/// An order as stored, unmasked (the caller's view masks it), with its ranking and without
/// its offers; and what its changes are decided from.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub order: Order,
    pub accept_deadline: Option<String>,
    pub complete_deadline: Option<String>,
    pub escalations: i64,
    /// The demand's urgency and when it was filed.
    pub urgency: Urgency,
    pub filed_at: String,
}

/// The columns an order is read with: the order, what its demand asks for, and the number of
/// the plugin version that ranked it.
const ORDER_COLUMNS: &str =
    "SELECT o.*, d.category, d.urgency AS demand_urgency, d.description, d.grid_id, \
     d.window_start, d.window_end, d.resident_name, d.created_at AS demand_created_at, \
     d.resident_phone, d.resident_address, pv.number AS plugin_version_number \
     FROM service_orders o JOIN demands d ON d.id = o.demand_id \
     LEFT JOIN plugin_versions pv ON pv.id = o.plugin_version_id";

fn order_from_row(row: &AnyRow) -> Result<OrderRow> {
    Ok(OrderRow {
        order: Order {
            id: get_uuid(row, "id")?,
            demand_id: get_uuid(row, "demand_id")?,
            street_id: get_uuid(row, "street_id")?,
            status: get_enum(row, "status", OrderStatus::from_db)?,
            rule: RuleUsed {
                kind: get_enum(row, "rule_kind", RuleKind::from_db)?,
                version_id: get_opt_uuid(row, "plugin_version_id")?,
                version_number: row.try_get("plugin_version_number")?,
                content_hash: row.try_get("content_hash")?,
            },
            ranking: Some(get_json(row, "ranking")?),
            offers: None,
            assignee_kind: get_opt_enum(row, "assignee_kind", CandidateKind::from_db)?,
            assignee_id: get_opt_uuid(row, "assignee_id")?,
            category: row.try_get("category")?,
            description: row.try_get("description")?,
            grid_id: get_uuid(row, "grid_id")?,
            window_start: row.try_get("window_start")?,
            window_end: row.try_get("window_end")?,
            resident: Resident {
                name: row.try_get("resident_name")?,
                phone: row.try_get("resident_phone")?,
                address: row.try_get("resident_address")?,
            },
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
        },
        accept_deadline: row.try_get("accept_deadline")?,
        complete_deadline: row.try_get("complete_deadline")?,
        escalations: row.try_get("escalations")?,
        urgency: get_enum(row, "demand_urgency", Urgency::from_db)?,
        filed_at: row.try_get("demand_created_at")?,
    })
}

/// An order, or `NotFound`, through `conn`: a pooled connection for a read, or the
/// transaction of a change.
pub async fn read(conn: &mut AnyConnection, id: Uuid) -> Result<OrderRow> {
    let row = sqlx::query(&format!("{ORDER_COLUMNS} WHERE o.id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("order"))?;
    order_from_row(&row)
}

/// Locks an order and its demand, the demand first (see [`lock_order`]), and reads the order
/// through the transaction: what a change is decided from.
pub async fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<OrderRow> {
    lock_demand_of(tx, id).await?;
    // The order is locked by the read itself (and only the order, not the joined rows).
    let lock = match for_update(tx) {
        "" => String::new(),
        clause => format!("{clause} OF o"),
    };
    let row = sqlx::query(&format!("{ORDER_COLUMNS} WHERE o.id = $1{lock}"))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("order"))?;
    order_from_row(&row)
}

/// Which orders a listing shows.
pub enum Visible<'a> {
    /// Every order in the scope (the street's and the district's staff).
    Staff(ListScope),
    /// The orders offered or assigned to one of these candidates (a volunteer, a unit).
    Party(&'a [Uuid]),
}

/// A page of the orders `visible`, filtered as the caller asked.
pub async fn list(
    conn: &mut AnyConnection,
    visible: Visible<'_>,
    q: &ListOrders,
    page: &PageRequest,
) -> Result<Vec<OrderRow>> {
    let mut sql = Sql::new(format!("{ORDER_COLUMNS} WHERE 1 = 1"));
    match visible {
        Visible::Staff(ListScope::All) => {}
        Visible::Staff(ListScope::Streets(streets)) => push_in(&mut sql, "o.street_id", &streets),
        Visible::Party(mine) => {
            sql.push(" AND (EXISTS (SELECT 1 FROM order_offers f WHERE f.order_id = o.id");
            push_in(&mut sql, "f.candidate_id", mine);
            sql.push(")");
            if mine.is_empty() {
                sql.push(")");
            } else {
                sql.push(" OR (1 = 1");
                push_in(&mut sql, "o.assignee_id", mine);
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
    sql.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(order_from_row)
        .collect()
}

/// The resources a volunteer or a unit owns (`owner_volunteer_id` or `owner_unit_id`).
pub async fn owned_resources(
    conn: &mut AnyConnection,
    owner: counters::Owner,
    id: Uuid,
) -> Result<Vec<Uuid>> {
    let column = owner.column();
    sqlx::query(&format!("SELECT id FROM resources WHERE {column} = $1"))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| get_uuid(r, "id"))
        .collect()
}

/// An offer of an order to one of a caller's candidates.
#[derive(Debug, Clone)]
pub struct OfferTo {
    pub id: Uuid,
    pub kind: CandidateKind,
    pub candidate: Uuid,
    pub status: OfferStatus,
}

/// The first offer (by rank) of each of `orders` made to one of `mine`, in one query.
pub async fn offers_to(
    conn: &mut AnyConnection,
    orders: &[Uuid],
    mine: &[Uuid],
) -> Result<HashMap<Uuid, OfferTo>> {
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
        out.entry(get_uuid(&r, "order_id")?).or_insert(OfferTo {
            id: get_uuid(&r, "id")?,
            kind: get_enum(&r, "candidate_kind", CandidateKind::from_db)?,
            candidate: get_uuid(&r, "candidate_id")?,
            status: get_enum(&r, "status", OfferStatus::from_db)?,
        });
    }
    Ok(out)
}

/// Every offer of each of `orders`, by rank, in one query.
pub async fn all_offers(
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

/// What the points rule is told of a street and an assignee: the street's code and how many
/// orders the assignee completed there before.
pub async fn points_context(
    db: &AnyPool,
    street: Uuid,
    assignee: Option<Uuid>,
) -> Result<(String, i64)> {
    let row = sqlx::query(
        "SELECT s.code, COALESCE(cl.completed_orders, 0) AS completed FROM streets s \
         LEFT JOIN candidate_loads cl ON cl.street_id = s.id AND cl.candidate_id = $2 WHERE s.id = $1",
    )
    .bind(street.to_string())
    .bind(assignee.map(|a| a.to_string()).unwrap_or_default())
    .fetch_one(db)
    .await?;
    Ok((row.try_get("code")?, row.try_get("completed")?))
}

// ---------------------------------------------------------------------------------------------
// Order transitions. Each is a compare-and-set on the state it was decided from, in the
// caller's transaction (which locked the demand and the order first); false: it changed.

/// Assigns an offered, unassigned order to the candidate of `offer` at `at`, with its
/// completion deadline; takes the offer and withdraws the others.
pub async fn take(
    tx: &mut Tx<'_>,
    id: Uuid,
    offer: &OfferTo,
    at: &str,
    complete_by: &str,
) -> Result<Take> {
    let won = sqlx::query(
        "UPDATE service_orders SET status = 'accepted', assignee_kind = $1, assignee_id = $2, accepted_at = $3, updated_at = $3, \
         accept_deadline = NULL, complete_deadline = $5 WHERE id = $4 AND status = 'offered' AND assignee_id IS NULL",
    )
    .bind(offer.kind.as_str())
    .bind(offer.candidate.to_string())
    .bind(at.to_string())
    .bind(id.to_string())
    .bind(complete_by.to_string())
    .execute(&mut **tx)
    .await?;
    if won.rows_affected() == 0 {
        return Ok(Take::Lost);
    }
    let taken = sqlx::query(
        "UPDATE order_offers SET status = 'accepted', responded_at = $1 WHERE id = $2 AND status = 'open'",
    )
    .bind(at.to_string())
    .bind(offer.id.to_string())
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() == 0 {
        return Ok(Take::OfferClosed);
    }
    sqlx::query(
        "UPDATE order_offers SET status = 'withdrawn', responded_at = $1 WHERE order_id = $2 AND status = 'open'",
    )
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(Take::Won)
}

/// How [`take`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The order is the caller's.
    Won,
    /// Someone else's accept came first.
    Lost,
    /// The caller's offer was closed meanwhile.
    OfferClosed,
}

/// Takes one unit of a resource's capacity: false if none is left.
pub async fn use_capacity(tx: &mut Tx<'_>, resource: Uuid, at: &str) -> Result<bool> {
    let used = sqlx::query(
        "UPDATE resources SET capacity_left = capacity_left - 1, updated_at = $1 WHERE id = $2 AND capacity_left > 0",
    )
    .bind(at.to_string())
    .bind(resource.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(used.rows_affected() > 0)
}

/// Gives a resource back the unit of capacity an order took (never above its capacity).
pub async fn return_capacity(tx: &mut Tx<'_>, resource: Uuid, at: &str) -> Result<()> {
    sqlx::query(
        "UPDATE resources SET capacity_left = capacity_left + 1, updated_at = $1 WHERE id = $2 AND capacity_left < capacity",
    )
    .bind(at.to_string())
    .bind(resource.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A volunteer's limit of open orders and how many it holds, counted under the volunteer's
/// lock: two accepts by one volunteer take turns here, and the second counts the first.
pub async fn open_orders_of(tx: &mut Tx<'_>, volunteer: Uuid) -> Result<(i64, i64)> {
    let lock = for_update(tx);
    let limit = sqlx::query(&format!(
        "SELECT max_open_orders FROM volunteers WHERE id = $1{lock}"
    ))
    .bind(volunteer.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get::<i64, _>("max_open_orders")?;
    let open: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM service_orders WHERE assignee_id = $1 \
         AND status IN ('accepted', 'in_progress')",
    )
    .bind(volunteer.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?;
    Ok((limit, open))
}

/// Declines an open offer with a reason: false if it was no longer open.
pub async fn decline_offer(tx: &mut Tx<'_>, offer: Uuid, reason: &str, at: &str) -> Result<bool> {
    let closed = sqlx::query(
        "UPDATE order_offers SET status = 'declined', reason = $1, responded_at = $2 WHERE id = $3 AND status = 'open'",
    )
    .bind(reason.to_string())
    .bind(at.to_string())
    .bind(offer.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(closed.rows_affected() > 0)
}

/// How many offers of an order are open.
pub async fn open_offers(tx: &mut Tx<'_>, order: Uuid) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM order_offers WHERE order_id = $1 AND status = 'open'",
    )
    .bind(order.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?)
}

/// Starts an accepted order: false if it is no longer accepted.
pub async fn start(tx: &mut Tx<'_>, id: Uuid, at: &str) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE service_orders SET status = 'in_progress', started_at = $1, updated_at = $1 WHERE id = $2 AND status = 'accepted'",
    )
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() > 0)
}

/// What completing an order records.
pub struct Completion<'a> {
    pub minutes: i64,
    pub note: Option<&'a str>,
    pub points: f64,
    pub points_rule: &'a str,
    pub points_reason: &'a str,
}

/// Completes an order in progress: false if it is no longer in progress.
pub async fn complete(tx: &mut Tx<'_>, id: Uuid, c: &Completion<'_>, at: &str) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE service_orders SET status = 'completed', completed_at = $1, updated_at = $1, service_minutes = $2, \
         completion_note = $3, points = $5, points_rule = $6, points_reason = $7, complete_deadline = NULL \
         WHERE id = $4 AND status = 'in_progress'",
    )
    .bind(at.to_string())
    .bind(c.minutes)
    .bind(c.note.map(str::to_string))
    .bind(id.to_string())
    .bind(c.points)
    .bind(c.points_rule.to_string())
    .bind(c.points_reason.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() > 0)
}
