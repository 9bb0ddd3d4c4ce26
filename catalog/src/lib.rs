//! sluice-catalog: a Glue-shaped catalog of the lake's tables in a SQLite file, the crawler that fills
//! it, and the provider that mounts it in SQL sessions.
//!
//! ```text
//! crawl URL ──list──> tables + Hive partitions + files ──infer (sluice-engine readers)──> TableDef
//!           ──Catalog::upsert (one transaction, version + diff)──> SQLite
//! sql       ──provider::mount──> `db.table` in DataFusion, built when named (recorded files; Delta: its log)
//! ```
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_catalog::{Catalog, crawl, mount};
//! use sluice_engine::{Location, SessionBuilder};
//!
//! let session = SessionBuilder::new().build()?;
//! let catalog = std::sync::Arc::new(Catalog::open("sluice-catalog.db")?);
//! crawl(&session, &catalog, &Location::parse("testdata/lake/")?, "raw", &Default::default()).await?;
//! mount(&session, &catalog)?;
//! session.ctx().sql("SELECT count(*) FROM raw.orders").await?.show().await?;
//! # Ok(()) }
//! ```

mod crawler;
mod ddl;
mod destination;
mod error;
pub mod glue;
mod lifecycle;
mod model;
mod provider;
pub mod pushdown;
mod runs;
mod store;
mod types;

pub use crawler::{
    CrawlAction, CrawlOptions, CrawlReport, CrawledTable, DeletePolicy, SchemaChangePolicy, crawl, table_name,
};
pub use ddl::{Dialect, ddl};
pub use destination::{Recorded, record_destination};
pub use error::{CatalogError, Result};

/// Splits `db.table` into its parts.
pub fn split_name(qualified: &str) -> Result<(&str, &str)> {
    match qualified.split_once('.') {
        Some((db, table)) if !db.is_empty() && !table.is_empty() && !table.contains('.') => Ok((db, table)),
        _ => Err(CatalogError::InvalidName {
            name: qualified.to_string(),
            reason: "write tables as `database.table`".into(),
        }),
    }
}
pub use lifecycle::parse_type;
pub use model::{ColumnDef, DELTA, FileEntry, TableDef, TableSummary};
pub use provider::mount;
pub use runs::{BookmarkEntry, BookmarkSummary, JobLock, LOCK_TTL, LockOutcome, RunRow};
pub use store::{Catalog, Change, Files};
pub use types::glue_type;
