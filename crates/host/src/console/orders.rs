//! 我的订单: what a volunteer or a unit is offered, has in hand and has done, and the buttons
//! that move an order on — the same operations as `POST /api/v1/orders/{id}/…`.

use askama::Template;
use axum::{extract::State, response::Response};
use gongjian_core::{
    domain::{
        access::Role,
        order::{CompleteRequest, ListOrders, Order, PartyTotals, ReasonRequest},
        volunteer::Volunteer,
        OfferStatus, OrderStatus,
    },
    service::{orders, volunteers},
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Path, Query};
use super::{
    every_page,
    frame::{render, Frame},
    see_other, Oops, Viewer,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/orders.html")]
struct InboxPage {
    f: Frame,
    /// The volunteer's own record (a unit has none here).
    me: Option<Volunteer>,
    totals: PartyTotals,
    offered: Vec<Order>,
    active: Vec<Order>,
    history: Vec<Order>,
    more_history: Option<String>,
}

impl InboxPage {
    /// The hours of service done, to a tenth.
    fn hours(&self) -> String {
        format!("{:.1}", self.totals.service_minutes as f64 / 60.0)
    }

    fn points(&self) -> String {
        format!("{:.1}", self.totals.points)
    }
}

#[derive(Deserialize)]
pub struct InboxQuery {
    history: Option<String>,
}

/// Every order of one status the viewer sees, page after page.
async fn all_of(
    state: &AppState,
    viewer: &Viewer,
    status: OrderStatus,
) -> Result<Vec<Order>, Error> {
    every_page(|cursor| {
        orders::list(
            state,
            &viewer.principal,
            ListOrders {
                street_id: None,
                demand_id: None,
                status: Some(status),
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
}

pub async fn inbox(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<InboxQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let offered = all_of(&state, &viewer, OrderStatus::Offered)
        .await
        .map_err(|e| viewer.oops(e))?
        .into_iter()
        .filter(|o| o.your_offer == Some(OfferStatus::Open))
        .collect();
    let mut active = all_of(&state, &viewer, OrderStatus::Accepted)
        .await
        .map_err(|e| viewer.oops(e))?;
    active.extend(
        all_of(&state, &viewer, OrderStatus::InProgress)
            .await
            .map_err(|e| viewer.oops(e))?,
    );
    active.retain(|o| o.your_offer == Some(OfferStatus::Accepted));
    let done = orders::list(
        &state,
        &viewer.principal,
        ListOrders {
            street_id: None,
            demand_id: None,
            status: Some(OrderStatus::Completed),
            cursor: q.history,
            limit: Some(50),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    let history = done
        .items
        .into_iter()
        .filter(|o| o.your_offer == Some(OfferStatus::Accepted))
        .collect();
    let me = match viewer.principal.role {
        Role::Volunteer { volunteer, .. } => Some(
            volunteers::get_volunteer(&state, &viewer.principal, volunteer)
                .await
                .map_err(|e| viewer.oops(e))?,
        ),
        _ => None,
    };
    let totals = orders::my_totals(&state, &viewer.principal)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(render(&InboxPage {
        f: viewer.frame(t.orders_title, "/console/orders"),
        me,
        totals,
        offered,
        active,
        history,
        more_history: done.next_cursor,
    }))
}

pub async fn accept(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, Oops> {
    orders::accept(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/orders"))
}

#[derive(Deserialize)]
pub struct DeclineForm {
    reason: String,
}

pub async fn decline(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(body): Form<DeclineForm>,
) -> Result<Response, Oops> {
    orders::decline(
        &state,
        &viewer.principal,
        id,
        ReasonRequest {
            reason: body.reason,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/orders"))
}

pub async fn start(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, Oops> {
    orders::start(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/orders"))
}

#[derive(Deserialize)]
pub struct CompleteForm {
    minutes: String,
    #[serde(default)]
    note: String,
}

pub async fn complete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(body): Form<CompleteForm>,
) -> Result<Response, Oops> {
    let service_minutes = body.minutes.trim().parse::<i64>().map_err(|_| {
        viewer.oops(Error::field(
            "service_minutes",
            "invalid_type",
            "the minutes of service are a whole number",
        ))
    })?;
    let note = Some(body.note.trim().to_string()).filter(|n| !n.is_empty());
    orders::complete(
        &state,
        &viewer.principal,
        id,
        CompleteRequest {
            service_minutes,
            note,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/orders"))
}
