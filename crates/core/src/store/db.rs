//! Storage: one connection layer for SQLite and PostgreSQL.
//!
//! Everything goes through sqlx's `Any` driver with portable SQL and `$N` placeholders (SQLite
//! accepts them too), but for the scripts SQLite's committer runs on its own connection
//! (`store/sqlite_direct.rs`). On SQLite all writes go through the committer, one thread, so
//! writers queue in the process instead of failing with `SQLITE_BUSY`; reads use a separate
//! pool and never block on the writer thanks to WAL.

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    any::{AnyArguments, AnyPoolOptions, AnyRow},
    migrate::Migrator,
    Any, AnyPool, Arguments, Executor,
};

use super::{
    group_commit::{BoxFuture, GroupCommit},
    sqlite_direct::DirectWriter,
    sqlite_statistics::{self, Statistics},
};
use crate::Result;

/// The embedded migrations in `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Which engine a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The engine a transaction runs on.
    pub fn of_tx(tx: &Tx<'_>) -> Self {
        if for_update(tx).is_empty() {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// How many rows of `binds` placeholders each one statement of many rows takes.
    ///
    /// sqlx binds a SQLite statement's `$N` placeholders by name, and SQLite finds each name
    /// by walking the statement's list of names from its start, so binding n placeholders
    /// costs n²/2 steps: 4,000 of them some 8 million (tens of milliseconds for one batch of
    /// the figures' folder), 256 some 33,000. PostgreSQL numbers its parameters directly.
    pub fn rows_per_statement(self, binds: usize) -> usize {
        let most = match self {
            Backend::Sqlite => 256,
            Backend::Postgres => 4_000,
        };
        (most / binds.max(1)).clamp(1, 1_000)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL: use sqlite://PATH or postgres://...")]
    UnsupportedUrl,
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot gather the query planner's statistics: {0}")]
    Optimize(#[source] sqlx::Error),
    #[error("cannot start the committer: {0}")]
    Committer(#[source] std::io::Error),
    #[error("cannot open the committer's connection: {0}")]
    Direct(#[source] super::sqlite_direct::DirectError),
}

/// How SQLite commits: `FULL` fsyncs the WAL on every commit, so an acknowledged write
/// survives power loss as well as a killed process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

impl FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSync::Full),
            "normal" => Ok(SqliteSync::Normal),
            other => Err(format!(
                "unknown sqlite synchronous mode {other:?} (full, normal)"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub sqlite_sync: SqliteSync,
    /// How long a request waits for a free connection before it fails with 503.
    pub acquire_timeout: Duration,
    /// How long a PostgreSQL connection serves: one older is closed as it goes back to the
    /// pool, and a fresh one opened when one is needed (a server process's caches grow with
    /// what it has planned, and a connection should not outlive a failover or a changed
    /// setting by long). SQLite's connections to their file are kept.
    pub connection_lifetime: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            sqlite_sync: SqliteSync::Full,
            acquire_timeout: Duration::from_secs(30),
            connection_lifetime: Duration::from_secs(30 * 60),
        }
    }
}

/// How much of a SQLite database file each connection reads through a memory map: all of it.
/// A page beyond a connection's own cache is then read where the kernel keeps it, with no
/// system call and no copy, and every connection shares the one copy; a page beyond the map
/// is a `pread` of 4 KB. A year of a busy street's history outgrows any connection's cache,
/// and with the map at 1 GiB the file outgrew the map too: past it, building a year of two
/// streets of 100,000 demands made some 380,000 `pread`s a second and each month took longer
/// than the last. SQLite caps the map at `SQLITE_MAX_MMAP_SIZE`, 2 GiB unless built otherwise;
/// the workspace builds it with this (`.cargo/config.toml`). A connection maps only as much as
/// the file holds.
pub const SQLITE_MMAP_BYTES: u64 = 1 << 40;

/// A write transaction.
pub type Tx<'c> = sqlx::Transaction<'c, Any>;

/// The clause that locks the rows a `SELECT` reads until the transaction ends, so that what
/// the transaction decides from them still holds when it writes. On PostgreSQL it is `FOR NO
/// KEY UPDATE`, the lock an `UPDATE` of the row takes itself (no id is ever updated): it
/// excludes every other writer of the row but not the key-share locks that inserts referring
/// to the row take, so an insert elsewhere never makes two writers wait on each other. SQLite
/// needs none: every write transaction of the process runs on the one writer connection,
/// alone.
pub fn for_update(tx: &Tx<'_>) -> &'static str {
    if tx.backend_name().eq_ignore_ascii_case("postgres")
        || tx.backend_name().eq_ignore_ascii_case("postgresql")
    {
        " FOR NO KEY UPDATE"
    } else {
        ""
    }
}

/// Locks one row of `table` by id for the rest of the transaction (see [`for_update`]; on
/// SQLite there is nothing to do).
pub async fn lock_row(
    tx: &mut Tx<'_>,
    table: &'static str,
    id: uuid::Uuid,
) -> Result<(), sqlx::Error> {
    let lock = for_update(tx);
    if !lock.is_empty() {
        sqlx::query(&format!("SELECT id FROM {table} WHERE id = $1{lock}"))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The database handle shared by every request.
#[derive(Clone, Debug)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    /// SQLite's committer, which groups concurrent transactions into one commit.
    group: Option<GroupCommit>,
    /// When SQLite's planner statistics last changed, for the connections that must read
    /// them again (see [`sqlite_statistics`]).
    statistics: Option<Arc<Statistics>>,
}

impl Db {
    /// Connects without migrating.
    pub async fn connect(url: &str, opts: &DbOptions) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        match backend {
            Backend::Sqlite => {
                super::sqlite_plans::plan_without_bound_values();
                let url = sqlite_url_with_create(url)?;
                let sync = match opts.sqlite_sync {
                    SqliteSync::Full => "FULL",
                    SqliteSync::Normal => "NORMAL",
                };
                let acquire_timeout = opts.acquire_timeout;
                // The writer keeps the journal of its savepoints in memory. The committer runs
                // each job of a batch in a savepoint, and SQLite copies every page a job changes
                // into that journal first; past 64 KiB it spills to a temporary file, a
                // system call for each page, and a batch of filings writes megabytes of them.
                // At most a batch's worth (`group_commit::MAX_BATCH` jobs' pages) is held.
                const WRITER: &str = "PRAGMA temp_store = MEMORY;";
                let settings = move |own: &str| {
                    format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                         PRAGMA cache_size = -16000; \
                         PRAGMA mmap_size = {SQLITE_MMAP_BYTES}; {own}"
                    )
                };
                let statistics = Arc::new(Statistics::new());
                let pool = |max: u32, own: &'static str, reloads: Option<Arc<Statistics>>| {
                    pool_options(reloads)
                        .max_connections(max)
                        .min_connections(1)
                        .acquire_timeout(acquire_timeout)
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                conn.execute(settings(own).as_str()).await?;
                                Ok(())
                            })
                        })
                };
                // Open the writer first so the file and WAL mode exist before readers connect.
                // The writer gathers the statistics itself, and so holds them as they are.
                let write = pool(1, WRITER, None)
                    .connect(&url)
                    .await
                    .map_err(DbError::Connect)?;
                let read = pool(opts.max_connections.max(1), "", Some(statistics.clone()))
                    .connect(&url)
                    .await
                    .map_err(DbError::Connect)?;
                // The committer's own connection, for scripts, opened on the file the writer
                // opened (as SQLite names it), set up as the writer is.
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&write)
                        .await
                        .map_err(DbError::Connect)?;
                let direct =
                    DirectWriter::open(&file, &settings(WRITER)).map_err(DbError::Direct)?;
                Ok(Db {
                    read,
                    group: Some(
                        GroupCommit::start(write.clone(), direct, statistics.clone())
                            .map_err(DbError::Committer)?,
                    ),
                    write,
                    backend,
                    statistics: Some(statistics),
                })
            }
            Backend::Postgres => {
                let lifetime = opts.connection_lifetime;
                let pool = pool_options(None)
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(opts.acquire_timeout)
                    .after_release(move |_, meta| Box::pin(async move { Ok(meta.age < lifetime) }))
                    .connect(url)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Db {
                    read: pool.clone(),
                    write: pool,
                    backend,
                    group: None,
                    statistics: None,
                })
            }
        }
    }

    /// Connects and applies pending migrations.
    pub async fn open(url: &str, opts: &DbOptions) -> Result<Self, DbError> {
        let db = Self::connect(url, opts).await?;
        db.migrate().await?;
        db.optimize().await?;
        Ok(db)
    }

    /// Lets SQLite's planner know the data: gathers the statistics it picks indexes by
    /// (`sqlite_stat1`) where they are missing or stale, bounded in work. Without them it
    /// may walk a whole table by its primary key rather than use a narrow index.
    ///
    /// PostgreSQL keeps its own statistics and removes the row versions that changes leave
    /// behind, by autovacuum. Every order change and every fold of the figures rewrites rows,
    /// so with autovacuum off the tables fill with dead versions that every read walks, and
    /// the planner picks plans without statistics: reads slow down by the day. The host does
    /// not vacuum behind the operator's back; it says so, loudly, at start.
    pub async fn optimize(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => {
                self.write
                    .execute("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")
                    .await
                    .map_err(DbError::Optimize)?;
                if let Some(statistics) = &self.statistics {
                    // The other connections read statistics only as they open; note whether
                    // these are new, so that they read them again.
                    let gathered: i64 = sqlx::query_scalar(sqlite_statistics::GATHERED)
                        .fetch_one(&self.write)
                        .await
                        .map_err(DbError::Optimize)?;
                    let now = if gathered != 0 {
                        sqlx::query_scalar(sqlite_statistics::STATISTICS)
                            .fetch_one(&self.write)
                            .await
                            .map_err(DbError::Optimize)?
                    } else {
                        String::new()
                    };
                    statistics.look(now);
                }
            }
            Backend::Postgres => {
                let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
                    .fetch_one(&self.read)
                    .await
                    .map_err(DbError::Optimize)?;
                if autovacuum != "on" {
                    tracing::warn!(
                        autovacuum,
                        "PostgreSQL's autovacuum is off: dead row versions and stale planner \
                         statistics will slow every read as history grows; turn it on, or run \
                         VACUUM ANALYZE regularly"
                    );
                }
            }
        }
        Ok(())
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// The pool for queries that only read.
    pub fn read(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for writes (and reads that must see them in the same transaction).
    pub fn write(&self) -> &AnyPool {
        &self.write
    }

    /// Runs `f` in a write transaction and commits it. On SQLite the transaction is committed
    /// together with others waiting at the same time (see [`crate::store::group_commit`]); either
    /// way it returns only once the commit is durable.
    pub async fn transact<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c, 't> FnOnce(&'c mut sqlx::Transaction<'t, Any>) -> BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        match &self.group {
            Some(group) => group.transact(f).await,
            None => {
                let mut tx = self.write.begin().await?;
                let value = f(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// Writes a change that is one script and reads nothing in its transaction, and returns
    /// once it is durable. On PostgreSQL the script is one statement, and a statement alone is
    /// a transaction of its own: one round trip instead of three (`BEGIN`, the script,
    /// `COMMIT`). On SQLite it goes through the committer as every write does.
    pub async fn write_script(&self, script: Script) -> Result<()> {
        if self.group.is_none() && script.postgres {
            return Ok(script.send_to(&self.write).await?);
        }
        match &self.group {
            // SQLite runs a script as several statements, each of which would commit alone:
            // the committer runs them in one transaction, in one request.
            Some(group) => match script.into_query() {
                Some((text, args)) => group.write(text, args).await,
                None => Ok(()),
            },
            None => {
                self.transact(move |tx| {
                    Box::pin(async move {
                        script.send(tx).await?;
                        Ok(())
                    })
                })
                .await
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// How long a connection may sit in the pool and still be handed out without a ping.
const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// The pool's settings both engines share: a connection is tested before it is handed out
/// only when it sat idle for more than [`TRUSTED_IDLE`]. sqlx tests every connection when it
/// goes back to the pool and, by default, again when it is taken: a round trip each, on
/// every query a request makes. One that was just in use is known to work; one that sat is
/// where a restarted server or a dropped link shows, and that one is tested.
///
/// No idle timeout and no maximum lifetime, so sqlx starts no reaper. sqlx 0.8's reaper
/// sweeps the idle connections `0..num_idle` times, and the pool's count of idle connections
/// can read as `usize::MAX` for an instant (a connection going back is popped by another
/// task before the count is raised): a sweep that starts then runs without ever yielding,
/// one core at 100% and, when a waiting request's wake-up sits on that worker, the whole
/// service stalled (launchbadge/sqlx#3645). A year's history built through the service
/// stalled that way half an hour in. PostgreSQL's connections are retired by age when they
/// go back to the pool instead ([`DbOptions::connection_lifetime`]).
///
/// With `reloads`, a connection opened before the planner's statistics last changed is
/// closed as it is taken, and another taken or opened in its place
/// ([`sqlite_statistics`]).
fn pool_options(reloads: Option<Arc<Statistics>>) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            // A SQLite connection that read the planner's statistics before they last changed
            // is closed, and the pool opens one that reads them as they are.
            let stale = reloads.as_ref().is_some_and(|s| s.older_than(meta.age));
            Box::pin(async move {
                if stale {
                    return Ok(false);
                }
                if meta.idle_for > TRUSTED_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// A SQLite URL's file path and query string.
pub(crate) fn sqlite_path_and_query(url: &str) -> (&str, Option<&str>) {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    }
}

/// Makes sure the directory of a SQLite file exists and asks sqlx to create the file.
fn sqlite_url_with_create(url: &str) -> Result<String, DbError> {
    let (path, query) = sqlite_path_and_query(url);
    if path != ":memory:" && !path.is_empty() {
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError::DataDir(dir.display().to_string(), e))?;
            }
        }
    }
    let query = match query {
        Some(q) if q.contains("mode=") => q.to_string(),
        Some(q) => format!("{q}&mode=rwc"),
        None => "mode=rwc".to_string(),
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// A SQL statement assembled from fragments, numbering its `$N` placeholders itself (sqlx's
/// `QueryBuilder<Any>` writes `?`, which PostgreSQL rejects).
pub struct Sql {
    text: String,
    args: AnyArguments<'static>,
    count: usize,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Self {
        Sql {
            text: text.into(),
            args: AnyArguments::default(),
            count: 0,
        }
    }

    pub fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, Any> + sqlx::Type<Any>,
    {
        self.count += 1;
        self.text.push('$');
        self.text.push_str(&self.count.to_string());
        self.args
            .add(value)
            .expect("encoding a value for the Any driver cannot fail");
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub async fn fetch_all<'e, E>(self, executor: E) -> Result<Vec<AnyRow>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let Sql { text, args, .. } = self;
        sqlx::query_with(&text, args).fetch_all(executor).await
    }

    pub async fn fetch_optional<'e, E>(self, executor: E) -> Result<Option<AnyRow>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let Sql { text, args, .. } = self;
        sqlx::query_with(&text, args).fetch_optional(executor).await
    }

    pub async fn execute<'e, E>(self, executor: E) -> Result<u64, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let Sql { text, args, .. } = self;
        Ok(sqlx::query_with(&text, args)
            .execute(executor)
            .await?
            .rows_affected())
    }
}

/// Writes that go to the database as one request: statements numbered as one, so that a
/// transaction's writes cost one round trip to its connection rather than one each.
///
/// On SQLite they run as one query of several statements, in order. On PostgreSQL every
/// statement but the last becomes a data-modifying `WITH` clause of the last; all of them see
/// the one snapshot the statement started with, so a statement must not read or change rows
/// another statement of the script writes (foreign keys between them hold: they are checked
/// at the statement's end).
///
/// What a change tells of itself — its events, its notifications — is written by rows
/// ([`Script::row`]): every row of one table goes into one statement after the others, so a
/// filing that records events of its demand and of its order records them in one statement.
pub struct Script {
    sql: Sql,
    /// Where each statement after the first starts in the text.
    starts: Vec<usize>,
    postgres: bool,
    /// The rows of multi-row `INSERT`s written after every statement, by their statement's
    /// head, in the order the heads first came.
    rows: Vec<(&'static str, Vec<RowWriter>)>,
}

/// Writes one row's parenthesised values into a statement (see [`Script::row`]).
type RowWriter = Box<dyn FnOnce(&mut Sql) + Send>;

impl Script {
    pub fn new(tx: &Tx<'_>) -> Self {
        Script::for_backend(Backend::of_tx(tx))
    }

    /// A script for `backend`, written before any transaction is open (see
    /// [`Db::write_script`]).
    pub fn for_backend(backend: Backend) -> Self {
        Script {
            sql: Sql::new(String::new()),
            starts: vec![],
            postgres: backend == Backend::Postgres,
            rows: vec![],
        }
    }

    /// Adds a row to the multi-row `INSERT` that starts with `head` (`INSERT INTO t (...)
    /// VALUES `), which is written after every statement of the script: the rows of one head,
    /// wherever in the script they come from, cost one statement. `write` writes the row's
    /// parenthesised values, its placeholders numbered with the script's.
    pub fn row(&mut self, head: &'static str, write: impl FnOnce(&mut Sql) + Send + 'static) {
        match self.rows.iter_mut().find(|(h, _)| *h == head) {
            Some((_, rows)) => rows.push(Box::new(write)),
            None => self.rows.push((head, vec![Box::new(write)])),
        }
    }

    /// Writes the rows' statements after the others.
    fn finish_rows(&mut self) {
        for (head, rows) in std::mem::take(&mut self.rows) {
            let sql = self.statement();
            sql.push(head);
            for (i, write) in rows.into_iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                write(sql);
            }
        }
    }

    /// The next statement, to be written into the builder returned; its placeholders are
    /// numbered after those of the statements before it.
    pub fn statement(&mut self) -> &mut Sql {
        if !self.sql.text.is_empty() {
            self.starts.push(self.sql.text.len());
        }
        &mut self.sql
    }

    /// The query sent: the statements joined as the engine runs them.
    fn text(&self) -> String {
        let text = &self.sql.text;
        let mut bounds = vec![0];
        bounds.extend(&self.starts);
        bounds.push(text.len());
        let parts: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        match parts.split_last() {
            Some((last, earlier)) if self.postgres && !earlier.is_empty() => {
                let clauses: Vec<String> = earlier
                    .iter()
                    .enumerate()
                    .map(|(i, part)| format!("w{i} AS ({part})"))
                    .collect();
                format!("WITH {} {last}", clauses.join(", "))
            }
            _ => parts.join(";\n"),
        }
    }

    /// Sends every statement to the caller's transaction as one request; nothing when there
    /// is none.
    pub async fn send(self, tx: &mut Tx<'_>) -> Result<(), sqlx::Error> {
        self.send_to(&mut **tx).await
    }

    /// Sends every statement to `executor` as one request; nothing when there is none.
    async fn send_to<'e, E>(self, executor: E) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        if let Some((text, args)) = self.into_query() {
            sqlx::query_with(&text, args).execute(executor).await?;
        }
        Ok(())
    }

    /// The query sent and its arguments; none when there is no statement.
    fn into_query(mut self) -> Option<(String, AnyArguments<'static>)> {
        self.finish_rows();
        if self.sql.text.is_empty() {
            return None;
        }
        let text = self.text();
        Some((text, self.sql.args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script with rows of two tables interleaved with statements.
    fn script(backend: Backend) -> Script {
        let mut script = Script::for_backend(backend);
        script
            .statement()
            .push("INSERT INTO a VALUES (")
            .bind(1)
            .push(")");
        script.row("INSERT INTO e VALUES ", |sql| {
            sql.push("(").bind(2).push(")");
        });
        script.row("INSERT INTO n VALUES ", |sql| {
            sql.push("(").bind(3).push(")");
        });
        script
            .statement()
            .push("INSERT INTO b VALUES (")
            .bind(4)
            .push(")");
        script.row("INSERT INTO e VALUES ", |sql| {
            sql.push("(").bind(5).push(")");
        });
        script
    }

    #[test]
    fn a_scripts_rows_of_one_table_are_one_statement_after_the_others() {
        let (text, args) = script(Backend::Sqlite).into_query().unwrap();
        assert_eq!(
            text,
            "INSERT INTO a VALUES ($1);\nINSERT INTO b VALUES ($2);\n\
             INSERT INTO e VALUES ($3), ($4);\nINSERT INTO n VALUES ($5)"
        );
        assert_eq!(args.len(), 5);

        let (text, _) = script(Backend::Postgres).into_query().unwrap();
        assert_eq!(
            text,
            "WITH w0 AS (INSERT INTO a VALUES ($1)), w1 AS (INSERT INTO b VALUES ($2)), \
             w2 AS (INSERT INTO e VALUES ($3), ($4)) INSERT INTO n VALUES ($5)"
        );
    }

    #[test]
    fn a_script_of_rows_alone_is_sent_and_an_empty_one_is_not() {
        let mut script = Script::for_backend(Backend::Sqlite);
        assert!(Script::for_backend(Backend::Sqlite).into_query().is_none());
        script.row("INSERT INTO e VALUES ", |sql| {
            sql.push("(").bind(1).push(")");
        });
        let (text, _) = script.into_query().unwrap();
        assert_eq!(text, "INSERT INTO e VALUES ($1)");
    }
}
