//! Group commit: many writers' transactions committed together, with one fsync.
//!
//! SQLite has one writer, and with `synchronous = FULL` every commit waits for the disk. A
//! request that goes through [`Db::transact`](crate::store::db::Db::transact) hands its writes to
//! the committer (a task on a thread of its own) instead of opening a transaction itself.
//! The committer takes every job that is waiting, runs each in its own savepoint inside one
//! transaction (a job that waits alone, in the transaction itself), and commits once; only
//! then does each job learn its outcome. A job that fails rolls back to its savepoint
//! alone and gets its error; the others commit. Nothing is acknowledged before the commit
//! that makes it durable, so this trades nothing of durability for the throughput: while one
//! batch waits on the disk, the next one gathers.
//!
//! Two kinds of job, two connections. A job that is statements only (a
//! [`Script`](crate::store::Script): a filing's writes) runs on the committer's own connection
//! ([`DirectWriter`]), on the committer's thread, with no hand-off at all. A job of code, given
//! a transaction to read and write in, runs on the pool's writer connection, which sqlx drives
//! from a thread of its own: every request is a hand-off to that thread and back, so a job's
//! savepoint is released in the same request that opens the next one's, and the last one's by
//! the commit itself. A batch that holds both kinds commits the scripts, then the code: the
//! jobs of a batch were all waiting at once, so no order among them is owed. (Each connection
//! then finds the other's commit and reads the pages it needs afresh: the price of the second
//! connection, paid where the kinds alternate.)
//!
//! On PostgreSQL, which commits concurrent transactions in parallel and groups their WAL
//! flushes itself, a job simply runs in its own transaction.

use std::{any::Any, future::Future, panic::AssertUnwindSafe, pin::Pin, sync::Arc};

use futures_util::FutureExt;
use sqlx::{any::AnyArguments, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::{
    sqlite_direct::{DirectError, DirectWriter},
    sqlite_statistics::Statistics,
};
use crate::{Error, Result};

/// A boxed future borrowing its transaction.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

type Output = Result<Box<dyn Any + Send>>;

type JobFn = Box<
    dyn for<'c, 't> FnOnce(&'c mut sqlx::Transaction<'t, sqlx::Any>) -> BoxFuture<'c, Output>
        + Send,
>;

/// What a job does in its transaction.
enum Work {
    /// The job's own code, given the transaction.
    Run(JobFn),
    /// Statements with their arguments (a script's text), run on the committer's own
    /// connection.
    Statements {
        text: String,
        args: AnyArguments<'static>,
    },
}

struct Job {
    work: Work,
    done: oneshot::Sender<Output>,
}

/// The most jobs committed together.
const MAX_BATCH: usize = 128;

/// A handle on the committer task; the task ends when every handle is dropped.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("{what}: {e}"))
}

impl GroupCommit {
    /// Starts the committer for the writer pool and `direct`, a connection of its own to the
    /// same database, on a thread of its own: it waits on the writer connection statement by
    /// statement, and on the requests' runtime each of those waits would queue behind whatever
    /// requests are ready to run, though every write goes through it.
    ///
    /// `direct` reads the planner's statistics again before the first batch after they change.
    pub(crate) fn start(
        pool: AnyPool,
        direct: DirectWriter,
        statistics: Arc<Statistics>,
    ) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("sqlite-committer".into())
            .spawn(move || runtime.block_on(run(pool, direct, statistics, rx)))?;
        Ok(GroupCommit { jobs })
    }

    /// Runs `f` in a transaction committed with whatever else is waiting; returns once that
    /// commit is done.
    pub async fn transact<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c, 't> FnOnce(&'c mut sqlx::Transaction<'t, sqlx::Any>) -> BoxFuture<'c, Result<T>>
            + Send
            + 'static,
    {
        let run: JobFn = Box::new(move |tx| {
            Box::pin(async move { f(tx).await.map(|v| Box::new(v) as Box<dyn Any + Send>) })
        });
        let value = self.submit(Work::Run(run)).await?;
        Ok(*value
            .downcast::<T>()
            .expect("a job's answer has the job's type"))
    }

    /// Runs `text`, several statements separated by `;` and numbered as one with `args`, in a
    /// transaction committed with whatever else is waiting; returns once that commit is done.
    /// Either every statement is committed or, if one fails, none.
    pub async fn write(&self, text: String, args: AnyArguments<'static>) -> Result<()> {
        self.submit(Work::Statements { text, args }).await?;
        Ok(())
    }

    async fn submit(&self, work: Work) -> Output {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job { work, done })
            .await
            .map_err(|_| internal("the committer has stopped", "closed"))?;
        outcome
            .await
            .map_err(|_| internal("the committer has stopped", "no answer"))?
    }
}

