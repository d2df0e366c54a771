//! 通知渠道: a street's webhook endpoints and WeCom group robots, as `/api/v1/webhooks`
//! manages them — register one (a webhook's secret shown this once), pause and resume it,
//! remove it — and each one's delivery log with its latest attempts and a redeliver button.

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use gongjian_core::{
    domain::{
        notification::{
            CreateEndpoint, Delivery, DeliveryStatus, Endpoint, EndpointChannel, EndpointOwner,
            EndpointStatus, ListDeliveries, ListEndpoints, NotificationType, UpdateEndpoint,
        },
        street::Grid,
    },
    service::webhooks,
    store::page::Page,
    Error,
};
use uuid::Uuid;

use super::extract::{Form, Path};
use super::{
    every_page,
    frame::{render, render_status, FieldErrors, Frame},
    see_other, Oops, Viewer,
};
use crate::state::AppState;

/// What was typed into the form, to show again beside its errors.
#[derive(Default)]
pub struct Typed {
    pub channel: String,
    pub url: String,
    pub description: String,
    pub grid_id: String,
    pub event_types: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    f: Frame,
    street_id: Uuid,
    endpoints: Vec<Endpoint>,
    grids: Vec<Grid>,
    types: Vec<NotificationType>,
    typed: Typed,
    errors: FieldErrors,
    /// A webhook just registered, with its secret, shown once.
    created: Option<Endpoint>,
}

impl WebhookPage {
    /// Whether a delivery may be sent again (not while it is still being tried).
    fn redeliverable(&self, d: &Delivery) -> bool {
        d.status != DeliveryStatus::Pending
    }
}

impl WebhooksPage {
    fn grid_name(&self, id: &Option<Uuid>) -> String {
        match id {
            None => String::new(),
            Some(id) => self
                .grids
                .iter()
                .find(|g| g.id == *id)
                .map(|g| g.name.clone())
                .unwrap_or_else(|| id.to_string()),
        }
    }

    fn checked(&self, t: &NotificationType) -> bool {
        self.typed.event_types.iter().any(|x| x == t.as_str())
    }
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    f: Frame,
    street_id: Uuid,
    endpoint: Endpoint,
    deliveries: Vec<Delivery>,
    next: Option<String>,
}

/// Whether the viewer manages the street's endpoints: another street's page is 404, a grid
/// worker's 403, as the operations answer.
fn managed_by(viewer: &Viewer, street: Uuid) -> Result<(), Oops> {
    viewer.street_office(street)?;
    if viewer
        .principal
        .manages_endpoints_of(EndpointOwner::Street, Some(street))
    {
        Ok(())
    } else {
        Err(viewer.oops(Error::forbidden(
            "a street's notification channels are managed by its admins and the district",
        )))
    }
}

