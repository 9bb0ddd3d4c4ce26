//! Recording a written destination as a catalog table.

use sluice_engine::readers::describe_location;
use sluice_engine::{EngineError, FileFormatKind, Location, ReadOptions, SluiceSession};

use crate::{Catalog, Change, Result, TableDef, split_name};

/// What recording a destination did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing is written there yet (a run without new input): no table to record.
    NoData,
    /// The table was created, updated or left as it was.
    Table(Change),
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoData => f.write_str("not recorded: the destination holds no data yet"),
            Self::Table(Change::Created) => f.write_str("created"),
            Self::Table(Change::Updated(diff)) => write!(f, "updated: {diff}"),
            Self::Table(Change::Unchanged) => f.write_str("unchanged"),
        }
    }
}

/// Creates or updates the catalog table `table` (`db.table`) from the Parquet files at `dest`,
/// with their row counts.
pub async fn record_destination(
    catalog: &Catalog,
    session: &SluiceSession,
    dest: &Location,
    table: &str,
) -> Result<Recorded> {
    let (db, name) = split_name(table)?;
    let options = ReadOptions {
        format: Some(FileFormatKind::Parquet),
        count_rows: true,
        ..ReadOptions::default()
    };
    let described = match describe_location(&session.ctx().state(), &dest.as_folder(), &options).await {
        Ok(d) => d,
        Err(EngineError::NotFound { .. } | EngineError::NoDataFiles { .. }) => return Ok(Recorded::NoData),
        Err(e) => return Err(e.into()),
    };
    let def = TableDef::from_described(db, name, &described);
    Ok(Recorded::Table(catalog.upsert(&def)?))
}
