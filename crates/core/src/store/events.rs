//! The event log: every change to a demand, an order or a project is recorded in the
//! transaction that makes it.

use sqlx::Row;
use uuid::Uuid;

use super::{
    page::{Page, PageRequest},
    rows::{get_uuid, push_in},
    Script, Sql, Tx,
};
use crate::{
    domain::{access::ListScope, order::Event},
    Result,
};

/// Who makes a change and when, by the service's clock: what every event the change records
/// names.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub actor: &'a str,
    pub at: &'a str,
}

impl Stamp<'_> {
    /// Records an event of this change on `subject_kind` `subject_id`.
    pub async fn record(
        &self,
        tx: &mut Tx<'_>,
        subject_kind: &str,
        subject_id: Uuid,
        action: &str,
        note: Option<&str>,
    ) -> Result<()> {
        record_event(
            tx,
            self.at,
            subject_kind,
            subject_id,
            self.actor,
            action,
            note,
        )
        .await
    }
}

/// Records an event in the transaction of the change it describes, at `at` (by the service's
/// clock, as every instant it records).
pub async fn record_event(
    tx: &mut Tx<'_>,
    at: &str,
    subject_kind: &str,
    subject_id: Uuid,
    actor: &str,
    action: &str,
    note: Option<&str>,
) -> Result<()> {
    record_events(tx, at, &[(subject_kind, subject_id, actor, action, note)]).await
}

/// An event to record: (subject kind, subject, actor, action, note).
pub type NewEvent<'a> = (&'a str, Uuid, &'a str, &'a str, Option<&'a str>);

/// Records several events in one statement, in the transaction of the change they describe.
pub async fn record_events(tx: &mut Tx<'_>, at: &str, events: &[NewEvent<'_>]) -> Result<()> {
    let mut script = Script::new(tx);
    add_events(&mut script, at, events);
    script.send(tx).await?;
    Ok(())
}

/// The head of the statement that records events.
const EVENTS: &str =
    "INSERT INTO events (id, subject_kind, subject_id, actor, action, note, at) VALUES ";

/// Adds `events` at `at` to the one statement of `script` that records its events (see
/// [`Script::row`]).
pub fn add_events(script: &mut Script, at: &str, events: &[NewEvent<'_>]) {
    for &(kind, subject, actor, action, note) in events {
        let (kind, actor, action) = (kind.to_string(), actor.to_string(), action.to_string());
        let (note, at) = (note.map(str::to_string), at.to_string());
        script.row(EVENTS, move |sql| {
            event_row(
                sql,
                &at,
                &(&kind, subject, &actor, &action, note.as_deref()),
            )
        });
    }
}

/// One event's values, its id taken now.
fn event_row(sql: &mut Sql, at: &str, (kind, subject, actor, action, note): &NewEvent<'_>) {
    sql.push("(");
    sql.bind(Uuid::now_v7().to_string()).push(", ");
    sql.bind(kind.to_string()).push(", ");
    sql.bind(subject.to_string()).push(", ");
    sql.bind(actor.to_string()).push(", ");
    sql.bind(action.to_string()).push(", ");
    sql.bind(note.map(str::to_string)).push(", ");
    sql.bind(at.to_string()).push(")");
}

/// A page of the events of one subject, oldest first.
pub async fn list(
    db: &sqlx::AnyPool,
    subject_kind: &str,
    subject_id: Uuid,
    page: &PageRequest,
) -> Result<Page<Event>> {
    let mut sql = Sql::new("SELECT * FROM events WHERE subject_kind = ");
    sql.bind(subject_kind.to_string())
        .push(" AND subject_id = ")
        .bind(subject_id.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows.iter().map(event_of_row).collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |e| e.id))
}

fn event_of_row(r: &sqlx::any::AnyRow) -> Result<Event> {
    Ok(Event {
        id: get_uuid(r, "id")?,
        subject_kind: r.try_get("subject_kind")?,
        subject_id: get_uuid(r, "subject_id")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        note: r.try_get("note")?,
        at: r.try_get("at")?,
    })
}

/// Whose events a feed follows.
pub enum Following<'a> {
    /// The demands and orders of these streets, or of every street.
    Streets(&'a ListScope),
    /// The orders offered to one of these candidates (a volunteer's or a unit's identities).
    Offers(&'a [Uuid]),
}

/// The events recorded after `after` (ids are time-ordered) that `following` covers, oldest
/// first, at most `limit`. Walks the events after the cursor by their key, so a poll costs
/// what was recorded since the last one, not the history.
pub async fn since(
    db: &sqlx::AnyPool,
    following: Following<'_>,
    after: Uuid,
    limit: i64,
) -> Result<Vec<Event>> {
    let mut sql = match following {
        Following::Streets(scope) => {
            let mut sql = Sql::new(
                "SELECT e.* FROM events e \
                 LEFT JOIN demands d ON e.subject_kind = 'demand' AND d.id = e.subject_id \
                 LEFT JOIN service_orders o ON e.subject_kind = 'order' AND o.id = e.subject_id \
                 WHERE e.id > ",
            );
            sql.bind(after.to_string());
            if let ListScope::Streets(streets) = scope {
                sql.push(" AND (");
                sql.push("1 = 0");
                for column in ["d.street_id", "o.street_id"] {
                    sql.push(" OR (1 = 1");
                    push_in(&mut sql, column, streets);
                    sql.push(")");
                }
                sql.push(")");
            }
            sql
        }
        Following::Offers(mine) => {
            let mut sql = Sql::new("SELECT e.* FROM events e WHERE e.id > ");
            sql.bind(after.to_string()).push(
                " AND e.subject_kind = 'order' AND e.subject_id IN \
                 (SELECT f.order_id FROM order_offers f WHERE 1 = 1",
            );
            push_in(&mut sql, "f.candidate_id", mine);
            sql.push(")");
            sql
        }
    };
    sql.push(" ORDER BY e.id LIMIT ").bind(limit);
    let rows = sql.fetch_all(db).await?;
    rows.iter().map(event_of_row).collect()
}
