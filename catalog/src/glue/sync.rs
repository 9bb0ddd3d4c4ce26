//! Keeps the AWS Glue Data Catalog in step with sluice's catalog, so Athena sees what sluice
//! crawled and wrote.
//!
//! ```text
//! per database:  GetDatabase ──missing──> CreateDatabase
//! per S3 table:  GetTable ──missing──> CreateTable │ differs──> UpdateTable │ same──> nothing
//!                GetPartitions (all pages) ──diff by values──> BatchCreatePartition (100 a call)
//!                                                             BatchUpdatePartition (100 a call)
//!                                                             BatchDeletePartition (25 a call)
//! ```
//!
//! Only what differs is written, so a second sync with nothing changed makes no write call. Glue
//! tables sluice does not know are left alone; partitions of a table sluice knows that are no
//! longer in its catalog are deleted. Tables outside S3 are skipped: Athena reads only S3. The
//! account, region and credentials come from the AWS environment (the same chain as S3), the
//! endpoint from `AWS_ENDPOINT_URL_GLUE` or `AWS_ENDPOINT_URL`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_glue::Client;
use aws_sdk_glue::types as glue;
use serde::Serialize;

use super::shape::{ARROW_TYPE, Column, PartitionShape, Storage, TableShape};
use crate::error::{CatalogError, Result};
use crate::model::TableDef;

/// Partitions per `BatchCreatePartition` / `BatchUpdatePartition` call (Glue's limit).
const WRITE_BATCH: usize = 100;
/// Partitions per `BatchDeletePartition` call (Glue's limit).
const DELETE_BATCH: usize = 25;

/// What to sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Only these databases (all when empty).
    pub databases: Vec<String>,
    /// Work out the changes without making them.
    pub dry_run: bool,
}

/// One change the sync made (or, in a dry run, would make).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncAction {
    /// `create`, `update`, `delete` or `skip`.
    pub action: &'static str,
    /// `database`, `table` or `partition`.
    pub kind: &'static str,
    /// `db`, `db.table` or `db.table/k=v/...`.
    pub name: String,
    /// Why, for a skip.
    pub detail: String,
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Every change, in the order made.
    pub actions: Vec<SyncAction>,
    /// True when nothing was written.
    pub dry_run: bool,
}

impl SyncReport {
    /// `N created, N updated, N deleted`.
    pub fn summary(&self) -> String {
        let count = |action: &str| self.actions.iter().filter(|a| a.action == action).count();
        format!(
            "{} created, {} updated, {} deleted",
            count("create"),
            count("update"),
            count("delete")
        )
    }

    fn push(&mut self, action: &'static str, kind: &'static str, name: String) {
        self.actions.push(SyncAction {
            action,
            kind,
            name,
            detail: String::new(),
        });
    }
}

