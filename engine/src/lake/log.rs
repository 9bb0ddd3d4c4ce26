//! The table log of a destination: its Delta Lake `_delta_log`, plus what Delta has no notion of.
//!
//! ```text
//! _delta_log/00000000000000000000.json   protocol, metaData, add ..., txn sluice-<run_id>
//! _delta_log/00000000000000000001.json   add ..., remove ..., txn sluice-<run_id>
//! _sluice/runs/<run_id>.json             a write in flight (host, pid, start time)
//! _sluice/log/…                          a log of an older sluice; read once, converted on the next write
//! ```
//!
//! Creating the next `_delta_log` version with a conditional put is the commit point: exactly one
//! writer wins a version, and every Delta reader (Athena, Spark, Trino, DuckDB, Polars) sees only
//! committed files. Files whose names carry a run id that no commit added are not part of the table,
//! and are deleted by the next write or `sluice vacuum` once their run is no longer in flight.
//! Files an overwrite removed stay for Delta readers still reading an older version, until `sluice
//! vacuum` deletes them after the retention period.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use super::delta::{self, DeltaState, LiveFile};
use super::record::CommitRecord;
use crate::error::{EngineError, Result};
use crate::stores::Location;

/// Folder (under the destination) that holds in-flight markers (and an older sluice's log).
pub const META_DIR: &str = "_sluice";
/// Folder (under the destination) of the Delta Lake log.
pub const DELTA_LOG_DIR: &str = "_delta_log";
/// Folder (under the destination) of an older sluice's own log.
pub(crate) const LOG_DIR: &str = "_sluice/log";

/// Which log a destination has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogKind {
    /// No commit yet.
    #[default]
    None,
    /// Only the `_sluice/log` of an older sluice: converted to Delta by the next write.
    Legacy,
    /// A Delta Lake `_delta_log`.
    Delta,
}

/// The state of a destination's log.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Which log was found.
    pub kind: LogKind,
    /// Files that are part of the table, by path relative to the destination.
    pub live: BTreeMap<String, LiveFile>,
    /// Files some commit removed (Delta: kept until vacuum; legacy: deleted after the commit).
    pub removed: BTreeSet<String>,
    /// The Delta log, when there is one.
    pub delta: Option<DeltaState>,
}

impl Snapshot {
    /// True when the destination has a log at all.
    pub fn has_log(&self) -> bool {
        self.kind != LogKind::None
    }

    /// True when a file (relative to the destination) belongs to the table as sluice sees it.
    pub fn is_visible(&self, relative: &str) -> bool {
        match self.kind {
            LogKind::Delta => self.live.contains_key(relative),
            // An older sluice's log named only its own files; other writers' files stayed visible.
            LogKind::Legacy => match run_id_of(relative) {
                Some(_) => self.live.contains_key(relative),
                None => !self.removed.contains(relative),
            },
            // No commit yet: files sluice names are a first write in flight (or a killed one).
            LogKind::None => run_id_of(relative).is_none(),
        }
    }

    /// True when `run_id` committed to this destination.
    pub async fn committed(&self, run_id: &str, label: &str) -> Result<bool> {
        match &self.delta {
            Some(delta) => delta.committed(run_id, label).await,
            None => Ok(false),
        }
    }

    /// The live files `run_id` wrote (what a retry of a committed run reports).
    pub fn files_of(&self, run_id: &str) -> Vec<&LiveFile> {
        self.live
            .values()
            .filter(|f| run_id_of(&f.path) == Some(run_id))
            .collect()
    }
}

/// `path` relative to `root` (the whole path when it is not below it).
pub(crate) fn relative_to(root: &Path, path: &Path) -> String {
    match path.prefix_match(root) {
        Some(parts) => parts
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/"),
        None => path.to_string(),
    }
}

