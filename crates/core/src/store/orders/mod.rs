//! Service orders as rows: the locks every change takes and what changes are decided from
//! (here), the changes themselves ([`change`]), and the scheduler's deadlines
//! ([`deadlines`]).

mod change;
mod deadlines;

use std::collections::{HashMap, HashSet};

use sqlx::{any::AnyRow, AnyConnection, AnyPool, Row};
use uuid::Uuid;

pub use change::{
    accept, cancel, complete, decline, insert, offer_next, start, unassign, write_new, Claim,
    Completion, DemandAfter, NewOrder,
};
pub use deadlines::{
    claim_expired_offer, claim_overdue, escalate, escalations, expired_offers, overdue,
};

use super::{
    counters, for_update, lock_row,
    page::PageRequest,
    rows::{get_enum, get_json, get_opt_enum, get_opt_uuid, get_uuid, push_in},
    Sql, Tx,
};
use crate::{
    domain::{
        access::ListScope,
        demand::Resident,
        matching::{RankedCandidate, RuleUsed},
        order::{ListOrders, Offer, Order, PartyTotals},
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

// ---------------------------------------------------------------------------------------------
// Reading orders

/// An order as stored, unmasked (the caller's view masks it), with its ranking and without
/// its offers; and what its changes are decided from.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub order: Order,
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
            accept_deadline: row.try_get("accept_deadline")?,
            complete_deadline: row.try_get("complete_deadline")?,
            offered_because: None,
            your_offer: None,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        },
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
        Visible::Party([]) => return Ok(vec![]),
        Visible::Party(mine) => push_party_page(&mut sql, mine, q, page),
    }
    push_filters(&mut sql, "o", q);
    page.apply(&mut sql, "o.id");
    sql.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(order_from_row)
        .collect()
}

/// Narrows a listing to the page of the orders offered to one of `mine`. Every order assigned
/// to a candidate was accepted through an offer to it (the invariant checker's
/// `accepted_offer_matches_assignee`), so a party's orders are those of its offers. Each
/// candidate's part is the first page of its own offers in order id order, read from the
/// `(candidate_id, order_id)` index and stopping at a page: the page of the union is among
/// them. So an inbox costs a page per identity, not the party's whole history.
fn push_party_page(sql: &mut Sql, mine: &[Uuid], q: &ListOrders, page: &PageRequest) {
    let filtered = q.street_id.is_some() || q.demand_id.is_some() || q.status.is_some();
    sql.push(" AND o.id IN (");
    for (i, candidate) in mine.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push("SELECT order_id FROM (SELECT f.order_id FROM order_offers f");
        if filtered {
            sql.push(" JOIN service_orders x ON x.id = f.order_id");
        }
        sql.push(" WHERE f.candidate_id = ")
            .bind(candidate.to_string());
        push_filters(sql, "x", q);
        page.apply(sql, "f.order_id");
        sql.push(&format!(") p{i}"));
    }
    sql.push(")");
}

/// Appends the listing's filters on the orders named `orders` in the query.
fn push_filters(sql: &mut Sql, orders: &str, q: &ListOrders) {
    if let Some(s) = q.street_id {
        sql.push(&format!(" AND {orders}.street_id = "))
            .bind(s.to_string());
    }
    if let Some(d) = q.demand_id {
        sql.push(&format!(" AND {orders}.demand_id = "))
            .bind(d.to_string());
    }
    if let Some(s) = q.status {
        sql.push(&format!(" AND {orders}.status = "))
            .bind(s.as_str().to_string());
    }
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

/// The completed orders of `mine` (a party's identities), their minutes and points, in one
/// query through the assignee index.
pub async fn party_totals(conn: &mut AnyConnection, mine: &[Uuid]) -> Result<PartyTotals> {
    if mine.is_empty() {
        return Ok(PartyTotals::default());
    }
    let mut sql = Sql::new(
        "SELECT COUNT(*) AS completed, \
         CAST(COALESCE(SUM(service_minutes), 0) AS BIGINT) AS minutes, \
         CAST(COALESCE(SUM(points), 0) AS DOUBLE PRECISION) AS points \
         FROM service_orders WHERE status = 'completed'",
    );
    push_in(&mut sql, "assignee_id", mine);
    let rows = sql.fetch_all(&mut *conn).await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("an aggregate query returned no row")))?;
    Ok(PartyTotals {
        completed: row.try_get("completed")?,
        service_minutes: row.try_get("minutes")?,
        points: row.try_get("points")?,
    })
}
