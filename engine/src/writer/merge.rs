//! Merge (upsert) by key: incoming rows whose keys the table holds replace those rows, new keys are
//! added, all in one Delta commit that rewrites only the files holding a matching key.
//!
//! ```text
//! stage:   the incoming rows are written as new files, like an append (the query runs once)
//! check:   two incoming rows with one key ──> refused (which should win?)
//! find:    live files (only those of the partitions the rows touch when the partition columns are
//!          among the keys, so no key can sit in another partition) ──semi-join on the keys──> matched
//! rewrite: the matched files' rows whose keys are not incoming ──> new files of the same run
//! commit:  add (incoming + rewritten), remove (matched), one version; if another writer changed
//!          the touched partitions meanwhile the merge fails instead of losing either's rows
//! ```
//!
//! Keys compare with SQL `=`, so a NULL key never matches and its row is inserted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type, Schema};
use datafusion::prelude::SessionContext;
use object_store::{ObjectMeta, ObjectStore};

use super::{PartitionedWriter, PendingCommit, Staged, WriteMode, WriteOptions, WrittenFile};
use crate::error::{EngineError, Result};
use crate::lake::LiveFile;
use crate::readers::{DataFile, ReadOptions, TableFiles, build_table, describe_delta};
use crate::stores::Location;

/// The column that numbers candidate files while they are matched.
const FILE_COLUMN: &str = "__sluice_file";

/// What a merge's commit removes, and the partitions whose files it read: the commit goes ahead
/// only while those partitions still hold exactly `candidates`.
#[derive(Debug, Clone)]
pub(crate) struct MergeCheck {
    /// Live files (relative paths) in the touched partitions when the merge planned.
    pub(crate) candidates: BTreeSet<String>,
    /// Partition values the incoming rows touched; `None` when the merge read the whole table.
    pub(crate) touched: Option<BTreeSet<BTreeMap<String, Option<String>>>>,
    /// The matched files, removed by the commit.
    pub(crate) removed: Vec<LiveFile>,
    /// Rows of the table the incoming rows replaced.
    pub(crate) rows_updated: u64,
    /// Set when the rewrite is a compaction: the rows stay the same (`dataChange: false`).
    pub(crate) compaction: Option<Compaction>,
}

/// What an OPTIMIZE commit records about itself.
#[derive(Debug, Clone)]
pub(crate) struct Compaction {
    /// The `--where` the partitions were chosen with.
    pub(crate) predicate: Option<String>,
    /// The target file size in bytes.
    pub(crate) target_size: u64,
}

impl MergeCheck {
    /// True when `file` lies in a partition the merge touched.
    pub(crate) fn touches(&self, file: &LiveFile) -> bool {
        self.touched
            .as_ref()
            .is_none_or(|t| t.contains(&file.partition_values))
    }
}

/// Stages a merge of `plan`'s rows into `dest` on `merge_keys` (see the module docs).
pub(crate) async fn stage_merge(
    ctx: &SessionContext,
    store: Arc<dyn ObjectStore>,
    dest: &Location,
    plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    options: WriteOptions,
    run_id: &str,
) -> Result<Staged> {
    let keys = options.merge_keys.clone();
    if keys.is_empty() {
        return Err(EngineError::InvalidOption {
            option: "merge-keys".into(),
            reason: "mode merge needs the key columns that identify a row (e.g. `--merge-keys id`, `merge_keys = [\"id\"]`)".into(),
        });
    }
    let schema = plan.schema();
    for key in &keys {
        schema
            .index_of(key)
            .map_err(|_| EngineError::unknown_column("merge-keys", key, &schema))?;
    }
    let writer = PartitionedWriter::new(Arc::clone(&store), dest.clone(), options.clone(), run_id);
    let pending = match writer.stage(plan, ctx.task_ctx()).await? {
        Staged::Pending(pending) => pending,
        committed => return Ok(committed),
    };
    match plan_merge(ctx, &store, dest, &pending, &keys, options, run_id).await {
        Ok(Some((check, rewritten))) => Ok(Staged::Pending(pending.with_merge(check, rewritten))),
        Ok(None) => Ok(Staged::Pending(pending)),
        Err(e) => {
            pending.abort().await;
            Err(e)
        }
    }
}