/// `root/relative` without re-encoding already escaped Hive names.
pub(crate) fn child_path(root: &Path, relative: &str) -> Result<Path> {
    let full = if root.as_ref().is_empty() {
        relative.to_string()
    } else {
        format!("{root}/{relative}")
    };
    Path::parse(&full).map_err(|e| EngineError::InvalidLocation {
        location: full.clone(),
        reason: e.to_string(),
    })
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

/// Reads and appends the log of one destination.
#[derive(Debug, Clone)]
pub struct CommitLog {
    store: Arc<dyn ObjectStore>,
    /// The destination folder's URL, for the Delta log store.
    url: Url,
    root: Path,
    label: String,
}

impl CommitLog {
    /// The log of `dest` on `store` (the store of its bucket, or of the local file system).
    pub fn new(store: Arc<dyn ObjectStore>, dest: &Location) -> Self {
        Self {
            store,
            url: dest.as_folder().url().clone(),
            root: dest.store_path(),
            label: dest.original().to_string(),
        }
    }

    /// `root/relative` without re-encoding already escaped Hive names.
    pub fn child(&self, relative: &str) -> Result<Path> {
        child_path(&self.root, relative)
    }

    /// `path` relative to the destination.
    pub fn relative(&self, path: &Path) -> String {
        relative_to(&self.root, path)
    }

    /// The store the destination is on.
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The destination folder's URL.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The destination as the user named it, for messages.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Maps a store error on `path` to one that names the object below the destination.
    pub(crate) fn store_err(&self, path: &Path) -> impl FnOnce(object_store::Error) -> EngineError + '_ {
        let location = format!("{}/{}", self.label.trim_end_matches('/'), self.relative(path));
        move |source| EngineError::store(location, source)
    }

    /// Reads the log: the Delta log when there is one, else an older sluice's `_sluice/log`.
    pub async fn load(&self) -> Result<Snapshot> {
        if let Some(delta) = self.load_delta(delta::AsOf::Latest).await? {
            return Ok(Snapshot {
                kind: LogKind::Delta,
                live: delta.live.clone(),
                removed: delta.removed.clone(),
                delta: Some(delta),
            });
        }
        self.load_legacy().await
    }

    /// Reads one version of the Delta log; `None` when there is none.
    pub(crate) async fn load_delta(&self, as_of: delta::AsOf) -> Result<Option<DeltaState>> {
        delta::load(Arc::clone(&self.store), &self.url, &self.label, as_of).await
    }

    /// Replays the records of an older sluice's log.
    async fn load_legacy(&self) -> Result<Snapshot> {
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
            kind: if records.is_empty() {
                LogKind::None
            } else {
                LogKind::Legacy
            },
            ..Snapshot::default()
        };
        for (_, record) in records {
            for path in &record.removed {
                snapshot.live.remove(path);
                snapshot.removed.insert(path.clone());
            }
            for file in &record.added {
                let partition_values = record
                    .partition_by
                    .iter()
                    .cloned()
                    .zip(file.partition_values.iter().cloned())
                    .collect();
                let live = LiveFile {
                    path: file.path.clone(),
                    size: file.bytes,
                    partition_values,
                    rows: Some(file.rows),
                    modified_ms: None,
                };
                snapshot.live.insert(file.path.clone(), live);
            }
        }
        Ok(snapshot)
    }

    /// Every object below `dir`; none when it does not exist.
    pub(crate) async fn list_paths(&self, dir: &Path) -> Result<Vec<Path>> {
        match self
            .store
            .list(Some(dir))
            .map_ok(|m| m.location)
            .try_collect()
            .await
        {
            Ok(paths) => Ok(paths),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.store_err(dir)(e)),
        }
    }
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

    fn live(path: &str) -> (String, LiveFile) {
        let file = LiveFile {
            path: path.into(),
            size: 1,
            partition_values: BTreeMap::new(),
            rows: None,
            modified_ms: None,
        };
        (path.into(), file)
    }

    #[test]
    fn visibility_follows_the_log() {
        let mut delta = Snapshot {
            kind: LogKind::Delta,
            ..Snapshot::default()
        };
        delta.live.extend([live("part-00000-00000-a.zstd.parquet")]);
        assert!(delta.is_visible("part-00000-00000-a.zstd.parquet"));
        assert!(
            !delta.is_visible("part-00000-00000-b.zstd.parquet"),
            "uncommitted run"
        );
        assert!(
            !delta.is_visible("foreign.parquet"),
            "a Delta table is what its log says"
        );

        let mut legacy = Snapshot {
            kind: LogKind::Legacy,
            ..Snapshot::default()
        };
        legacy.live.extend([live("part-00000-00000-a.zstd.parquet")]);
        legacy.removed.insert("old.parquet".into());
        assert!(legacy.is_visible("part-00000-00000-a.zstd.parquet"));
        assert!(
            !legacy.is_visible("part-00000-00000-b.zstd.parquet"),
            "uncommitted run"
        );
        assert!(
            legacy.is_visible("foreign.parquet"),
            "files sluice did not write stay visible"
        );
        assert!(!legacy.is_visible("old.parquet"), "removed by an overwrite");
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
