//! What the street's figures are computed from: the demands filed in a range with their
//! orders and places, earlier demands of the same residents, and escalations.

use std::collections::HashMap;

use sqlx::{AnyPool, Row};
use uuid::Uuid;

use super::{
    rows::{get_opt_enum, get_opt_uuid, get_uuid, push_in},
    Sql,
};
use crate::{
    domain::{access::ListScope, CandidateKind},
    Result,
};

/// Which demands the figures count: those filed in `[from, to)` in `scope`, of one street
/// if given.
pub struct Range<'a> {
    pub scope: &'a ListScope,
    pub street: Option<Uuid>,
    pub from: &'a str,
    pub to: &'a str,
}

impl Range<'_> {
    fn restrict(&self, sql: &mut Sql) {
        if let ListScope::Streets(streets) = self.scope {
            push_in(sql, "d.street_id", streets);
        }
        if let Some(street) = self.street {
            sql.push(" AND d.street_id = ").bind(street.to_string());
        }
    }
}

/// A demand filed in the range, with its place and its live (not cancelled) order.
pub struct DemandRow {
    pub id: Uuid,
    pub street: (Uuid, String),
    pub community: (Uuid, String),
    pub grid: (Uuid, String),
    pub category: String,
    pub resident_phone: String,
    pub filed_at: String,
    pub window_end: Option<String>,
    pub dispatched_at: Option<String>,
    pub accepted_at: Option<String>,
    pub completed_at: Option<String>,
    pub rating: Option<i64>,
    pub assignee_kind: Option<CandidateKind>,
    pub assignee: Option<Uuid>,
    pub volunteer_name: Option<String>,
    pub unit: Option<(Uuid, Option<String>)>,
}

/// The demands filed in the range, in id order.
pub async fn demands(db: &AnyPool, range: &Range<'_>) -> Result<Vec<DemandRow>> {
    let mut sql = Sql::new(
        "SELECT d.id, d.street_id, s.name AS street_name, g.id AS grid_id, g.code AS grid_code, c.id AS community_id, \
         c.name AS community_name, d.category, d.resident_phone, d.created_at, d.window_end, \
         o.created_at AS dispatched_at, o.accepted_at, o.completed_at, o.rating, o.assignee_kind, o.assignee_id, \
         v.name AS volunteer_name, u.id AS unit_id, u.name AS unit_name \
         FROM demands d JOIN streets s ON s.id = d.street_id JOIN grids g ON g.id = d.grid_id \
         JOIN communities c ON c.id = g.community_id \
         LEFT JOIN service_orders o ON o.demand_id = d.id AND o.status <> 'cancelled' \
         LEFT JOIN volunteers v ON v.id = o.assignee_id AND o.assignee_kind = 'volunteer' \
         LEFT JOIN resources r ON r.id = o.assignee_id AND o.assignee_kind = 'resource' \
         LEFT JOIN units u ON u.id = r.owner_unit_id \
         WHERE d.created_at >= ",
    );
    sql.bind(range.from.to_string())
        .push(" AND d.created_at < ")
        .bind(range.to.to_string());
    range.restrict(&mut sql);
    sql.push(" ORDER BY d.id");
    sql.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(DemandRow {
                id: get_uuid(r, "id")?,
                street: (get_uuid(r, "street_id")?, r.try_get("street_name")?),
                community: (get_uuid(r, "community_id")?, r.try_get("community_name")?),
                grid: (get_uuid(r, "grid_id")?, r.try_get("grid_code")?),
                category: r.try_get("category")?,
                resident_phone: r.try_get("resident_phone")?,
                filed_at: r.try_get("created_at")?,
                window_end: r.try_get("window_end")?,
                dispatched_at: r.try_get("dispatched_at")?,
                accepted_at: r.try_get("accepted_at")?,
                completed_at: r.try_get("completed_at")?,
                rating: r.try_get("rating")?,
                assignee_kind: get_opt_enum(r, "assignee_kind", CandidateKind::from_db)?,
                assignee: get_opt_uuid(r, "assignee_id")?,
                volunteer_name: r.try_get("volunteer_name")?,
                unit: get_opt_uuid(r, "unit_id")?
                    .map(|u| Ok::<_, crate::Error>((u, r.try_get("unit_name")?)))
                    .transpose()?,
            })
        })
        .collect()
}

/// When each resident (by street, phone and category) filed demands from `since` to the
/// range's end, each list sorted.
pub async fn filings_since(
    db: &AnyPool,
    range: &Range<'_>,
    since: &str,
) -> Result<HashMap<(Uuid, String, String), Vec<String>>> {
    let mut sql = Sql::new(
        "SELECT d.street_id, d.resident_phone, d.category, d.created_at FROM demands d WHERE d.created_at >= ",
    );
    sql.bind(since.to_string())
        .push(" AND d.created_at < ")
        .bind(range.to.to_string());
    range.restrict(&mut sql);
    let mut out: HashMap<(Uuid, String, String), Vec<String>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        out.entry((
            get_uuid(&r, "street_id")?,
            r.try_get("resident_phone")?,
            r.try_get("category")?,
        ))
        .or_default()
        .push(r.try_get("created_at")?);
    }
    for times in out.values_mut() {
        times.sort();
    }
    Ok(out)
}

/// How many times each demand filed in the range was escalated (demands never escalated
/// are left out).
pub async fn escalations(db: &AnyPool, range: &Range<'_>) -> Result<HashMap<Uuid, u64>> {
    let mut sql = Sql::new(
        "SELECT e.demand_id, COUNT(*) AS n FROM escalations e JOIN demands d ON d.id = e.demand_id \
         WHERE d.created_at >= ",
    );
    sql.bind(range.from.to_string())
        .push(" AND d.created_at < ")
        .bind(range.to.to_string());
    range.restrict(&mut sql);
    sql.push(" GROUP BY e.demand_id");
    sql.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok((
                get_uuid(r, "demand_id")?,
                u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
            ))
        })
        .collect()
}
