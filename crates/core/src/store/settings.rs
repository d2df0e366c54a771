//! A street's dispatch settings as stored, by category (`''` for the street's default).

use std::collections::HashMap;

use sqlx::Row;
use uuid::Uuid;

use super::{counters, Sql, Tx};
use crate::{
    domain::settings::{choose_settings, Settings},
    Result,
};

/// A street's stored settings by category (`''` for its default), for `category`s in `only`
/// or, with none, all of them.
pub async fn stored_settings<'e, E>(
    db: E,
    street: Uuid,
    only: Option<&str>,
) -> Result<HashMap<String, Settings>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let mut sql = Sql::new(
        "SELECT category, auto_dispatch, offer_count, accept_minutes, complete_minutes FROM dispatch_settings \
         WHERE street_id = ",
    );
    sql.bind(street.to_string());
    if let Some(category) = only {
        sql.push(" AND category IN (")
            .bind(category.to_string())
            .push(", '')");
    }
    sql.fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("category")?,
                Settings {
                    auto_dispatch: r.try_get::<i64, _>("auto_dispatch")? != 0,
                    offer_count: r.try_get("offer_count")?,
                    accept_minutes: r.try_get("accept_minutes")?,
                    complete_minutes: r.try_get("complete_minutes")?,
                },
            ))
        })
        .collect()
}

/// The settings for a category of a street, read from the database (a pool, or the
/// transaction that acts on them).
pub async fn settings_for<'e, E>(db: E, street: Uuid, category: &str) -> Result<Settings>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let stored = stored_settings(db, street, Some(category)).await?;
    Ok(choose_settings(&stored, category))
}

/// Writes a street's settings for a category (`''` for its default), replacing what was
/// stored, and moves the street's registry counter: filing reads the settings from the
/// candidate pool.
pub async fn put(
    tx: &mut Tx<'_>,
    street: Uuid,
    category: &str,
    settings: &Settings,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dispatch_settings (street_id, category, auto_dispatch, offer_count, accept_minutes, complete_minutes, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (street_id, category) DO UPDATE SET auto_dispatch = $3, \
         offer_count = $4, accept_minutes = $5, complete_minutes = $6, updated_at = $7",
    )
    .bind(street.to_string())
    .bind(category.to_string())
    .bind(i64::from(settings.auto_dispatch))
    .bind(settings.offer_count)
    .bind(settings.accept_minutes)
    .bind(settings.complete_minutes)
    .bind(at.to_string())
    .execute(&mut **tx)
    .await?;
    counters::touch_registry(tx, street).await
}