/// Endpoint `id` of `street`, for one who manages the street's endpoints; another street's
/// (or another owner's) is 404, as one that does not exist.
async fn street_endpoint(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    id: Uuid,
) -> Result<Endpoint, Oops> {
    managed_by(viewer, street)?;
    let e = webhooks::get_endpoint(state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    if e.owner_id != Some(street) {
        return Err(viewer.oops(Error::NotFound("endpoint")));
    }
    Ok(e)
}

async fn page_of(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    typed: Typed,
    errors: FieldErrors,
    created: Option<Endpoint>,
) -> Result<WebhooksPage, Oops> {
    managed_by(viewer, street)?;
    let t = viewer.locale.texts();
    let endpoints = every_page(|cursor| {
        webhooks::list_endpoints(
            state,
            &viewer.principal,
            ListEndpoints {
                owner: Some(EndpointOwner::Street),
                owner_id: Some(street),
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
    .map_err(|e| viewer.oops(e))?;
    let grids = super::street_grids(state, viewer, street).await?;
    Ok(WebhooksPage {
        f: viewer.frame(
            t.nav_webhooks,
            &format!("/console/streets/{street}/webhooks"),
        ),
        street_id: street,
        endpoints,
        grids,
        types: NotificationType::ALL.to_vec(),
        typed,
        errors,
        created,
    })
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
) -> Result<Response, Oops> {
    let page = page_of(
        &state,
        &viewer,
        street,
        Typed {
            channel: "wecom".into(),
            ..Typed::default()
        },
        FieldErrors::default(),
        None,
    )
    .await?;
    Ok(render(&page))
}

/// Registers an endpoint of the street; a webhook's secret is shown on the page that answers,
/// this once.
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Oops> {
    managed_by(&viewer, street)?;
    let mut typed = Typed::default();
    for (name, value) in fields {
        match name.as_str() {
            "channel" => typed.channel = value,
            "url" => typed.url = value,
            "description" => typed.description = value,
            "grid_id" => typed.grid_id = value,
            "event_types" => typed.event_types.push(value),
            _ => {}
        }
    }
    let mut errors = FieldErrors::default();
    let invalid = viewer.locale.texts().error_invalid;
    let channel = match EndpointChannel::from_db(&typed.channel) {
        Ok(c) => Some(c),
        Err(_) => {
            errors.note("channel", invalid);
            None
        }
    };
    let grid_id = match typed.grid_id.trim() {
        "" => None,
        g => match Uuid::parse_str(g) {
            Ok(g) => Some(g),
            Err(_) => {
                errors.note("grid_id", invalid);
                None
            }
        },
    };
    let mut event_types = vec![];
    for t in &typed.event_types {
        match NotificationType::from_db(t) {
            Ok(t) => event_types.push(t),
            Err(_) => errors.note("event_types", invalid),
        }
    }
    if errors.is_empty() {
        let body = CreateEndpoint {
            owner: EndpointOwner::Street,
            owner_id: Some(street),
            channel,
            grid_id,
            url: typed.url.trim().to_string(),
            description: Some(typed.description.trim().to_string()).filter(|d| !d.is_empty()),
            event_types,
        };
        match webhooks::create_endpoint(&state, &viewer.principal, body).await {
            Ok(made) if made.secret.is_none() => {
                return Ok(see_other(&format!("/console/streets/{street}/webhooks")))
            }
            Ok(made) => {
                let page = page_of(
                    &state,
                    &viewer,
                    street,
                    Typed::default(),
                    FieldErrors::default(),
                    Some(made),
                )
                .await?;
                return Ok(render_status(StatusCode::CREATED, &page));
            }
            Err(Error::Validation(fields)) => {
                errors.note_all(fields, |f| f.split(['[', '.']).next().unwrap_or(""))
            }
            Err(e) => return Err(viewer.oops(e)),
        }
    }
    let page = page_of(&state, &viewer, street, typed, errors, None).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(serde::Deserialize)]
pub struct StatusForm {
    status: String,
}

/// Pauses or resumes an endpoint (resuming one a receiver disabled).
pub async fn set_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, id)): Path<(Uuid, Uuid)>,
    Form(form): Form<StatusForm>,
) -> Result<Response, Oops> {
    managed_by(&viewer, street)?;
    let status = EndpointStatus::from_db(&form.status).map_err(|_| {
        viewer.oops(Error::field(
            "status",
            "invalid_value",
            "enabled or disabled",
        ))
    })?;
    street_endpoint(&state, &viewer, street, id).await?;
    webhooks::update_endpoint(
        &state,
        &viewer.principal,
        id,
        UpdateEndpoint {
            url: None,
            description: None,
            event_types: None,
            status: Some(status),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/webhooks")))
}

/// Removes an endpoint with its delivery log.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, id)): Path<(Uuid, Uuid)>,
) -> Result<Response, Oops> {
    street_endpoint(&state, &viewer, street, id).await?;
    webhooks::delete_endpoint(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/webhooks")))
}

/// An endpoint's delivery log, newest first, with the latest attempts of each.
pub async fn deliveries(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, id)): Path<(Uuid, Uuid)>,
    super::extract::Query(q): super::extract::Query<LogQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let endpoint = street_endpoint(&state, &viewer, street, id).await?;
    let Page { items, next_cursor } = webhooks::list_deliveries(
        &state,
        &viewer.principal,
        id,
        ListDeliveries {
            status: None,
            cursor: q.cursor.filter(|c| !c.is_empty()),
            limit: Some(50),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(render(&WebhookPage {
        f: viewer.frame(
            t.webhook_log_title,
            &format!("/console/streets/{street}/webhooks"),
        ),
        street_id: street,
        endpoint,
        deliveries: items,
        next: next_cursor,
    }))
}

#[derive(serde::Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// Sends a delivery again, its schedule from the start.
pub async fn redeliver(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, id, delivery)): Path<(Uuid, Uuid, Uuid)>,
) -> Result<Response, Oops> {
    street_endpoint(&state, &viewer, street, id).await?;
    webhooks::redeliver(&state, &viewer.principal, id, delivery)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!(
        "/console/streets/{street}/webhooks/{id}"
    )))
}
