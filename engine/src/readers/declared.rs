//! `CREATE EXTERNAL TABLE ... STORED AS CSV|JSON|PARQUET|DELTA LOCATION '...'` as sluice tables:
//! the declared columns and types are honoured (CSV by position, as DataFusion reads them), and the
//! table gets what a quoted path gets: row estimates for the planner, compressed files by name,
//! Hive partitions, Delta logs, bad-record policies and errors that name the file and line.
//!
//! ```text
//! CREATE EXTERNAL TABLE t (a INT, d DATE) STORED AS CSV PARTITIONED BY (day) LOCATION 'x/'
//!   OPTIONS ('format.has_header' 'true')
//!     ──options sluice reads──> describe the location (files, partitions, row estimates)
//!     ──declared schema over the inferred one──> LakeTable
//!   an option, WITH ORDER or UNBOUNDED sluice's reader does not take ──> DataFusion's own table
//! ```

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::CreateExternalTable;

use super::guard::BadRecords;
use super::{
    Compression, DataFile, FileFormatKind, ReadOptions, TableFiles, build_table, describe_location, kind_of,
};
use crate::error::{EngineError, Result};
use crate::stores::Location;

/// Builds declared tables of one `STORED AS` type.
#[derive(Debug)]
pub(crate) struct DeclaredTables {
    /// `None` for `STORED AS DELTA` (the folder must have a `_delta_log`).
    format: Option<FileFormatKind>,
    /// DataFusion's own factory, for what sluice's reader does not take.
    fallback: Option<Arc<dyn TableProviderFactory>>,
}

impl DeclaredTables {
    pub(crate) fn new(
        format: Option<FileFormatKind>,
        fallback: Option<Arc<dyn TableProviderFactory>>,
    ) -> Self {
        Self { format, fallback }
    }

    async fn fall_back(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
        why: &str,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        match &self.fallback {
            Some(fallback) => {
                tracing::debug!(table = %cmd.name, why, "declared table read by DataFusion's own reader");
                fallback.create(state, cmd).await
            }
            None => Err(DataFusionError::Plan(format!(
                "a Delta table takes no {why}; declare it as `STORED AS DELTA LOCATION 'folder/'`"
            ))),
        }
    }
}

#[async_trait]
impl TableProviderFactory for DeclaredTables {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let [given] = cmd.locations.as_slice() else {
            return self.fall_back(state, cmd, "several locations").await;
        };
        if cmd.unbounded || !cmd.order_exprs.is_empty() {
            return self.fall_back(state, cmd, "UNBOUNDED or WITH ORDER").await;
        }
        let declared = match declared_options(self.format, cmd, state)? {
            Declared::Options(options) => options,
            Declared::Foreign(key) => return self.fall_back(state, cmd, &format!("option `{key}`")).await,
        };
        let location = Location::parse(given)?;
        let location = if self.format.is_none() {
            require_delta_log(state, &location.as_folder(), given).await?
        } else {
            location
        };
        let described = describe_location(state, &location, &declared.read).await?;
        check_compression(&described, declared.compression, declared.read.format, given)?;
        let described = with_declared_schema(described, cmd)?;
        Ok(Arc::new(build_table(&described, &declared.read)?))
    }
}

enum Declared {
    /// What sluice's reader takes from the statement.
    Options(DeclaredRead),
    /// An option only DataFusion's reader takes.
    Foreign(String),
}

struct DeclaredRead {
    read: ReadOptions,
    /// `format.compression`, when given.
    compression: Option<Compression>,
}

/// The read settings a declaration gives; DataFusion's defaults where it gives none (a CSV header
/// per `datafusion.catalog.has_header`, `,` between fields): declared dialects are not sniffed.
fn declared_options(
    format: Option<FileFormatKind>,
    cmd: &CreateExternalTable,
    state: &dyn Session,
) -> Result<Declared> {
    let mut read = ReadOptions {
        format,
        count_rows: true,
        bad_records: state.config().get_extension::<BadRecords>(),
        ..ReadOptions::default()
    };
    read.csv.sniff = false;
    read.csv.has_header = state.config().options().catalog.has_header;
    let mut compression = None;
    for (key, value) in &cmd.options {
        let name = key.to_ascii_lowercase();
        let bad = |what: &str| EngineError::InvalidOption {
            option: format!("OPTIONS ('{key}' '{value}')"),
            reason: what.to_string(),
        };
        let char_of = |v: &str| super::parse_delimiter(v).ok_or_else(|| bad("give one character"));
        match name.strip_prefix("format.").unwrap_or(&name) {
            "has_header" => read.csv.has_header = value.parse().map_err(|_| bad("give true or false"))?,
            "delimiter" => read.csv.delimiter = Some(char_of(value)?),
            "quote" => read.csv.quote = char_of(value)?,
            "escape" => read.csv.escape = Some(char_of(value)?),
            "comment" => read.csv.comment = Some(char_of(value)?),
            "compression" => {
                compression = Some(
                    compression_named(value)
                        .ok_or_else(|| bad("give uncompressed, gzip, bzip2, xz or zstd"))?,
                )
            }
            _ => return Ok(Declared::Foreign(key.clone())),
        }
    }
    Ok(Declared::Options(DeclaredRead { read, compression }))
}

