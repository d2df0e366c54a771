//! Live pages: a Server-Sent Events stream per signed-in person. Every second it reads the
//! events the person follows that were recorded since the last one it sent
//! (`orders::changes_since`) and sends each, its id as the event's id. A browser that
//! reconnects sends `Last-Event-ID` and resumes after it, so nothing is missed across a
//! reconnect. No database connection is held between polls, however long the stream stays
//! open, and the stream ends within ten seconds of its session.
//!
//! An event's id is made when its change is written, not when it commits: on PostgreSQL,
//! where transactions commit in parallel, an event can become visible after one with a later
//! id has been read. So every poll reads again from [`LATE_COMMIT_WINDOW`] behind its cursor
//! and skips what the stream has sent: a change that commits that late still arrives. A stream
//! resumed after a reconnect may send again the changes of that window before its
//! `Last-Event-ID`; a page only refetches what it shows, so a change heard twice is harmless
//! and one missed is not.

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

/// How long after its id is made an event may still become visible and reach the stream.
pub const LATE_COMMIT_WINDOW: Duration = Duration::from_secs(5);

/// Events read in one request; a poll reads page after page, up to [`MAX_PER_POLL`].
const PAGE: i64 = 200;
const MAX_PER_POLL: usize = 2_000;

/// The smallest time-ordered id made `by` before `id` was.
fn earlier(id: Uuid, by: Duration) -> Uuid {
    let millis = id
        .get_timestamp()
        .map(|t| {
            let (secs, nanos) = t.to_unix();
            secs * 1_000 + u64::from(nanos / 1_000_000)
        })
        .unwrap_or(0);
    let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
    uuid::Builder::from_unix_timestamp_millis(millis.saturating_sub(by), &[0; 10]).into_uuid()
}

struct Feed {
    state: AppState,
    viewer: Viewer,
    secret: String,
    /// The latest id sent (or the point a fresh stream starts from).
    after: Uuid,
    /// The ids sent that a poll may read again (those within the window behind `after`).
    sent: std::collections::BTreeSet<Uuid>,
    pending: std::collections::VecDeque<gongjian_core::domain::order::Event>,
    polls: u64,
}

impl Feed {
    /// Reads what changed since the window behind the cursor, keeping what was not sent.
    async fn poll(&mut self) -> gongjian_core::Result<()> {
        let from = earlier(self.after, LATE_COMMIT_WINDOW);
        // What lies before the window is never read again.
        self.sent = self.sent.split_off(&from);
        let mut cursor = from;
        let mut read = 0;
        loop {
            let batch =
                orders::changes_since(&self.state, &self.viewer.principal, cursor, PAGE).await?;
            let full = batch.len() as i64 == PAGE;
            read += batch.len();
            for e in batch {
                cursor = e.id;
                if self.sent.insert(e.id) {
                    self.pending.push_back(e);
                }
            }
            if !full || read >= MAX_PER_POLL {
                return Ok(());
            }
        }
    }
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
        sent: Default::default(),
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
                feed.after = feed.after.max(e.id);
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
            if let Err(e) = feed.poll().await {
                tracing::warn!(error = %e, "a live stream could not read its changes");
            }
        }
    })
}
