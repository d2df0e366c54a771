//! Operational routes: health, readiness, metrics, the OpenAPI document and its docs page.

use axum::{
    extract::State,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
    Json, Router,
};
use gongjian_core::Error;
use serde_json::json;

use crate::{error::AppResult, state::AppState};
use gongjian_core::{domain::access::Principal, domain::access::RoleKind};

pub fn router(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    let json = serde_json::to_string_pretty(&openapi).expect("the OpenAPI document serialises");
    let page = crate::docs::render_html(&openapi);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], json) }
            }),
        )
        .route(
            "/api/v1/docs",
            get(move || {
                let page = page.clone();
                async move { Html(page) }
            }),
        )
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
async fn readyz(State(state): State<AppState>) -> AppResult<Json<serde_json::Value>> {
    state.db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        Error::Unavailable("the database does not answer".into())
    })?;
    Ok(Json(
        json!({ "status": "ready", "database": state.db.backend().name() }),
    ))
}

/// Prometheus metrics, for district admin tokens (scrapers send one as a bearer token).
async fn metrics(State(state): State<AppState>, caller: Principal) -> AppResult<impl IntoResponse> {
    caller.require(&[RoleKind::DistrictAdmin], "read metrics")?;
    match gongjian_core::service::webhooks::backlog(&state.core).await {
        Ok(backlog) => state.core.telemetry.notification_backlog(&backlog),
        Err(e) => tracing::warn!(error = %e, "the notifications' backlog could not be read"),
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    ))
}
