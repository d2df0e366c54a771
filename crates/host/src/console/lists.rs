//! The street's other two lists as its office reads them — the resources on offer (by
//! category, status and owner) and the projects (by status), each with its CSV — and the
//! office's project work: set one up, publish or withdraw it, and close it with its evaluation.
//! (The third list, the demands, is `demands.rs`.)

use std::collections::HashMap;

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use gongjian_core::{
    domain::{
        project::{CreateProject, ListProjects, Project, ProjectEvaluation, UpdateProject},
        resource::{ListResources, Resource},
        street::Street,
        unit::{ListUnits, Unit},
        ListOrder, ProjectStatus, ResourceStatus, DEFAULT_CATEGORIES,
    },
    service::{projects, resources, streets, units, volunteers},
    store::page::Page,
    Error,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{Form, Path, Query};
use super::{
    csv::Csv,
    every_page,
    frame::{not_offered, render, render_status, FieldErrors, Frame},
    see_other, Oops, Viewer,
};
use crate::state::AppState;

/// Rows a list page shows at once.
const PAGE_ROWS: u32 = 50;

/// The resource list's filters, as the form sends them: a blank one filters nothing.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ResourceQuery {
    #[serde(default)]
    category: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    unit_id: String,
    #[serde(default, skip_serializing)]
    cursor: Option<String>,
}

impl ResourceQuery {
    fn filters(
        &self,
        street: Uuid,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ListResources, Error> {
        let bad = not_offered;
        let blank = |v: &str| v.trim().is_empty();
        Ok(ListResources {
            street_id: Some(street),
            grid_id: None,
            owner_unit_id: if blank(&self.unit_id) {
                None
            } else {
                Some(Uuid::parse_str(self.unit_id.trim()).map_err(|_| bad("unit_id"))?)
            },
            owner_volunteer_id: None,
            category: Some(self.category.trim().to_string()).filter(|c| !c.is_empty()),
            tag: None,
            status: if blank(&self.status) {
                None
            } else {
                Some(ResourceStatus::from_db(self.status.trim()).map_err(|_| bad("status"))?)
            },
            order: Some(ListOrder::Newest),
            cursor,
            limit: Some(limit),
        })
    }
}

/// Who offers each resource, by name: its unit, or its volunteer.
struct Owners {
    units: HashMap<Uuid, String>,
    volunteers: HashMap<Uuid, String>,
}

impl Owners {
    /// The names of the street's units, and of the volunteers who own one of `rows`.
    async fn of(
        state: &AppState,
        viewer: &Viewer,
        units: &[Unit],
        rows: &[Resource],
    ) -> Result<Owners, Oops> {
        let mut volunteers = HashMap::new();
        for id in rows.iter().filter_map(|r| r.owner_volunteer_id) {
            if let std::collections::hash_map::Entry::Vacant(e) = volunteers.entry(id) {
                let v = volunteers::get_volunteer(state, &viewer.principal, id)
                    .await
                    .map_err(|e| viewer.oops(e))?;
                e.insert(v.name);
            }
        }
        Ok(Owners {
            units: units.iter().map(|u| (u.id, u.name.clone())).collect(),
            volunteers,
        })
    }

