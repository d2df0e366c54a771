//! Group commit: many writers' transactions committed together, with one fsync.
//!
//! SQLite has one writer, and with `synchronous = FULL` every commit waits for the disk. A
//! request that goes through [`Db::transact`](crate::store::db::Db::transact) hands its writes to
//! the committer (a task on a thread of its own) instead of opening a transaction itself.
//! The committer takes every job that is waiting, runs each in its own savepoint inside one
//! transaction (a job that waits alone, in the transaction itself), and commits once; only
//! then does each job learn its outcome. A job that fails rolls back to its savepoint
//! alone and gets its error; the others commit. Every request is a hand-off to the
//! connection's thread and back, so a job's savepoint is released in the same request that
//! opens the next one's, and the last one's by the commit itself; a job that is statements
//! only (a [`Script`](crate::store::Script)) goes with its savepoint's opening and release in
//! one request. Nothing is acknowledged before the commit
//! that makes it durable, so this trades nothing of durability for the throughput: while one
//! batch waits on the disk, the next one gathers.
//!
//! On PostgreSQL, which commits concurrent transactions in parallel and groups their WAL
//! flushes itself, a job simply runs in its own transaction.

use std::{any::Any, future::Future, panic::AssertUnwindSafe, pin::Pin};

use futures_util::FutureExt;
use sqlx::{any::AnyArguments, AnyPool};
use tokio::sync::{mpsc, oneshot};

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
    /// Statements sent as one request, with their arguments (a script's text): nothing of the
    /// job runs on the committer, so its savepoint is opened and released in the same request.
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
    /// Starts the committer for the writer pool, on a thread of its own: it waits on the
    /// writer connection statement by statement, and on the requests' runtime each of those
    /// waits would queue behind whatever requests are ready to run, though every write goes
    /// through it.
    pub fn start(pool: AnyPool) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("sqlite-committer".into())
            .spawn(move || runtime.block_on(run(pool, rx)))?;
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

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&pool, batch).await;
    }
}

async fn commit_batch(pool: &AnyPool, batch: Vec<Job>) {
    let mut outer = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            for job in batch {
                let _ = job
                    .done
                    .send(Err(internal("cannot begin a transaction", &e)));
            }
            return;
        }
    };
    if batch.len() == 1 {
        // Alone, a job needs no savepoint: the transaction is its own.
        let job = batch.into_iter().next().expect("one job");
        let _ = job.done.send(settle(outer, job.work).await);
        return;
    }
    let mut answers = Vec::with_capacity(batch.len());
    // Set when the batch's transaction can no longer be trusted to hold exactly the writes of
    // the jobs that succeeded: then none is committed.
    let mut broken = None;
    // Whether the savepoint `job` of a job before is still open (its writes kept either way).
    let mut open = false;
    for job in batch {
        if broken.is_some() {
            answers.push((
                job.done,
                Err(internal("a write failed", "its batch was rolled back")),
            ));
            continue;
        }
        let outcome = match job.work {
            Work::Run(run) => {
                // In the savepoint `job`: the one before released (its writes kept), this
                // one's opened, in one request. Savepoints nest only where statements follow
                // such a job (theirs inside `job`), so SQLite journals a page about once a job.
                let opening = if open {
                    "RELEASE SAVEPOINT job; SAVEPOINT job"
                } else {
                    "SAVEPOINT job"
                };
                open = true;
                match sqlx::raw_sql(opening).execute(&mut *outer).await {
                    Ok(_) => run_in_savepoint(&mut outer, run).await,
                    Err(e) => Err(internal("cannot open a savepoint", e)),
                }
            }
            Work::Statements { text, args } => {
                run_statements_in_savepoint(&mut outer, &text, args).await
            }
        };
        // (Every answer is replaced below if the batch broke.)
        let outcome = outcome.unwrap_or_else(|e| {
            let answer = Err(internal("a write failed", &e));
            broken = Some(e);
            answer
        });
        answers.push((job.done, outcome));
    }
    if let Some(cause) = broken {
        tracing::error!(error = %cause, "a batch of writes was rolled back");
        let _ = outer.rollback().await;
        for (done, _) in answers {
            let _ = done.send(Err(internal("a write failed", "its batch was rolled back")));
        }
        return;
    }
    match outer.commit().await {
        Ok(()) => {
            for (done, outcome) in answers {
                let _ = done.send(outcome);
            }
        }
        Err(e) => {
            // Nothing of the batch was written: every job fails, none is acknowledged.
            for (done, outcome) in answers {
                let _ = done.send(outcome.and(Err(internal("the commit failed", &e))));
            }
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

/// Runs statements in a savepoint `statements` of the batch's transaction `tx`, opened and
/// released in the same request. When one fails, those before it are rolled back to the
/// savepoint, which is released. The outer error, as for [`run_in_savepoint`].
async fn run_statements_in_savepoint(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    text: &str,
    args: AnyArguments<'static>,
) -> Result<Output> {
    let wrapped = format!("SAVEPOINT statements;\n{text};\nRELEASE SAVEPOINT statements");
    match sqlx::query_with(&wrapped, args).execute(&mut **tx).await {
        Ok(_) => Ok(Ok(Box::new(()))),
        Err(e) => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT statements; RELEASE SAVEPOINT statements")
                .execute(&mut **tx)
                .await
                .map_err(|e| internal("cannot roll back a savepoint", e))?;
            Ok(Err(e.into()))
        }
    }
}

/// Runs a job's work in `tx`, the batch's transaction, and ends `tx` by the job's outcome:
/// committed when it succeeded, rolled back when it failed or panicked.
async fn settle(mut tx: sqlx::Transaction<'_, sqlx::Any>, work: Work) -> Output {
    let outcome = match work {
        Work::Run(run) => match AssertUnwindSafe(run(&mut tx)).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(_) => Err(internal("a write failed", "it panicked")),
        },
        Work::Statements { text, args } => sqlx::query_with(&text, args)
            .execute(&mut *tx)
            .await
            .map(|_| Box::new(()) as Box<dyn Any + Send>)
            .map_err(Error::from),
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
