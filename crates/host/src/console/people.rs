//! The street's people and their sign-in: its volunteers, and one-time sign-in links that the
//! street admin issues for a volunteer, a grid worker or another admin — shown once, as a link
//! to send and a QR code to scan.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Response,
    Form,
};
use gongjian_core::{
    domain::{
        access::RoleKind,
        street::Street,
        token::{CreateToken, ListTokens, TokenInfo},
        volunteer::{ListVolunteers, Volunteer},
    },
    service::{sessions, streets, tokens, volunteers},
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    base_url,
    frame::{render, Frame},
    qr_svg, see_other, Oops, Viewer,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    f: Frame,
    street: Street,
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
    let t = viewer.locale.texts();
    if !viewer.principal.sees_street_office(id) {
        return Err(viewer.oops(Error::NotFound("street")));
    }
    let street = streets::get_street(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let page = volunteers::list_volunteers(
        &state,
        &viewer.principal,
        ListVolunteers {
            street_id: Some(id),
            grid_id: None,
            team: None,
            skill: None,
            party_member: None,
            active: None,
            include_archived: None,
            cursor: q.cursor,
            limit: Some(100),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    let tokens = tokens::list_tokens(
        &state,
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
    Ok(render(&PeoplePage {
        f: viewer.frame(t.people_title, &format!("/console/streets/{id}/people")),
        street,
        volunteers: page.items,
        next: page.next_cursor,
        tokens,
    }))
}

#[derive(Deserialize)]
pub struct IssueForm {
    role: String,
    #[serde(default)]
    volunteer_id: Option<Uuid>,
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
    if !viewer.principal.sees_street_office(street_id) {
        return Err(viewer.oops(Error::NotFound("street")));
    }
    let role = RoleKind::from_db(body.role.trim())
        .ok()
        .filter(|r| {
            matches!(
                r,
                RoleKind::Volunteer | RoleKind::GridWorker | RoleKind::StreetAdmin
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
    if !viewer.principal.sees_street_office(street) {
        return Err(viewer.oops(Error::NotFound("street")));
    }
    tokens::revoke_token(&state, &viewer.principal, token)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/people")))
}
