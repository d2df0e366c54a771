//! Residents' demands: the list, filing one on a phone (the grid worker's form), a demand's
//! page with its orders and timeline, and rating the service on the resident's behalf.

use askama::Template;
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use gongjian_core::{
    domain::{
        access::Role,
        demand::{CreateDemand, Demand, ListDemands, Resident},
        feedback::RatingRequest,
        matching::MatchResult,
        order::{DispatchRequest, Event, ListEvents, ListOrders, Offer, Order},
        street::{Category, Grid, ListGrids},
        Channel, DemandStatus, ListOrder, OfferStatus, OrderStatus, Urgency, LOCAL_OFFSET,
    },
    service::{demands, feedback, intake, orders, plugins, streets},
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Path, Query};
use super::{
    base_url,
    csv::Csv,
    every_page,
    frame::{not_offered, render, render_status, FieldErrors, Frame},
    qr_svg, see_other, Oops, Viewer,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/demands.html")]
struct ListPage {
    f: Frame,
    demands: Vec<Demand>,
    next: Option<String>,
    q: ListQuery,
    grids: Vec<Grid>,
    categories: Vec<Category>,
    statuses: Vec<(DemandStatus, &'static str)>,
    /// The filters as a query string, for the next page and the CSV export.
    filters: String,
}

/// The demand list's filters, as the form sends them (blank is no filter).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    grid_id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    flagged: String,
    /// Filed on or after this local day, `YYYY-MM-DD`.
    #[serde(default)]
    from: String,
    /// Filed on or before this local day.
    #[serde(default)]
    to: String,
    #[serde(default, skip_serializing)]
    cursor: Option<String>,
}

/// The start of a local day (`YYYY-MM-DD`, UTC+8), `days` later, as an instant.
fn local_day(field: &str, value: &str, days: i64) -> Result<Option<String>, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value, &format).map_err(|_| Error::BadRequest {
        code: "invalid_query",
        message: "a day is written YYYY-MM-DD".into(),
        field: Some(field.to_string()),
    })?;
    let start = time::PrimitiveDateTime::new(date, time::Time::MIDNIGHT)
        .assume_offset(LOCAL_OFFSET)
        + time::Duration::days(days);
    Ok(Some(gongjian_core::domain::format_ts(start)))
}

impl ListQuery {
    /// The operation's filters: a blank field filters nothing; a value the form cannot send
    /// is a 400.
    fn filters(&self, cursor: Option<String>, limit: u32) -> Result<ListDemands, Error> {
        let bad = not_offered;
        let blank = |v: &str| v.trim().is_empty();
        Ok(ListDemands {
            street_id: None,
            grid_id: if blank(&self.grid_id) {
                None
            } else {
                Some(Uuid::parse_str(self.grid_id.trim()).map_err(|_| bad("grid_id"))?)
            },
            status: if blank(&self.status) {
                None
            } else {
                Some(DemandStatus::from_db(self.status.trim()).map_err(|_| bad("status"))?)
            },
            category: Some(self.category.trim().to_string()).filter(|c| !c.is_empty()),
            channel: None,
            urgency: None,
            tag: None,
            flagged: match self.flagged.trim() {
                "" => None,
                "true" => Some(true),
                "false" => Some(false),
                _ => return Err(bad("flagged")),
            },
            filed_from: local_day("from", &self.from, 0)?,
            filed_to: local_day("to", &self.to, 1)?,
            order: Some(ListOrder::Newest),
            cursor,
            limit: Some(limit),
        })
    }
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let filters = q
        .filters(q.cursor.clone(), 50)
        .map_err(|e| viewer.oops(e))?;
    let page = demands::list(&state, &viewer.principal, filters)
        .await
        .map_err(|e| viewer.oops(e))?;
    let (grids, categories) = match viewer.principal.home_street() {
        Some(street) if viewer.principal.sees_resident_data(street) => {
            street_choices(&state, &viewer, street).await?
        }
        _ => (vec![], vec![]),
    };
    let statuses = [
        DemandStatus::Open,
        DemandStatus::Dispatched,
        DemandStatus::InProgress,
        DemandStatus::Completed,
        DemandStatus::Cancelled,
    ]
    .into_iter()
    .map(|s| (s, t.demand_status(&s)))
    .collect();
    let filters = serde_urlencoded::to_string(&q).unwrap_or_default();
    Ok(render(&ListPage {
        f: viewer.frame(t.demands_title, "/console/demands"),
        demands: page.items,
        next: page.next_cursor,
        q,
        grids,
        categories,
        statuses,
        filters,
    }))
}

