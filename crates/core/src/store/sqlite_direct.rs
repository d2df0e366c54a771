//! The committer's own SQLite connection, on which scripts run with no hand-off.
//!
//! sqlx runs each SQLite connection on a worker thread of its own: every request is handed to
//! that thread, and every statement's outcome handed back over a channel, each hand-off waking
//! a sleeping thread. With one writer, those wake-ups and the switches between the two threads
//! were about two fifths of the writer's time under a load of filings (BENCHMARKS.md). A
//! filing's writes are a script ([`Script`](crate::store::Script)), statements and their
//! arguments and nothing else; the committer runs those on this connection, opened to the same
//! file and used only on the committer's thread, through SQLite's C interface: each statement
//! is prepared once and kept, the argument each of its placeholders takes is looked up once
//! (SQLite finds a placeholder by name with a walk of the statement's names), and running it
//! is a call on the committer's own thread.
//!
//! It is a second writer of the database: the committer alone uses it and the pool's writer
//! connection, one after the other, so they never wait on each other's lock. (sqlx offers no
//! way to the SQLite handle of a connection of its `Any` driver, and its worker may still use
//! a connection after answering a request, so the two cannot share one.)

use std::{
    collections::HashMap,
    ffi::{c_char, c_int, CStr, CString},
    fmt, ptr,
};

use libsqlite3_sys as ffi;
use sqlx::any::AnyArguments;
use sqlx_core::any::AnyValueKind;

/// The most distinct scripts kept prepared; past it the cache starts afresh. A filing's text
/// varies with the rows it writes (its offers, its events), so this holds every shape that
/// recurs.
const CACHED_SCRIPTS: usize = 512;

/// What SQLite said when a statement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectError {
    /// SQLite's extended result code.
    pub code: c_int,
    pub message: String,
}

impl fmt::Display for DirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLite code {})", self.message, self.code)
    }
}

impl std::error::Error for DirectError {}

impl DirectError {
    fn new(message: impl Into<String>) -> Self {
        DirectError {
            code: ffi::SQLITE_MISUSE,
            message: message.into(),
        }
    }
}

/// One statement of a script, prepared.
struct Prepared {
    stmt: *mut ffi::sqlite3_stmt,
    /// For each of the statement's placeholders, in SQLite's numbering, the index of the
    /// argument it takes.
    takes: Vec<usize>,
}

/// A SQLite connection driven from the thread that owns it.
pub struct DirectWriter {
    db: *mut ffi::sqlite3,
    /// Each script's text, and its statements prepared.
    scripts: HashMap<String, Vec<Prepared>>,
}

// SAFETY: the connection is opened with `SQLITE_OPEN_NOMUTEX` (SQLite's multi-thread mode): it
// may be used from any thread, one at a time. `DirectWriter` owns it and its statements, and
// every use takes `&mut self`, so it is only ever used by the thread holding the value.
unsafe impl Send for DirectWriter {}

impl DirectWriter {
    /// Opens the existing database file at `path` (as SQLite names it: `PRAGMA
    /// database_list`) and runs `settings`, statements that set the connection up.
    pub fn open(path: &str, settings: &str) -> Result<Self, DirectError> {
        if path.is_empty() {
            return Err(DirectError::new(
                "an in-memory SQLite database cannot be shared by connections; give a file",
            ));
        }
        let name = CString::new(path).map_err(|_| DirectError::new("a nul byte in the path"))?;
        let mut db = ptr::null_mut();
        // Not `SQLITE_OPEN_CREATE`: the file exists, created by the pool's writer, and a path
        // that names another file fails here instead of starting an empty database.
        let flags =
            ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX | ffi::SQLITE_OPEN_PRIVATECACHE;
        // SAFETY: `name` is a nul-terminated string; `db` receives the handle, which SQLite
        // allocates even when the open fails (and is then closed by the `Drop` below).
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        if db.is_null() {
            return Err(DirectError {
                code: rc,
                message: "SQLite could not allocate a connection".into(),
            });
        }
        let mut writer = DirectWriter {
            db,
            scripts: HashMap::new(),
        };
        if rc != ffi::SQLITE_OK {
            return Err(writer.error());
        }
        // SAFETY: `db` is an open connection.
        unsafe { ffi::sqlite3_extended_result_codes(db, 1) };
        writer.exec_once(settings)?;
        Ok(writer)
    }

