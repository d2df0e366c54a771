//! The street's people and their sign-in: its volunteers, and one-time sign-in links that the
//! street admin issues for a volunteer, a grid worker or another admin — shown once, as a link
//! to send and a QR code to scan.

use askama::Template;
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use gongjian_core::{
    domain::{
        access::RoleKind,
        street::Street,
        street::{Grid, ListGrids},
        token::{CreateToken, ListTokens, TokenInfo},
        volunteer::{CreateVolunteer, ListVolunteers, Volunteer},
    },
    service::{sessions, streets, tokens, units, volunteers},
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Path, Query};
use super::{
    base_url,
    frame::{render, render_status, skills_of, FieldErrors, Frame},
    qr_svg, see_other, Oops, Viewer,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    f: Frame,
    street: Street,
    grids: Vec<Grid>,
    form: VolunteerForm,
    errors: FieldErrors,
    volunteers: Vec<Volunteer>,
    next: Option<String>,
    /// The street's tokens in use: each person's credential, to revoke.
    tokens: Vec<TokenInfo>,
}

impl PeoplePage {
    fn role(&self, t: &TokenInfo) -> &'static str {
        self.f.t.role(t.role)
    }
}

/// The volunteer registration form, as filled in.
#[derive(Debug, Default, Deserialize)]
pub struct VolunteerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    home_grid_id: String,
    #[serde(default)]
    skills: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    party_member: Option<String>,
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    cursor: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Query(q): Query<PeopleQuery>,
) -> Result<Response, Oops> {
    let page = people_page(
        &state,
        &viewer,
        id,
        q.cursor,
        VolunteerForm::default(),
        FieldErrors::default(),
    )
    .await?;
    Ok(render(&page))
}

