//! Mounting the catalog in a session: each database becomes a schema and each table `db.table`,
//! built from the files the catalog recorded, so queries prune partitions without listing the store.

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use sluice_engine::SluiceSession;
use sluice_engine::readers::build_table;

use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// Registers every catalog table in `session`; returns how many.
pub fn mount(session: &SluiceSession, catalog: &Catalog) -> Result<usize> {
    let ctx = session.ctx();
    let default_catalog = ctx.catalog("datafusion").ok_or_else(|| CatalogError::Corrupt {
        path: catalog.path().to_string(),
        reason: "the session has no default catalog".into(),
    })?;
    let mut mounted = 0;
    for def in catalog.all()? {
        let (described, mut options) = def.to_described(catalog.path())?;
        options.bad_records = session.bad_records();
        let table = build_table(&described, &options)?;
        let schema: Arc<dyn SchemaProvider> = match default_catalog.schema(&def.database) {
            Some(schema) => schema,
            None => {
                let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
                default_catalog
                    .register_schema(&def.database, Arc::clone(&schema))
                    .map_err(sluice_engine::EngineError::from)?;
                schema
            }
        };
        schema
            .register_table(def.name.clone(), Arc::new(table))
            .map_err(sluice_engine::EngineError::from)?;
        mounted += 1;
    }
    Ok(mounted)
}
