//! gongjian host: the HTTP edge (the JSON API, its OpenAPI document and docs page), the CLI,
//! the router and the state, over the operations of `gongjian_core`.
//!
//! [`app`] builds the whole HTTP application from an [`AppState`]; tests drive it without a
//! socket, `gongjian serve` binds it to one.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod docs;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod notify;
/// The plugin runtimes, their own crate: the host depends on them, never the reverse.
pub use gongjian_plugin_runtime as plugin;
pub mod state;
pub mod stream;
pub mod system;

use axum::{extract::DefaultBodyLimit, http::Uri, middleware, Router};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::AppError;
pub use crate::state::AppState;

/// The process's allocator, jemalloc, for everything but plugin memory (wasmtime's pool maps
/// its own) and SQLite's pages: a request allocates and frees hundreds of small blocks (JSON,
/// rows, rankings) on whichever worker thread runs it, often another than the one that
/// allocated them. Filing with 32 clients is some 5% faster than on the system's allocator
/// (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The largest request body any endpoint accepts.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// How long a client has to send a request's whole body once its headers are in; a slower
/// one is answered 408 and the connection is freed.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The API's routes with their OpenAPI description.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(api::streets::router())
        .merge(api::units::router())
        .merge(api::volunteers::router())
        .merge(api::resources::router())
        .merge(api::demands::router())
        .merge(api::projects::router())
        .merge(api::tokens::router())
        .merge(api::plugins::router())
        .merge(api::orders::router())
        .merge(api::feedback::router())
        .merge(api::stats::router())
        .merge(api::settings::router())
        .merge(api::webhooks::router())
        .split_for_parts();
    let mut openapi = openapi;
    docs::document_errors(&mut openapi);
    docs::declare_rules(&mut openapi);
    (router, openapi)
}

/// A request's path as the log may keep it: the secret of a one-time link (a console sign-in
/// link, a resident's feedback link) is a credential, so it is left out.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in ["/console/link/", "/console/feedback/", "/api/v1/feedback/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}…{tail}").into();
        }
    }
    path.into()
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api();
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    api.merge(system::router(openapi))
        .merge(console::router())
        .fallback(|uri: Uri| async move { AppError::RouteNotFound(uri.path().to_string()) })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn(extract::utf8_only))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            axum::response::IntoResponse::into_response(AppError::from(anyhow::anyhow!(
                "a request handler panicked"
            )))
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn the_log_keeps_no_link_secret() {
        assert_eq!(
            loggable_path("/console/link/abc_DEF-123"),
            "/console/link/…"
        );
        assert_eq!(
            loggable_path("/console/feedback/xyz"),
            "/console/feedback/…"
        );
        assert_eq!(
            loggable_path("/api/v1/feedback/gj_secret"),
            "/api/v1/feedback/…"
        );
        assert_eq!(
            loggable_path("/api/v1/feedback/gj_secret/x"),
            "/api/v1/feedback/…/x"
        );
        assert_eq!(loggable_path("/console/orders"), "/console/orders");
    }
}
