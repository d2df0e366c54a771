//! 通知: the signed-in person's feed — what `GET /api/v1/notifications` answers them, newest
//! first — with what is unread marked, each entry linking to where it is acted on, and marking
//! read (one, or everything up to the newest shown). The page is live: a notification that
//! arrives while it is open appears without a reload.

use askama::Template;
use axum::{extract::State, response::Response};
use gongjian_core::{
    domain::{
        access::Role,
        notification::{ListNotifications, Notification},
    },
    service::notifications,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Query};
use super::{
    frame::{render, Frame},
    see_other, Oops, Viewer,
};
use crate::state::AppState;

/// Entries a page shows.
const PAGE: u32 = 30;

/// One entry of the page.
pub struct Entry {
    pub n: Notification,
    /// Where it is acted on.
    pub href: String,
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct NotificationsPage {
    f: Frame,
    unread_only: bool,
    entries: Vec<Entry>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    unread: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// Where a notification is acted on: a volunteer's or a unit's orders; for staff, the
/// demand's page, or the street's rules for a quarantined one.
fn href_of(viewer: &Viewer, n: &Notification) -> String {
    match (&viewer.principal.role, n.demand_id) {
        (Role::Volunteer { .. } | Role::Unit { .. }, _) => "/console/orders".into(),
        (_, Some(demand)) => format!("/console/demands/{demand}"),
        (_, None) if n.subject_kind == "plugin" => {
            format!("/console/streets/{}/plugins", n.street_id)
        }
        (_, None) => "/console/notifications".into(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<FeedQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let unread_only = q.unread.is_some();
    let feed = notifications::list(
        &state,
        &viewer.principal,
        ListNotifications {
            unread: Some(unread_only),
            cursor: q.cursor.filter(|c| !c.is_empty()),
            limit: Some(PAGE),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    let entries = feed
        .items
        .into_iter()
        .map(|n| Entry {
            href: href_of(&viewer, &n),
            n,
        })
        .collect();
    Ok(render(&NotificationsPage {
        f: viewer.frame(t.nav_notifications, "/console/notifications"),
        unread_only,
        entries,
        next: feed.next_cursor,
    }))
}

#[derive(Deserialize)]
pub struct ReadForm {
    /// One notification to mark read.
    #[serde(default)]
    id: Option<Uuid>,
    /// Everything up to this one.
    #[serde(default)]
    through: Option<Uuid>,
    /// Where to go back to.
    #[serde(default)]
    back: Option<String>,
}

pub async fn mark_read(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<ReadForm>,
) -> Result<Response, Oops> {
    notifications::mark_read(
        &state,
        &viewer.principal,
        form.id.into_iter().collect(),
        form.through,
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    // Back to the feed as it was shown (only this page: never a place another site names).
    let back = match form.back.as_deref() {
        Some("unread") => "/console/notifications?unread=1",
        _ => "/console/notifications",
    };
    Ok(see_other(back))
}
