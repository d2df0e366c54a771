//! The figures streets are judged on: demands received, dispatched, accepted and completed;
//! completion, on-time and satisfaction rates; median times to accept and to complete;
//! escalations and repeat demands — per street, community, grid, category, volunteer or unit,
//! over a time range, as JSON or CSV.
//! Each handler reads the request, calls one operation of `service::stats` and answers.

use crate::{error::AppResult, extract::ApiQuery, state::AppState};
use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use gongjian_core::domain::access::Principal;
use gongjian_core::domain::stats::{Stats, StatsFormat, StatsQuery};
use gongjian_core::service::stats;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

/// The figures for demands filed in a range.
#[utoipa::path(get, path = "/api/v1/stats", tag = "orders", params(StatsQuery),
    responses((status = 200, description = "JSON, or CSV with `format=csv`",
               content((Stats = "application/json"), (String = "text/csv"))),
              (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn stats(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> AppResult<Response> {
    let csv = q.format == Some(StatsFormat::Csv);
    let figures = stats::stats(&state, &caller, q).await?;
    Ok(if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            stats::to_csv(&figures),
        )
            .into_response()
    } else {
        Json(figures).into_response()
    })
}