/// Finds the files the incoming rows replace rows of and writes what those files keep; `None`
/// when nothing matches (the merge is an insert).
async fn plan_merge(
    ctx: &SessionContext,
    store: &Arc<dyn ObjectStore>,
    dest: &Location,
    pending: &PendingCommit,
    keys: &[String],
    options: WriteOptions,
    run_id: &str,
) -> Result<Option<(MergeCheck, Option<PendingCommit>)>> {
    let names = TempNames::new(run_id);
    let incoming = incoming_table(dest, pending, options.keep_partition_columns)?;
    ctx.register_table(names.incoming.as_str(), Arc::new(incoming))?;
    let result = async {
        refuse_duplicate_keys(ctx, &names, keys, dest).await?;
        let Some(table) = describe_delta(store, dest, super::AsOf::Latest).await? else {
            return Ok(None);
        };
        let confined = table.partition_cols.iter().all(|(c, _)| keys.contains(c));
        let touched: Option<BTreeSet<_>> = confined.then(|| {
            pending
                .files
                .iter()
                .map(|f| partition_map(&pending.partition_by, &f.partition_values))
                .collect()
        });
        let candidates = candidates(&table, touched.as_ref());
        if candidates.files.is_empty() {
            return Ok(None);
        }
        ctx.register_table(
            names.table.as_str(),
            Arc::new(build_table(&candidates, &ReadOptions::default())?),
        )?;
        let matched = matched_files(ctx, &names, keys).await?;
        if matched.is_empty() {
            return Ok(None);
        }
        let rewritten = rewrite(ctx, &names, keys, &matched, dest, options, run_id).await?;
        let check = merge_check(&table, &candidates, &matched, touched, rewritten.as_ref());
        Ok(Some((check, rewritten)))
    }
    .await;
    for name in [&names.incoming, &names.table] {
        let _ = ctx.deregister_table(name.as_str());
    }
    result
}

struct TempNames {
    incoming: String,
    table: String,
}

impl TempNames {
    fn new(run_id: &str) -> Self {
        let tag: String = run_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            incoming: format!("__sluice_merge_in_{tag}"),
            table: format!("__sluice_merge_old_{tag}"),
        }
    }
}

fn partition_map(columns: &[String], values: &[Option<String>]) -> BTreeMap<String, Option<String>> {
    columns.iter().cloned().zip(values.iter().cloned()).collect()
}

