//! The order API: dispatching a demand as a service order (点单式派单), the order list, and
//! each transition of an order — accept, decline, start, complete, cancel — with its events.
//! Each handler reads the request and calls one operation of `service::orders`.

use axum::{
    extract::{Path, State},
    Json,
};
use gongjian_core::{
    domain::{
        access::Principal,
        order::{
            CompleteRequest, DispatchRequest, Event, ListEvents, ListOrders, Order, ReasonRequest,
        },
    },
    service::orders,
    store::page::Page,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Created;
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dispatch))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(start))
        .routes(routes!(complete))
        .routes(routes!(cancel))
        .routes(routes!(order_events))
        .routes(routes!(demand_events))
}

/// Dispatches an open demand: ranks its candidates with the street's rule and offers the
/// order to the best of them. A demand whose order ran out of candidates (`unassigned`) is
/// dispatched again the same way, its old order cancelled; those who declined it are not
/// offered it again. A demand edited, cancelled or dispatched while it was being ranked is
/// not dispatched (409 `demand_changed` or `not_open`).
#[utoipa::path(post, path = "/api/v1/demands/{id}/dispatch", tag = "orders", request_body = DispatchRequest,
    params(("id" = Uuid, Path, description = "demand id")),
    responses((status = 201, body = Order), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn dispatch(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DispatchRequest>,
) -> AppResult<Created<Order>> {
    let demand = path_id("id", &id)?;
    let order = orders::dispatch(&state, &caller, demand, body).await?;
    Ok(Created(format!("/api/v1/orders/{}", order.id), order))
}

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(ListOrders),
    responses((status = 200, body = Page<Order>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_orders(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListOrders>,
) -> AppResult<Json<Page<Order>>> {
    Ok(Json(orders::list(&state, &caller, q).await?))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_order(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Order>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::get(&state, &caller, id).await?))
}

/// Accepts an order offered to the caller, while the offer is open and its deadline has not
/// passed (409 `not_offered`, `offer_expired`). When several accept at once, exactly one wins;
/// the others get 409 `already_taken`. Accepting a resource's order uses one unit of its
/// capacity (409 `no_capacity`); a volunteer holds at most `max_open_orders` accepted or
/// started orders (409 `order_limit`).
#[utoipa::path(post, path = "/api/v1/orders/{id}/accept", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn accept(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Order>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::accept(&state, &caller, id).await?))
}

/// Declines an offered order, with a reason. When every open offer is declined, the next
/// candidates of the ranking are offered it; when the ranking runs out, it is unassigned.
#[utoipa::path(post, path = "/api/v1/orders/{id}/decline", tag = "orders", request_body = ReasonRequest,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn decline(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> AppResult<Json<Order>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::decline(&state, &caller, id, body).await?))
}

/// Starts an accepted order (the assignee).
#[utoipa::path(post, path = "/api/v1/orders/{id}/start", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn start(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Order>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::start(&state, &caller, id).await?))
}

/// Completes an order in progress (the assignee), recording the service time.
#[utoipa::path(post, path = "/api/v1/orders/{id}/complete", tag = "orders", request_body = CompleteRequest,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn complete(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompleteRequest>,
) -> AppResult<Json<Order>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::complete(&state, &caller, id, body).await?))
}

/// Cancels an order that is not finished (the street's admins). The demand opens again and
/// a resource gets back the capacity the order took.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", request_body = ReasonRequest,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn cancel(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> AppResult<Json<Order>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::cancel(&state, &caller, id, body).await?))
}

/// Every change to an order: who, when, what, why.
#[utoipa::path(get, path = "/api/v1/orders/{id}/events", tag = "orders",
    params(("id" = Uuid, Path, description = "order id"), ListEvents),
    responses((status = 200, body = Page<Event>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn order_events(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListEvents>,
) -> AppResult<Json<Page<Event>>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::order_events(&state, &caller, id, q).await?))
}

/// Every change to a demand: who, when, what, why.
#[utoipa::path(get, path = "/api/v1/demands/{id}/events", tag = "orders",
    params(("id" = Uuid, Path, description = "demand id"), ListEvents),
    responses((status = 200, body = Page<Event>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn demand_events(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListEvents>,
) -> AppResult<Json<Page<Event>>> {
    let id = path_id("id", &id)?;
    Ok(Json(orders::demand_events(&state, &caller, id, q).await?))
}
