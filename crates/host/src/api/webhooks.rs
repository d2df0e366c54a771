//! Notifications: webhook endpoints with their delivery log, and the caller's own feed.
//! Each handler reads the request, calls one operation of `service::webhooks` or
//! `service::notifications` and answers.

use super::Created;
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
    stream::{self, Source},
};
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{sse, Response},
    Json,
};
use gongjian_core::domain::access::Principal;
use gongjian_core::domain::notification::{
    CreateEndpoint, Delivery, Digest, Endpoint, FeedItem, ListDeliveries, ListDigests,
    ListEndpoints, ListNotifications, Notification, Preferences, PutPreferences, UpdateEndpoint,
};
use gongjian_core::service::{notifications, webhooks};
use gongjian_core::store::{page::Page, tokens};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
        .routes(routes!(list_notifications))
        .routes(routes!(notification_stream))
        .routes(routes!(mark_read))
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(list_digests))
}

/// The webhook endpoints the caller manages: the district's sees every one, a street admin the
/// street's, a unit its own.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications", params(ListEndpoints),
    responses((status = 200, body = Page<Endpoint>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_endpoints(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListEndpoints>,
) -> AppResult<Json<Page<Endpoint>>> {
    Ok(Json(webhooks::list_endpoints(&state, &caller, q).await?))
}

/// Registers an endpoint. A webhook's answer carries its signing secret (`whsec_…`), shown
/// only now; each message is posted with `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers (the Standard Webhooks convention), retried on failure for
/// about three days. A WeCom group robot (`channel: wecom`, its address with its `key`) is
/// posted a markdown message naming no resident, with a link to the console, at most 20 a
/// minute (the overflow folded into one summary); registering one needs the operator's
/// `public_url` (409 `public_url_not_set` without it).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", request_body = CreateEndpoint,
    responses((status = 201, body = Endpoint), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_endpoint(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> AppResult<Created<Endpoint>> {
    let created = webhooks::create_endpoint(&state, &caller, body).await?;
    Ok(Created(format!("/api/v1/webhooks/{}", created.id), created))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "notifications",
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = Endpoint), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_endpoint(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Endpoint>> {
    let id = path_id("id", &id)?;
    Ok(Json(webhooks::get_endpoint(&state, &caller, id).await?))
}

/// Changes an endpoint's URL, description, event types, or status (enable it again after
/// its receiver answered 410 Gone).
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "notifications", request_body = UpdateEndpoint,
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = Endpoint), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn update_endpoint(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateEndpoint>,
) -> AppResult<Json<Endpoint>> {
    let id = path_id("id", &id)?;
    Ok(Json(
        webhooks::update_endpoint(&state, &caller, id, body).await?,
    ))
}

/// Deletes an endpoint with its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications",
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 204), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn delete_endpoint(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("id", &id)?;
    webhooks::delete_endpoint(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an endpoint a new secret, shown only in this answer. Until
/// `previous_secret_until` each message is signed with both, so the receiver can switch
/// without losing one. A WeCom robot has no secret to rotate (409 `not_signed`): its key is
/// in its address, changed by updating the address.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "notifications",
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = Endpoint), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Endpoint>> {
    let id = path_id("id", &id)?;
    Ok(Json(webhooks::rotate_secret(&state, &caller, id).await?))
}

/// An endpoint's delivery log, newest first, each delivery with its latest attempts.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "notifications",
    params(("id" = Uuid, Path, description = "endpoint id"), ListDeliveries),
    responses((status = 200, body = Page<Delivery>), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListDeliveries>,
) -> AppResult<Json<Page<Delivery>>> {
    let id = path_id("id", &id)?;
    Ok(Json(
        webhooks::list_deliveries(&state, &caller, id, q).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries/{delivery}", tag = "notifications",
    params(("id" = Uuid, Path, description = "endpoint id"), ("delivery" = Uuid, Path, description = "delivery id")),
    responses((status = 200, body = Delivery), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn get_delivery(
    State(state): State<AppState>,
    caller: Principal,
    Path((id, delivery)): Path<(String, String)>,
) -> AppResult<Json<Delivery>> {
    let (id, delivery) = (path_id("id", &id)?, path_id("delivery", &delivery)?);
    Ok(Json(
        webhooks::get_delivery(&state, &caller, id, delivery).await?,
    ))
}

/// Sends a delivered or failed message again, its schedule of attempts from the start.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "notifications",
    params(("id" = Uuid, Path, description = "endpoint id"), ("delivery" = Uuid, Path, description = "delivery id")),
    responses((status = 200, body = Delivery), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn redeliver(
    State(state): State<AppState>,
    caller: Principal,
    Path((id, delivery)): Path<(String, String)>,
) -> AppResult<Json<Delivery>> {
    let (id, delivery) = (path_id("id", &id)?, path_id("delivery", &delivery)?);
    Ok(Json(
        webhooks::redeliver(&state, &caller, id, delivery).await?,
    ))
}

/// The caller's feed, newest first: a street's staff read the street's notifications (the
/// district every street's), a volunteer or a unit those addressed to it (its offers, their
/// withdrawal, its orders cancelled or overdue).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(ListNotifications),
    responses((status = 200, body = Page<Notification>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_notifications(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListNotifications>,
) -> AppResult<Json<Page<Notification>>> {
    Ok(Json(notifications::list(&state, &caller, q).await?))
}

/// The caller's feed as it grows, as Server-Sent Events: each notification an event named
/// `notification`, its id the notification's id and its data the notification as the list
/// shows it (only the types the caller chose). A caller who chose a daily digest is sent
/// their digests instead, each an event named `digest` at the hour they chose. A client that reconnects with `Last-Event-ID` gets what it missed; a fresh stream
/// starts from now (read the list first and pass its newest id as `Last-Event-ID` to miss
/// nothing in between). An item may come twice around a reconnect: deduplicate by id. The
/// stream ends within seconds of its token being revoked.
#[utoipa::path(get, path = "/api/v1/notifications/stream", tag = "notifications",
    params(("Last-Event-ID" = Option<String>, Header, description = "The id of the last notification received")),
    responses((status = 200, content_type = "text/event-stream", body = String,
               description = "`event: notification`, `id: <notification id>`, `data: <Notification as JSON>`; or `event: digest`, `data: <Digest as JSON>`")),
    security(("bearer" = [])))]
async fn notification_stream(
    State(state): State<AppState>,
    caller: Principal,
    headers: HeaderMap,
) -> Response {
    let after = stream::start_after(&headers, std::time::Duration::ZERO);
    let token = crate::auth::bearer(&headers)
        .unwrap_or_default()
        .to_string();
    stream::follow(
        Feed {
            state,
            caller,
            token,
        },
        after,
    )
}

/// A caller's feed, as a stream follows it.
struct Feed {
    state: AppState,
    caller: Principal,
    token: String,
}

impl Source for Feed {
    type Item = FeedItem;

    fn id(item: &FeedItem) -> Uuid {
        item.id()
    }

    async fn read(&mut self, after: Uuid, limit: u32) -> gongjian_core::Result<Vec<FeedItem>> {
        notifications::stream_since(&self.state, &self.caller, after, limit).await
    }

    async fn still_allowed(&mut self) -> gongjian_core::Result<bool> {
        Ok(tokens::resolve(self.state.db.read(), &self.token)
            .await?
            .is_some())
    }

    fn event(item: &FeedItem) -> sse::Event {
        match item {
            FeedItem::Notification(n) => {
                let data = serde_json::to_string(n).expect("a notification serializes");
                sse::Event::default().event("notification").data(data)
            }
            FeedItem::Digest(d) => {
                let data = serde_json::to_string(d).expect("a digest serializes");
                sse::Event::default().event("digest").data(data)
            }
        }
    }
}

/// Which notifications to mark read.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// These notifications of the caller's feed.
    #[serde(default)]
    pub ids: Vec<Uuid>,
    /// Every notification of the caller's feed up to this one, included.
    pub through: Option<Uuid>,
}

/// Marks notifications of the caller's feed read.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", request_body = MarkRead,
    responses((status = 204), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn mark_read(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<MarkRead>,
) -> AppResult<StatusCode> {
    notifications::mark_read(&state, &caller, body.ids, body.through).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the caller hears of and how: the types their feed lists (none chosen: all), and
/// whether each comes at once or in a daily digest at a local hour.
#[utoipa::path(get, path = "/api/v1/notifications/preferences", tag = "notifications",
    responses((status = 200, body = Preferences)),
    security(("bearer" = [])))]
async fn get_preferences(
    State(state): State<AppState>,
    caller: Principal,
) -> AppResult<Json<Preferences>> {
    Ok(Json(notifications::preferences(&state, &caller).await?))
}

/// Sets what the caller hears of and how; what the body leaves out keeps its value. A daily
/// digest is made at `digest_hour` (local time) of everything the feed received since the
/// last one, and the stream sends it instead of each notification.
#[utoipa::path(put, path = "/api/v1/notifications/preferences", tag = "notifications",
    request_body = PutPreferences,
    responses((status = 200, body = Preferences), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn put_preferences(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<PutPreferences>,
) -> AppResult<Json<Preferences>> {
    Ok(Json(
        notifications::put_preferences(&state, &caller, body).await?,
    ))
}

/// The caller's daily digests, newest first.
#[utoipa::path(get, path = "/api/v1/notifications/digests", tag = "notifications", params(ListDigests),
    responses((status = 200, body = Page<Digest>), (status = 400, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_digests(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListDigests>,
) -> AppResult<Json<Page<Digest>>> {
    Ok(Json(notifications::digests(&state, &caller, q).await?))
}