/// The staged incoming files as a table.
fn incoming_table(dest: &Location, pending: &PendingCommit, keep: bool) -> Result<crate::readers::LakeTable> {
    let schema = &pending.schema;
    let partition_cols: Vec<(String, DataType)> = pending
        .partition_by
        .iter()
        .map(|c| Ok((c.clone(), schema.field_with_name(c)?.data_type().clone())))
        .collect::<std::result::Result<_, arrow::error::ArrowError>>()
        .map_err(|e| EngineError::DataFusion(e.into()))?;
    let in_files = |name: &String| !pending.partition_by.contains(name) || keep;
    let file_schema = Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| in_files(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let root = dest.store_path();
    let files = pending
        .files
        .iter()
        .map(|f| data_file(&root, f, &pending.partition_by))
        .collect::<Result<Vec<_>>>()?;
    let described = TableFiles {
        location: dest.as_folder(),
        file_schema: Arc::new(file_schema),
        partition_cols,
        files,
        csv: Default::default(),
        read_by_name: false,
        json_array: false,
        delta: false,
    };
    build_table(&described, &ReadOptions::default())
}

fn data_file(root: &object_store::path::Path, f: &WrittenFile, partition_by: &[String]) -> Result<DataFile> {
    Ok(DataFile {
        meta: ObjectMeta {
            location: crate::lake::log::child_path(root, &f.path)?,
            last_modified: chrono::Utc::now(),
            size: f.bytes,
            e_tag: None,
            version: None,
        },
        partition: partition_by
            .iter()
            .cloned()
            .zip(f.partition_values.iter().cloned())
            .collect(),
        rows: Some(f.rows),
        detected: None,
    })
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn key_list(keys: &[String], alias: &str) -> String {
    keys.iter()
        .map(|k| format!("{alias}.{}", quote(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn keys_equal(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("n.{q} = o.{q}", q = quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Two incoming rows with the same key make a merge ambiguous.
async fn refuse_duplicate_keys(
    ctx: &SessionContext,
    names: &TempNames,
    keys: &[String],
    dest: &Location,
) -> Result<()> {
    let sql = format!(
        "SELECT {list}, count(*) AS n FROM {t} AS i GROUP BY {list} HAVING count(*) > 1 LIMIT 1",
        list = key_list(keys, "i"),
        t = quote(&names.incoming)
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(());
    };
    let shown: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let value = arrow::util::display::array_value_to_string(batch.column(i), 0).unwrap_or_default();
            format!("{k}={value}")
        })
        .collect();
    let count = batch.column(keys.len()).as_primitive::<Int64Type>().value(0);
    Err(EngineError::InvalidOption {
        option: "merge-keys".into(),
        reason: format!(
            "the rows merged into `{}` hold {} {count} times; a merge takes one row per key: keep one in the query (e.g. with row_number() over the key)",
            dest.original(),
            shown.join(", ")
        ),
    })
}

/// The table's live files (in the touched partitions, when given), each numbered in [`FILE_COLUMN`].
fn candidates(
    table: &TableFiles,
    touched: Option<&BTreeSet<BTreeMap<String, Option<String>>>>,
) -> TableFiles {
    let mut partition_cols = table.partition_cols.clone();
    partition_cols.push((FILE_COLUMN.to_string(), DataType::Int64));
    let files = table
        .files
        .iter()
        .filter(|f| touched.is_none_or(|t| t.contains(&f.partition.iter().cloned().collect())))
        .enumerate()
        .map(|(i, f)| {
            let mut f = f.clone();
            f.partition.push((FILE_COLUMN.to_string(), Some(i.to_string())));
            f
        })
        .collect();
    TableFiles {
        partition_cols,
        files,
        ..table.clone()
    }
}

/// Numbers of the candidate files that hold an incoming key.
async fn matched_files(ctx: &SessionContext, names: &TempNames, keys: &[String]) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT DISTINCT o.{f} FROM {t} AS o WHERE EXISTS (SELECT 1 FROM {i} AS n WHERE {eq}) ORDER BY 1",
        f = quote(FILE_COLUMN),
        t = quote(&names.table),
        i = quote(&names.incoming),
        eq = keys_equal(keys)
    );
    let mut matched = Vec::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let column = batch.column(0).as_primitive::<Int64Type>();
        matched.extend(
            (0..column.len())
                .filter(|&i| column.is_valid(i))
                .map(|i| column.value(i)),
        );
    }
    Ok(matched)
}

/// Writes the rows of the matched files whose keys are not incoming, as files of `<run_id>-m`.
async fn rewrite(
    ctx: &SessionContext,
    names: &TempNames,
    keys: &[String],
    matched: &[i64],
    dest: &Location,
    options: WriteOptions,
    run_id: &str,
) -> Result<Option<PendingCommit>> {
    let table = ctx.table(names.table.as_str()).await?;
    let columns: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != FILE_COLUMN)
        .map(|n| format!("o.{}", quote(&n)))
        .collect();
    let sql = format!(
        "SELECT {cols} FROM {t} AS o WHERE o.{f} IN ({list}) AND NOT EXISTS (SELECT 1 FROM {i} AS n WHERE {eq})",
        cols = columns.join(", "),
        t = quote(&names.table),
        f = quote(FILE_COLUMN),
        list = matched.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
        i = quote(&names.incoming),
        eq = keys_equal(keys)
    );
    let plan = ctx.sql(&sql).await?.create_physical_plan().await?;
    let store = ctx.runtime_env().object_store(dest.listing_url()?)?;
    let writer = PartitionedWriter::new(
        store,
        dest.clone(),
        options.with_mode(WriteMode::Append),
        format!("{run_id}-m"),
    );
    match writer.stage(plan, ctx.task_ctx()).await? {
        Staged::Pending(p) if p.files.is_empty() => {
            p.release().await;
            Ok(None)
        }
        Staged::Pending(p) => Ok(Some(p)),
        Staged::Committed(_) => Err(EngineError::DataFusion(
            datafusion::error::DataFusionError::Internal("a merge's rewrite was committed on its own".into()),
        )),
    }
}

fn merge_check(
    table: &TableFiles,
    candidates: &TableFiles,
    matched: &[i64],
    touched: Option<BTreeSet<BTreeMap<String, Option<String>>>>,
    rewritten: Option<&PendingCommit>,
) -> MergeCheck {
    let root = table.location.store_path();
    let relative = |f: &DataFile| crate::lake::log::relative_to(&root, &f.meta.location);
    let removed: Vec<LiveFile> = matched
        .iter()
        .filter_map(|&i| candidates.files.get(usize::try_from(i).ok()?))
        .map(|f| LiveFile {
            path: relative(f),
            size: f.meta.size,
            partition_values: f
                .partition
                .iter()
                .filter(|(k, _)| k != FILE_COLUMN)
                .cloned()
                .collect(),
            rows: f.rows,
            modified_ms: None,
        })
        .collect();
    let kept: u64 = rewritten.map_or(0, |p| p.files.iter().map(|f| f.rows).sum());
    let before: u64 = removed.iter().filter_map(|f| f.rows).sum();
    MergeCheck {
        candidates: candidates.files.iter().map(relative).collect(),
        touched,
        removed,
        rows_updated: before.saturating_sub(kept),
        compaction: None,
    }
}
