//! Live pages: a Server-Sent Events stream per signed-in person, following the events the
//! person follows (`orders::changes_since`) through [`crate::stream`]; a page marked
//! `data-live` fetches its main part again when the stream says something changed. The
//! stream ends within ten seconds of its session.

use std::time::Duration;

use axum::{extract::State, http::HeaderMap, response::sse::Event, response::Response};
use gongjian_core::{
    domain::order,
    service::{orders, sessions},
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

impl Source for Changes {
    type Item = order::Event;

    fn id(item: &order::Event) -> Uuid {
        item.id
    }

    async fn read(&mut self, after: Uuid, limit: u32) -> gongjian_core::Result<Vec<order::Event>> {
        orders::changes_since(&self.state, &self.viewer.principal, after, i64::from(limit)).await
    }

    async fn still_allowed(&mut self) -> gongjian_core::Result<bool> {
        // Signed out, revoked, or its person archived.
        Ok(sessions::resolve(&self.state, &self.secret)
            .await?
            .is_some())
    }

    fn event(e: &order::Event) -> Event {
        let data = serde_json::json!({
            "subject_kind": e.subject_kind,
            "subject_id": e.subject_id,
            "action": e.action,
            "at": e.at,
        });
        Event::default().event("change").data(data.to_string())
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
