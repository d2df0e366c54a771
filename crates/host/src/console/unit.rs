//! A co-building unit's screens: its resources (register one, change what is left to offer,
//! pause and resume it) and the street's projects (claim a published one, report progress on
//! those it took) — the operations of `/api/v1/resources` and `/api/v1/projects`.

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use gongjian_core::{
    domain::{
        access::Role,
        project::{ListProjects, ProgressReport, Project, ProjectUpdate},
        resource::{CreateResource, ListResources, Resource, StatusChange, UpdateResource},
        street::Street,
        ListOrder, ProjectStatus, ResourceStatus, DEFAULT_CATEGORIES,
    },
    service::{projects, resources, streets},
    store::page::ListPage,
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Path};
use super::{
    every_page,
    frame::{render, render_status, FieldErrors, Frame},
    see_other, Oops, Viewer,
};
use crate::state::AppState;

/// The unit the viewer acts for, and the streets it serves.
fn unit_of(viewer: &Viewer) -> Result<(Uuid, Vec<Uuid>), Oops> {
    match &viewer.principal.role {
        Role::Unit { unit, streets } => Ok((*unit, streets.clone())),
        _ => Err(viewer.oops(Error::Forbidden(
            "these pages are a co-building unit's".into(),
        ))),
    }
}

#[derive(Template)]
#[template(path = "console/resources.html")]
struct ResourcesPage {
    f: Frame,
    resources: Vec<Resource>,
    streets: Vec<Street>,
    categories: Vec<(&'static str, &'static str)>,
    form: ResourceForm,
    errors: FieldErrors,
}

