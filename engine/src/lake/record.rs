//! What a commit records about itself: its write mode and its files, and the commit records of
//! an older sluice's own log (`_sluice/log/N.json`), still read once to convert them to Delta.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// How a write treats data already at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// Fail when the destination already holds data files.
    #[default]
    ErrorIfExists,
    /// Add files next to the existing ones.
    Append,
    /// Replace everything at the destination once the new files are in place.
    Overwrite,
    /// Replace only the partitions this run writes (Spark's dynamic partition overwrite).
    OverwritePartitions,
    /// Upsert on the merge keys: incoming rows replace the rows with their keys, the rest are added.
    Merge,
}

impl std::fmt::Display for WriteMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ErrorIfExists => "error-if-exists",
            Self::Append => "append",
            Self::Overwrite => "overwrite",
            Self::OverwritePartitions => "overwrite-partitions",
            Self::Merge => "merge",
        })
    }
}

impl std::str::FromStr for WriteMode {
    type Err = EngineError;

    /// The one parser of a write mode, for the command line, job files and library callers:
    /// `overwrite-partitions` or `overwrite_partitions`, any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "error" | "error-if-exists" => Ok(Self::ErrorIfExists),
            "append" => Ok(Self::Append),
            "overwrite" => Ok(Self::Overwrite),
            "overwrite-partitions" => Ok(Self::OverwritePartitions),
            "merge" => Ok(Self::Merge),
            _ => Err(EngineError::InvalidOption {
                option: "mode".into(),
                reason: format!(
                    "`{s}` is not one of error-if-exists, append, overwrite, overwrite-partitions, merge"
                ),
            }),
        }
    }
}

/// One data file a run wrote, relative to the destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrittenFile {
    /// Path below the destination, `key=value/part-….parquet`.
    pub path: String,
    /// Partition values in `partition_by` order; `None` is the default partition.
    pub partition_values: Vec<Option<String>>,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// Delta `stats` JSON (rows, per-column min, max and null count), for the log only.
    #[serde(skip)]
    pub stats: Option<String>,
}

/// One column of the written schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ColumnRecord {
    /// Column name.
    pub name: String,
    /// Arrow type as text.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// One committed write in the log of an older sluice (`_sluice/log/N.json`).
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