    fn name(&self, r: &Resource) -> String {
        r.owner_unit_id
            .and_then(|u| self.units.get(&u))
            .or_else(|| r.owner_volunteer_id.and_then(|v| self.volunteers.get(&v)))
            .cloned()
            .unwrap_or_default()
    }
}

/// The units that serve a street, archived ones too (their resources stay listed).
async fn units_of(state: &AppState, viewer: &Viewer, street: Uuid) -> Result<Vec<Unit>, Oops> {
    every_page(|cursor| {
        units::list_units(
            state,
            &viewer.principal,
            ListUnits {
                street_id: Some(street),
                kind: None,
                include_archived: Some(true),
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
    .map_err(|e| viewer.oops(e))
}

#[derive(Template)]
#[template(path = "console/street_resources.html")]
struct ResourcesPage {
    f: Frame,
    street: Street,
    q: ResourceQuery,
    /// The filters as a query string, for the CSV link and the next page.
    filters: String,
    units: Vec<Unit>,
    categories: Vec<(&'static str, &'static str)>,
    statuses: Vec<(ResourceStatus, &'static str)>,
    rows: Vec<(Resource, String)>,
    next: Option<String>,
}

impl ResourcesPage {
    fn status(&self, s: &ResourceStatus) -> &'static str {
        self.f.t.resource_status(s)
    }
}

pub async fn resources_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Query(q): Query<ResourceQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    viewer.street_office(street)?;
    let s = streets::get_street(&state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?;
    let filters = q
        .filters(street, q.cursor.clone(), PAGE_ROWS)
        .map_err(|e| viewer.oops(e))?;
    let Page { items, next_cursor } = resources::list_resources(&state, &viewer.principal, filters)
        .await
        .map_err(|e| viewer.oops(e))?;
    let units = units_of(&state, &viewer, street).await?;
    let owners = Owners::of(&state, &viewer, &units, &items).await?;
    let rows = items
        .into_iter()
        .map(|r| {
            let owner = owners.name(&r);
            (r, owner)
        })
        .collect();
    let statuses = [
        ResourceStatus::Active,
        ResourceStatus::Paused,
        ResourceStatus::Archived,
    ]
    .into_iter()
    .map(|s| (s, t.resource_status(&s)))
    .collect();
    Ok(render(&ResourcesPage {
        f: viewer.frame(
            t.nav_street_resources,
            &format!("/console/streets/{street}/resources"),
        ),
        street: s,
        filters: serde_urlencoded::to_string(&q).unwrap_or_default(),
        q,
        units,
        categories: DEFAULT_CATEGORIES.to_vec(),
        statuses,
        rows,
        next: next_cursor,
    }))
}

/// The resources the filters select, every page of them, as CSV.
pub async fn resources_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Query(q): Query<ResourceQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    viewer.street_office(street)?;
    let all = every_page(|cursor| {
        let filters = q.filters(street, cursor, 200);
        let (state, principal) = (&state, &viewer.principal);
        async move { resources::list_resources(state, principal, filters?).await }
    })
    .await
    .map_err(|e| viewer.oops(e))?;
    let units = units_of(&state, &viewer, street).await?;
    let owners = Owners::of(&state, &viewer, &units, &all).await?;
    let mut csv = Csv::new(&[
        "id",
        t.resource_title,
        t.demand_category,
        t.resource_owner,
        t.resource_capacity,
        t.resource_left,
        t.resource_status_column,
        t.resource_available_until,
        t.created_at,
    ]);
    for r in &all {
        csv.row(&[
            r.id.to_string(),
            r.title.clone(),
            r.category.clone(),
            owners.name(r),
            r.capacity.to_string(),
            r.capacity_left.to_string(),
            r.status.as_str().to_string(),
            r.available_until.clone().unwrap_or_default(),
            r.created_at.clone(),
        ]);
    }
    Ok(csv.download("resources.csv"))
}

/// The project list's filter.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ProjectQuery {
    #[serde(default)]
    status: String,
    #[serde(default, skip_serializing)]
    cursor: Option<String>,
}

impl ProjectQuery {
    fn filters(
        &self,
        street: Uuid,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ListProjects, Error> {
        Ok(ListProjects {
            street_id: Some(street),
            status: match self.status.trim() {
                "" => None,
                s => Some(ProjectStatus::from_db(s).map_err(|_| not_offered("status"))?),
            },
            claimed_by_unit_id: None,
            order: Some(ListOrder::Newest),
            cursor,
            limit: Some(limit),
        })
    }
}

/// The form that sets up a project, as filled in.
#[derive(Debug, Default, Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    goal: String,
    /// In yuan, as people write it (`1200`, `1200.50`).
    #[serde(default)]
    budget: String,
    #[serde(default)]
    publish: Option<String>,
}

#[derive(Template)]
#[template(path = "console/street_projects.html")]
struct ProjectsPage {
    f: Frame,
    street: Street,
    q: ProjectQuery,
    filters: String,
    statuses: Vec<(ProjectStatus, &'static str)>,
    rows: Vec<(Project, String)>,
    next: Option<String>,
    form: ProjectForm,
    errors: FieldErrors,
}

impl ProjectsPage {
    fn yuan(&self, fen: &i64) -> String {
        yuan(*fen)
    }

    fn is(&self, p: &Project, status: &str) -> bool {
        p.status.as_str() == status
    }
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

/// A sum in yuan with at most two decimals, as fen.
fn fen_of(yuan: &str) -> Option<i64> {
    let yuan = yuan.trim();
    if yuan.is_empty() {
        return Some(0);
    }
    let (whole, frac) = yuan.split_once('.').unwrap_or((yuan, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac)
}

async fn projects_page(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    q: ProjectQuery,
    form: ProjectForm,
    errors: FieldErrors,
) -> Result<ProjectsPage, Oops> {
    let t = viewer.locale.texts();
    viewer.street_office(street)?;
    let s = streets::get_street(state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?;
    let filters = q
        .filters(street, q.cursor.clone(), PAGE_ROWS)
        .map_err(|e| viewer.oops(e))?;
    let Page { items, next_cursor } = projects::list_projects(state, &viewer.principal, filters)
        .await
        .map_err(|e| viewer.oops(e))?;
    let units: HashMap<Uuid, String> = units_of(state, viewer, street)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let rows = items
        .into_iter()
        .map(|p| {
            let unit = p
                .claimed_by_unit_id
                .and_then(|u| units.get(&u).cloned())
                .unwrap_or_default();
            (p, unit)
        })
        .collect();
    let statuses = [
        ProjectStatus::Draft,
        ProjectStatus::Published,
        ProjectStatus::Claimed,
        ProjectStatus::InProgress,
        ProjectStatus::Done,
    ]
    .into_iter()
    .map(|s| (s, t.project_status(&s)))
    .collect();
    Ok(ProjectsPage {
        f: viewer.frame(
            t.nav_street_projects,
            &format!("/console/streets/{street}/projects"),
        ),
        street: s,
        filters: serde_urlencoded::to_string(&q).unwrap_or_default(),
        q,
        statuses,
        rows,
        next: next_cursor,
        form,
        errors,
    })
}

pub async fn projects_list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Query(q): Query<ProjectQuery>,
) -> Result<Response, Oops> {
    let page = projects_page(
        &state,
        &viewer,
        street,
        q,
        ProjectForm::default(),
        FieldErrors::default(),
    )
    .await?;
    Ok(render(&page))
}

/// Sets up a project (a draft), and publishes it at once if the form says so.
pub async fn create_project(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Form(form): Form<ProjectForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let mut errors = FieldErrors::default();
    let budget = fen_of(&form.budget);
    if budget.is_none() {
        errors.note(
            "budget",
            viewer.locale.texts().project_budget_invalid.to_string(),
        );
    }
    let created = match budget {
        None => None,
        Some(budget_fen) => {
            let body = CreateProject {
                street_id: street,
                title: form.title.trim().to_string(),
                description: form.description.trim().to_string(),
                goal: form.goal.trim().to_string(),
                budget_fen,
                demand_ids: vec![],
                resource_ids: vec![],
            };
            match projects::create_project(&state, &viewer.principal, body).await {
                Ok(p) => Some(p),
                Err(Error::Validation(fields)) => {
                    errors.note_all(fields, |f| if f == "budget_fen" { "budget" } else { f });
                    None
                }
                Err(e) => return Err(viewer.oops(e)),
            }
        }
    };
    let Some(project) = created else {
        let page = projects_page(
            &state,
            &viewer,
            street,
            ProjectQuery::default(),
            form,
            errors,
        )
        .await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    if form.publish.is_some() {
        set_status(&state, &viewer, project.id, ProjectStatus::Published).await?;
    }
    Ok(see_other(&format!("/console/streets/{street}/projects")))
}

async fn set_status(
    state: &AppState,
    viewer: &Viewer,
    project: Uuid,
    status: ProjectStatus,
) -> Result<Project, Oops> {
    projects::update_project(
        state,
        &viewer.principal,
        project,
        UpdateProject {
            title: None,
            description: None,
            goal: None,
            budget_fen: None,
            demand_ids: None,
            resource_ids: None,
            progress_note: None,
            status: Some(status),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))
}

/// The project `id` of `street`: another street's is not found here.
async fn project_in(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    id: Uuid,
) -> Result<Project, Oops> {
    let p = projects::get_project(state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    if p.street_id == street {
        Ok(p)
    } else {
        Err(viewer.oops(Error::NotFound("project")))
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

/// Publishes a draft, or takes an unclaimed project back to a draft.
pub async fn project_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, project)): Path<(Uuid, Uuid)>,
    Form(form): Form<StatusForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let status = match form.status.as_str() {
        "published" => ProjectStatus::Published,
        "draft" => ProjectStatus::Draft,
        _ => {
            return Err(viewer.oops(Error::field(
                "status",
                "invalid_choice",
                "a project is published here, or taken back to a draft",
            )))
        }
    };
    project_in(&state, &viewer, street, project).await?;
    set_status(&state, &viewer, project, status).await?;
    Ok(see_other(&format!("/console/streets/{street}/projects")))
}

#[derive(Deserialize)]
pub struct EvaluationForm {
    evaluation: String,
    score: String,
}

/// Closes a project the unit carried out, with the street's evaluation and score.
pub async fn complete_project(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, project)): Path<(Uuid, Uuid)>,
    Form(form): Form<EvaluationForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let score = form.score.trim().parse::<i64>().map_err(|_| {
        viewer.oops(Error::field(
            "score",
            "invalid_type",
            "the score is a whole number",
        ))
    })?;
    project_in(&state, &viewer, street, project).await?;
    projects::complete_project(
        &state,
        &viewer.principal,
        project,
        ProjectEvaluation {
            evaluation: form.evaluation.trim().to_string(),
            score,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/projects")))
}

/// The projects the filter selects, every page of them, as CSV.
pub async fn projects_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Query(q): Query<ProjectQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    viewer.street_office(street)?;
    let all = every_page(|cursor| {
        let filters = q.filters(street, cursor, 200);
        let (state, principal) = (&state, &viewer.principal);
        async move { projects::list_projects(state, principal, filters?).await }
    })
    .await
    .map_err(|e| viewer.oops(e))?;
    let units: HashMap<Uuid, String> = units_of(&state, &viewer, street)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let mut csv = Csv::new(&[
        "id",
        t.project_title,
        t.project_status_column,
        t.project_goal,
        t.project_budget,
        t.project_claimed_by,
        t.project_progress,
        t.project_evaluation,
        t.project_score,
        t.created_at,
        t.project_completed_at,
    ]);
    for p in &all {
        csv.row(&[
            p.id.to_string(),
            p.title.clone(),
            p.status.as_str().to_string(),
            p.goal.clone(),
            yuan(p.budget_fen),
            p.claimed_by_unit_id
                .and_then(|u| units.get(&u).cloned())
                .unwrap_or_default(),
            p.progress_note.clone().unwrap_or_default(),
            p.evaluation.clone().unwrap_or_default(),
            p.evaluation_score
                .map(|s| s.to_string())
                .unwrap_or_default(),
            p.created_at.clone(),
            p.completed_at.clone().unwrap_or_default(),
        ]);
    }
    Ok(csv.download("projects.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_in_yuan_are_read_to_the_fen() {
        assert_eq!(fen_of(""), Some(0));
        assert_eq!(fen_of("1200"), Some(120_000));
        assert_eq!(fen_of("1200.5"), Some(120_050));
        assert_eq!(fen_of(" 0.05 "), Some(5));
        for bad in ["-1", "1.234", "1e3", "１２", ".5", "99999999999999999999"] {
            assert_eq!(fen_of(bad), None, "{bad}");
        }
        assert_eq!(fen_of("12."), Some(1200));
        assert_eq!(yuan(120_050), "1200.50");
    }
}
