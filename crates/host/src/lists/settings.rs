//! A street's dispatch settings, per category: automatic dispatch on filing, offers at once,
//! and the minutes to accept and to complete.

use axum::{
    extract::{Path, State},
    Json,
};
use gongjian_core::Error;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::require_street;
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson},
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::store::counters;
use gongjian_core::store::streets::category_exists;
use gongjian_core::{
    domain::access::Principal,
    domain::access::{Action, Target},
    domain::Check,
};
use gongjian_core::{domain::settings::Settings, store::settings::settings_for};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_settings))
        .routes(routes!(put_settings))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategorySettings {
    /// A category code, or `default` for the street's default.
    pub category: String,
    pub settings: Settings,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StreetSettings {
    /// What applies to categories without settings of their own.
    pub default: Settings,
    pub categories: Vec<CategorySettings>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSettings {
    pub auto_dispatch: bool,
    /// 1 to 10; 1 offers one after another.
    pub offer_count: i64,
    /// 1 to 10080 (a week).
    pub accept_minutes: i64,
    /// 1 to 43200 (30 days); absent or null: by the requested window's end, or the end of the
    /// day the demand was filed.
    pub complete_minutes: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/streets/{id}/dispatch-settings", tag = "orders",
    params(("id" = Uuid, Path, description = "street id")),
    responses((status = 200, body = StreetSettings), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_settings(
    State(state): State<AppState>,
    caller: Principal,
    Path(street): Path<String>,
) -> AppResult<Json<StreetSettings>> {
    let street = path_id("id", &street)?;
    require_street(state.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let rows = sqlx::query("SELECT category FROM dispatch_settings WHERE street_id = $1 AND category <> '' ORDER BY category")
        .bind(street.to_string())
        .fetch_all(state.db.read())
        .await?;
    let mut categories = Vec::with_capacity(rows.len());
    for r in &rows {
        let category: String = r.try_get("category")?;
        categories.push(CategorySettings {
            settings: settings_for(state.db.read(), street, &category).await?,
            category,
        });
    }
    Ok(Json(StreetSettings {
        default: settings_for(state.db.read(), street, "").await?,
        categories,
    }))
}

#[utoipa::path(put, path = "/api/v1/streets/{id}/dispatch-settings/{category}", tag = "orders",
    params(("id" = Uuid, Path, description = "street id"), ("category" = String, Path, description = "a category code, or `default`")),
    request_body = PutSettings,
    responses((status = 200, body = CategorySettings), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn put_settings(
    State(state): State<AppState>,
    caller: Principal,
    Path((street, category)): Path<(String, String)>,
    ApiJson(body): ApiJson<PutSettings>,
) -> AppResult<Json<CategorySettings>> {
    let street = path_id("id", &street)?;
    require_street(state.db.write(), street).await?;
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
    if !stored.is_empty() && !category_exists(state.db.write(), street, &stored).await? {
        return Err(Error::field(
            "category",
            "unknown_category",
            format!("{category:?} is not a category of this street"),
        )
        .into());
    }
    let mut tx = state.db.write().begin().await?;
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
    .bind(state.now_ts())
    .execute(&mut *tx)
    .await?;
    // Filing reads a street's settings from its candidate pool.
    counters::touch_registry(&mut tx, street).await?;
    tx.commit().await?;
    Ok(Json(CategorySettings {
        category,
        settings: settings_for(state.db.write(), street, &stored).await?,
    }))
}
