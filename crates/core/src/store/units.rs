//! Co-building units as other table groups need them.

use uuid::Uuid;

use super::rows::links;
use crate::Error;

/// The unit's link table to the streets it co-builds with.
pub const STREET_LINKS: (&str, &str, &str) = ("unit_streets", "unit_id", "street_id");

/// The streets a unit co-builds with, sorted.
pub async fn street_ids(db: &sqlx::AnyPool, unit: Uuid) -> Result<Vec<Uuid>, Error> {
    let (table, owner, linked) = STREET_LINKS;
    Ok(links(db, table, owner, linked, &[unit])
        .await?
        .remove(&unit)
        .unwrap_or_default())
}
