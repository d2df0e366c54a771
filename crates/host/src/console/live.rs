//! Live pages: a Server-Sent Events stream per signed-in person. Every second it reads the
//! events the person follows that were recorded since the last one it sent
//! (`orders::changes_since`) and sends each, its id as the event's id. A browser that
//! reconnects sends `Last-Event-ID` and resumes after it, so nothing is missed across a
//! reconnect. No database connection is held between polls, however long the stream stays
//! open, and the stream ends within ten seconds of its session.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures_util::stream::{self, Stream};
use gongjian_core::service::{orders, sessions};
use uuid::Uuid;

use super::{session_secret, Viewer};
use crate::state::AppState;

/// How often the stream looks for changes.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Every how many polls the stream checks that its session is still open: a stream outlives
/// its session by at most this many seconds.
const SESSION_CHECK_EVERY: u64 = 10;

/// How far back a fresh stream starts: the page it serves was rendered just before it
/// connected, and a change in between must still reach it.
const FRESH_LOOKBACK: Duration = Duration::from_secs(10);

/// The first id after which a fresh stream reads: a time-ordered id from a moment before
/// the page was rendered.
fn fresh_cursor(now: time::OffsetDateTime) -> Uuid {
    let then = now - FRESH_LOOKBACK;
    let millis = u64::try_from(then.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

struct Feed {
    state: AppState,
    viewer: Viewer,
    secret: String,
    after: Uuid,
    pending: std::collections::VecDeque<gongjian_core::domain::order::Event>,
    polls: u64,
}

pub async fn stream(State(state): State<AppState>, viewer: Viewer, headers: HeaderMap) -> Response {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .unwrap_or_else(|| fresh_cursor(state.now()));
    let secret = session_secret(&headers).unwrap_or_default();
    let feed = Feed {
        state,
        viewer,
        secret,
        after,
        pending: Default::default(),
        polls: 0,
    };
    Sse::new(events(feed))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn events(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(e) = feed.pending.pop_front() {
                feed.after = e.id;
                let data = serde_json::json!({
                    "subject_kind": e.subject_kind,
                    "subject_id": e.subject_id,
                    "action": e.action,
                    "at": e.at,
                });
                let event = Event::default()
                    .id(e.id.to_string())
                    .event("change")
                    .data(data.to_string());
                return Some((Ok(event), feed));
            }
            tokio::time::sleep(POLL_EVERY).await;
            feed.polls += 1;
            // The session may have ended (signed out, revoked, its person archived).
            if feed.polls % SESSION_CHECK_EVERY == 0 {
                match sessions::resolve(&feed.state, &feed.secret).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "a live stream could not check its session");
                        continue;
                    }
                }
            }
            match orders::changes_since(&feed.state, &feed.viewer.principal, feed.after, 100).await
            {
                Ok(events) => feed.pending.extend(events),
                Err(e) => tracing::warn!(error = %e, "a live stream could not read its changes"),
            }
        }
    })
}
