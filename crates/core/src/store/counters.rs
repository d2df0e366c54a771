//! The candidate pool's counters: each street's `registry_version` and `load_version`, moved
//! in the same transaction as any change to what matching sees of a candidate, and the
//! candidates' `candidate_loads` records recomputed from their orders. The in-memory pool
//! (`service::pool`) reloads a tier when its counter moved.

use uuid::Uuid;

use super::{lock_row, Tx};
use crate::{domain::CandidateKind, Result};

/// Moves the registry counter of a street: its volunteers, resources, grids or communities
/// changed.
pub async fn touch_registry(tx: &mut Tx<'_>, street: Uuid) -> Result<()> {
    sqlx::query("UPDATE streets SET registry_version = registry_version + 1 WHERE id = $1")
        .bind(street.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves both counters of every street a resource serves: its profile or its capacity
/// changed.
pub async fn touch_resource(tx: &mut Tx<'_>, resource: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE streets SET registry_version = registry_version + 1, load_version = load_version + 1 \
         WHERE id IN (SELECT street_id FROM resource_streets WHERE resource_id = $1)",
    )
    .bind(resource.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves the registry counter of every street served by the resources a unit or a volunteer
/// owns (`owner` is `owner_unit_id` or `owner_volunteer_id`).
pub async fn touch_owned_registry(tx: &mut Tx<'_>, owner: Owner, id: Uuid) -> Result<()> {
    let column = owner.column();
    sqlx::query(&format!(
        "UPDATE streets SET registry_version = registry_version + 1 WHERE id IN \
         (SELECT rs.street_id FROM resource_streets rs JOIN resources r ON r.id = rs.resource_id WHERE r.{column} = $1)"
    ))
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Who owns resources.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Unit,
    Volunteer,
}

impl Owner {
    /// The column of `resources` that names an owner of this kind.
    pub fn column(self) -> &'static str {
        match self {
            Owner::Unit => "owner_unit_id",
            Owner::Volunteer => "owner_volunteer_id",
        }
    }
}

/// Recomputes a candidate's record in a street from its orders and moves the load counter of
/// the street (and, for a resource, whose capacity every street it serves sees, of those
/// streets too). Called in the transaction of every order change that alters a record.
///
/// The candidate's row is locked first: two transactions changing orders of one candidate
/// take turns here, and the second counts what the first committed, so the record never
/// misses a change made at the same moment.
pub async fn touch_load(
    tx: &mut Tx<'_>,
    street: Uuid,
    kind: CandidateKind,
    candidate: Uuid,
) -> Result<()> {
    let table = match kind {
        CandidateKind::Resource => "resources",
        CandidateKind::Volunteer => "volunteers",
    };
    lock_row(tx, table, candidate).await?;
    sqlx::query(
        "INSERT INTO candidate_loads (street_id, candidate_id, open_orders, completed_orders, service_minutes, \
         last_order_at, average_rating) \
         SELECT $1, $2, \
         COALESCE(SUM(CASE WHEN status IN ('accepted', 'in_progress') THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(service_minutes), 0), MAX(accepted_at), CAST(AVG(rating) AS DOUBLE PRECISION) \
         FROM service_orders WHERE street_id = $1 AND assignee_id = $2 \
         ON CONFLICT (street_id, candidate_id) DO UPDATE SET open_orders = excluded.open_orders, \
         completed_orders = excluded.completed_orders, service_minutes = excluded.service_minutes, \
         last_order_at = excluded.last_order_at, average_rating = excluded.average_rating",
    )
    .bind(street.to_string())
    .bind(candidate.to_string())
    .execute(&mut **tx)
    .await?;
    if kind == CandidateKind::Resource {
        sqlx::query(
            "UPDATE streets SET load_version = load_version + 1 WHERE id = $1 \
             OR id IN (SELECT street_id FROM resource_streets WHERE resource_id = $2)",
        )
        .bind(street.to_string())
        .bind(candidate.to_string())
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query("UPDATE streets SET load_version = load_version + 1 WHERE id = $1")
            .bind(street.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
