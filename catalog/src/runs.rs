//! Job state in the catalog: run records, bookmarks (which input files earlier runs committed) and
//! per-job locks that survive a crashed holder.
//!
//! The run record itself is JSON owned by the job runner; the catalog indexes it by job, status and
//! time. Bookmarks advance in the same transaction that marks a run succeeded, so a run either
//! counts completely (output committed, inputs remembered, record says so) or not at all.

use std::sync::MutexGuard;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// A lock from another host whose heartbeat is older than this is taken as abandoned.
pub const LOCK_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// One stored run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// The run id.
    pub run_id: String,
    /// The job name.
    pub job: String,
    /// `running`, `committing`, `succeeded`, `failed` or `timeout`.
    pub status: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time, once ended.
    pub ended_at: Option<String>,
    /// The runner's full record (JSON).
    pub record: serde_json::Value,
}

/// A file a successful run read from a bookmarked source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookmarkEntry {
    /// The source name in the job.
    pub source: String,
    /// Full URL or path of the file.
    pub path: String,
    /// Size in bytes when it was read.
    pub size: u64,
    /// Last-modified time (RFC 3339) when it was read.
    pub last_modified: String,
    /// The run that read it.
    pub run_id: String,
}

/// The bookmark of one source, summarized.
#[derive(Debug, Clone, Serialize)]
pub struct BookmarkSummary {
    /// The source name.
    pub source: String,
    /// Files processed so far.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Newest last-modified time among them.
    pub newest_file: String,
    /// The latest run that advanced the bookmark.
    pub last_run: String,
}

/// Who holds a job's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobLock {
    /// The job.
    pub job: String,
    /// The run holding it.
    pub run_id: String,
    /// Host of the holding process.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When it was taken (RFC 3339).
    pub acquired_at: String,
    /// The holder's last sign of life (RFC 3339).
    pub heartbeat_at: String,
}

impl JobLock {
    /// False when the holder is known to be gone: its process is not running on this host, or its
    /// heartbeat from another host is older than [`LOCK_TTL`].
    pub fn is_live(&self) -> bool {
        let heartbeat_fresh = || {
            chrono::DateTime::parse_from_rfc3339(&self.heartbeat_at)
                .map(|t| chrono::Utc::now().signed_duration_since(t) < LOCK_TTL)
                .unwrap_or(false)
        };
        // The process table answers only for this host, with /proc, and for another pid (a lock
        // that names our own pid is a dead predecessor that had it, e.g. pid 1 in a container).
        let checkable = self.pid != std::process::id() && std::path::Path::new("/proc").exists();
        match sluice_engine::process::local_process_alive(&self.host, self.pid) {
            Some(alive) if checkable => alive,
            _ => heartbeat_fresh(),
        }
    }
}

/// What [`Catalog::acquire_job_lock`] found.
#[derive(Debug, Clone)]
pub enum LockOutcome {
    /// The lock is ours; `replaced` is the abandoned lock of a crashed run, if there was one.
    Acquired {
        /// The stale lock taken over.
        replaced: Option<JobLock>,
    },
    /// A live run holds it.
    Held(JobLock),
}

