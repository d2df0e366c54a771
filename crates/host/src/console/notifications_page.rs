//! 通知: the signed-in person's feed — what `GET /api/v1/notifications` answers them, newest
//! first — with what is unread marked, each entry linking to where it is acted on, and marking
//! read (one, or everything up to the newest shown). The page is live: a notification that
//! arrives while it is open appears without a reload.

use askama::Template;
use axum::{extract::State, response::Response};
use gongjian_core::{
    domain::{
        access::Role,
        notification::{
            DeliveryMode, Digest, ListDigests, ListNotifications, Notification, NotificationType,
            Preferences, PutPreferences,
        },
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
    prefs: Preferences,
    types: Vec<NotificationType>,
    /// The latest digests, for a reader of a daily digest.
    digests: Vec<Digest>,
}

impl NotificationsPage {
    fn chosen(&self, t: &NotificationType) -> bool {
        self.prefs.event_types.contains(t)
    }

    fn digest_mode(&self) -> bool {
        self.prefs.delivery == DeliveryMode::DailyDigest
    }
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
    let prefs = notifications::preferences(&state, &viewer.principal)
        .await
        .map_err(|e| viewer.oops(e))?;
    let digests = if prefs.delivery == DeliveryMode::DailyDigest {
        notifications::digests(
            &state,
            &viewer.principal,
            ListDigests {
                cursor: None,
                limit: Some(7),
            },
        )
        .await
        .map_err(|e| viewer.oops(e))?
        .items
    } else {
        vec![]
    };
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
        prefs,
        types: NotificationType::ALL.to_vec(),
        digests,
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

/// Sets what the person hears of and how, from the settings form.
pub async fn set_preferences(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Oops> {
    let mut types = vec![];
    let (mut delivery, mut hour) = (None, None);
    let invalid = |field: &str| {
        viewer.oops(gongjian_core::Error::field(
            field,
            "invalid_value",
            format!("{field} is not one the form offers"),
        ))
    };
    for (name, value) in fields {
        match name.as_str() {
            "event_types" => {
                types.push(NotificationType::from_db(&value).map_err(|_| invalid("event_types"))?)
            }
            "delivery" => {
                delivery = Some(DeliveryMode::from_db(&value).map_err(|_| invalid("delivery"))?)
            }
            "digest_hour" => {
                hour = Some(
                    value
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| invalid("digest_hour"))?,
                )
            }
            _ => {}
        }
    }
    notifications::put_preferences(
        &state,
        &viewer.principal,
        PutPreferences {
            event_types: Some(types),
            delivery,
            digest_hour: hour,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other("/console/notifications"))
}
