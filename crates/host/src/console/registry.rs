//! The street's registry: its communities and their grids, and the co-building units that
//! serve it — register one, hand its coordinator a sign-in link, archive it. The volunteers
//! are on the people page (`people.rs`).

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use gongjian_core::{
    domain::{
        street::{Community, CreateCommunity, CreateGrid, Grid, Street},
        unit::{CreateUnit, ListUnits, Unit},
        UnitKind,
    },
    service::{streets, units},
    store::page::ListPage,
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Path};
use super::{
    every_page,
    frame::{render, render_status, FieldErrors, Frame},
    see_other, street_grids, Oops, Viewer,
};
use crate::state::AppState;

/// Every kind of unit, in the order the form offers them.
const UNIT_KINDS: [UnitKind; 7] = [
    UnitKind::Agency,
    UnitKind::School,
    UnitKind::Hospital,
    UnitKind::Enterprise,
    UnitKind::SocialOrganisation,
    UnitKind::PropertyManager,
    UnitKind::Other,
];

/// What the registry's three forms were filled with, to show again beside their errors. An
/// error's field is the form's field name (`community_name`, `grid_code`, `unit_phone`, …).
#[derive(Debug, Default, Deserialize)]
pub struct RegistryForm {
    #[serde(default)]
    community_name: String,
    #[serde(default)]
    grid_community_id: String,
    #[serde(default)]
    grid_code: String,
    #[serde(default)]
    grid_name: String,
    #[serde(default)]
    grid_households: String,
    #[serde(default)]
    unit_name: String,
    #[serde(default)]
    unit_kind: String,
    #[serde(default)]
    unit_contact_name: String,
    #[serde(default)]
    unit_contact_phone: String,
    #[serde(default)]
    unit_address: String,
    #[serde(default)]
    unit_description: String,
}

#[derive(Template)]
#[template(path = "console/registry.html")]
struct RegistryPage {
    f: Frame,
    street: Street,
    communities: Vec<(Community, Vec<Grid>)>,
    units: Vec<Unit>,
    kinds: Vec<(UnitKind, &'static str)>,
    form: RegistryForm,
    errors: FieldErrors,
}

impl RegistryPage {
    fn kind(&self, k: &UnitKind) -> &'static str {
        self.f.t.unit_kind(k)
    }
}

async fn registry_page(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    form: RegistryForm,
    errors: FieldErrors,
) -> Result<RegistryPage, Oops> {
    let t = viewer.locale.texts();
    viewer.street_office(street)?;
    let s = streets::get_street(state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?;
    let communities = every_page(|cursor| {
        streets::list_communities(
            state,
            &viewer.principal,
            street,
            ListPage {
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
    .map_err(|e| viewer.oops(e))?;
    let mut grids = street_grids(state, viewer, street).await?;
    grids.sort_by(|a, b| a.code.cmp(&b.code));
    let mut by_community: std::collections::HashMap<Uuid, Vec<Grid>> = Default::default();
    for g in grids {
        by_community.entry(g.community_id).or_default().push(g);
    }
    let communities = communities
        .into_iter()
        .map(|c| {
            let of = by_community.remove(&c.id).unwrap_or_default();
            (c, of)
        })
        .collect();
    let units = every_page(|cursor| {
        units::list_units(
            state,
            &viewer.principal,
            ListUnits {
                street_id: Some(street),
                kind: None,
                include_archived: None,
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(RegistryPage {
        f: viewer.frame(
            t.nav_registry,
            &format!("/console/streets/{street}/registry"),
        ),
        street: s,
        communities,
        units,
        kinds: UNIT_KINDS.iter().map(|k| (*k, t.unit_kind(k))).collect(),
        form,
        errors,
    })
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
) -> Result<Response, Oops> {
    let page = registry_page(
        &state,
        &viewer,
        street,
        RegistryForm::default(),
        FieldErrors::default(),
    )
    .await?;
    Ok(render(&page))
}

/// The outcome of one of the registry's forms: back to the page, or the page again with the
/// operation's field errors at the form's fields (`prefix` + the operation's field).
async fn outcome<T>(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    form: RegistryForm,
    mut errors: FieldErrors,
    done: Result<T, Error>,
    prefix: &str,
) -> Result<Response, Oops> {
    match done {
        Ok(_) if errors.is_empty() => {
            return Ok(see_other(&format!("/console/streets/{street}/registry")))
        }
        Ok(_) => {}
        Err(Error::Validation(fields)) => {
            errors.note_all_prefixed(fields, prefix);
        }
        Err(e) => return Err(viewer.oops(e)),
    }
    let page = registry_page(state, viewer, street, form, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn add_community(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Form(form): Form<RegistryForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let done = streets::create_community(
        &state,
        &viewer.principal,
        street,
        CreateCommunity {
            name: form.community_name.trim().to_string(),
        },
    )
    .await;
    outcome(
        &state,
        &viewer,
        street,
        form,
        FieldErrors::default(),
        done,
        "community_",
    )
    .await
}

pub async fn add_grid(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Form(form): Form<RegistryForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let t = viewer.locale.texts();
    let mut errors = FieldErrors::default();
    let community = Uuid::parse_str(form.grid_community_id.trim()).ok();
    if community.is_none() {
        errors.note("grid_community_id", t.registry_choose_community);
    }
    let households = match form.grid_households.trim() {
        "" => Some(None),
        n => n.parse::<i64>().ok().map(Some),
    };
    if households.is_none() {
        errors.note("grid_households", t.registry_whole_number);
    }
    let done = match (community, households) {
        (Some(community_id), Some(households)) => {
            streets::create_grid(
                &state,
                &viewer.principal,
                street,
                CreateGrid {
                    community_id,
                    code: form.grid_code.trim().to_string(),
                    name: form.grid_name.trim().to_string(),
                    households,
                },
            )
            .await
        }
        _ => Err(Error::Validation(vec![])),
    };
    outcome(&state, &viewer, street, form, errors, done, "grid_").await
}

pub async fn register_unit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Form(form): Form<RegistryForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let t = viewer.locale.texts();
    let mut errors = FieldErrors::default();
    let kind = UnitKind::from_db(form.unit_kind.trim()).ok();
    if kind.is_none() {
        errors.note("unit_kind", t.registry_choose_kind);
    }
    let optional = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let done = match kind {
        Some(kind) => {
            units::create_unit(
                &state,
                &viewer.principal,
                CreateUnit {
                    name: form.unit_name.trim().to_string(),
                    kind,
                    contact_name: form.unit_contact_name.trim().to_string(),
                    contact_phone: form.unit_contact_phone.trim().to_string(),
                    address: optional(&form.unit_address),
                    description: optional(&form.unit_description),
                    street_ids: vec![street],
                },
            )
            .await
        }
        None => Err(Error::Validation(vec![])),
    };
    outcome(&state, &viewer, street, form, errors, done, "unit_").await
}

/// Archives a unit that serves only this street: it is offered nothing more, and its sign-in
/// ends.
pub async fn archive_unit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, unit)): Path<(Uuid, Uuid)>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let u = units::get_unit(&state, &viewer.principal, unit)
        .await
        .map_err(|e| viewer.oops(e))?;
    if !u.street_ids.contains(&street) {
        return Err(viewer.oops(Error::NotFound("unit")));
    }
    units::archive_unit(&state, &viewer.principal, unit)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/registry")))
}