impl Catalog {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the lock of `job` for `run_id` unless a live run holds it. A lock left by a process
    /// that died (or a host silent for [`LOCK_TTL`]) is taken over.
    pub fn acquire_job_lock(&self, job: &str, run_id: &str) -> Result<LockOutcome> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let existing = tx
            .query_row(
                "SELECT job, run_id, host, pid, acquired_at, heartbeat_at FROM job_locks WHERE job = ?1",
                params![job],
                lock_row,
            )
            .optional()
            .map_err(self.err())?;
        if let Some(lock) = &existing
            && lock.is_live()
        {
            return Ok(LockOutcome::Held(lock.clone()));
        }
        let now = chrono::Utc::now().to_rfc3339();
        tx.execute(
            "INSERT OR REPLACE INTO job_locks (job, run_id, host, pid, acquired_at, heartbeat_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![
                job,
                run_id,
                sluice_engine::process::host_name(),
                std::process::id(),
                now
            ],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(LockOutcome::Acquired { replaced: existing })
    }

    /// Records that the holder of `job`'s lock is alive.
    pub fn heartbeat_job_lock(&self, job: &str, run_id: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE job_locks SET heartbeat_at = ?3 WHERE job = ?1 AND run_id = ?2",
                params![job, run_id, chrono::Utc::now().to_rfc3339()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Releases `job`'s lock if `run_id` holds it.
    pub fn release_job_lock(&self, job: &str, run_id: &str) -> Result<()> {
        self.conn()
            .execute(
                "DELETE FROM job_locks WHERE job = ?1 AND run_id = ?2",
                params![job, run_id],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The lock of `job`, if any.
    pub fn job_lock(&self, job: &str) -> Result<Option<JobLock>> {
        self.conn()
            .query_row(
                "SELECT job, run_id, host, pid, acquired_at, heartbeat_at FROM job_locks WHERE job = ?1",
                params![job],
                lock_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// Inserts or replaces a run record.
    pub fn save_run(&self, run: &RunRow) -> Result<()> {
        let conn = self.conn();
        upsert_run(&conn, run).map_err(self.err())
    }

    /// Marks a run finished and, in the same transaction, remembers the input files it read from
    /// bookmarked sources.
    pub fn finish_run(&self, run: &RunRow, bookmarks: &[BookmarkEntry]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        upsert_run(&tx, run).map_err(self.err())?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO bookmarks (job, source, path, size, last_modified, run_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(self.err())?;
            for b in bookmarks {
                insert
                    .execute(params![
                        run.job,
                        b.source,
                        b.path,
                        b.size as i64,
                        b.last_modified,
                        b.run_id
                    ])
                    .map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())
    }

    /// Runs, newest first, of one job or of all; at most `limit`.
    pub fn runs(&self, job: Option<&str>, limit: usize) -> Result<Vec<RunRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT run_id, job, status, started_at, ended_at, record FROM job_runs
                 WHERE ?1 IS NULL OR job = ?1 ORDER BY started_at DESC, run_id DESC LIMIT ?2",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![job, limit as i64], run_row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter().map(|r| self.decode_run(r)).collect()
    }

    /// The names of the jobs that have runs, sorted.
    pub fn job_names(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT DISTINCT job FROM job_runs ORDER BY job")
            .map_err(self.err())?;
        let names = stmt
            .query_map([], |row| row.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(self.err())?;
        Ok(names)
    }

    /// The job runs a workflow run started, oldest first.
    pub fn runs_in_workflow(&self, workflow_run: &str) -> Result<Vec<RunRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT run_id, job, status, started_at, ended_at, record FROM job_runs
                 WHERE json_extract(record, '$.workflow_run_id') = ?1 ORDER BY started_at, run_id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![workflow_run], run_row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter().map(|r| self.decode_run(r)).collect()
    }

    /// One run by id.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRow>> {
        let row = self
            .conn()
            .query_row(
                "SELECT run_id, job, status, started_at, ended_at, record FROM job_runs WHERE run_id = ?1",
                params![run_id],
                run_row,
            )
            .optional()
            .map_err(self.err())?;
        row.map(|r| self.decode_run(r)).transpose()
    }

    fn decode_run(&self, raw: RawRun) -> Result<RunRow> {
        let record = serde_json::from_str(&raw.record)
            .map_err(|e| self.corrupt(format!("the record of run `{}` is not JSON: {e}", raw.run_id)))?;
        Ok(RunRow {
            run_id: raw.run_id,
            job: raw.job,
            status: raw.status,
            started_at: raw.started_at,
            ended_at: raw.ended_at,
            record,
        })
    }

    /// The files earlier successful runs of `job` read from `source`.
    pub fn bookmark(&self, job: &str, source: &str) -> Result<Vec<BookmarkEntry>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT source, path, size, last_modified, run_id FROM bookmarks
                 WHERE job = ?1 AND source = ?2 ORDER BY path",
            )
            .map_err(self.err())?;
        stmt.query_map(params![job, source], |r| {
            Ok(BookmarkEntry {
                source: r.get(0)?,
                path: r.get(1)?,
                size: r.get::<_, i64>(2)?.max(0) as u64,
                last_modified: r.get(3)?,
                run_id: r.get(4)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(self.err())
    }

    /// Per-source summary of `job`'s bookmarks.
    pub fn bookmarks(&self, job: &str) -> Result<Vec<BookmarkSummary>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT source, count(*), sum(size), max(last_modified), max(run_id) FROM bookmarks
                 WHERE job = ?1 GROUP BY source ORDER BY source",
            )
            .map_err(self.err())?;
        stmt.query_map(params![job], |r| {
            Ok(BookmarkSummary {
                source: r.get(0)?,
                files: r.get::<_, i64>(1)?.max(0) as u64,
                bytes: r.get::<_, i64>(2)?.max(0) as u64,
                newest_file: r.get(3)?,
                last_run: r.get(4)?,
            })
        })
        .map_err(self.err())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(self.err())
    }

    /// Forgets what `job` processed (from one source or all): the next run reads everything.
    /// Returns the number of files forgotten. Output already written stays.
    pub fn reset_bookmarks(&self, job: &str, source: Option<&str>) -> Result<usize> {
        self.conn()
            .execute(
                "DELETE FROM bookmarks WHERE job = ?1 AND (?2 IS NULL OR source = ?2)",
                params![job, source],
            )
            .map_err(self.err())
    }

    /// Forgets the files read by runs of `job` that started after `run_id`, so the next run reads
    /// them again. Returns the number of files forgotten.
    pub fn rewind_bookmarks(&self, job: &str, run_id: &str) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let started: Option<String> = tx
            .query_row(
                "SELECT started_at FROM job_runs WHERE job = ?1 AND run_id = ?2",
                params![job, run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        let Some(started) = started else {
            return Err(CatalogError::InvalidName {
                name: run_id.to_string(),
                reason: format!("no run of job `{job}` has this id; `sluice runs {job}` lists them"),
            });
        };
        let forgotten = tx
            .execute(
                "DELETE FROM bookmarks WHERE job = ?1 AND run_id IN (
                     SELECT run_id FROM job_runs WHERE job = ?1 AND run_id <> ?2
                       AND (started_at > ?3 OR (started_at = ?3 AND run_id > ?2)))",
                params![job, run_id, started],
            )
            .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(forgotten)
    }
}

struct RawRun {
    run_id: String,
    job: String,
    status: String,
    started_at: String,
    ended_at: Option<String>,
    record: String,
}

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        run_id: r.get(0)?,
        job: r.get(1)?,
        status: r.get(2)?,
        started_at: r.get(3)?,
        ended_at: r.get(4)?,
        record: r.get(5)?,
    })
}

fn lock_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobLock> {
    Ok(JobLock {
        job: r.get(0)?,
        run_id: r.get(1)?,
        host: r.get(2)?,
        pid: r.get::<_, i64>(3)?.max(0) as u32,
        acquired_at: r.get(4)?,
        heartbeat_at: r.get(5)?,
    })
}

fn upsert_run(conn: &Connection, run: &RunRow) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO job_runs (run_id, job, status, started_at, ended_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            run.run_id,
            run.job,
            run.status,
            run.started_at,
            run.ended_at,
            run.record.to_string()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, started: &str) -> RunRow {
        RunRow {
            run_id: id.into(),
            job: "j".into(),
            status: "succeeded".into(),
            started_at: started.into(),
            ended_at: Some(started.into()),
            record: serde_json::json!({"run_id": id}),
        }
    }

    fn entry(path: &str, run: &str) -> BookmarkEntry {
        BookmarkEntry {
            source: "s".into(),
            path: path.into(),
            size: 1,
            last_modified: "2026-11-01T00:00:00Z".into(),
            run_id: run.into(),
        }
    }

    #[test]
    fn bookmarks_advance_with_the_run_and_rewind_to_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().join("c.db")).unwrap();
        catalog
            .finish_run(&run("r1", "2026-11-01T00:00:00Z"), &[entry("a", "r1")])
            .unwrap();
        catalog
            .finish_run(
                &run("r2", "2026-11-02T00:00:00Z"),
                &[entry("b", "r2"), entry("c", "r2")],
            )
            .unwrap();
        assert_eq!(catalog.bookmark("j", "s").unwrap().len(), 3);
        assert_eq!(catalog.runs(Some("j"), 10).unwrap()[0].run_id, "r2");
        assert_eq!(catalog.rewind_bookmarks("j", "r1").unwrap(), 2);
        let left: Vec<String> = catalog
            .bookmark("j", "s")
            .unwrap()
            .into_iter()
            .map(|b| b.path)
            .collect();
        assert_eq!(left, vec!["a"]);
        assert!(catalog.rewind_bookmarks("j", "nope").is_err());
        assert_eq!(catalog.reset_bookmarks("j", None).unwrap(), 1);
    }

    #[test]
    fn a_lock_of_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().join("c.db")).unwrap();
        assert!(matches!(
            catalog.acquire_job_lock("j", "r1").unwrap(),
            LockOutcome::Acquired { replaced: None }
        ));
        // Our own live process holds it.
        assert!(
            matches!(catalog.acquire_job_lock("j", "r2").unwrap(), LockOutcome::Held(l) if l.run_id == "r1")
        );
        // A holder whose process is gone.
        catalog
            .conn()
            .execute("UPDATE job_locks SET pid = 999999999 WHERE job = 'j'", [])
            .unwrap();
        match catalog.acquire_job_lock("j", "r3").unwrap() {
            LockOutcome::Acquired { replaced: Some(old) } => assert_eq!(old.run_id, "r1"),
            other => panic!("expected a takeover, got {other:?}"),
        }
        catalog.release_job_lock("j", "r3").unwrap();
        assert!(catalog.job_lock("j").unwrap().is_none());
    }
}
