//! The street's figures as history is made (migration 0010): every change to what a demand
//! contributes marks it ([`mark`]), the folder ([`fold`]) moves marked demands' difference into
//! per-day and per-month rollups, and a read ([`read`]) adds the rollups of the whole days and
//! months of its range to the facts of its partial days and of the demands still marked — in
//! one snapshot, so a read is never stale and never counts a change twice.
//!
//! A mark is a row of `figure_marks` (migration 0017), not a column of the demand: a change
//! upserts it and the folder deletes it, so neither rewrites the demand's row and its indexes.
//! A read costs what its range holds in months, days and groups; a change costs one small
//! statement more, in the same request as the demand's own update when it makes one; the
//! folder's work is off the path of every request.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use super::{
    db::{Backend, Db},
    rows::{get_bool, get_opt_enum, get_opt_uuid, get_uuid, parse_uuids, push_in},
    Sql, Tx,
};
use crate::{
    domain::{
        access::ListScope,
        figures::{Fact, FactInputs, Histogram, Plan, Tally, REPEAT_WINDOW_DAYS},
        format_ts, parse_instant,
        stats::GroupBy,
        CandidateKind,
    },
    Error, Result,
};

/// The head of a statement that marks demands: `VALUES` or a `SELECT` of their ids and 1
/// follow, then [`MARK_UPSERT`]. A demand not marked gets a new mark; a marked one's mark moves
/// past the one a folder may be folding.
pub(crate) const MARK_SELECTED: &str = "INSERT INTO figure_marks (demand_id, mark) ";
/// The end of a statement that marks demands (after a `SELECT`, a `WHERE` clause keeps SQLite
/// from reading `ON` as a join's).
pub(crate) const MARK_UPSERT: &str =
    " ON CONFLICT (demand_id) DO UPDATE SET mark = figure_marks.mark + 1";

/// `update`, an `UPDATE demands` of the one demand whose id is the placeholder `id`, with the
/// demand marked if it changed, as one request: on PostgreSQL the update is a `WITH` clause
/// whose `RETURNING id` the mark takes; on SQLite the mark is a second statement that writes
/// only if the first changed a row (`changes()`). Either way the request changes rows only if
/// the update did.
pub(crate) fn update_and_mark(update: &str, id: &str, backend: Backend) -> String {
    match backend {
        Backend::Postgres => format!(
            "WITH changed AS ({update} RETURNING id) \
             {MARK_SELECTED}SELECT id, 1 FROM changed WHERE 1 = 1{MARK_UPSERT}"
        ),
        Backend::Sqlite => {
            format!("{update};\n{MARK_SELECTED}SELECT {id}, 1 WHERE changes() > 0{MARK_UPSERT}")
        }
    }
}

