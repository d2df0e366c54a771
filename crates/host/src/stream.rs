//! Server-Sent Events streams that follow a feed kept in the database: the console's live
//! pages (`console/live.rs`) and a person's notifications (`api/webhooks.rs`). A stream reads
//! what its [`Source`] recorded after the last item it sent, every second, and sends each item
//! with its id as the event's id; a client that reconnects sends `Last-Event-ID` and resumes
//! after it, so nothing is missed across a reconnect. No database connection is held between
//! polls, however long the stream stays open, and the stream ends within ten seconds of its
//! credential (a console session, an API token) ending.
//!
//! An item's id is made when it is written, not when it commits: on PostgreSQL, where
//! transactions commit in parallel, an item can become visible after one with a later id has
//! been read. So every poll reads again from [`LATE_COMMIT_WINDOW`] behind its cursor and
//! skips what the stream has sent: an item that commits that late still arrives. A stream
//! resumed after a reconnect may send again the items of that window before its
//! `Last-Event-ID`; its reader deduplicates by id (the console only refetches what it shows,
//! so an item heard twice is harmless and one missed is not).

use std::{
    collections::{BTreeSet, VecDeque},
    convert::Infallible,
    future::Future,
    time::Duration,
};

use axum::{
    http::HeaderMap,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures_util::stream::{self, Stream};
use uuid::Uuid;

/// How often a stream looks for new items.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Every how many polls a stream checks that its credential still holds: a stream outlives
/// it by at most this many seconds.
const CREDENTIAL_CHECK_EVERY: u64 = 10;

/// How long after its id is made an item may still become visible and reach the stream.
pub const LATE_COMMIT_WINDOW: Duration = Duration::from_secs(5);

/// Items read in one request; a poll reads page after page, up to [`MAX_PER_POLL`].
const PAGE: u32 = 200;
const MAX_PER_POLL: usize = 2_000;

/// What a stream follows.
pub trait Source: Send + 'static {
    type Item: Send + 'static;

    /// The item's id: time-ordered, made when the item was written.
    fn id(item: &Self::Item) -> Uuid;

    /// Up to `limit` items after `after`, in id order.
    fn read(
        &mut self,
        after: Uuid,
        limit: u32,
    ) -> impl Future<Output = gongjian_core::Result<Vec<Self::Item>>> + Send;

    /// Whether the reader may still follow (its session or token still holds).
    fn still_allowed(&mut self) -> impl Future<Output = gongjian_core::Result<bool>> + Send;

    /// The event the item is sent as (its id is set by the stream).
    fn event(item: &Self::Item) -> Event;
}

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
    at_millis(millis.saturating_sub(by))
}

fn at_millis(millis: u64) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

/// The first id after which a stream reads: the client's `Last-Event-ID`, else an id from
/// `lookback` ago (a page rendered just before its stream connected must still hear of what
/// changed in between). Ids are made from the system's clock, and so is this one.
pub fn start_after(headers: &HeaderMap, lookback: Duration) -> Uuid {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .unwrap_or_else(|| earlier(Uuid::now_v7(), lookback))
}

struct Follow<S: Source> {
    source: S,
    /// The latest id sent (or the point the stream starts from).
    after: Uuid,
    /// The ids sent that a poll may read again (those within the window behind `after`).
    sent: BTreeSet<Uuid>,
    pending: VecDeque<S::Item>,
    polls: u64,
}

impl<S: Source> Follow<S> {
    /// Reads what was recorded since the window behind the cursor, keeping what was not sent.
    async fn poll(&mut self) -> gongjian_core::Result<()> {
        let from = earlier(self.after, LATE_COMMIT_WINDOW);
        // What lies before the window is never read again.
        self.sent = self.sent.split_off(&from);
        let mut cursor = from;
        let mut read = 0;
        loop {
            let batch = self.source.read(cursor, PAGE).await?;
            let full = batch.len() == PAGE as usize;
            read += batch.len();
            for item in batch {
                let id = S::id(&item);
                cursor = id;
                if self.sent.insert(id) {
                    self.pending.push_back(item);
                }
            }
            if !full || read >= MAX_PER_POLL {
                return Ok(());
            }
        }
    }
}

/// The stream of `source`'s items after `after`, as a response.
pub fn follow<S: Source>(source: S, after: Uuid) -> Response {
    let follow = Follow {
        source,
        after,
        sent: BTreeSet::new(),
        pending: VecDeque::new(),
        polls: 0,
    };
    Sse::new(events(follow))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn events<S: Source>(follow: Follow<S>) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(follow, |mut follow| async move {
        loop {
            if let Some(item) = follow.pending.pop_front() {
                let id = S::id(&item);
                follow.after = follow.after.max(id);
                let event = S::event(&item).id(id.to_string());
                return Some((Ok(event), follow));
            }
            if follow.polls > 0 {
                tokio::time::sleep(POLL_EVERY).await;
            }
            follow.polls += 1;
            if follow.polls % CREDENTIAL_CHECK_EVERY == 0 {
                match follow.source.still_allowed().await {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "a stream could not check its credential");
                        continue;
                    }
                }
            }
            if let Err(e) = follow.poll().await {
                tracing::warn!(error = %e, "a stream could not read its feed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_reaches_back_from_an_id() {
        let id = at_millis(10_000);
        assert_eq!(earlier(id, Duration::from_secs(5)), at_millis(5_000));
        assert_eq!(earlier(id, Duration::from_secs(50)), at_millis(0));
        assert!(earlier(Uuid::now_v7(), LATE_COMMIT_WINDOW) < Uuid::now_v7());
    }

    #[test]
    fn a_stream_resumes_after_last_event_id() {
        let before = Uuid::now_v7();
        let mut headers = HeaderMap::new();
        let fresh = start_after(&headers, Duration::ZERO);
        assert!(fresh >= earlier(before, Duration::ZERO) && fresh <= Uuid::now_v7());
        assert!(start_after(&headers, Duration::from_secs(10)) < before);
        let last = Uuid::now_v7();
        headers.insert("last-event-id", last.to_string().parse().unwrap());
        assert_eq!(start_after(&headers, Duration::from_secs(10)), last);
        headers.insert("last-event-id", "garbage".parse().unwrap());
        assert_ne!(start_after(&headers, Duration::from_secs(10)), last);
    }
}
