//! Group commit for SQLite: one writer thread runs every write, and the writes that queue up while
//! a commit is on its way to disk share the next one.
//!
//! With `synchronous=FULL` each commit waits for the disk, and that wait, not the SQL, bounds how
//! many writes a second one connection can take. The writer takes every job waiting in the queue
//! (up to [`MAX_BATCH`]), runs each inside its own savepoint in one `BEGIN IMMEDIATE` transaction,
//! and commits once. A job that fails is rolled back to its savepoint and answers with its error;
//! the others go on. No job is answered before the commit that holds it is durable, and if that
//! commit fails every job in it gets the error, so nothing is acknowledged that is not on disk.
//! Jobs run one after another in arrival order, so each sees the writes before it, exactly as if
//! each had committed on its own.

use std::sync::mpsc;

use rusqlite::Connection;

use crate::{StoreError, StoreResult};

/// The most jobs one commit holds, so one batch cannot hold the writer for long.
pub const MAX_BATCH: usize = 128;

/// What a job hands back once it has run: whether its work succeeded, and how to answer its caller
/// once the fate of the batch is known.
type Finish = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// A write: given the open transaction (or the reason there is none), do the work.
type Job = Box<dyn FnOnce(Result<&Connection, &StoreError>) -> (bool, Finish) + Send>;

/// The handle to the writer thread. Dropping it lets the thread finish the queue and exit.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection) -> StoreResult<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("roster-sqlite-writer".into())
            .spawn(move || run(conn, queue))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Writer { jobs })
    }

    /// Runs `work` in the writer's transaction and answers once it is committed (durable) or
    /// rolled back.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            let outcome = match conn {
                Ok(conn) => work(conn),
                Err(e) => Err(copy_error(e)),
            };
            let ok = outcome.is_ok();
            let finish: Finish = Box::new(move |committed| {
                let reply = match (outcome, committed) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(e)) => Err(copy_error(e)),
                    (Err(e), _) => Err(e),
                };
                // The caller may have gone away (a dropped request); the write stands regardless.
                let _ = answer.send(reply);
            });
            (ok, finish)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Internal("the SQLite writer dropped a write".into()))?
    }
}

/// A failure shared by every job of a batch, handed to each as its own value.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Internal(other.to_string()),
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = StoreError::from(e);
        for job in batch {
            let (_, finish) = job(Err(&e));
            finish(Err(&e));
        }
        return;
    }
    let mut finishes = Vec::with_capacity(batch.len());
    let mut failure: Option<StoreError> = None;
    for job in batch {
        if let Some(e) = &failure {
            let (_, finish) = job(Err(e));
            finishes.push(finish);
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            let e = StoreError::from(e);
            let (_, finish) = job(Err(&e));
            finishes.push(finish);
            failure = Some(e);
            continue;
        }
        let (ok, finish) = job(Ok(conn));
        finishes.push(finish);
        let closed = if ok {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if let Err(e) = closed {
            failure = Some(StoreError::from(e));
        } else if conn.is_autocommit() {
            // SQLite rolled the whole transaction back under the job (I/O error, disk full):
            // the jobs before it are gone too, so none of the batch may be acknowledged.
            failure = Some(StoreError::Unavailable(
                "the write transaction was rolled back by SQLite".into(),
            ));
        }
    }
    let committed = match failure {
        None => conn.execute_batch("COMMIT").map_err(StoreError::from),
        Some(e) => Err(e),
    };
    if committed.is_err() && !conn.is_autocommit() {
        // Best effort: the error is already going to every caller.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let committed = committed.as_ref().map(|_| ());
    for finish in finishes {
        finish(committed);
    }
}