    /// SQLite's last error on this connection.
    fn error(&self) -> DirectError {
        // SAFETY: `db` is open; the message is nul-terminated, owned by SQLite and copied
        // before any other call.
        unsafe { last_error(self.db) }
    }

    /// Runs `sql`, statements without placeholders, preparing them for this one run.
    fn exec_once(&mut self, sql: &str) -> Result<(), DirectError> {
        let text = CString::new(sql).map_err(|_| DirectError::new("a nul byte in SQL"))?;
        // SAFETY: `db` is open; `text` is nul-terminated; no callback, no error message out.
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.db,
                text.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// Runs `sql`, statements whose `$N` placeholders take `args` (`$1` the first), in order;
    /// stops at the first that fails. The statements stay prepared for the next run of the
    /// same text.
    pub fn run(&mut self, sql: &str, args: &AnyArguments<'_>) -> Result<(), DirectError> {
        let values = &args.values.0;
        if !self.scripts.contains_key(sql) {
            if self.scripts.len() >= CACHED_SCRIPTS {
                // Each statement is finalized as it drops.
                self.scripts.clear();
            }
            let prepared = self.prepare(sql)?;
            self.scripts.insert(sql.to_owned(), prepared);
        }
        let statements = &self.scripts[sql];
        for prepared in statements {
            // SAFETY: `prepared.stmt` is a statement of this open connection, not finalized
            // while in the cache.
            unsafe {
                let outcome = bind(prepared, values).and_then(|()| step(self.db, prepared.stmt));
                ffi::sqlite3_reset(prepared.stmt);
                outcome?;
            }
        }
        Ok(())
    }

    /// Runs `sql`, a statement without placeholders (a transaction's or a savepoint's).
    pub fn control(&mut self, sql: &str) -> Result<(), DirectError> {
        self.run(sql, &AnyArguments::default())
    }

    /// Reads the planner's statistics (`sqlite_stat1`) into the connection again, as they are
    /// now, and prepares its statements again by them as each is next run. A connection reads
    /// them only as it first reads the schema, and gathering them elsewhere does not change
    /// the schema ([`sqlite_statistics`](super::sqlite_statistics)). It writes nothing: SQLite
    /// gathers no statistics of its own tables.
    pub fn reload_statistics(&mut self) -> Result<(), DirectError> {
        self.exec_once("ANALYZE sqlite_schema")
    }

    /// Whether a transaction is open on this connection.
    pub fn in_transaction(&self) -> bool {
        // SAFETY: `db` is open.
        unsafe { ffi::sqlite3_get_autocommit(self.db) == 0 }
    }

    /// Prepares every statement of `sql`.
    fn prepare(&self, sql: &str) -> Result<Vec<Prepared>, DirectError> {
        let text = CString::new(sql).map_err(|_| DirectError::new("a nul byte in SQL"))?;
        let mut statements = Vec::new();
        let start = text.as_ptr();
        let end = start.wrapping_add(sql.len());
        let mut at: *const c_char = start;
        while at < end {
            let mut stmt = ptr::null_mut();
            let mut rest: *const c_char = ptr::null();
            // SAFETY: `at` points into `text`, which holds `end - at` more bytes and a nul;
            // SQLite sets `stmt` (null for a stretch of only space or comments) and `rest`,
            // where the next statement starts.
            let rc = unsafe {
                ffi::sqlite3_prepare_v3(
                    self.db,
                    at,
                    (end as usize - at as usize) as c_int,
                    ffi::SQLITE_PREPARE_PERSISTENT,
                    &mut stmt,
                    &mut rest,
                )
            };
            if rc != ffi::SQLITE_OK {
                // (Those prepared before it are finalized as `statements` drops.)
                return Err(self.error());
            }
            if !stmt.is_null() {
                // Owned from here: finalized when dropped, on any path.
                let mut prepared = Prepared {
                    stmt,
                    takes: Vec::new(),
                };
                prepared.takes = takes(stmt)?;
                statements.push(prepared);
            }
            if rest.is_null() || rest <= at {
                break;
            }
            at = rest;
        }
        Ok(statements)
    }
}

impl Drop for DirectWriter {
    fn drop(&mut self) {
        // Every statement is finalized as it drops.
        self.scripts.clear();
        // SAFETY: every statement is finalized, so the connection closes at once; `db` is not
        // used after this. (A handle whose open failed is closed the same way.)
        unsafe { ffi::sqlite3_close(self.db) };
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: a `Prepared` owns its statement, finalized once, here; its connection is
        // closed only after every `Prepared` of it has dropped.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

/// The argument each placeholder of `stmt` takes: `$N` (or `?N`) the N-th.
fn takes(stmt: *mut ffi::sqlite3_stmt) -> Result<Vec<usize>, DirectError> {
    // SAFETY: `stmt` is a prepared statement.
    let count = unsafe { ffi::sqlite3_bind_parameter_count(stmt) };
    (1..=count)
        .map(|i| {
            // SAFETY: `i` is within the statement's placeholders; the name, if any, is a
            // nul-terminated string owned by the statement.
            let name = unsafe { ffi::sqlite3_bind_parameter_name(stmt, i) };
            let name = if name.is_null() {
                ""
            } else {
                unsafe { CStr::from_ptr(name) }.to_str().unwrap_or("")
            };
            name.strip_prefix(['$', '?'])
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n >= 1)
                .map(|n| n - 1)
                .ok_or_else(|| {
                    DirectError::new(format!("placeholder {i} ({name:?}) is not numbered as $N"))
                })
        })
        .collect()
}

/// Binds each placeholder of `prepared` to the argument it takes.
///
/// # Safety
/// `prepared.stmt` is a prepared statement, reset.
unsafe fn bind(prepared: &Prepared, values: &[AnyValueKind<'_>]) -> Result<(), DirectError> {
    let stmt = prepared.stmt;
    for (i, &arg) in prepared.takes.iter().enumerate() {
        let at = (i + 1) as c_int;
        let value = values.get(arg).ok_or_else(|| {
            DirectError::new(format!(
                "placeholder ${} has no argument ({} given)",
                arg + 1,
                values.len()
            ))
        })?;
        // Text and blobs are copied by SQLite (`SQLITE_TRANSIENT`): a kept statement never
        // points at an argument that is gone.
        let rc = match value {
            AnyValueKind::Null(_) => ffi::sqlite3_bind_null(stmt, at),
            AnyValueKind::Bool(b) => ffi::sqlite3_bind_int(stmt, at, *b as c_int),
            AnyValueKind::SmallInt(n) => ffi::sqlite3_bind_int(stmt, at, *n as c_int),
            AnyValueKind::Integer(n) => ffi::sqlite3_bind_int(stmt, at, *n),
            AnyValueKind::BigInt(n) => ffi::sqlite3_bind_int64(stmt, at, *n),
            AnyValueKind::Real(x) => ffi::sqlite3_bind_double(stmt, at, *x as f64),
            AnyValueKind::Double(x) => ffi::sqlite3_bind_double(stmt, at, *x),
            AnyValueKind::Text(s) => ffi::sqlite3_bind_text64(
                stmt,
                at,
                s.as_ptr() as *const c_char,
                s.len() as u64,
                ffi::SQLITE_TRANSIENT(),
                ffi::SQLITE_UTF8 as u8,
            ),
            AnyValueKind::Blob(b) => ffi::sqlite3_bind_blob64(
                stmt,
                at,
                b.as_ptr() as *const std::ffi::c_void,
                b.len() as u64,
                ffi::SQLITE_TRANSIENT(),
            ),
            other => {
                return Err(DirectError::new(format!(
                    "an argument of a kind SQLite is not given: {other:?}"
                )))
            }
        };
        if rc != ffi::SQLITE_OK {
            return Err(DirectError {
                code: rc,
                message: format!("cannot bind placeholder ${}", arg + 1),
            });
        }
    }
    Ok(())
}

/// Steps `stmt` to its end (rows it returns are not read).
///
/// # Safety
/// `stmt` is a prepared statement of `db`, its placeholders bound.
unsafe fn step(db: *mut ffi::sqlite3, stmt: *mut ffi::sqlite3_stmt) -> Result<(), DirectError> {
    loop {
        match ffi::sqlite3_step(stmt) {
            ffi::SQLITE_ROW => continue,
            ffi::SQLITE_DONE => return Ok(()),
            _ => return Err(last_error(db)),
        }
    }
}

/// SQLite's last error on `db`.
///
/// # Safety
/// `db` is an open connection.
unsafe fn last_error(db: *mut ffi::sqlite3) -> DirectError {
    DirectError {
        code: ffi::sqlite3_extended_errcode(db),
        message: CStr::from_ptr(ffi::sqlite3_errmsg(db))
            .to_string_lossy()
            .into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Arguments;

    use super::*;

    /// A writer on a fresh database file with a table `t (id INTEGER PRIMARY KEY, name TEXT
    /// NOT NULL, score REAL, parent INTEGER REFERENCES t (id))`.
    struct Fixture {
        w: DirectWriter,
        _dir: tempfile::TempDir,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        // The file exists before the writer opens it, as the pool's writer makes it.
        std::fs::write(&path, b"").unwrap();
        let mut w = DirectWriter::open(path.to_str().unwrap(), "PRAGMA foreign_keys = ON").unwrap();
        w.control(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, \
             parent INTEGER REFERENCES t (id))",
        )
        .unwrap();
        Fixture { w, _dir: dir }
    }

    /// Runs `sql` on `db`, handing each row's statement to `row` in turn.
    fn each_row(db: *mut ffi::sqlite3, sql: &str, mut row: impl FnMut(*mut ffi::sqlite3_stmt)) {
        let text = CString::new(sql).unwrap();
        // SAFETY: `db` is open; the statement is finalized before returning, and `row` reads
        // it only while it is on a row.
        unsafe {
            let mut stmt = ptr::null_mut();
            assert_eq!(
                ffi::sqlite3_prepare_v2(db, text.as_ptr(), -1, &mut stmt, ptr::null_mut()),
                ffi::SQLITE_OK,
                "{sql}"
            );
            while ffi::sqlite3_step(stmt) == ffi::SQLITE_ROW {
                row(stmt);
            }
            ffi::sqlite3_finalize(stmt);
        }
    }

    fn query_one(db: *mut ffi::sqlite3, sql: &str) -> i64 {
        let mut first = None;
        each_row(db, sql, |stmt| {
            // SAFETY: the statement is on a row.
            first.get_or_insert(unsafe { ffi::sqlite3_column_int64(stmt, 0) });
        });
        first.unwrap_or_else(|| panic!("no row: {sql}"))
    }

    fn args(values: impl FnOnce(&mut AnyArguments<'static>)) -> AnyArguments<'static> {
        let mut a = AnyArguments::default();
        values(&mut a);
        a
    }

    #[test]
    fn a_script_binds_each_placeholder_to_its_numbered_argument_in_every_statement() {
        let mut f = fixture();
        let sql = "INSERT INTO t (id, name, score) VALUES ($1, $2, $3);\n\
                   INSERT INTO t (id, name, parent) VALUES ($4, $2, $1), ($5, 'x', $4)";
        let kept = f.w.scripts.len();
        for round in 0..3_i64 {
            let a = args(|a| {
                a.add(round * 10 + 1).unwrap();
                a.add(format!("n{round}")).unwrap();
                a.add(Some(1.5_f64)).unwrap();
                a.add(round * 10 + 2).unwrap();
                a.add(round * 10 + 3).unwrap();
            });
            f.w.run(sql, &a).unwrap();
        }
        assert_eq!(query_one(f.w.db, "SELECT count(*) FROM t"), 9);
        assert_eq!(
            query_one(
                f.w.db,
                "SELECT count(*) FROM t WHERE name = 'n2' AND parent = 21"
            ),
            1
        );
        assert_eq!(
            query_one(f.w.db, "SELECT count(*) FROM t WHERE score = 1.5"),
            3
        );
        assert_eq!(
            query_one(
                f.w.db,
                "SELECT count(*) FROM t WHERE parent = 12 AND name = 'x'"
            ),
            1
        );
        // Prepared once, kept.
        assert_eq!(f.w.scripts.len(), kept + 1);
        assert_eq!(f.w.scripts[sql].len(), 2);
    }

    #[test]
    fn a_failing_statement_stops_the_script_and_says_why() {
        let mut f = fixture();
        let sql = "INSERT INTO t (id, name) VALUES ($1, 'a');\n\
                   INSERT INTO t (id, name, parent) VALUES ($2, 'b', $3);\n\
                   INSERT INTO t (id, name) VALUES ($4, 'c')";
        let a = args(|a| {
            a.add(1_i64).unwrap();
            a.add(2_i64).unwrap();
            a.add(99_i64).unwrap();
            a.add(3_i64).unwrap();
        });
        let err = f.w.run(sql, &a).unwrap_err();
        assert_eq!(err.code, ffi::SQLITE_CONSTRAINT_FOREIGNKEY);
        // The first ran (no transaction here), the third never did.
        assert_eq!(query_one(f.w.db, "SELECT count(*) FROM t"), 1);

        // A missing argument is an error, not a null.
        let insert = "INSERT INTO t (id, name) VALUES ($1, $2)";
        let err =
            f.w.run(insert, &args(|a| a.add(5_i64).unwrap()))
                .unwrap_err();
        assert!(err.message.contains("$2"), "{err}");
        // A null where the table forbids one fails in SQLite.
        let err =
            f.w.run(
                insert,
                &args(|a| {
                    a.add(6_i64).unwrap();
                    a.add(Option::<String>::None).unwrap();
                }),
            )
            .unwrap_err();
        assert_eq!(err.code, ffi::SQLITE_CONSTRAINT_NOTNULL);
        // The statement that failed is usable again.
        f.w.run(
            insert,
            &args(|a| {
                a.add(6_i64).unwrap();
                a.add("f".to_string()).unwrap();
            }),
        )
        .unwrap();
        assert_eq!(query_one(f.w.db, "SELECT count(*) FROM t"), 2);
    }

    #[test]
    fn a_savepoint_takes_back_one_script_of_a_transaction() {
        let mut f = fixture();
        let insert = "INSERT INTO t (id, name) VALUES ($1, 'a')";
        f.w.control("BEGIN IMMEDIATE").unwrap();
        assert!(f.w.in_transaction());
        for id in [1_i64, 2, 1, 3] {
            f.w.control("SAVEPOINT job").unwrap();
            match f.w.run(insert, &args(|a| a.add(id).unwrap())) {
                Ok(()) => f.w.control("RELEASE SAVEPOINT job").unwrap(),
                Err(e) => {
                    assert_eq!(e.code, ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
                    f.w.control("ROLLBACK TO SAVEPOINT job").unwrap();
                    f.w.control("RELEASE SAVEPOINT job").unwrap();
                }
            }
        }
        f.w.control("COMMIT").unwrap();
        assert!(!f.w.in_transaction());
        assert_eq!(query_one(f.w.db, "SELECT count(*) FROM t"), 3);
    }

    /// The statements prepared on the writer's connection and not finalized.
    fn live_statements(w: &DirectWriter) -> usize {
        let mut n = 0;
        // SAFETY: `db` is open; the walk only reads the connection's list.
        unsafe {
            let mut stmt = ffi::sqlite3_next_stmt(w.db, ptr::null_mut());
            while !stmt.is_null() {
                n += 1;
                stmt = ffi::sqlite3_next_stmt(w.db, stmt);
            }
        }
        n
    }

    #[test]
    fn statements_put_out_of_the_cache_are_finalized() {
        let mut f = fixture();
        // Twice as many distinct scripts as are kept, of two statements each.
        for i in 0..2 * CACHED_SCRIPTS {
            let sql = format!(
                "INSERT INTO t (id, name) VALUES ($1, 'a{i}');\nDELETE FROM t WHERE id = $1"
            );
            f.w.run(&sql, &args(|a| a.add(i as i64).unwrap())).unwrap();
            assert!(f.w.scripts.len() <= CACHED_SCRIPTS);
            assert_eq!(
                live_statements(&f.w),
                f.w.scripts.values().map(Vec::len).sum::<usize>(),
                "every statement alive is one the cache holds"
            );
        }
        // A script that fails to prepare part way leaves nothing behind either.
        let before = live_statements(&f.w);
        let err =
            f.w.run(
                "INSERT INTO t (id, name) VALUES (1, 'x');\nINSERT INTO nowhere VALUES (1)",
                &args(|_| {}),
            )
            .unwrap_err();
        assert!(err.message.contains("nowhere"), "{err}");
        assert_eq!(live_statements(&f.w), before);
        // Nor one whose placeholder is not numbered.
        f.w.run(
            "INSERT INTO t (id, name) VALUES (2, 'y');\nSELECT ?",
            &args(|_| {}),
        )
        .unwrap_err();
        assert_eq!(live_statements(&f.w), before);
    }

    /// How SQLite plans `sql` on `db`: each step's detail, one a line.
    fn plan(db: *mut ffi::sqlite3, sql: &str) -> String {
        let mut steps = vec![];
        each_row(db, &format!("EXPLAIN QUERY PLAN {sql}"), |stmt| {
            // SAFETY: the statement is on a row; the detail is copied before the next step.
            let detail = unsafe { CStr::from_ptr(ffi::sqlite3_column_text(stmt, 3).cast()) };
            steps.push(detail.to_string_lossy().into_owned());
        });
        steps.join("\n")
    }

    #[test]
    fn statistics_gathered_on_another_connection_are_planned_by_once_reloaded() {
        let mut f = fixture();
        // A street's orders, by text ids as the store's: without statistics SQLite reads one
        // demand's by the street's index (it gives the order for free); with them, by the
        // demand's.
        f.w.control(
            "CREATE TABLE o (id TEXT PRIMARY KEY, street TEXT NOT NULL, demand TEXT NOT NULL)",
        )
        .unwrap();
        f.w.control("CREATE INDEX o_street ON o (street, id)")
            .unwrap();
        f.w.control("CREATE INDEX o_demand ON o (demand)").unwrap();
        f.w.control(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO o (id, street, demand) SELECT printf('%05d', i), 's', 'd' || (i / 2) \
             FROM n",
        )
        .unwrap();
        // As the store asks for a demand's orders.
        let read = "SELECT * FROM o WHERE street IN ($1) AND demand = $2 ORDER BY id LIMIT $3";
        // A statement kept prepared, as scripts are.
        let kept = "UPDATE o SET street = 's' WHERE street = $1 AND demand = $2";
        let a = args(|a| {
            a.add("s").unwrap();
            a.add("d7").unwrap();
        });
        f.w.run(kept, &a).unwrap();
        let assert_reads_by = |db, index: &str| {
            let plan = plan(db, read);
            assert!(plan.contains(index), "{plan}");
        };
        assert_reads_by(f.w.db, "o_street");

        // Another connection gathers the statistics.
        let path = f._dir.path().join("db.sqlite");
        let mut other = DirectWriter::open(path.to_str().unwrap(), "").unwrap();
        other.control("ANALYZE").unwrap();
        assert_reads_by(other.db, "o_demand");
        // This one has not read them.
        assert_reads_by(f.w.db, "o_street");

        f.w.reload_statistics().unwrap();
        assert_reads_by(f.w.db, "o_demand");
        // The kept statement is prepared again, by them, as it next runs.
        let stmt = f.w.scripts[kept][0].stmt;
        // SAFETY: the statement is in the cache, so not finalized.
        let again =
            || unsafe { ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0) };
        let before = again();
        f.w.run(kept, &a).unwrap();
        assert_eq!(again(), before + 1);
        // Nothing was written: no statistics of SQLite's own tables.
        assert_eq!(
            query_one(
                f.w.db,
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl LIKE 'sqlite%'"
            ),
            0
        );
    }

    #[test]
    fn a_path_that_names_no_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.sqlite");
        assert!(DirectWriter::open(missing.to_str().unwrap(), "").is_err());
        assert!(!missing.exists(), "no empty database is made in its place");
        assert!(DirectWriter::open("", "").is_err());
    }
}