async fn run(
    pool: AnyPool,
    mut direct: DirectWriter,
    statistics: Arc<Statistics>,
    mut rx: mpsc::Receiver<Job>,
) {
    // The statistics' mark when `direct` last read them: when it opened, before any look.
    let mut read_at = 0;
    while let Some(first) = rx.recv().await {
        let mark = statistics.mark();
        if mark != read_at {
            match direct.reload_statistics() {
                Ok(()) => read_at = mark,
                // Planning by the old statistics is slower, not wrong: tried again next batch.
                Err(e) => tracing::warn!(error = %e, "cannot read the planner's statistics again"),
            }
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut runs = Vec::new();
        let mut scripts = Vec::new();
        for job in batch {
            match job.work {
                Work::Run(run) => runs.push((run, job.done)),
                Work::Statements { text, args } => scripts.push((text, args, job.done)),
            }
        }
        if !scripts.is_empty() {
            commit_scripts(&mut direct, scripts);
        }
        if !runs.is_empty() {
            commit_runs(&pool, runs).await;
        }
    }
}

/// A script's job: its text, its arguments and where its outcome goes.
type ScriptJob = (String, AnyArguments<'static>, oneshot::Sender<Output>);

/// A job of code and where its outcome goes.
type RunJob = (JobFn, oneshot::Sender<Output>);

/// Commits scripts on the committer's own connection, in one transaction: a script that waits
/// alone in the transaction itself, each of several in a savepoint of its own.
fn commit_scripts(w: &mut DirectWriter, scripts: Vec<ScriptJob>) {
    if let Err(e) = w.control("BEGIN IMMEDIATE") {
        for (_, _, done) in scripts {
            let _ = done.send(Err(internal("cannot begin a transaction", &e)));
        }
        return;
    }
    if scripts.len() == 1 {
        // Alone, a script needs no savepoint: the transaction is its own, and a failure is
        // rolled back with it.
        let (text, args, done) = scripts.into_iter().next().expect("one script");
        let outcome = w.run(&text, &args);
        if outcome.is_err() {
            rollback(w);
            let _ = done.send(unit(outcome));
            return;
        }
        answer(vec![(done, unit(outcome))], commit(w));
        return;
    }
    let mut answers = Vec::with_capacity(scripts.len());
    // Set when the transaction can no longer be trusted to hold exactly the writes of the
    // scripts that succeeded: then none is committed.
    let mut broken = None;
    for (text, args, done) in scripts {
        if broken.is_some() {
            answers.push((
                done,
                Err(internal("a write failed", "its batch was rolled back")),
            ));
            continue;
        }
        match script_in_savepoint(w, &text, &args) {
            Ok(outcome) => answers.push((done, unit(outcome))),
            Err(e) => {
                let e = internal("a savepoint failed", &e);
                answers.push((done, Err(internal("a write failed", &e))));
                broken = Some(e);
            }
        }
    }
    if let Some(cause) = broken {
        tracing::error!(error = %cause, "a batch of writes was rolled back");
        rollback(w);
        for (done, _) in answers {
            let _ = done.send(Err(internal("a write failed", "its batch was rolled back")));
        }
        return;
    }
    answer(answers, commit(w));
}

/// Commits the open transaction of the committer's own connection; if the commit fails, rolls
/// back what is left of it.
fn commit(w: &mut DirectWriter) -> std::result::Result<(), DirectError> {
    let committed = w.control("COMMIT");
    if committed.is_err() {
        rollback(w);
    }
    committed
}

/// Rolls back the open transaction of the committer's own connection, if one is still open.
fn rollback(w: &mut DirectWriter) {
    if w.in_transaction() {
        if let Err(e) = w.control("ROLLBACK") {
            tracing::error!(error = %e, "cannot roll back a batch of writes");
        }
    }
}

/// A script's outcome as its job's answer.
fn unit(outcome: std::result::Result<(), DirectError>) -> Output {
    outcome
        .map(|()| Box::new(()) as Box<dyn Any + Send>)
        .map_err(|e| internal("a write failed", e))
}

/// Sends each job its answer once the commit is done: its own outcome when the commit
/// succeeded; when it failed nothing of the batch was written, and every job fails.
fn answer<E: std::fmt::Display>(
    answers: Vec<(oneshot::Sender<Output>, Output)>,
    committed: std::result::Result<(), E>,
) {
    match committed {
        Ok(()) => {
            for (done, outcome) in answers {
                let _ = done.send(outcome);
            }
        }
        Err(e) => {
            for (done, outcome) in answers {
                let _ = done.send(outcome.and(Err(internal("the commit failed", &e))));
            }
        }
    }
}

/// Commits jobs of code on the pool's writer connection, in one transaction: a job that waits
/// alone in the transaction itself, each of several in a savepoint of its own.
async fn commit_runs(pool: &AnyPool, runs: Vec<RunJob>) {
    let mut outer = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            for (_, done) in runs {
                let _ = done.send(Err(internal("cannot begin a transaction", &e)));
            }
            return;
        }
    };
    if runs.len() == 1 {
        // Alone, a job needs no savepoint: the transaction is its own.
        let (run, done) = runs.into_iter().next().expect("one job");
        let _ = done.send(settle(outer, run).await);
        return;
    }
    let mut answers = Vec::with_capacity(runs.len());
    // Set when the batch's transaction can no longer be trusted to hold exactly the writes of
    // the jobs that succeeded: then none is committed.
    let mut broken = None;
    // Whether the savepoint `job` of a job before is still open (its writes kept either way).
    let mut open = false;
    for (run, done) in runs {
        if broken.is_some() {
            answers.push((
                done,
                Err(internal("a write failed", "its batch was rolled back")),
            ));
            continue;
        }
        // In the savepoint `job`: the one before released (its writes kept), this one's
        // opened, in one request.
        let opening = if open {
            "RELEASE SAVEPOINT job; SAVEPOINT job"
        } else {
            "SAVEPOINT job"
        };
        open = true;
        let outcome = match sqlx::raw_sql(opening).execute(&mut *outer).await {
            Ok(_) => run_in_savepoint(&mut outer, run).await,
            Err(e) => Err(internal("cannot open a savepoint", e)),
        };
        // (Every answer is replaced below if the batch broke.)
        let outcome = outcome.unwrap_or_else(|e| {
            let answer = Err(internal("a write failed", &e));
            broken = Some(e);
            answer
        });
        answers.push((done, outcome));
    }
    if let Some(cause) = broken {
        tracing::error!(error = %cause, "a batch of writes was rolled back");
        let _ = outer.rollback().await;
        for (done, _) in answers {
            let _ = done.send(Err(internal("a write failed", "its batch was rolled back")));
        }
        return;
    }
    answer(answers, outer.commit().await);
}

