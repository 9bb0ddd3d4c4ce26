//! A table whose files are chosen when a scan's filters are known: a catalog with thousands of
//! partitions reads only those a query can touch (see `sluice_catalog`'s pushdown).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::table::LakeTable;

/// Chooses a table's files for a scan.
pub trait FileSelector: std::fmt::Debug + Send + Sync {
    /// The table with at least the files a scan under `filters` (AND-ed) may keep; with no
    /// filters, every file.
    fn table(&self, filters: &[Expr]) -> Result<LakeTable>;
}

/// A [`LakeTable`] whose files a [`FileSelector`] chooses per scan.
#[derive(Debug)]
pub struct LazyTable {
    /// The table without files: its schema and the filters it applies exactly.
    empty: LakeTable,
    selector: Arc<dyn FileSelector>,
}

impl LazyTable {
    /// A table shaped as `empty` whose files `selector` chooses.
    pub fn new(empty: LakeTable, selector: Arc<dyn FileSelector>) -> Self {
        Self { empty, selector }
    }

    /// The table with every file (what another process gets: it cannot ask the selector).
    pub fn whole(&self) -> Result<LakeTable> {
        self.selector.table(&[])
    }
}

#[async_trait]
impl TableProvider for LazyTable {
    fn schema(&self) -> SchemaRef {
        self.empty.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.empty.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = self.selector.table(filters)?;
        table.scan(state, projection, filters, limit).await
    }
}