fn compression_named(text: &str) -> Option<Compression> {
    match text.to_ascii_lowercase().as_str() {
        "uncompressed" | "none" | "" => Some(Compression::None),
        "gzip" | "gz" => Some(Compression::Gzip),
        "bzip2" | "bz2" => Some(Compression::Bzip2),
        "xz" => Some(Compression::Xz),
        "zstd" | "zst" => Some(Compression::Zstd),
        _ => None,
    }
}

/// sluice reads a file's compression from its name: a declared compression the names do not carry
/// would be misread, so it is refused.
fn check_compression(
    described: &TableFiles,
    declared: Option<Compression>,
    format: Option<FileFormatKind>,
    given: &str,
) -> Result<()> {
    let Some(declared) = declared else { return Ok(()) };
    let odd = described
        .files
        .iter()
        .find(|f| kind_of(f, format).is_some_and(|k| k.compression != declared));
    match odd {
        None => Ok(()),
        Some(file) => Err(EngineError::InvalidOption {
            option: format!("`{given}` OPTIONS ('format.compression')"),
            reason: format!(
                "`{}` is not named as {declared:?}-compressed; sluice reads compression from file names (.gz, .bz2, .xz, .zst): rename the files or drop the option",
                file.meta.location
            ),
        }),
    }
}

async fn require_delta_log(state: &dyn Session, folder: &Location, given: &str) -> Result<Location> {
    let store = state.runtime_env().object_store(folder.listing_url()?)?;
    if super::describe_delta(&store, folder, crate::lake::AsOf::Latest)
        .await?
        .is_none()
    {
        return Err(EngineError::NotFound {
            location: format!(
                "{}/{}/",
                given.trim_end_matches('/'),
                crate::lake::log::DELTA_LOG_DIR
            ),
        });
    }
    Ok(folder.clone())
}

/// The declared columns over the inferred ones: file columns in declaration order (CSV is read by
/// position, as DataFusion does) and the declared partition columns with their types.
fn with_declared_schema(described: TableFiles, cmd: &CreateExternalTable) -> Result<TableFiles> {
    let declared: &Schema = cmd.schema.as_arrow();
    if declared.fields().is_empty() {
        return Ok(described);
    }
    let partitions = &cmd.table_partition_cols;
    let partition_cols: Vec<(String, DataType)> = partitions
        .iter()
        .map(|name| {
            let ty = declared
                .field_with_name(name)
                .map(|f| f.data_type().clone())
                .ok()
                .or_else(|| {
                    described
                        .partition_cols
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, t)| t.clone())
                })
                .unwrap_or(DataType::Utf8);
            (name.clone(), ty)
        })
        .collect();
    let file_schema = Schema::new(
        declared
            .fields()
            .iter()
            .filter(|f| !partitions.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let files = described
        .files
        .iter()
        .map(|f| in_declared_order(f, partitions))
        .collect::<Result<Vec<_>>>()?;
    Ok(TableFiles {
        file_schema: Arc::new(file_schema),
        partition_cols,
        files,
        read_by_name: false,
        ..described
    })
}

/// A file's partition values in the order the declaration names its partition columns.
fn in_declared_order(file: &DataFile, partitions: &[String]) -> Result<DataFile> {
    let partition = partitions
        .iter()
        .map(|name| {
            file.partition
                .iter()
                .find(|(k, _)| k == name)
                .cloned()
                .ok_or_else(|| EngineError::InvalidOption {
                    option: format!("PARTITIONED BY ({name})"),
                    reason: format!(
                        "`{}` is not in a `{name}=value/` folder; declare the partition columns the folders have",
                        file.meta.location
                    ),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DataFile {
        partition,
        ..file.clone()
    })
}