/// Runs a script in the savepoint `job` of the open transaction: when one of its statements
/// fails, those before it are rolled back to the savepoint. The inner error is the script's;
/// the outer one, that its writes could not be taken back or kept, so nothing of the
/// transaction may be committed.
fn script_in_savepoint(
    w: &mut DirectWriter,
    text: &str,
    args: &AnyArguments<'_>,
) -> std::result::Result<std::result::Result<(), DirectError>, DirectError> {
    w.control("SAVEPOINT job")?;
    match w.run(text, args) {
        Ok(()) => {
            w.control("RELEASE SAVEPOINT job")?;
            Ok(Ok(()))
        }
        Err(e) => {
            w.control("ROLLBACK TO SAVEPOINT job")?;
            w.control("RELEASE SAVEPOINT job")?;
            Ok(Err(e))
        }
    }
}

/// Runs a job in the savepoint `job` of the batch's transaction `tx`: a job that fails or
/// panics is rolled back to it (the savepoint stays open, and is released with the next job's
/// opening or by the commit); one that succeeds is left for those to keep. The outer error:
/// a failed job's writes could not be taken back, so nothing of the batch may be committed.
async fn run_in_savepoint(tx: &mut sqlx::Transaction<'_, sqlx::Any>, run: JobFn) -> Result<Output> {
    let outcome = match AssertUnwindSafe(run(tx)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => Err(internal("a write failed", "it panicked")),
    };
    if outcome.is_err() {
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT job")
            .execute(&mut **tx)
            .await
            .map_err(|e| internal("cannot roll back a savepoint", e))?;
    }
    Ok(outcome)
}

/// Runs a job in `tx`, the batch's transaction, and ends `tx` by the job's outcome: committed
/// when it succeeded, rolled back when it failed or panicked.
async fn settle(mut tx: sqlx::Transaction<'_, sqlx::Any>, run: JobFn) -> Output {
    let outcome = match AssertUnwindSafe(run(&mut tx)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => Err(internal("a write failed", "it panicked")),
    };
    match outcome {
        Ok(value) => tx
            .commit()
            .await
            .map(|()| value)
            .map_err(|e| internal("the commit failed", e)),
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}