/// A street's grids and categories, to choose from on a form.
async fn street_choices(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
) -> Result<(Vec<Grid>, Vec<Category>), Oops> {
    let grids = streets::list_grids(
        state,
        &viewer.principal,
        street,
        ListGrids {
            community_id: None,
            cursor: None,
            limit: Some(200),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    let categories = streets::list_categories(state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?
        .items;
    Ok((grids, categories))
}

/// The demands the filters select, every page of them, as CSV. Residents' data is as the list
/// shows it to the same person.
pub async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let mut csv = Csv::new(&[
        "id",
        t.demand_filed_at,
        t.demand_status,
        t.demand_category,
        t.demand_urgency,
        t.demand_grid,
        t.demand_resident_name,
        t.demand_resident_phone,
        t.demand_resident_address,
        t.demand_description,
        t.demand_flagged,
    ]);
    let all = every_page(|cursor| {
        let filters = q.filters(cursor, 200);
        let state = &state;
        let principal = &viewer.principal;
        async move { demands::list(state, principal, filters?).await }
    })
    .await
    .map_err(|e| viewer.oops(e))?;
    for d in &all {
        let row = [
            d.id.to_string(),
            d.created_at.clone(),
            d.status.as_str().to_string(),
            d.category.clone(),
            d.urgency.as_str().to_string(),
            d.grid_id.to_string(),
            d.resident.name.clone(),
            d.resident.phone.clone(),
            d.resident.address.clone(),
            d.description.clone(),
            d.flagged.to_string(),
        ];
        csv.row(&row);
    }
    Ok(csv.download("demands.csv"))
}

/// What the filing form was filled with, to show again beside its errors.
#[derive(Debug, Default, Deserialize)]
pub struct DemandForm {
    #[serde(default)]
    grid_id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    resident_name: String,
    #[serde(default)]
    resident_phone: String,
    #[serde(default)]
    resident_address: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    window_start: String,
    #[serde(default)]
    window_end: String,
}

#[derive(Template)]
#[template(path = "console/demand_new.html")]
struct NewPage {
    f: Frame,
    grids: Vec<Grid>,
    categories: Vec<Category>,
    urgencies: Vec<(Urgency, &'static str)>,
    form: DemandForm,
    /// Each field's error, by the form field's name.
    errors: FieldErrors,
}

/// The street the viewer files demands for.
fn filing_street(viewer: &Viewer) -> Result<Uuid, Oops> {
    match &viewer.principal.role {
        Role::GridWorker { street } | Role::StreetAdmin { street } => Ok(*street),
        _ => Err(viewer.oops(Error::Forbidden(
            "only a street's staff file demands in the console".into(),
        ))),
    }
}

async fn new_page(
    state: &AppState,
    viewer: &Viewer,
    form: DemandForm,
    errors: FieldErrors,
) -> Result<NewPage, Oops> {
    let t = viewer.locale.texts();
    let street = filing_street(viewer)?;
    let (grids, categories) = street_choices(state, viewer, street).await?;
    let urgencies = [
        Urgency::Normal,
        Urgency::High,
        Urgency::Critical,
        Urgency::Low,
    ]
    .into_iter()
    .map(|u| (u, t.urgency(&u)))
    .collect();
    Ok(NewPage {
        f: viewer.frame(t.demand_new_title, "/console/demands/new"),
        grids,
        categories,
        urgencies,
        form,
        errors,
    })
}

pub async fn new(State(state): State<AppState>, viewer: Viewer) -> Result<Response, Oops> {
    let page = new_page(
        &state,
        &viewer,
        DemandForm::default(),
        FieldErrors::default(),
    )
    .await?;
    Ok(render(&page))
}

/// A `datetime-local` value (local time, UTC+8) as an instant, RFC 3339; blank is none.
fn local_instant(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let with_seconds = if value.len() == 16 {
        format!("{value}:00")
    } else {
        value.to_string()
    };
    let offset = LOCAL_OFFSET;
    let (h, m, _) = offset.as_hms();
    Some(format!(
        "{with_seconds}{}{:02}:{:02}",
        if h < 0 { '-' } else { '+' },
        h.abs(),
        m.abs()
    ))
}

/// Which form field an operation's field error is about.
fn form_field(field: &str) -> &str {
    match field {
        "resident.name" => "resident_name",
        "resident.phone" => "resident_phone",
        "resident.address" => "resident_address",
        other => other,
    }
}

pub async fn file(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<DemandForm>,
) -> Result<Response, Oops> {
    filing_street(&viewer)?;
    let mut errors = FieldErrors::default();
    let grid_id = match Uuid::parse_str(form.grid_id.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.note("grid_id", viewer.locale.texts().error_invalid);
            None
        }
    };
    let urgency = Urgency::from_db(form.urgency.trim()).ok();
    let channel = match viewer.principal.role {
        Role::GridWorker { .. } => Channel::GridWorker,
        _ => Channel::Visit,
    };
    if let Some(grid_id) = grid_id {
        let body = CreateDemand {
            grid_id,
            category: form.category.trim().to_string(),
            tags: vec![],
            urgency,
            channel,
            description: form.description.clone(),
            resident: Resident {
                name: form.resident_name.clone(),
                phone: form.resident_phone.clone(),
                address: form.resident_address.clone(),
            },
            window_start: local_instant(&form.window_start),
            window_end: local_instant(&form.window_end),
        };
        match intake::file(&state, &viewer.principal, body).await {
            Ok(demand) => return Ok(see_other(&format!("/console/demands/{}", demand.id))),
            Err(Error::Validation(fields)) => errors.note_all(fields, form_field),
            Err(e) => return Err(viewer.oops(e)),
        }
    }
    let page = new_page(&state, &viewer, form, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Template)]
#[template(path = "console/demand.html")]
struct ShowPage {
    f: Frame,
    demand: Demand,
    orders: Vec<Order>,
    events: Vec<Event>,
    /// The completed order the viewer may rate for the resident.
    to_rate: Option<Uuid>,
    /// How the street's rule ranks the candidates now, for an open demand.
    ranking: Option<MatchResult>,
    /// A feedback link just made for the resident: its address and QR code.
    feedback: Option<(String, String)>,
}

impl ShowPage {
    /// Who carries an order out, by the name the ranking gave them; empty while nobody does.
    fn served_by(&self, o: &Order) -> String {
        o.assignee_id
            .map(|a| Self::name_in(o, a))
            .unwrap_or_default()
    }

    /// A candidate's name as the order's ranking gives it.
    fn name_in(o: &Order, candidate: Uuid) -> String {
        o.ranking
            .iter()
            .flatten()
            .find(|r| r.id == candidate)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    }

    fn offer_name(&self, o: &Order, offer: &Offer) -> String {
        Self::name_in(o, offer.candidate_id)
    }

    fn offer_status(&self, offer: &Offer) -> &'static str {
        let t = self.f.t;
        match offer.status {
            OfferStatus::Open => t.status_offered,
            OfferStatus::Accepted => t.status_accepted,
            OfferStatus::Declined => t.action_declined,
            OfferStatus::Withdrawn => t.status_cancelled,
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, Oops> {
    Ok(render(&show_page(&state, &viewer, id, None).await?))
}

async fn show_page(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    feedback: Option<(String, String)>,
) -> Result<ShowPage, Oops> {
    let state = state.clone();
    let demand = demands::get(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let orders = orders::list(
        &state,
        &viewer.principal,
        ListOrders {
            street_id: None,
            demand_id: Some(id),
            status: None,
            cursor: None,
            limit: Some(200),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    let events = orders::demand_events(
        &state,
        &viewer.principal,
        id,
        ListEvents {
            cursor: None,
            limit: Some(200),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    let staff = viewer.principal.sees_resident_data(demand.street_id);
    let to_rate = staff
        .then(|| {
            orders
                .iter()
                .find(|o| o.status == OrderStatus::Completed && o.rating.is_none())
                .map(|o| o.id)
        })
        .flatten();
    let ranking = if staff && demand.status == DemandStatus::Open {
        Some(
            plugins::match_demand(&state, &viewer.principal, id)
                .await
                .map_err(|e| viewer.oops(e))?,
        )
    } else {
        None
    };
    let mut f = viewer.frame("", "/console/demands");
    f.title = format!(
        "{} · {}",
        f.category(&demand.category),
        viewer.locale.texts().demand_status(&demand.status)
    );
    Ok(ShowPage {
        f,
        demand,
        orders,
        events,
        to_rate,
        ranking,
        feedback,
    })
}

#[derive(Deserialize)]
pub struct DispatchForm {
    offer_count: String,
}

/// Dispatches (or dispatches again) an open demand, as `POST /demands/{id}/dispatch` does.
pub async fn dispatch(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(body): Form<DispatchForm>,
) -> Result<Response, Oops> {
    let offer_count = body.offer_count.trim().parse::<i64>().map_err(|_| {
        viewer.oops(Error::field(
            "offer_count",
            "invalid_type",
            "the number of candidates offered at once is a whole number",
        ))
    })?;
    orders::dispatch(
        &state,
        &viewer.principal,
        id,
        DispatchRequest {
            offer_count: Some(offer_count),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/demands/{id}")))
}

#[derive(Deserialize)]
pub struct FeedbackLinkForm {
    order_id: Uuid,
}

/// Makes the resident's one-time feedback link for a completed order, and shows it on the
/// demand's page as a QR code to scan, once.
pub async fn feedback_link(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(body): Form<FeedbackLinkForm>,
) -> Result<Response, Oops> {
    let order = orders::get(&state, &viewer.principal, body.order_id)
        .await
        .map_err(|e| viewer.oops(e))?;
    if order.demand_id != id {
        return Err(viewer.oops(Error::NotFound("order")));
    }
    let link = feedback::create_link(&state, &viewer.principal, body.order_id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let url = format!("{}/console/feedback/{}", base_url(&headers), link.token);
    let qr = qr_svg(&url).map_err(|e| viewer.oops(e))?;
    Ok(render(
        &show_page(&state, &viewer, id, Some((url, qr))).await?,
    ))
}

#[derive(Deserialize)]
pub struct RateForm {
    order_id: Uuid,
    rating: String,
    #[serde(default)]
    comment: String,
}

pub async fn rate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(body): Form<RateForm>,
) -> Result<Response, Oops> {
    let rating = body.rating.trim().parse::<i64>().map_err(|_| {
        viewer.oops(Error::field(
            "rating",
            "invalid_type",
            "the rating is 1 to 5",
        ))
    })?;
    let order = orders::get(&state, &viewer.principal, body.order_id)
        .await
        .map_err(|e| viewer.oops(e))?;
    if order.demand_id != id {
        return Err(viewer.oops(Error::NotFound("order")));
    }
    let comment = Some(body.comment.trim().to_string()).filter(|c| !c.is_empty());
    feedback::rate(
        &state,
        &viewer.principal,
        body.order_id,
        RatingRequest { rating, comment },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/demands/{id}")))
}
