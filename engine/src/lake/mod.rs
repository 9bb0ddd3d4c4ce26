//! The table as it lies in storage, as the readers and the writer both see it: Hive folder names,
//! the Delta Lake state of a version, and the table log around it.
//!
//! ```text
//! <table>/
//!   key=value/…/part-….parquet   layout: Hive folder names, escaped as Hive and Spark do
//!   _delta_log/N.json            delta:  the live files, tombstones, schema of a version (AsOf)
//!   _sluice/log/N.json           record: an older sluice's commit records, read once
//!   _sluice/runs/<run>.json      log:    CommitLog reads all of it into a Snapshot
//! ```
//!
//! Readers use this module to find a table's files; the writer (`writer`) appends to the same log.
//! Nothing here writes data files, so nothing here depends on the writer.

pub(crate) mod delta;
pub mod layout;
pub mod log;
mod record;

pub use delta::{AsOf, DeltaState, LiveFile, TableVersion};
pub use record::{ColumnRecord, CommitRecord, WriteMode, WrittenFile};
