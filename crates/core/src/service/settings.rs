//! A street's dispatch settings, per category: automatic dispatch on filing, offers at once,
//! and the minutes to accept and to complete.

use super::Core;
use crate::domain::rules;
use crate::domain::settings::{CategorySettings, PutSettings, StreetSettings};
use crate::store::counters;
use crate::store::rows::require_street;
use crate::store::settings::settings_for;
use crate::store::streets::category_exists;
use crate::{
    domain::access::Principal,
    domain::access::{Action, Target},
    domain::Check,
};
use crate::{Error, Result};
use sqlx::Row;
use uuid::Uuid;

pub async fn list_settings(
    core: &Core,
    caller: &Principal,
    street: Uuid,
) -> Result<StreetSettings> {
    require_street(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let rows = sqlx::query("SELECT category FROM dispatch_settings WHERE street_id = $1 AND category <> '' ORDER BY category")
        .bind(street.to_string())
        .fetch_all(core.db.read())
        .await?;
    let mut categories = Vec::with_capacity(rows.len());
    for r in &rows {
        let category: String = r.try_get("category")?;
        categories.push(CategorySettings {
            settings: settings_for(core.db.read(), street, &category).await?,
            category,
        });
    }
    Ok(StreetSettings {
        default: settings_for(core.db.read(), street, "").await?,
        categories,
    })
}

pub async fn put_settings(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    category: String,
    body: PutSettings,
) -> Result<CategorySettings> {
    require_street(core.db.write(), street).await?;
    caller.authorize(Action::Update, Target::StreetArea(street))?;
    let mut c = Check::new();
    c.range_i64("offer_count", body.offer_count, rules::OFFER_COUNT);
    c.range_i64("accept_minutes", body.accept_minutes, rules::ACCEPT_MINUTES);
    if let Some(m) = body.complete_minutes {
        c.range_i64("complete_minutes", m, rules::COMPLETE_MINUTES);
    }
    c.finish()?;
    let stored = if category == "default" {
        String::new()
    } else {
        category.clone()
    };
    if !stored.is_empty() && !category_exists(core.db.write(), street, &stored).await? {
        return Err(Error::field(
            "category",
            "unknown_category",
            format!("{category:?} is not a category of this street"),
        ));
    }
    let mut tx = core.db.write().begin().await?;
    sqlx::query(
        "INSERT INTO dispatch_settings (street_id, category, auto_dispatch, offer_count, accept_minutes, complete_minutes, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (street_id, category) DO UPDATE SET auto_dispatch = $3, \
         offer_count = $4, accept_minutes = $5, complete_minutes = $6, updated_at = $7",
    )
    .bind(street.to_string())
    .bind(stored.clone())
    .bind(i64::from(body.auto_dispatch))
    .bind(body.offer_count)
    .bind(body.accept_minutes)
    .bind(body.complete_minutes)
    .bind(core.now_ts())
    .execute(&mut *tx)
    .await?;
    // Filing reads a street's settings from its candidate pool.
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(CategorySettings {
        category,
        settings: settings_for(core.db.write(), street, &stored).await?,
    })
}
