//! The commit log: one JSON record per committed write under `<dest>/_sluice/log/`.
//!
//! ```text
//! _sluice/log/00000000000000000001.json   {run_id, mode, added: [...], removed: [...], schema, ...}
//! _sluice/log/00000000000000000002.json
//! _sluice/runs/<run_id>.json              a write in flight (host, pid, start time)
//! ```
//!
//! Creating the next record with a conditional put (`PutMode::Create`) is the commit point: exactly one
//! writer wins a sequence number. Replaying the records gives the live set of files sluice wrote.
//! Files whose names carry a run id that no record added (or that a later record removed) are not
//! part of the table, and are deleted by the next write or `sluice vacuum` once their run is no
//! longer in flight. Files sluice did not write (no run id in the name) are left alone unless an
//! overwrite removed them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::{WriteMode, WrittenFile};
use crate::error::{EngineError, Result};

/// Folder (under the destination) that holds the log and in-flight markers.
pub const META_DIR: &str = "_sluice";
const LOG_DIR: &str = "_sluice/log";
const RUNS_DIR: &str = "_sluice/runs";
/// A marker from another host older than this is taken as a crashed run.
const FOREIGN_RUN_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(6);

/// One column of the written schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ColumnRecord {
    /// Column name.
    pub name: String,
    /// Arrow type as text.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// One committed write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitRecord {
    /// Format version of the record.
    pub version: u32,
    /// The run that committed.
    pub run_id: String,
    /// RFC 3339 time of the commit.
    pub committed_at: String,
    /// The write mode.
    pub mode: WriteMode,
    /// Files added, relative to the destination.
    pub added: Vec<WrittenFile>,
    /// Files removed (by an overwrite mode), relative to the destination.
    pub removed: Vec<String>,
    /// Partition columns, outermost first.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Columns of the written rows (partition columns included).
    pub schema: Vec<ColumnRecord>,
    /// `sluice <version>`.
    pub writer: String,
}

/// The state a replay of the log gives.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// True when the destination has a log at all.
    pub has_log: bool,
    /// Sluice-written files that are part of the table.
    pub live: BTreeSet<String>,
    /// Every file some commit removed.
    pub removed: BTreeSet<String>,
    /// Committed runs and their records.
    pub committed: HashMap<String, CommitRecord>,
    /// The log number each committed run took.
    pub seqs: HashMap<String, u64>,
    /// The sequence number the next commit takes.
    pub next_seq: u64,
}

impl Snapshot {
    /// The log number `run_id` committed as (0 when it did not).
    pub fn seq_of(&self, run_id: &str) -> u64 {
        self.seqs.get(run_id).copied().unwrap_or(0)
    }

    /// True when a file (relative to the destination) belongs to the table as sluice sees it.
    pub fn is_visible(&self, relative: &str) -> bool {
        if !self.has_log {
            // No commit yet: files sluice names are a first write in flight (or a killed one).
            return run_id_of(relative).is_none();
        }
        match run_id_of(relative) {
            Some(_) => self.live.contains(relative),
            None => !self.removed.contains(relative),
        }
    }
}

/// The run id in a sluice data file name `part-<stream>-<seq>-<run_id>.<codec>.parquet`.
pub fn run_id_of(relative: &str) -> Option<&str> {
    let name = relative.rsplit('/').next()?;
    let rest = name.strip_prefix("part-")?;
    let mut parts = rest.splitn(3, '-');
    let (a, b, tail) = (parts.next()?, parts.next()?, parts.next()?);
    if a.len() != 5 || b.len() != 5 || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let run = tail.split('.').next()?;
    (!run.is_empty() && tail.ends_with(".parquet")).then_some(run)
}

#[derive(Debug, Serialize, Deserialize)]
struct RunMarker {
    run_id: String,
    host: String,
    pid: u32,
    started_at: String,
}

/// Reads and appends the log of one destination.
#[derive(Debug, Clone)]
pub struct CommitLog {
    store: Arc<dyn ObjectStore>,
    root: Path,
    label: String,
}

impl CommitLog {
    /// The log of the destination at `root` on `store`; `label` names it in errors.
    pub fn new(store: Arc<dyn ObjectStore>, root: Path, label: impl Into<String>) -> Self {
        Self {
            store,
            root,
            label: label.into(),
        }
    }

