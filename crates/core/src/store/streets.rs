//! Streets as other table groups need them: which street a grid belongs to, and whether a
//! category is one of a street's.

use uuid::Uuid;

use super::rows::get_uuid;
use crate::{domain::is_default_category, Result};

/// The street a grid belongs to, if the grid exists.
pub async fn grid_street(db: &sqlx::AnyPool, grid: Uuid) -> Result<Option<Uuid>> {
    let row = sqlx::query("SELECT street_id FROM grids WHERE id = $1")
        .bind(grid.to_string())
        .fetch_optional(db)
        .await?;
    row.map(|r| get_uuid(&r, "street_id")).transpose()
}

/// Whether `code` is a category of `street`: built in, or one the street added.
pub async fn category_exists(db: &sqlx::AnyPool, street: Uuid, code: &str) -> Result<bool> {
    if is_default_category(code) {
        return Ok(true);
    }
    let row = sqlx::query("SELECT 1 FROM categories WHERE street_id = $1 AND code = $2")
        .bind(street.to_string())
        .bind(code.to_string())
        .fetch_optional(db)
        .await?;
    Ok(row.is_some())
}
