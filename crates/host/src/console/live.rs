//! Live pages: a Server-Sent Events stream per signed-in person, following the events the
//! person follows (`orders::changes_since`) and their notifications (`notifications::since`,
//! the feed `GET /api/v1/notifications/stream` follows) through [`crate::stream`], merged in
//! id order; a page marked `data-live` fetches its main part again when the stream says
//! something changed, and every page's badge counts the notifications that arrive. The stream
//! ends within ten seconds of its session.

use std::time::Duration;

use axum::{extract::State, http::HeaderMap, response::sse::Event, response::Response};
use gongjian_core::{
    domain::{notification::FeedItem, order},
    service::{notifications, orders, sessions},
};
use uuid::Uuid;

use super::{session_secret, Viewer};
use crate::{
    state::AppState,
    stream::{self, Source},
};

/// How far back a fresh stream starts: the page it serves was rendered just before it
/// connected, and a change in between must still reach it.
const FRESH_LOOKBACK: Duration = Duration::from_secs(10);

struct Changes {
    state: AppState,
    viewer: Viewer,
    secret: String,
}

/// What the stream sends: a change to something the person follows, or a notification.
enum Live {
    Change(order::Event),
    Feed(FeedItem),
}

impl Source for Changes {
    type Item = Live;

    fn id(item: &Live) -> Uuid {
        match item {
            Live::Change(e) => e.id,
            Live::Feed(f) => f.id(),
        }
    }

    /// Both feeds after `after`, merged by id (both are time-ordered): at most `limit`, so
    /// what is cut off either side comes in the next read, after the last one sent.
    async fn read(&mut self, after: Uuid, limit: u32) -> gongjian_core::Result<Vec<Live>> {
        let principal = &self.viewer.principal;
        let changes =
            orders::changes_since(&self.state, principal, after, i64::from(limit)).await?;
        let notices = notifications::stream_since(&self.state, principal, after, limit).await?;
        let mut all: Vec<Live> = changes
            .into_iter()
            .map(Live::Change)
            .chain(notices.into_iter().map(Live::Feed))
            .collect();
        all.sort_by_key(Self::id);
        all.truncate(limit as usize);
        Ok(all)
    }

    async fn still_allowed(&mut self) -> gongjian_core::Result<bool> {
        // Signed out, revoked, or its person archived.
        Ok(sessions::resolve(&self.state, &self.secret)
            .await?
            .is_some())
    }

    fn event(item: &Live) -> Event {
        match item {
            Live::Change(e) => {
                let data = serde_json::json!({
                    "subject_kind": e.subject_kind,
                    "subject_id": e.subject_id,
                    "action": e.action,
                    "at": e.at,
                });
                Event::default().event("change").data(data.to_string())
            }
            Live::Feed(FeedItem::Notification(n)) => {
                let data = serde_json::json!({
                    "type": n.kind.as_str(),
                    "subject_kind": n.subject_kind,
                    "subject_id": n.subject_id,
                    "at": n.at,
                });
                Event::default()
                    .event("notification")
                    .data(data.to_string())
            }
            Live::Feed(FeedItem::Digest(d)) => {
                let data = serde_json::json!({ "total": d.total, "until": d.until });
                Event::default().event("digest").data(data.to_string())
            }
        }
    }
}

pub async fn stream(State(state): State<AppState>, viewer: Viewer, headers: HeaderMap) -> Response {
    let after = stream::start_after(&headers, FRESH_LOOKBACK);
    let secret = session_secret(&headers).unwrap_or_default();
    stream::follow(
        Changes {
            state,
            viewer,
            secret,
        },
        after,
    )
}
