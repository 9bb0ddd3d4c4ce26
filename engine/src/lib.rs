//! sluice-engine: the parts of sluice that touch data.
//!
//! ```text
//! Location (path | file:// | s3://) ──StoreRegistry (one store per bucket, created on first use)──>
//!   readers::open_table (formats from file names, Hive partitions, merged schema) ──> DataFusion
//!   SessionBuilder (target partitions, memory limit + spilling) ──> SluiceSession ──> SQL / DataFrames
//!   PartitionedWriter (Hive paths, bounded open files, staging) ──commit──> CommitReport
//! ```
//!
//! ```no_run
//! # async fn demo() -> sluice_engine::Result<()> {
//! use sluice_engine::{Location, ReadOptions, SessionBuilder, WriteOptions, new_run_id};
//!
//! let session = SessionBuilder::new().with_memory_limit(2 << 30).build()?;
//! let orders = session.read(&Location::parse("testdata/lake/orders/")?, &ReadOptions::default()).await?;
//! let report = session
//!     .write_parquet(orders, &Location::parse("/tmp/orders_parquet/")?,
//!         WriteOptions::new().with_partition_by(vec!["order_date".into()]), &new_run_id())
//!     .await?;
//! println!("{} rows in {} files", report.rows, report.files.len());
//! # Ok(()) }
//! ```

mod error;
mod functions;
pub mod lake;
pub mod process;
pub mod progress;
pub mod readers;
mod session;
pub mod statements;
pub mod stores;
mod time_travel;
pub mod writer;

pub use error::{EngineError, Result, datafusion_is_bad_input, is_transient};
pub use readers::{CsvReadOptions, FileFormatKind, ReadOptions};
pub use session::{SessionBuilder, SluiceSession, StateUpgrade, new_run_id, parse_size};
pub use stores::{Location, S3Options};
pub use time_travel::{resolve as resolve_time_travel, without_versions};
pub use writer::{Codec, CommitReport, PendingCommit, Staged, WriteMode, WriteOptions, WrittenFile};