async fn people_page(
    state: &AppState,
    viewer: &Viewer,
    id: Uuid,
    cursor: Option<String>,
    form: VolunteerForm,
    errors: FieldErrors,
) -> Result<PeoplePage, Oops> {
    let t = viewer.locale.texts();
    viewer.street_office(id)?;
    let street = streets::get_street(state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let page = volunteers::list_volunteers(
        state,
        &viewer.principal,
        ListVolunteers {
            street_id: Some(id),
            grid_id: None,
            team: None,
            skill: None,
            party_member: None,
            active: None,
            include_archived: None,
            cursor,
            limit: Some(100),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    let tokens = tokens::list_tokens(
        state,
        &viewer.principal,
        ListTokens {
            street_id: Some(id),
            role: None,
            include_revoked: Some(false),
            cursor: None,
            limit: Some(200),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    let grids = streets::list_grids(
        state,
        &viewer.principal,
        id,
        ListGrids {
            community_id: None,
            cursor: None,
            limit: Some(200),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    Ok(PeoplePage {
        f: viewer.frame(t.people_title, &format!("/console/streets/{id}/people")),
        street,
        grids,
        form,
        errors,
        volunteers: page.items,
        next: page.next_cursor,
        tokens,
    })
}

/// Registers a volunteer of the street, as `POST /api/v1/volunteers` does; errors are shown
/// at their fields, with what was typed.
pub async fn register_volunteer(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(form): Form<VolunteerForm>,
) -> Result<Response, Oops> {
    viewer.street_office(id)?;
    let mut errors = FieldErrors::default();
    match Uuid::parse_str(form.home_grid_id.trim()) {
        Err(_) => {
            errors.note("home_grid_id", viewer.locale.texts().error_invalid);
        }
        Ok(grid) => {
            let skills = skills_of(&form.skills);
            let body = CreateVolunteer {
                name: form.name.clone(),
                phone: form.phone.trim().to_string(),
                home_grid_id: grid,
                skills,
                team: Some(form.team.trim().to_string()).filter(|t| !t.is_empty()),
                party_member: form.party_member.is_some(),
                availability: vec![],
                max_open_orders: None,
                active: None,
            };
            match volunteers::create_volunteer(&state, &viewer.principal, body).await {
                Ok(_) => return Ok(see_other(&format!("/console/streets/{id}/people"))),
                Err(Error::Validation(fields)) => {
                    errors.note_all(fields, |f| f.split(['[', '.']).next().unwrap_or(""))
                }
                Err(e) => return Err(viewer.oops(e)),
            }
        }
    }
    let page = people_page(&state, &viewer, id, None, form, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Archives a volunteer: they are offered nothing more, and their sign-in ends.
pub async fn archive_volunteer(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, volunteer)): Path<(Uuid, Uuid)>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let v = volunteers::get_volunteer(&state, &viewer.principal, volunteer)
        .await
        .map_err(|e| viewer.oops(e))?;
    if v.street_id != street {
        return Err(viewer.oops(Error::NotFound("volunteer")));
    }
    volunteers::archive_volunteer(&state, &viewer.principal, volunteer)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/people")))
}

#[derive(Deserialize)]
pub struct IssueForm {
    role: String,
    #[serde(default)]
    volunteer_id: Option<Uuid>,
    #[serde(default)]
    unit_id: Option<Uuid>,
    #[serde(default)]
    name: String,
}

#[derive(Template)]
#[template(path = "console/link_issued.html")]
struct IssuedPage {
    f: Frame,
    street_id: Uuid,
    name: String,
    url: String,
    qr_svg: String,
    expires_at: String,
}

pub async fn issue_link(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(street_id): Path<Uuid>,
    Form(body): Form<IssueForm>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    viewer.street_office(street_id)?;
    let role = RoleKind::from_db(body.role.trim())
        .ok()
        .filter(|r| {
            matches!(
                r,
                RoleKind::Volunteer | RoleKind::Unit | RoleKind::GridWorker | RoleKind::StreetAdmin
            )
        })
        .ok_or_else(|| {
            viewer.oops(Error::field(
                "role",
                "invalid_value",
                "not a role this page issues",
            ))
        })?;
    let (name, request) = match role {
        RoleKind::Volunteer => {
            let id = body.volunteer_id.ok_or_else(|| {
                viewer.oops(Error::field(
                    "volunteer_id",
                    "required",
                    "choose a volunteer",
                ))
            })?;
            let v = volunteers::get_volunteer(&state, &viewer.principal, id)
                .await
                .map_err(|e| viewer.oops(e))?;
            if v.street_id != street_id {
                return Err(viewer.oops(Error::NotFound("volunteer")));
            }
            (
                v.name.clone(),
                CreateToken {
                    role,
                    name: v.name,
                    street_id: None,
                    unit_id: None,
                    volunteer_id: Some(id),
                },
            )
        }
        RoleKind::Unit => {
            let id = body
                .unit_id
                .ok_or_else(|| viewer.oops(Error::field("unit_id", "required", "choose a unit")))?;
            let u = units::get_unit(&state, &viewer.principal, id)
                .await
                .map_err(|e| viewer.oops(e))?;
            if !u.street_ids.contains(&street_id) {
                return Err(viewer.oops(Error::NotFound("unit")));
            }
            (
                u.name.clone(),
                CreateToken {
                    role,
                    name: u.name,
                    street_id: None,
                    unit_id: Some(id),
                    volunteer_id: None,
                },
            )
        }
        _ => (
            body.name.trim().to_string(),
            CreateToken {
                role,
                name: body.name.trim().to_string(),
                street_id: Some(street_id),
                unit_id: None,
                volunteer_id: None,
            },
        ),
    };
    let link = sessions::issue_link(&state, &viewer.principal, request)
        .await
        .map_err(|e| viewer.oops(e))?;
    let url = format!("{}/console/link/{}", base_url(&headers), link.secret);
    let qr_svg = qr_svg(&url).map_err(|e| viewer.oops(e))?;
    let mut page = IssuedPage {
        f: viewer.frame(
            t.link_issued_title,
            &format!("/console/streets/{street_id}/people"),
        ),
        street_id,
        name,
        url,
        qr_svg,
        expires_at: String::new(),
    };
    page.expires_at = page.f.local(&link.expires_at);
    Ok(render(&page))
}

/// Revokes a person's credential: their token stops working at once, and so does every console
/// session that acts through it.
pub async fn revoke_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, token)): Path<(Uuid, Uuid)>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    tokens::revoke_token(&state, &viewer.principal, token)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/people")))
}