impl ResourcesPage {
    fn paused(&self, r: &Resource) -> bool {
        r.status == ResourceStatus::Paused
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ResourceForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    street_id: String,
    #[serde(default)]
    description: String,
}

async fn resources_page(
    state: &AppState,
    viewer: &Viewer,
    form: ResourceForm,
    errors: FieldErrors,
) -> Result<ResourcesPage, Oops> {
    let (unit, street_ids) = unit_of(viewer)?;
    let t = viewer.locale.texts();
    let mut out = every_page(|cursor| {
        resources::list_resources(
            state,
            &viewer.principal,
            ListResources {
                street_id: None,
                grid_id: None,
                owner_unit_id: Some(unit),
                owner_volunteer_id: None,
                category: None,
                tag: None,
                status: None,
                order: Some(ListOrder::Newest),
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
    .map_err(|e| viewer.oops(e))?;
    out.retain(|r| r.status != ResourceStatus::Archived);
    let mut served = vec![];
    for id in street_ids {
        served.push(
            streets::get_street(state, &viewer.principal, id)
                .await
                .map_err(|e| viewer.oops(e))?,
        );
    }
    Ok(ResourcesPage {
        f: viewer.frame(t.nav_resources, "/console/resources"),
        resources: out,
        streets: served,
        categories: DEFAULT_CATEGORIES.to_vec(),
        form,
        errors,
    })
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, Oops> {
    let page = resources_page(
        &state,
        &viewer,
        ResourceForm::default(),
        FieldErrors::default(),
    )
    .await?;
    Ok(render(&page))
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<ResourceForm>,
) -> Result<Response, Oops> {
    unit_of(&viewer)?;
    let mut errors = FieldErrors::default();
    let capacity = form.capacity.trim().parse::<i64>().ok();
    if capacity.is_none() {
        errors.note("capacity", viewer.locale.texts().error_invalid);
    }
    let street = Uuid::parse_str(form.street_id.trim()).ok();
    if street.is_none() {
        errors.note("street_id", viewer.locale.texts().error_invalid);
    }
    if let (Some(capacity), Some(street)) = (capacity, street) {
        let body = CreateResource {
            owner_unit_id: None,
            owner_volunteer_id: None,
            title: form.title.clone(),
            category: form.category.trim().to_string(),
            tags: vec![],
            description: Some(form.description.trim().to_string()).filter(|d| !d.is_empty()),
            capacity,
            street_ids: vec![street],
            served_grid_ids: vec![],
            available_from: None,
            available_until: None,
        };
        match resources::create_resource(&state, &viewer.principal, body).await {
            Ok(_) => return Ok(see_other("/console/resources")),
            Err(Error::Validation(fields)) => errors.note_all(fields, |f| match f {
                "street_ids" | "street_ids[0]" => "street_id",
                other => other,
            }),
            Err(e) => return Err(viewer.oops(e)),
        }
    }
    let page = resources_page(&state, &viewer, form, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Deserialize)]
pub struct ResourceChange {
    #[serde(default)]
    capacity: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// Changes what a resource offers (its capacity) or pauses and resumes it.
pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(form): Form<ResourceChange>,
) -> Result<Response, Oops> {
    unit_of(&viewer)?;
    let capacity = match form.capacity.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            viewer.oops(Error::field(
                "capacity",
                "invalid_type",
                "capacity is a whole number",
            ))
        })?),
    };
    let status = match form.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(StatusChange::from_db(s).map_err(|_| {
            viewer.oops(Error::field("status", "invalid_value", "active or paused"))
        })?),
    };
    resources::update_resource(
        &state,
        &viewer.principal,
        id,
        UpdateResource {
            title: None,
            category: None,
            tags: None,
            description: None,
            capacity,
            street_ids: None,
            served_grid_ids: None,
            available_from: None,
            available_until: None,
            status,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/resources"))
}

#[derive(Template)]
#[template(path = "console/projects.html")]
struct ProjectsPage {
    f: Frame,
    /// Published in the unit's streets, to claim.
    open: Vec<Project>,
    /// Claimed by the unit, with their progress reports.
    mine: Vec<(Project, Vec<ProjectUpdate>)>,
}

impl ProjectsPage {
    fn yuan(&self, fen: &i64) -> String {
        format!("{:.2}", *fen as f64 / 100.0)
    }

    fn done(&self, p: &Project) -> bool {
        p.status == ProjectStatus::Done
    }
}

async fn all_projects(
    state: &AppState,
    viewer: &Viewer,
    status: Option<ProjectStatus>,
    claimed_by: Option<Uuid>,
) -> Result<Vec<Project>, Oops> {
    every_page(|cursor| {
        projects::list_projects(
            state,
            &viewer.principal,
            ListProjects {
                street_id: None,
                status,
                claimed_by_unit_id: claimed_by,
                order: Some(ListOrder::Newest),
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
    .map_err(|e| viewer.oops(e))
}

pub async fn projects_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, Oops> {
    let (unit, _) = unit_of(&viewer)?;
    let t = viewer.locale.texts();
    let open = all_projects(&state, &viewer, Some(ProjectStatus::Published), None).await?;
    let mut mine = vec![];
    for p in all_projects(&state, &viewer, None, Some(unit)).await? {
        let updates = projects::list_updates(
            &state,
            &viewer.principal,
            p.id,
            ListPage {
                cursor: None,
                limit: Some(50),
            },
        )
        .await
        .map_err(|e| viewer.oops(e))?
        .items;
        mine.push((p, updates));
    }
    Ok(render(&ProjectsPage {
        f: viewer.frame(t.nav_projects, "/console/projects"),
        open,
        mine,
    }))
}

pub async fn claim(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, Oops> {
    unit_of(&viewer)?;
    projects::claim_project(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/projects"))
}

#[derive(Deserialize)]
pub struct ProgressForm {
    note: String,
    #[serde(default)]
    start: Option<String>,
}

pub async fn progress(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(form): Form<ProgressForm>,
) -> Result<Response, Oops> {
    unit_of(&viewer)?;
    projects::report_progress(
        &state,
        &viewer.principal,
        id,
        ProgressReport {
            note: form.note,
            start: form.start.is_some(),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/projects"))
}
