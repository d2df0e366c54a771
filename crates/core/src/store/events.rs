//! The event log: every change to a demand, an order or a project is recorded in the
//! transaction that makes it.

use sqlx::Row;
use uuid::Uuid;

use super::{
    page::{Page, PageRequest},
    rows::get_uuid,
    Sql, Tx,
};
use crate::{domain::order::Event, Result};

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
    let mut sql = Sql::new("");
    write_events(&mut sql, at, events);
    sql.execute(&mut **tx).await?;
    Ok(())
}

/// Writes the statement that records `events` at `at` into `sql` (see
/// [`Script`](super::Script)).
pub fn write_events(sql: &mut Sql, at: &str, events: &[NewEvent<'_>]) {
    sql.push("INSERT INTO events (id, subject_kind, subject_id, actor, action, note, at) VALUES ");
    for (i, (kind, subject, actor, action, note)) in events.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(");
        sql.bind(Uuid::now_v7().to_string()).push(", ");
        sql.bind(kind.to_string()).push(", ");
        sql.bind(subject.to_string()).push(", ");
        sql.bind(actor.to_string()).push(", ");
        sql.bind(action.to_string()).push(", ");
        sql.bind(note.map(str::to_string)).push(", ");
        sql.bind(at.to_string()).push(")");
    }
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
    let items = rows
        .iter()
        .map(|r| {
            Ok(Event {
                id: get_uuid(r, "id")?,
                subject_kind: r.try_get("subject_kind")?,
                subject_id: get_uuid(r, "subject_id")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                note: r.try_get("note")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |e| e.id))
}
