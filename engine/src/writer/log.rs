//! The write side of a destination's table log: appending a Delta commit, in-flight markers, and
//! deleting files no commit made part of the table.
//!
//! ```text
//! _sluice/runs/<run_id>.json   a write in flight (host, pid, start time), dropped when it ends
//! orphans:  files named by a run id that no commit added and no live run owns ──> deleted
//! ```
//!
//! A marker from another host is trusted for six hours; on this host the process decides.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::delta;
use crate::error::{EngineError, Result};
use crate::lake::log::{CommitLog, LOG_DIR, LogKind, Snapshot, run_id_of};

const RUNS_DIR: &str = "_sluice/runs";
/// A marker from another host older than this is taken as a crashed run.
const FOREIGN_RUN_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(6);

#[derive(Debug, Serialize, Deserialize)]
struct RunMarker {
    run_id: String,
    host: String,
    pid: u32,
    started_at: String,
}

impl CommitLog {
    /// Appends one Delta commit on top of `snapshot`; `Ok(None)` when another writer won the version.
    pub(crate) async fn try_commit(
        &self,
        snapshot: &Snapshot,
        commit: &delta::Commit<'_>,
    ) -> Result<Option<u64>> {
        delta::try_commit(
            Arc::clone(self.store()),
            self.url(),
            self.label(),
            snapshot.delta.as_ref(),
            commit,
        )
        .await
    }
    /// Deletes an older sluice's log once a Delta commit holds its files (best effort).
    pub(crate) async fn drop_legacy(&self) {
        let Ok(dir) = self.child(LOG_DIR) else { return };
        let Ok(listed) = self.list_paths(&dir).await else {
            return;
        };
        if let Err(e) = self.delete_all(listed).await {
            tracing::warn!(error = %e, "the converted `_sluice/log` stays; Delta readers ignore it");
        }
    }

    /// Marks `run_id` as in flight so that concurrent cleanups leave its files alone.
    pub async fn mark_running(&self, run_id: &str) -> Result<()> {
        let marker = RunMarker {
            run_id: run_id.to_string(),
            host: crate::process::host_name(),
            pid: std::process::id(),
            started_at: chrono::Utc::now().to_rfc3339(),
        };
        let path = self.child(&format!("{RUNS_DIR}/{run_id}.json"))?;
        let body = serde_json::to_vec(&marker).expect("a run marker serializes");
        self.store()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(self.store_err(&path))?;
        Ok(())
    }

    /// Removes the in-flight marker of `run_id` (best effort).
    pub async fn unmark_running(&self, run_id: &str) {
        if let Ok(path) = self.child(&format!("{RUNS_DIR}/{run_id}.json"))
            && let Err(e) = self.store().delete(&path).await
            && !matches!(e, object_store::Error::NotFound { .. })
        {
            tracing::warn!(run_id, error = %e, "could not remove the in-flight marker");
        }
    }

    /// Runs still in flight; markers of crashed runs are deleted on the way.
    async fn running(&self) -> Result<HashSet<String>> {
        let dir = self.child(RUNS_DIR)?;
        let markers = self.list_paths(&dir).await?;
        let mut alive = HashSet::new();
        for path in markers {
            let marker = match self.store().get(&path).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map(|b| serde_json::from_slice::<RunMarker>(&b).ok()),
                Err(e) => Err(e),
            };
            match marker {
                Ok(Some(m)) if is_alive(&m) => {
                    alive.insert(m.run_id);
                }
                // Gone meanwhile (its run finished), or unreadable garbage: not in flight.
                Err(object_store::Error::NotFound { .. }) => {}
                Ok(_) => {
                    let _ = self.store().delete(&path).await;
                }
                // A store error says nothing about the run: keep it (and its files) as in flight.
                Err(_) => {
                    if let Some(run) = path.filename().and_then(|n| n.strip_suffix(".json")) {
                        alive.insert(run.to_string());
                    }
                }
            }
        }
        Ok(alive)
    }

    /// Deletes files no commit made part of the table (failed or killed runs, and files an overwrite
    /// removed but did not get to delete). Returns the deleted paths, relative to the destination.
    pub async fn clean_orphans(
        &self,
        snapshot: &Snapshot,
        listed: &[Path],
        dry_run: bool,
    ) -> Result<Vec<String>> {
        if !snapshot.has_log() && listed.iter().all(|p| run_id_of(&self.relative(p)).is_none()) {
            return Ok(Vec::new());
        }
        let alive = self.running().await?;
        // A run may have committed (and dropped its marker) between the caller's snapshot and the
        // marker listing: judge by the log as it is now, read after the markers.
        let fresh = self.load().await?;
        let orphans: Vec<Path> = listed
            .iter()
            .filter(|p| {
                let rel = self.relative(p);
                // Files a Delta commit removed stay for readers of older versions until vacuum.
                let retained = fresh.kind == LogKind::Delta && fresh.removed.contains(&rel);
                match run_id_of(&rel) {
                    Some(run) => {
                        !snapshot.live.contains_key(&rel)
                            && !fresh.live.contains_key(&rel)
                            && !alive.contains(run)
                            && !retained
                    }
                    None => {
                        fresh.kind == LogKind::Legacy
                            && snapshot.removed.contains(&rel)
                            && fresh.removed.contains(&rel)
                    }
                }
            })
            .cloned()
            .collect();
        let names = orphans.iter().map(|p| self.relative(p)).collect();
        if !dry_run {
            self.delete_all(orphans).await?;
        }
        Ok(names)
    }

    /// Deletes objects, ignoring ones already gone.
    pub async fn delete_all(&self, paths: Vec<Path>) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let stream = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let results: Vec<object_store::Result<Path>> = self.store().delete_stream(stream).collect().await;
        for r in results {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(EngineError::store(self.label().to_string(), e)),
            }
        }
        Ok(())
    }
}

fn is_alive(marker: &RunMarker) -> bool {
    crate::process::local_process_alive(&marker.host, marker.pid).unwrap_or_else(|| {
        chrono::DateTime::parse_from_rfc3339(&marker.started_at)
            .map(|t| chrono::Utc::now().signed_duration_since(t) < FOREIGN_RUN_TTL)
            .unwrap_or(false)
    })
}
