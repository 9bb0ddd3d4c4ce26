//! Mounting the catalog in a session: each database becomes a schema whose tables are built when a
//! query names them, from the files the catalog recorded (no re-listing, so partitions prune at
//! once). A Delta table is read from its `_delta_log` instead, so a query sees its latest version
//! even when another engine committed it after the last crawl.
//!
//! ```text
//! mount:   one schema per database (one SQLite query, however many tables)
//! query:   raw.orders ──> SELECT its definition ──> Delta? read the log : build from recorded files
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::Expr;
use sluice_engine::SluiceSession;
use sluice_engine::lake::AsOf;
use sluice_engine::readers::guard::BadRecords;
use sluice_engine::readers::{FileSelector, LakeTable, LazyTable, build_table, describe_delta};

use crate::error::{CatalogError, Result};
use crate::model::TableDef;
use crate::store::{Catalog, Files};

/// Registers every catalog database in `session` as a schema; returns how many.
pub fn mount(session: &SluiceSession, catalog: &Arc<Catalog>) -> Result<usize> {
    let ctx = session.ctx();
    let default_catalog = ctx.catalog("datafusion").ok_or_else(|| CatalogError::Corrupt {
        path: catalog.path().to_string(),
        reason: "the session has no default catalog".into(),
    })?;
    let databases = catalog.databases()?;
    for database in &databases {
        // A schema the session has already (DataFusion's `public`) keeps its own tables.
        let local = default_catalog
            .schema(database)
            .unwrap_or_else(|| Arc::new(MemorySchemaProvider::new()));
        let schema = CatalogSchema {
            catalog: Arc::clone(catalog),
            database: database.clone(),
            runtime: ctx.runtime_env(),
            bad_records: session.bad_records(),
            local,
        };
        default_catalog
            .register_schema(database, Arc::new(schema))
            .map_err(sluice_engine::EngineError::from)?;
    }
    Ok(databases.len())
}

/// One catalog database as a DataFusion schema.
#[derive(Debug)]
struct CatalogSchema {
    catalog: Arc<Catalog>,
    database: String,
    runtime: Arc<RuntimeEnv>,
    bad_records: Option<Arc<BadRecords>>,
    /// Tables and views the session itself registers in this schema.
    local: Arc<dyn SchemaProvider>,
}

/// A table built from `def`'s files, read under `bad_records`.
fn build(def: &TableDef, catalog: &Catalog, bad_records: Option<Arc<BadRecords>>) -> Result<LakeTable> {
    let (described, mut options) = def.to_described(catalog.path())?;
    options.bad_records = bad_records;
    Ok(build_table(&described, &options)?)
}

/// Chooses a partitioned catalog table's files from SQLite when a scan's filters are known, only
/// those of the partitions the filters allow (see [`crate::pushdown`]): a query of one partition
/// of a table of 60,000 reads one row of the catalog, not 60,000.
#[derive(Debug)]
struct CatalogFiles {
    /// The definition, without files.
    header: TableDef,
    keys: Vec<(String, arrow::datatypes::DataType)>,
    catalog: Arc<Catalog>,
    bad_records: Option<Arc<BadRecords>>,
}

impl CatalogFiles {
    /// The table as a [`LazyTable`].
    fn table(
        header: TableDef,
        catalog: Arc<Catalog>,
        bad_records: Option<Arc<BadRecords>>,
    ) -> Result<LazyTable> {
        let (described, _) = header.to_described(catalog.path())?;
        let empty = build(&header, &catalog, bad_records.clone())?;
        let selector = Self {
            keys: described.partition_cols,
            header,
            catalog,
            bad_records,
        };
        Ok(LazyTable::new(empty, Arc::new(selector)))
    }
}

impl FileSelector for CatalogFiles {
    fn table(&self, filters: &[Expr]) -> datafusion::error::Result<LakeTable> {
        let condition = crate::pushdown::condition(filters, &self.keys);
        let files = match &condition {
            Some(c) => Files::Matching(c),
            None => Files::All,
        };
        let (database, name) = (&self.header.database, &self.header.name);
        let def = self
            .catalog
            .find_matching(database, name, files)
            .map_err(to_datafusion)?
            .ok_or_else(|| {
                to_datafusion(CatalogError::TableNotFound {
                    name: format!("{database}.{name}"),
                })
            })?;
        tracing::debug!(table = %format!("{database}.{name}"), files = def.files.len(), pushed = condition.is_some(), "catalog files for a scan");
        build(&def, &self.catalog, self.bad_records.clone()).map_err(to_datafusion)
    }
}

impl CatalogSchema {
    async fn open(&self, def: TableDef) -> Result<Arc<dyn TableProvider>> {
        let (mut described, mut options) = def.to_described(self.catalog.path())?;
        options.bad_records = self.bad_records.clone();
        if described.delta {
            let store = self
                .runtime
                .object_store(described.location.listing_url()?)
                .map_err(sluice_engine::EngineError::from)?;
            // A folder whose log is gone keeps what the catalog recorded.
            if let Some(latest) = describe_delta(&store, &described.location, AsOf::Latest).await? {
                described = latest;
            }
        }
        Ok(Arc::new(build_table(&described, &options)?))
    }
}

fn to_datafusion(e: CatalogError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl SchemaProvider for CatalogSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.local.table_names();
        match self.catalog.table_names(&self.database) {
            Ok(stored) => names.extend(stored),
            Err(e) => {
                tracing::warn!(error = %e, database = %self.database, "could not list the catalog's tables")
            }
        }
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.local.table(name).await? {
            return Ok(Some(table));
        }
        let header = self
            .catalog
            .find_matching(&self.database, name, Files::None)
            .map_err(to_datafusion)?;
        let Some(header) = header else {
            return Ok(None);
        };
        // A partitioned table reads its files from the catalog when a scan's filters are known.
        if !header.partition_keys.is_empty() && header.classification != crate::model::DELTA {
            let table = CatalogFiles::table(header, Arc::clone(&self.catalog), self.bad_records.clone())
                .map_err(to_datafusion)?;
            return Ok(Some(Arc::new(table)));
        }
        let def = self.catalog.find(&self.database, name).map_err(to_datafusion)?;
        match def {
            Some(def) => self.open(def).await.map(Some).map_err(to_datafusion),
            None => Ok(None),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        self.local.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        self.local.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.local.table_exist(name)
            || self
                .catalog
                .table_names(&self.database)
                .is_ok_and(|names| names.iter().any(|n| n == name))
    }
}