fn glue_error(
    operation: &str,
    name: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> CatalogError {
    CatalogError::Glue {
        operation: operation.to_string(),
        name: name.to_string(),
        reason: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// Creates or updates `tables` (and their databases and partitions) in the Glue Data Catalog.
pub async fn sync(tables: &[TableDef], options: &SyncOptions) -> Result<SyncReport> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let mut report = SyncReport {
        dry_run: options.dry_run,
        ..SyncReport::default()
    };
    let chosen: Vec<&TableDef> = tables
        .iter()
        .filter(|t| options.databases.is_empty() || options.databases.contains(&t.database))
        .collect();
    let databases: std::collections::BTreeSet<&str> = chosen.iter().map(|t| t.database.as_str()).collect();
    for db in databases {
        ensure_database(&client, db, options.dry_run, &mut report).await?;
    }
    for t in chosen {
        if !t.location.starts_with("s3://") {
            report.actions.push(SyncAction {
                action: "skip",
                kind: "table",
                name: format!("{}.{}", t.database, t.name),
                detail: "not on S3; Athena reads only S3 locations".into(),
            });
            continue;
        }
        sync_table(&client, t, options.dry_run, &mut report).await?;
        sync_partitions(&client, t, options.dry_run, &mut report).await?;
    }
    Ok(report)
}

async fn ensure_database(client: &Client, db: &str, dry_run: bool, report: &mut SyncReport) -> Result<()> {
    match client.get_database().name(db).send().await {
        Ok(_) => return Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_entity_not_found_exception()) => {}
        Err(e) => return Err(glue_error("GetDatabase", db, e)),
    }
    report.push("create", "database", db.to_string());
    if dry_run {
        return Ok(());
    }
    let input = glue::DatabaseInput::builder()
        .name(db)
        .description("created by sluice catalog sync")
        .build()
        .map_err(|e| glue_error("CreateDatabase", db, e))?;
    client
        .create_database()
        .database_input(input)
        .send()
        .await
        .map_err(|e| glue_error("CreateDatabase", db, e))?;
    Ok(())
}

async fn sync_table(client: &Client, t: &TableDef, dry_run: bool, report: &mut SyncReport) -> Result<()> {
    let shape = TableShape::of(t);
    let name = format!("{}.{}", t.database, t.name);
    let existing = match client
        .get_table()
        .database_name(&t.database)
        .name(&t.name)
        .send()
        .await
    {
        Ok(out) => out.table,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_entity_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(glue_error("GetTable", &name, e)),
    };
    let action = match &existing {
        None => "create",
        Some(table) if TableFingerprint::of_glue(table, &shape) == TableFingerprint::of_shape(&shape) => {
            return Ok(());
        }
        Some(_) => "update",
    };
    report.push(action, "table", name.clone());
    if dry_run {
        return Ok(());
    }
    let input = table_input(&shape).map_err(|e| glue_error("TableInput", &name, e))?;
    if existing.is_none() {
        client
            .create_table()
            .database_name(&t.database)
            .table_input(input)
            .send()
            .await
            .map_err(|e| glue_error("CreateTable", &name, e))?;
    } else {
        client
            .update_table()
            .database_name(&t.database)
            .table_input(input)
            .send()
            .await
            .map_err(|e| glue_error("UpdateTable", &name, e))?;
    }
    Ok(())
}

/// The parts of a table sluice decides, to tell whether Glue's copy differs.
#[derive(Debug, PartialEq, Eq)]
struct TableFingerprint {
    storage: StorageFingerprint,
    partition_keys: Vec<Column>,
    parameters: BTreeMap<String, String>,
}

#[derive(Debug, PartialEq, Eq)]
struct StorageFingerprint {
    columns: Vec<Column>,
    location: String,
    formats: [String; 3],
    serde_parameters: BTreeMap<String, String>,
}

/// The entries of `have` under the keys `want` has: Glue and other tools add keys of their own.
fn same_keys(
    have: Option<&HashMap<String, String>>,
    want: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    want.keys()
        .filter_map(|k| Some((k.clone(), have?.get(k)?.clone())))
        .collect()
}

fn columns_of(cols: &[glue::Column]) -> Vec<Column> {
    cols.iter()
        .map(|c| Column {
            name: c.name().to_string(),
            glue_type: c.r#type().unwrap_or_default().to_string(),
            arrow_type: c
                .parameters()
                .and_then(|p| p.get(ARROW_TYPE))
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

impl StorageFingerprint {
    fn of_shape(s: &Storage) -> Self {
        Self {
            columns: s.columns.clone(),
            location: s.location.clone(),
            formats: [s.input_format, s.output_format, s.serde_library].map(str::to_string),
            serde_parameters: s.serde_parameters.clone(),
        }
    }

    fn of_glue(sd: Option<&glue::StorageDescriptor>, want: &Storage) -> Self {
        let serde = sd.and_then(|sd| sd.serde_info());
        Self {
            columns: sd.map(|sd| columns_of(sd.columns())).unwrap_or_default(),
            location: sd.and_then(|sd| sd.location()).unwrap_or_default().to_string(),
            formats: [
                sd.and_then(|sd| sd.input_format()),
                sd.and_then(|sd| sd.output_format()),
                serde.and_then(|s| s.serialization_library()),
            ]
            .map(|f| f.unwrap_or_default().to_string()),
            serde_parameters: same_keys(serde.and_then(|s| s.parameters()), &want.serde_parameters),
        }
    }
}

impl TableFingerprint {
    fn of_shape(shape: &TableShape) -> Self {
        Self {
            storage: StorageFingerprint::of_shape(&shape.storage),
            partition_keys: shape.partition_keys.clone(),
            parameters: shape.parameters.clone(),
        }
    }

    fn of_glue(table: &glue::Table, want: &TableShape) -> Self {
        Self {
            storage: StorageFingerprint::of_glue(table.storage_descriptor(), &want.storage),
            partition_keys: columns_of(table.partition_keys()),
            parameters: same_keys(table.parameters(), &want.parameters),
        }
    }
}

fn column(c: &Column) -> std::result::Result<glue::Column, aws_sdk_glue::error::BuildError> {
    glue::Column::builder()
        .name(&c.name)
        .r#type(&c.glue_type)
        .parameters(ARROW_TYPE, &c.arrow_type)
        .build()
}

fn storage_descriptor(
    s: &Storage,
) -> std::result::Result<glue::StorageDescriptor, aws_sdk_glue::error::BuildError> {
    let serde = glue::SerDeInfo::builder()
        .serialization_library(s.serde_library)
        .set_parameters(Some(s.serde_parameters.clone().into_iter().collect()))
        .build();
    Ok(glue::StorageDescriptor::builder()
        .set_columns(Some(
            s.columns
                .iter()
                .map(column)
                .collect::<std::result::Result<_, _>>()?,
        ))
        .location(&s.location)
        .input_format(s.input_format)
        .output_format(s.output_format)
        .compressed(false)
        .number_of_buckets(-1)
        .serde_info(serde)
        .stored_as_sub_directories(false)
        .set_parameters(Some(s.parameters.clone().into_iter().collect()))
        .build())
}

fn table_input(shape: &TableShape) -> std::result::Result<glue::TableInput, aws_sdk_glue::error::BuildError> {
    glue::TableInput::builder()
        .name(&shape.name)
        .table_type(shape.table_type)
        .set_parameters(Some(shape.parameters.clone().into_iter().collect()))
        .set_partition_keys(Some(
            shape
                .partition_keys
                .iter()
                .map(column)
                .collect::<std::result::Result<_, _>>()?,
        ))
        .storage_descriptor(storage_descriptor(&shape.storage)?)
        .build()
}

fn partition_input(
    p: &PartitionShape<'_>,
) -> std::result::Result<glue::PartitionInput, aws_sdk_glue::error::BuildError> {
    Ok(glue::PartitionInput::builder()
        .set_values(Some(p.values.clone()))
        .storage_descriptor(storage_descriptor(&p.storage)?)
        .set_parameters(Some(p.parameters.clone().into_iter().collect()))
        .build())
}

/// Glue's partitions of a table, by values, with what sluice compares.
async fn glue_partitions(
    client: &Client,
    t: &TableDef,
) -> Result<HashMap<Vec<String>, (StorageFingerprint, BTreeMap<String, String>)>> {
    let name = format!("{}.{}", t.database, t.name);
    let want = PartitionShape::all_of(t);
    let (want_storage, want_params) = match want.first() {
        Some(p) => (p.storage.clone(), p.parameters.clone()),
        None => (TableShape::of(t).storage, BTreeMap::new()),
    };
    let mut pages = client
        .get_partitions()
        .database_name(&t.database)
        .table_name(&t.name)
        .into_paginator()
        .send();
    let mut found = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| glue_error("GetPartitions", &name, e))?;
        for p in page.partitions() {
            let storage = StorageFingerprint::of_glue(p.storage_descriptor(), &want_storage);
            found.insert(
                p.values().to_vec(),
                (storage, same_keys(p.parameters(), &want_params)),
            );
        }
    }
    Ok(found)
}

fn partition_name(t: &TableDef, values: &[String]) -> String {
    let path: Vec<String> = t
        .partition_keys
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{}={v}", k.name))
        .collect();
    format!("{}.{}/{}", t.database, t.name, path.join("/"))
}

async fn sync_partitions(
    client: &Client,
    t: &TableDef,
    dry_run: bool,
    report: &mut SyncReport,
) -> Result<()> {
    if t.partition_keys.is_empty() {
        return Ok(());
    }
    let mut existing = glue_partitions(client, t).await?;
    let mut create = Vec::new();
    let mut update = Vec::new();
    for p in PartitionShape::all_of(t) {
        let wanted = (StorageFingerprint::of_shape(&p.storage), p.parameters.clone());
        match existing.remove(&p.values) {
            None => create.push(p),
            Some(have) if have == wanted => {}
            Some(_) => update.push(p),
        }
    }
    let mut delete: Vec<Vec<String>> = existing.into_keys().collect();
    delete.sort();
    for (action, list) in [("create", &create), ("update", &update)] {
        for p in list.iter() {
            report.push(action, "partition", partition_name(t, &p.values));
        }
    }
    for values in &delete {
        report.push("delete", "partition", partition_name(t, values));
    }
    if dry_run {
        return Ok(());
    }
    write_partitions(client, t, &create, &update).await?;
    delete_partitions(client, t, delete).await
}

async fn write_partitions(
    client: &Client,
    t: &TableDef,
    create: &[PartitionShape<'_>],
    update: &[PartitionShape<'_>],
) -> Result<()> {
    let name = format!("{}.{}", t.database, t.name);
    let inputs = |list: &[PartitionShape<'_>]| -> Result<Vec<glue::PartitionInput>> {
        list.iter()
            .map(|p| partition_input(p).map_err(|e| glue_error("PartitionInput", &name, e)))
            .collect()
    };
    for chunk in inputs(create)?.chunks(WRITE_BATCH) {
        let out = client
            .batch_create_partition()
            .database_name(&t.database)
            .table_name(&t.name)
            .set_partition_input_list(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| glue_error("BatchCreatePartition", &name, e))?;
        batch_errors(
            "BatchCreatePartition",
            &name,
            out.errors().iter().map(|e| e.error_detail()),
        )?;
    }
    let entries: Vec<glue::BatchUpdatePartitionRequestEntry> = update
        .iter()
        .zip(inputs(update)?)
        .map(|(p, input)| {
            glue::BatchUpdatePartitionRequestEntry::builder()
                .set_partition_value_list(Some(p.values.clone()))
                .partition_input(input)
                .build()
                .map_err(|e| glue_error("BatchUpdatePartition", &name, e))
        })
        .collect::<Result<_>>()?;
    for chunk in entries.chunks(WRITE_BATCH) {
        let out = client
            .batch_update_partition()
            .database_name(&t.database)
            .table_name(&t.name)
            .set_entries(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| glue_error("BatchUpdatePartition", &name, e))?;
        batch_errors(
            "BatchUpdatePartition",
            &name,
            out.errors().iter().map(|e| e.error_detail()),
        )?;
    }
    Ok(())
}

async fn delete_partitions(client: &Client, t: &TableDef, delete: Vec<Vec<String>>) -> Result<()> {
    let name = format!("{}.{}", t.database, t.name);
    let lists: Vec<glue::PartitionValueList> = delete
        .into_iter()
        .map(|values| {
            glue::PartitionValueList::builder()
                .set_values(Some(values))
                .build()
                .map_err(|e| glue_error("BatchDeletePartition", &name, e))
        })
        .collect::<Result<_>>()?;
    for chunk in lists.chunks(DELETE_BATCH) {
        let out = client
            .batch_delete_partition()
            .database_name(&t.database)
            .table_name(&t.name)
            .set_partitions_to_delete(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| glue_error("BatchDeletePartition", &name, e))?;
        batch_errors(
            "BatchDeletePartition",
            &name,
            out.errors().iter().map(|e| e.error_detail()),
        )?;
    }
    Ok(())
}

/// A batch call succeeds as a whole and reports failed entries inside its answer.
fn batch_errors<'a>(
    operation: &str,
    name: &str,
    errors: impl Iterator<Item = Option<&'a glue::ErrorDetail>>,
) -> Result<()> {
    let messages: Vec<String> = errors
        .map(|d| {
            let code = d.and_then(|d| d.error_code()).unwrap_or("error");
            let message = d.and_then(|d| d.error_message()).unwrap_or("");
            format!("{code}: {message}")
        })
        .collect();
    if messages.is_empty() {
        return Ok(());
    }
    Err(CatalogError::Glue {
        operation: operation.to_string(),
        name: name.to_string(),
        reason: format!("{} entries failed, first: {}", messages.len(), messages[0]),
    })
}