    /// `root/relative` without re-encoding already escaped Hive names.
    pub fn child(&self, relative: &str) -> Result<Path> {
        let full = if self.root.as_ref().is_empty() {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.root)
        };
        Path::parse(&full).map_err(|e| EngineError::InvalidLocation {
            location: full.clone(),
            reason: e.to_string(),
        })
    }

    /// `path` relative to the destination.
    pub fn relative(&self, path: &Path) -> String {
        match path.prefix_match(&self.root) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }

    fn store_err(&self, path: &Path) -> impl FnOnce(object_store::Error) -> EngineError + '_ {
        let location = format!("{}/{}", self.label.trim_end_matches('/'), self.relative(path));
        move |source| EngineError::store(location, source)
    }

    /// Replays every record.
    pub async fn load(&self) -> Result<Snapshot> {
        let dir = self.child(LOG_DIR)?;
        let mut entries: Vec<(u64, Path)> = match self.store.list(Some(&dir)).try_collect::<Vec<_>>().await {
            Ok(list) => list
                .into_iter()
                .filter_map(|m| {
                    let seq = m
                        .location
                        .filename()?
                        .strip_suffix(".json")?
                        .parse::<u64>()
                        .ok()?;
                    Some((seq, m.location))
                })
                .collect(),
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.store_err(&dir)(e)),
        };
        entries.sort();
        let records: Vec<(u64, CommitRecord)> =
            futures::stream::iter(entries.into_iter().map(|(seq, path)| async move {
                let bytes = self
                    .store
                    .get(&path)
                    .await
                    .map_err(self.store_err(&path))?
                    .bytes()
                    .await
                    .map_err(self.store_err(&path))?;
                let record: CommitRecord =
                    serde_json::from_slice(&bytes).map_err(|e| EngineError::CorruptLog {
                        path: format!("{}/{}", self.label.trim_end_matches('/'), self.relative(&path)),
                        reason: e.to_string(),
                    })?;
                Ok::<_, EngineError>((seq, record))
            }))
            .buffered(8)
            .try_collect()
            .await?;
        let mut snapshot = Snapshot {
            has_log: !records.is_empty(),
            next_seq: 1,
            ..Snapshot::default()
        };
        for (seq, record) in records {
            for path in &record.removed {
                snapshot.live.remove(path);
                snapshot.removed.insert(path.clone());
            }
            for file in &record.added {
                snapshot.live.insert(file.path.clone());
            }
            snapshot.next_seq = seq + 1;
            snapshot.seqs.insert(record.run_id.clone(), seq);
            snapshot.committed.insert(record.run_id.clone(), record);
        }
        Ok(snapshot)
    }

    /// Tries to commit `record` as number `seq`; `Ok(false)` when another writer took that number.
    pub async fn try_append(&self, seq: u64, record: &CommitRecord) -> Result<bool> {
        let path = self.child(&format!("{LOG_DIR}/{seq:020}.json"))?;
        let body = serde_json::to_vec_pretty(record).expect("a commit record serializes");
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.store.put_opts(&path, PutPayload::from(body), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.store_err(&path)(e)),
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
        self.store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(self.store_err(&path))?;
        Ok(())
    }

    /// Removes the in-flight marker of `run_id` (best effort).
    pub async fn unmark_running(&self, run_id: &str) {
        if let Ok(path) = self.child(&format!("{RUNS_DIR}/{run_id}.json"))
            && let Err(e) = self.store.delete(&path).await
            && !matches!(e, object_store::Error::NotFound { .. })
        {
            tracing::warn!(run_id, error = %e, "could not remove the in-flight marker");
        }
    }

    /// Runs still in flight; markers of crashed runs are deleted on the way.
    async fn running(&self) -> Result<HashSet<String>> {
        let dir = self.child(RUNS_DIR)?;
        let markers: Vec<Path> = match self
            .store
            .list(Some(&dir))
            .map_ok(|m| m.location)
            .try_collect()
            .await
        {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => return Ok(HashSet::new()),
            Err(e) => return Err(self.store_err(&dir)(e)),
        };
        let mut alive = HashSet::new();
        for path in markers {
            let marker = match self.store.get(&path).await {
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
                    let _ = self.store.delete(&path).await;
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
        if !snapshot.has_log && listed.iter().all(|p| run_id_of(&self.relative(p)).is_none()) {
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
                match run_id_of(&rel) {
                    Some(run) => {
                        !snapshot.live.contains(&rel) && !fresh.live.contains(&rel) && !alive.contains(run)
                    }
                    None => snapshot.removed.contains(&rel) && fresh.removed.contains(&rel),
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
        let results: Vec<object_store::Result<Path>> = self.store.delete_stream(stream).collect().await;
        for r in results {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(EngineError::store(self.label.clone(), e)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "k=v/part-00001-00002-20261122T020914Z-8906a044.zstd.parquet",
        Some("20261122T020914Z-8906a044")
    )]
    #[case("part-00000-00000-r1.parquet", Some("r1"))]
    #[case("part-0.parquet", None)]
    #[case("k=v/0001_part.parquet", None)]
    #[case("part-00000-00000-.parquet", None)]
    fn run_ids_in_file_names(#[case] name: &str, #[case] run: Option<&str>) {
        assert_eq!(run_id_of(name), run);
    }

    #[test]
    fn visibility_follows_the_log() {
        let mut s = Snapshot {
            has_log: true,
            ..Snapshot::default()
        };
        s.live.insert("part-00000-00000-a.zstd.parquet".into());
        s.removed.insert("old.parquet".into());
        assert!(s.is_visible("part-00000-00000-a.zstd.parquet"));
        assert!(
            !s.is_visible("part-00000-00000-b.zstd.parquet"),
            "uncommitted run"
        );
        assert!(
            s.is_visible("foreign.parquet"),
            "files sluice did not write stay visible"
        );
        assert!(!s.is_visible("old.parquet"), "removed by an overwrite");
        assert!(
            !Snapshot::default().is_visible("part-00000-00000-b.zstd.parquet"),
            "no commit yet: a first write in flight is invisible"
        );
        assert!(
            Snapshot::default().is_visible("part-00000-c000.snappy.parquet"),
            "no commit yet: other writers' files stay visible"
        );
    }
}