/// Marks a demand whose contribution may have changed, for a change that does not update the
/// demand's row (a rating, an escalation, an order cancelled without moving it): a move or an
/// edit of the demand marks it in its own request ([`update_and_mark`]), a filing in its script.
pub async fn mark(tx: &mut Tx<'_>, demand: Uuid) -> Result<()> {
    sqlx::query(&format!("{MARK_SELECTED}VALUES ($1, 1){MARK_UPSERT}"))
        .bind(demand.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks the demands the resident of `demand` filed in its category within the repeat window
/// after it: whether they are repeats depends on it. Called before and after an edit that
/// changes the demand's resident or category, with what it says at each moment.
pub async fn mark_followers(tx: &mut Tx<'_>, demand: Uuid) -> Result<()> {
    let Some(row) = sqlx::query(
        "SELECT street_id, resident_phone, category, created_at FROM demands WHERE id = $1",
    )
    .bind(demand.to_string())
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(());
    };
    let filed: String = row.try_get("created_at")?;
    let until = format_ts(
        parse_instant(&filed).expect("stored timestamps parse")
            + time::Duration::days(REPEAT_WINDOW_DAYS),
    );
    sqlx::query(&format!(
        "{MARK_SELECTED}SELECT id, 1 FROM demands WHERE street_id = $1 AND resident_phone = $2 \
         AND category = $3 AND created_at > $4 AND created_at <= $5{MARK_UPSERT}"
    ))
    .bind(row.try_get::<String, _>("street_id")?)
    .bind(row.try_get::<String, _>("resident_phone")?)
    .bind(row.try_get::<String, _>("category")?)
    .bind(filed)
    .bind(until)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a demand contributes now, read from the demand, its live order, its escalations and
/// the resident's previous filing; `FROM` and `WHERE` follow, the demand being `d`.
const FRESH: &str = "SELECT d.id, d.street_id, g.community_id, d.grid_id, d.category, d.created_at, d.window_end, \
     o.created_at AS dispatched_at, o.accepted_at, o.completed_at, o.rating, o.assignee_kind, o.assignee_id, \
     r.owner_unit_id, \
     (SELECT COUNT(*) FROM escalations e WHERE e.demand_id = d.id) AS escalations, \
     (SELECT MAX(p.created_at) FROM demands p WHERE p.street_id = d.street_id \
      AND p.resident_phone = d.resident_phone AND p.category = d.category \
      AND p.created_at < d.created_at) AS previous_filing ";

/// The demand's grid, live order and assigned resource, after `FROM demands d`.
const FRESH_JOINS: &str = " JOIN grids g ON g.id = d.grid_id \
     LEFT JOIN service_orders o ON o.demand_id = d.id AND o.status <> 'cancelled' \
     LEFT JOIN resources r ON r.id = o.assignee_id AND o.assignee_kind = 'resource' WHERE ";

/// The fresh facts of demands, with the caller's `WHERE` clause to follow.
fn fresh_of_demands() -> Sql {
    Sql::new(format!("{FRESH}FROM demands d{FRESH_JOINS}"))
}

fn fresh_fact(r: &AnyRow) -> Result<(Uuid, Fact)> {
    let kind = get_opt_enum(r, "assignee_kind", CandidateKind::from_db)?;
    let assignee = get_opt_uuid(r, "assignee_id")?;
    Ok((
        get_uuid(r, "id")?,
        Fact::of(FactInputs {
            street: get_uuid(r, "street_id")?,
            community: get_uuid(r, "community_id")?,
            grid: get_uuid(r, "grid_id")?,
            category: r.try_get("category")?,
            filed_at: r.try_get("created_at")?,
            window_end: r.try_get("window_end")?,
            dispatched_at: r.try_get("dispatched_at")?,
            accepted_at: r.try_get("accepted_at")?,
            completed_at: r.try_get("completed_at")?,
            rating: r.try_get("rating")?,
            volunteer: assignee.filter(|_| kind == Some(CandidateKind::Volunteer)),
            unit: get_opt_uuid(r, "owner_unit_id")?,
            escalations: r.try_get("escalations")?,
            previous_filing: r.try_get("previous_filing")?,
        }),
    ))
}

const STORED: &str = "SELECT f.demand_id, f.street_id, f.filed_at, f.community_id, f.grid_id, f.category, \
     f.volunteer_id, f.unit_id, f.dispatched, f.accepted, f.completed, f.on_time, f.rated, f.satisfied, f.repeated, \
     f.escalations, f.accept_minutes, f.complete_minutes ";

/// The folded facts of demands, with the caller's `WHERE` clause to follow.
fn stored_of_demands() -> Sql {
    Sql::new(format!("{STORED}FROM demand_facts f WHERE "))
}

fn stored_fact(r: &AnyRow) -> Result<(Uuid, Fact)> {
    Ok((
        get_uuid(r, "demand_id")?,
        Fact {
            street: get_uuid(r, "street_id")?,
            community: get_uuid(r, "community_id")?,
            grid: get_uuid(r, "grid_id")?,
            category: r.try_get("category")?,
            volunteer: get_opt_uuid(r, "volunteer_id")?,
            unit: get_opt_uuid(r, "unit_id")?,
            filed_at: r.try_get("filed_at")?,
            dispatched: get_bool(r, "dispatched")?,
            accepted: get_bool(r, "accepted")?,
            completed: get_bool(r, "completed")?,
            on_time: get_bool(r, "on_time")?,
            rated: get_bool(r, "rated")?,
            satisfied: get_bool(r, "satisfied")?,
            repeated: get_bool(r, "repeated")?,
            escalations: r.try_get("escalations")?,
            accept_minutes: r.try_get("accept_minutes")?,
            complete_minutes: r.try_get("complete_minutes")?,
        },
    ))
}

async fn facts(
    conn: &mut AnyConnection,
    sql: Sql,
    decode: fn(&AnyRow) -> Result<(Uuid, Fact)>,
) -> Result<HashMap<Uuid, Fact>> {
    sql.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// A rollup row's identity: street, level (`day` or `month`), dimension, period, group.
type RollupKey = (Uuid, &'static str, &'static str, String, String);

/// Adds a fact, with a sign, to the rollups of its day and month in each of its groups.
fn spread(into: &mut BTreeMap<RollupKey, Tally>, f: &Fact, sign: i64) {
    let (day, month) = f.periods();
    let groups = f.groups();
    for (level, period) in [("day", day), ("month", month)] {
        for (dim, key) in &groups {
            into.entry((f.street, level, dim.as_str(), period.clone(), key.clone()))
                .or_default()
                .add(f, sign);
        }
    }
}

/// How many marked demands the folder takes in one transaction.
pub const FOLD_BATCH: i64 = 200;

/// Folds up to [`FOLD_BATCH`] marked demands into the rollups, in one write transaction, and
/// answers how many marks it cleared (0: nothing was marked, or, on PostgreSQL, another host
/// is folding). A demand marked again while it is being folded keeps its newer mark.
pub async fn fold(db: &Db) -> Result<usize> {
    let postgres = db.backend() == Backend::Postgres;
    db.transact(move |tx| {
        Box::pin(async move {
            if postgres {
                // One folder at a time: rollups are merged by reading and writing them.
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(7301010)")
                    .fetch_one(&mut **tx)
                    .await?;
                if !got {
                    return Ok(0);
                }
            }
            // The marks are read without a lock, so that no change waits for the fold: a mark
            // moved after this read is left for the next pass by the statement that clears
            // the marks read, which matches the revision read.
            let marks: Vec<(String, i64)> = sqlx::query_as(&format!(
                "SELECT demand_id, mark FROM figure_marks ORDER BY demand_id LIMIT {FOLD_BATCH}"
            ))
            .fetch_all(&mut **tx)
            .await?;
            if marks.is_empty() {
                return Ok(0);
            }
            let ids = parse_uuids(marks.iter().map(|(id, _)| id.as_str()), "demand")?;
            let mut sql = fresh_of_demands();
            sql.push("1 = 1");
            push_in(&mut sql, "d.id", &ids);
            let fresh = facts(tx, sql, fresh_fact).await?;
            let mut sql = stored_of_demands();
            sql.push("1 = 1");
            push_in(&mut sql, "f.demand_id", &ids);
            let stored = facts(tx, sql, stored_fact).await?;

            let mut deltas = BTreeMap::new();
            let mut changed = vec![];
            for id in &ids {
                let (old, new) = (stored.get(id), fresh.get(id));
                if old == new {
                    continue;
                }
                if let Some(f) = old {
                    spread(&mut deltas, f, -1);
                }
                if let Some(f) = new {
                    spread(&mut deltas, f, 1);
                }
                changed.push((*id, new));
            }
            write_facts(tx, &changed).await?;
            apply(tx, deltas).await?;
            // Clear the marks as folded; a mark moved meanwhile stays for the next pass. On
            // PostgreSQL a mark a change holds is skipped, not waited for: it stays and is
            // folded again (to no difference if nothing changed); a change that marks a demand
            // whose mark this deletes waits for the fold and marks it afresh.
            //
            // The marks read are a table of values joined by id: a condition per mark
            // (`demand_id = $1 AND mark = $2 OR ...`) took PostgreSQL longer to plan than to
            // run, and tested every condition on every row.
            let mut cleared = 0;
            for chunk in marks.chunks(Backend::of_tx(tx).rows_per_statement(2)) {
                let mut sql = Sql::new("WITH folded (id, mark) AS (VALUES ");
                for (i, (id, rev)) in chunk.iter().enumerate() {
                    sql.push(if i > 0 { ", (" } else { "(" })
                        .bind(id.clone())
                        .push(", ")
                        .bind(*rev)
                        .push(")");
                }
                sql.push(
                    ") DELETE FROM figure_marks WHERE demand_id IN (SELECT m.demand_id \
                     FROM figure_marks m JOIN folded f ON f.id = m.demand_id AND f.mark = m.mark",
                );
                if postgres {
                    sql.push(" FOR UPDATE OF m SKIP LOCKED");
                }
                sql.push(")");
                cleared += sql.execute(&mut **tx).await?;
            }
            Ok(usize::try_from(cleared).unwrap_or(usize::MAX))
        })
    })
    .await
}

/// Folds until a pass clears fewer marks than it takes (nothing more is marked, changes hold
/// the rest, or another host is folding), and answers how many marks it cleared.
pub async fn fold_all(db: &Db) -> Result<usize> {
    let mut total = 0;
    loop {
        let n = fold(db).await?;
        total += n;
        if n < FOLD_BATCH as usize {
            return Ok(total);
        }
    }
}

async fn write_facts(tx: &mut Tx<'_>, changed: &[(Uuid, Option<&Fact>)]) -> Result<()> {
    let gone: Vec<Uuid> = changed
        .iter()
        .filter(|(_, f)| f.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !gone.is_empty() {
        let mut sql = Sql::new("DELETE FROM demand_facts WHERE 1 = 1");
        push_in(&mut sql, "demand_id", &gone);
        sql.execute(&mut **tx).await?;
    }
    let kept: Vec<(Uuid, &Fact)> = changed
        .iter()
        .filter_map(|(id, f)| f.map(|f| (*id, f)))
        .collect();
    for chunk in kept.chunks(Backend::of_tx(tx).rows_per_statement(FACT_BINDS)) {
        let mut sql = Sql::new(
            "INSERT INTO demand_facts (demand_id, street_id, filed_at, filed_day, filed_month, community_id, \
             grid_id, category, volunteer_id, unit_id, dispatched, accepted, completed, on_time, rated, \
             satisfied, repeated, escalations, accept_minutes, complete_minutes) VALUES ",
        );
        for (i, (id, f)) in chunk.iter().enumerate() {
            let (day, month) = f.periods();
            sql.push(if i > 0 { ", (" } else { "(" });
            sql.bind(id.to_string())
                .push(", ")
                .bind(f.street.to_string())
                .push(", ")
                .bind(f.filed_at.clone())
                .push(", ")
                .bind(day)
                .push(", ")
                .bind(month)
                .push(", ")
                .bind(f.community.to_string())
                .push(", ")
                .bind(f.grid.to_string())
                .push(", ")
                .bind(f.category.clone())
                .push(", ")
                .bind(f.volunteer.map(|v| v.to_string()))
                .push(", ")
                .bind(f.unit.map(|u| u.to_string()));
            for flag in [
                f.dispatched,
                f.accepted,
                f.completed,
                f.on_time,
                f.rated,
                f.satisfied,
                f.repeated,
            ] {
                sql.push(", ").bind(i64::from(flag));
            }
            sql.push(", ")
                .bind(f.escalations)
                .push(", ")
                .bind(f.accept_minutes)
                .push(", ")
                .bind(f.complete_minutes)
                .push(")");
        }
        sql.push(
            " ON CONFLICT (demand_id) DO UPDATE SET community_id = excluded.community_id, \
             grid_id = excluded.grid_id, category = excluded.category, volunteer_id = excluded.volunteer_id, \
             unit_id = excluded.unit_id, dispatched = excluded.dispatched, accepted = excluded.accepted, \
             completed = excluded.completed, on_time = excluded.on_time, rated = excluded.rated, \
             satisfied = excluded.satisfied, repeated = excluded.repeated, escalations = excluded.escalations, \
             accept_minutes = excluded.accept_minutes, complete_minutes = excluded.complete_minutes",
        );
        sql.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Placeholders a written rollup row binds: one a column of [`ROLLUP_COLUMNS`].
const ROLLUP_BINDS: usize = 16;

/// Placeholders a written fact binds: one a column of `demand_facts`.
const FACT_BINDS: usize = 20;

const ROLLUP_COLUMNS: &str =
    "street_id, level, dim, period, group_key, received, dispatched, accepted, \
     completed, on_time, rated, satisfied, repeated, escalations, accept_minutes, complete_minutes";

/// The counts of a rollup row, as [`ROLLUP_COLUMNS`] names them.
const TALLY_COUNTS: [&str; 9] = [
    "received",
    "dispatched",
    "accepted",
    "completed",
    "on_time",
    "rated",
    "satisfied",
    "repeated",
    "escalations",
];

fn tally_of(r: &AnyRow) -> Result<Tally> {
    let hist = |col: &str| -> Result<Histogram> {
        let text: String = r.try_get(col)?;
        Histogram::decode(&text).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("bad histogram in figure_rollups.{col}"))
        })
    };
    Ok(Tally {
        received: r.try_get("received")?,
        dispatched: r.try_get("dispatched")?,
        accepted: r.try_get("accepted")?,
        completed: r.try_get("completed")?,
        on_time: r.try_get("on_time")?,
        rated: r.try_get("rated")?,
        satisfied: r.try_get("satisfied")?,
        repeated: r.try_get("repeated")?,
        escalations: r.try_get("escalations")?,
        to_accept: hist("accept_minutes")?,
        to_complete: hist("complete_minutes")?,
    })
}

fn key_of(r: &AnyRow) -> Result<RollupKey> {
    let level: String = r.try_get("level")?;
    let dim: String = r.try_get("dim")?;
    Ok((
        get_uuid(r, "street_id")?,
        if level == "day" { "day" } else { "month" },
        GroupBy::from_db(&dim)?.as_str(),
        r.try_get("period")?,
        r.try_get("group_key")?,
    ))
}

/// Appends the rows of these keys as `(key = … ) OR (…)`: each term a seek on the primary key
/// on both engines (a row-value `IN` list is a scan of the table on SQLite).
fn push_keys<'k>(sql: &mut Sql, keys: impl Iterator<Item = &'k RollupKey>) {
    for (i, k) in keys.enumerate() {
        sql.push(if i > 0 {
            " OR (street_id = "
        } else {
            "(street_id = "
        })
        .bind(k.0.to_string())
        .push(" AND level = ")
        .bind(k.1)
        .push(" AND dim = ")
        .bind(k.2)
        .push(" AND period = ")
        .bind(k.3.clone())
        .push(" AND group_key = ")
        .bind(k.4.clone())
        .push(")");
    }
}

/// Adds the differences to the rollup rows they concern: each row read, merged and written
/// back, or deleted once it counts nothing.
async fn apply(tx: &mut Tx<'_>, deltas: BTreeMap<RollupKey, Tally>) -> Result<()> {
    let deltas: Vec<(RollupKey, Tally)> =
        deltas.into_iter().filter(|(_, t)| !t.is_zero()).collect();
    // A row binds one placeholder a column where it is written, fewer where it is read.
    for chunk in deltas.chunks(Backend::of_tx(tx).rows_per_statement(ROLLUP_BINDS)) {
        let mut sql = Sql::new(format!(
            "SELECT {ROLLUP_COLUMNS} FROM figure_rollups WHERE "
        ));
        push_keys(&mut sql, chunk.iter().map(|(k, _)| k));
        let mut now: HashMap<RollupKey, Tally> = HashMap::new();
        for r in sql.fetch_all(&mut **tx).await? {
            now.insert(key_of(&r)?, tally_of(&r)?);
        }
        let mut upsert = vec![];
        let mut delete = vec![];
        for (k, d) in chunk {
            let mut t = now.remove(k).unwrap_or_default();
            t.merge(d);
            if t.is_zero() {
                delete.push(k);
            } else {
                upsert.push((k, t));
            }
        }
        if !delete.is_empty() {
            let mut sql = Sql::new("DELETE FROM figure_rollups WHERE ");
            push_keys(&mut sql, delete.iter().copied());
            sql.execute(&mut **tx).await?;
        }
        if upsert.is_empty() {
            continue;
        }
        let mut sql = Sql::new(format!(
            "INSERT INTO figure_rollups ({ROLLUP_COLUMNS}) VALUES "
        ));
        for (i, (k, t)) in upsert.iter().enumerate() {
            sql.push(if i > 0 { ", (" } else { "(" });
            sql.bind(k.0.to_string())
                .push(", ")
                .bind(k.1)
                .push(", ")
                .bind(k.2)
                .push(", ")
                .bind(k.3.clone())
                .push(", ")
                .bind(k.4.clone());
            for n in [
                t.received,
                t.dispatched,
                t.accepted,
                t.completed,
                t.on_time,
                t.rated,
                t.satisfied,
                t.repeated,
                t.escalations,
            ] {
                sql.push(", ").bind(n);
            }
            sql.push(", ")
                .bind(t.to_accept.encode())
                .push(", ")
                .bind(t.to_complete.encode())
                .push(")");
        }
        sql.push(
            " ON CONFLICT (street_id, level, dim, period, group_key) DO UPDATE SET received = excluded.received, \
             dispatched = excluded.dispatched, accepted = excluded.accepted, completed = excluded.completed, \
             on_time = excluded.on_time, rated = excluded.rated, satisfied = excluded.satisfied, \
             repeated = excluded.repeated, escalations = excluded.escalations, \
             accept_minutes = excluded.accept_minutes, complete_minutes = excluded.complete_minutes",
        );
        sql.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The figures of a range, before rates and medians: per group of the dimension asked for,
/// and in total.
#[derive(Debug, Default)]
pub struct Tallies {
    pub groups: BTreeMap<String, Tally>,
    pub total: Tally,
}

impl Tallies {
    fn add_row(&mut self, dim: GroupBy, row_dim: &str, key: String, t: &Tally) {
        if row_dim == GroupBy::Street.as_str() {
            self.total.merge(t);
        }
        if row_dim == dim.as_str() {
            self.groups.entry(key).or_default().merge(t);
        }
    }

    /// Adds, with a sign, the facts a query of [`fresh_of_demands`] or [`stored_of_demands`]
    /// reads.
    async fn add_facts(
        &mut self,
        conn: &mut AnyConnection,
        sql: Sql,
        decode: fn(&AnyRow) -> Result<(Uuid, Fact)>,
        dim: GroupBy,
        sign: i64,
    ) -> Result<()> {
        for f in facts(conn, sql, decode).await?.values() {
            self.add_fact(dim, f, sign);
        }
        Ok(())
    }

    fn add_fact(&mut self, dim: GroupBy, f: &Fact, sign: i64) {
        self.total.add(f, sign);
        if let Some((_, key)) = f.groups().into_iter().find(|(d, _)| *d == dim) {
            self.groups.entry(key).or_default().add(f, sign);
        }
    }
}

/// Which streets a read covers.
pub struct Streets<'a> {
    pub scope: &'a ListScope,
    pub street: Option<Uuid>,
}

impl Streets<'_> {
    fn restrict(&self, sql: &mut Sql, column: &str) {
        if let ListScope::Streets(streets) = self.scope {
            push_in(sql, column, streets);
        }
        if let Some(street) = self.street {
            sql.push(" AND ")
                .push(column)
                .push(" = ")
                .bind(street.to_string());
        }
    }
}

/// The tallies of the demands filed in `[from, to)` (split by `plan`), grouped by `dim`,
/// read in one snapshot.
pub async fn read(
    db: &Db,
    streets: &Streets<'_>,
    from: &str,
    to: &str,
    plan: &Plan,
    dim: GroupBy,
) -> Result<Tallies> {
    let mut tx = db.read().begin().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let mut out = Tallies::default();
    let conn: &mut AnyConnection = &mut tx;

    // The district's reads name its streets, so that each is found by its key.
    let street_ids: Option<Vec<Uuid>> = match (streets.scope, streets.street) {
        (ListScope::All, None) => {
            let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM streets")
                .fetch_all(&mut *conn)
                .await?;
            Some(parse_uuids(ids.iter().map(String::as_str), "street")?)
        }
        _ => None,
    };
    let restrict = |sql: &mut Sql, column: &str| {
        streets.restrict(sql, column);
        if let Some(ids) = &street_ids {
            push_in(sql, column, ids);
        }
    };

    // Whole months and days, from the rollups: one part per level and span, each a seek on
    // the key (street, level, dimension, period).
    let mut spans: Vec<(&str, &(String, String))> = vec![];
    if let Some(months) = &plan.months {
        spans.push(("month", months));
    }
    spans.extend(plan.days.iter().map(|d| ("day", d)));
    // The street's rows make the total; the dimension's, the groups.
    let dims: &[&str] = if dim == GroupBy::Street {
        &["street"]
    } else {
        &[dim.as_str(), "street"]
    };
    let parts: Vec<_> = spans
        .iter()
        .flat_map(|span| dims.iter().map(move |d| (span, *d)))
        .collect();
    // The rows are added up by the database, one row a group (a year by volunteer is twelve
    // months of a thousand volunteers): counts summed, histograms' pairs concatenated, which
    // decode to their sum.
    if !parts.is_empty() {
        let concat = |col: &str| match db.backend() {
            Backend::Sqlite => format!("group_concat({col}, ' ') AS {col}"),
            Backend::Postgres => format!("string_agg({col}, ' ') AS {col}"),
        };
        let mut sql = Sql::new(format!(
            "SELECT dim, group_key, {}, {}, {} FROM (",
            TALLY_COUNTS
                .iter()
                .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
                .collect::<Vec<_>>()
                .join(", "),
            concat("accept_minutes"),
            concat("complete_minutes"),
        ));
        for (i, ((level, (a, b)), d)) in parts.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push(&format!(
                "SELECT {ROLLUP_COLUMNS} FROM figure_rollups WHERE level = '{level}' AND dim = '{d}'"
            ));
            restrict(&mut sql, "street_id");
            sql.push(" AND period >= ")
                .bind(a.clone())
                .push(" AND period <= ")
                .bind(b.clone());
        }
        sql.push(") AS spans GROUP BY dim, group_key");
        for r in sql.fetch_all(&mut *conn).await? {
            let row_dim = GroupBy::from_db(&r.try_get::<String, _>("dim")?)?.as_str();
            out.add_row(dim, row_dim, r.try_get("group_key")?, &tally_of(&r)?);
        }
    }

    // Partial days, from the demands' facts as folded.
    for (a, b) in &plan.partial {
        let mut sql = stored_of_demands();
        sql.push("f.filed_at >= ")
            .bind(a.clone())
            .push(" AND f.filed_at < ")
            .bind(b.clone());
        restrict(&mut sql, "f.street_id");
        out.add_facts(&mut *conn, sql, stored_fact, dim, 1).await?;
    }

    // Demands changed since they were folded: what they contribute now, less what was folded.
    // The marks are read first and the demands then found by id: they are few, the range's
    // demands many, and a planner guessing the size of a queue could walk the range instead.
    let marked: Vec<String> = sqlx::query_scalar("SELECT demand_id FROM figure_marks")
        .fetch_all(&mut *conn)
        .await?;
    let marked = parse_uuids(marked.iter().map(String::as_str), "demand")?;
    for ids in marked.chunks(500) {
        let mut sql = fresh_of_demands();
        sql.push("d.created_at >= ")
            .bind(from.to_string())
            .push(" AND d.created_at < ")
            .bind(to.to_string());
        push_in(&mut sql, "d.id", ids);
        restrict(&mut sql, "d.street_id");
        out.add_facts(&mut *conn, sql, fresh_fact, dim, 1).await?;
        let mut sql = stored_of_demands();
        sql.push("f.filed_at >= ")
            .bind(from.to_string())
            .push(" AND f.filed_at < ")
            .bind(to.to_string());
        push_in(&mut sql, "f.demand_id", ids);
        restrict(&mut sql, "f.street_id");
        out.add_facts(&mut *conn, sql, stored_fact, dim, -1).await?;
    }
    tx.rollback().await?;
    out.groups.retain(|_, t| t.received != 0);
    Ok(out)
}

/// The names of the groups of a dimension, by key (a category is named by its code).
pub async fn labels(db: &Db, dim: GroupBy, keys: &[String]) -> Result<HashMap<String, String>> {
    let (table, column) = match dim {
        GroupBy::Street => ("streets", "name"),
        GroupBy::Community => ("communities", "name"),
        GroupBy::Grid => ("grids", "code"),
        GroupBy::Volunteer => ("volunteers", "name"),
        GroupBy::Unit => ("units", "name"),
        GroupBy::Category => return Ok(keys.iter().map(|k| (k.clone(), k.clone())).collect()),
    };
    let mut out = HashMap::new();
    for chunk in keys.chunks(db.backend().rows_per_statement(1)) {
        let ids: Vec<Uuid> = chunk
            .iter()
            .filter_map(|k| Uuid::parse_str(k).ok())
            .collect();
        let mut sql = Sql::new(format!(
            "SELECT id, {column} AS label FROM {table} WHERE 1 = 1"
        ));
        push_in(&mut sql, "id", &ids);
        for r in sql.fetch_all(db.read()).await? {
            out.insert(r.try_get("id")?, r.try_get("label")?);
        }
    }
    Ok(out)
}

/// Checks, as the invariant checker does, that the folded facts of every unmarked demand are
/// its facts now, and that the rollups are the sum of the folded facts. Answers what is wrong,
/// one line each.
pub async fn audit(conn: &mut AnyConnection) -> Result<(Vec<String>, Vec<String>)> {
    let marked: HashSet<String> = sqlx::query_scalar("SELECT demand_id FROM figure_marks")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let mut sql = fresh_of_demands();
    sql.push("1 = 1");
    let fresh = facts(&mut *conn, sql, fresh_fact).await?;
    let mut sql = stored_of_demands();
    sql.push("1 = 1");
    let stored = facts(&mut *conn, sql, stored_fact).await?;
    let mut stale = vec![];
    for (id, now) in &fresh {
        if marked.contains(&id.to_string()) {
            continue;
        }
        match stored.get(id) {
            Some(f) if f == now => {}
            Some(f) => stale.push(format!("demand {id}: folded {f:?}, now {now:?}")),
            None => stale.push(format!("demand {id}: never folded and not marked")),
        }
    }
    let mut expected = BTreeMap::new();
    for f in stored.values() {
        spread(&mut expected, f, 1);
    }
    let mut wrong = vec![];
    for r in Sql::new(format!("SELECT {ROLLUP_COLUMNS} FROM figure_rollups"))
        .fetch_all(&mut *conn)
        .await?
    {
        let k = key_of(&r)?;
        let t = tally_of(&r)?;
        match expected.remove(&k) {
            Some(e) if e == t => {}
            Some(e) => wrong.push(format!("{k:?}: holds {t:?}, the facts add up to {e:?}")),
            None => wrong.push(format!("{k:?}: holds {t:?}, no folded demand counts in it")),
        }
    }
    for (k, e) in expected {
        wrong.push(format!("{k:?}: missing, the facts add up to {e:?}"));
    }
    Ok((stale, wrong))
}
