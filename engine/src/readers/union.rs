//! A table made of several tables with one schema, such as one folder holding both `.csv` and
//! `.csv.gz` files (DataFusion lists one extension per table).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;

#[derive(Debug)]
pub(super) struct UnionTable {
    schema: SchemaRef,
    parts: Vec<Arc<dyn TableProvider>>,
}

impl UnionTable {
    pub(super) fn try_new(parts: Vec<Arc<dyn TableProvider>>) -> Result<Self> {
        let schema = parts
            .first()
            .map(|p| p.schema())
            .ok_or_else(|| datafusion::error::DataFusionError::Internal("union of no tables".into()))?;
        Ok(Self { schema, parts })
    }
}

#[async_trait]
impl TableProvider for UnionTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        use TableProviderFilterPushDown::{Exact, Inexact, Unsupported};
        let mut result = vec![Exact; filters.len()];
        for part in &self.parts {
            for (slot, support) in result.iter_mut().zip(part.supports_filters_pushdown(filters)?) {
                *slot = match (&*slot, support) {
                    (Unsupported, _) | (_, Unsupported) => Unsupported,
                    (Inexact, _) | (_, Inexact) => Inexact,
                    _ => Exact,
                };
            }
        }
        Ok(result)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut plans = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            plans.push(part.scan(state, projection, filters, limit).await?);
        }
        UnionExec::try_new(plans)
    }
}
