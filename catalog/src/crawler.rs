//! `sluice crawl`: find the tables under a folder or prefix and record them in the catalog.
//!
//! ```text
//! URL ──list one level──> data files here, or `key=value/` folders? ──yes──> one table (this folder)
//!                                                                    ──no───> one table per sub-folder
//!     ──per table: list once, infer formats, schema, Hive partitions──> TableDef ──upsert──> catalog
//! ```
//!
//! A table crawled before is described incrementally: files whose size and time match the catalog
//! are not read again; new or changed files widen the recorded schema.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sluice_engine::lake::layout::{parse_partition_segment, unescape_path_name};
use sluice_engine::readers::{
    DescribeNotes, Exclude, Known, TableFiles, describe_location_incremental, file_compression_of,
    file_format_of, format_of, is_hidden,
};
use sluice_engine::{EngineError, Location, ReadOptions, SluiceSession};

use crate::error::{CatalogError, Result};
use crate::model::TableDef;
use crate::store::{Catalog, Change};

/// What a crawl did to one table.
#[derive(Debug, Clone, Serialize)]
pub struct CrawledTable {
    /// `database.table`.
    pub table: String,
    /// `created`, `updated`, `unchanged` or `skipped`.
    pub action: String,
    /// What changed, or why it was skipped.
    pub detail: String,
    /// Columns in the files.
    pub columns: usize,
    /// Distinct partitions.
    pub partitions: usize,
    /// Data files.
    pub files: usize,
    /// Files whose contents were read (new or changed since the last crawl).
    pub files_read: usize,
    /// Partitions that were not in the catalog before.
    pub partitions_added: usize,
    /// Partitions in the catalog that are gone.
    pub partitions_removed: usize,
    /// Inference decisions: sniffed dialects, widened columns, typed strings.
    pub notes: Vec<String>,
}

/// What a crawl found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrawlReport {
    /// One entry per table found, sorted by name.
    pub tables: Vec<CrawledTable>,
}

/// What a crawl does when a table's columns or partition keys changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaChangePolicy {
    /// Record the new schema (a new table version).
    #[default]
    Update,
    /// Keep the table as it was and report the change.
    Log,
    /// Stop the crawl with an error naming the table and the change.
    Fail,
}

/// How to crawl.
#[derive(Debug, Clone, Default)]
pub struct CrawlOptions {
    /// Glue-style exclude patterns, relative to the crawled URL.
    pub exclude: Vec<String>,
    /// Files sampled per table and format for schema inference (all when `None`).
    pub sample_files: Option<usize>,
    /// What to do with schema changes.
    pub on_schema_change: SchemaChangePolicy,
    /// Decide everything, change nothing: actions become `would-create` / `would-update`.
    pub dry_run: bool,
    /// What to do with catalog tables under the crawled folder whose data is gone.
    pub on_delete: DeletePolicy,
    /// Fail before changing anything when more tables than this would be created.
    pub max_new_tables: Option<usize>,
}

/// What a crawl does with a catalog table whose folder no longer holds data (Glue's
/// `DeleteBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeletePolicy {
    /// Keep it, marked deprecated (`sluice tables` shows when); found again, it is current again.
    #[default]
    Deprecate,
    /// Remove it from the catalog.
    Delete,
    /// Only report it.
    Log,
}

/// Tables described at once (each lists its folder and reads new files).
const TABLES_AT_ONCE: usize = 4;

/// Lower-case letters, digits and `_`, as Glue and Athena require; other characters become `_`.
pub fn table_name(folder: &str) -> String {
    let name: String = folder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("t_{name}")
    } else {
        name
    }
}

fn check_database(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(CatalogError::InvalidName {
            name: name.to_string(),
            reason: "database names use lower-case letters, digits and `_`".into(),
        });
    }
    Ok(())
}

/// Partitions in `new` but not `old`, and in `old` but not `new`.
fn partition_changes(old: Option<&TableDef>, new: &TableDef) -> (usize, usize) {
    let set = |d: &TableDef| -> std::collections::HashSet<Vec<Option<String>>> {
        d.files
            .iter()
            .filter(|f| !f.partition_values.is_empty())
            .map(|f| f.partition_values.clone())
            .collect()
    };
    let after = set(new);
    match old {
        None => (after.len(), 0),
        Some(old) => {
            let before = set(old);
            (
                after.difference(&before).count(),
                before.difference(&after).count(),
            )
        }
    }
}

/// One table to describe, with what the catalog knows of it.
struct Planned {
    name: String,
    location: Location,
    old: Option<TableDef>,
    known: Option<Known>,
    pins: std::collections::BTreeMap<String, String>,
}

fn plan_table(catalog: &Catalog, database: &str, name: String, location: Location) -> Result<Planned> {
    let old = catalog.find(database, &name)?;
    let known = match &old {
        Some(def) if def.location == location.as_folder().url().as_str() => {
            let (described, _) = def.to_described(catalog.path())?;
            Some(Known {
                file_schema: described.file_schema,
                files: def
                    .files
                    .iter()
                    .map(|f| (f.path.clone(), (f.size, f.last_modified.clone())))
                    .collect(),
                csv: described.csv,
                read_by_name: described.read_by_name,
                json_array: described.json_array,
                detected: def
                    .files
                    .iter()
                    .filter_map(|f| f.format.clone().map(|label| (f.path.clone(), label)))
                    .collect(),
            })
        }
        _ => None,
    };
    let pins = if old.is_some() {
        catalog.pins(database, &name)?
    } else {
        Default::default()
    };
    Ok(Planned {
        name,
        location,
        old,
        known,
        pins,
    })
}

/// A folder's description, or why it has none.
type Described = std::result::Result<(TableFiles, DescribeNotes), EngineError>;

/// Share of sibling folders that must fall in the largest schema cluster for Glue to merge them.
const PARTITION_THRESHOLD: f64 = 0.7;
/// Most distinct schema clusters sibling folders may have and still merge.
const MAX_CLUSTERS: usize = 5;

/// Glue's sibling rule: folders that hold the same format and compression at the same depth, whose
/// column-name sets fall into at most five clusters (a subset or superset joins a cluster) with the
/// largest holding more than 70% of them, are partitions of one table (`partition_0` = folder name).
/// Returns the decision's explanation: `Ok` when they merge, `Err` when each stays a table.
fn sibling_merge(described: &[(&str, &Described)]) -> std::result::Result<String, String> {
    let mut kinds = std::collections::BTreeSet::new();
    let mut depths = std::collections::BTreeSet::new();
    let mut sets: Vec<std::collections::BTreeSet<String>> = Vec::new();
    for (name, result) in described {
        let Ok((d, _)) = result.as_ref() else {
            return Err(format!("folder `{name}` could not be described"));
        };
        let root = d.location.as_folder().store_path();
        for f in &d.files {
            kinds.insert((file_format_of(f), file_compression_of(f)));
            depths.insert(
                f.meta
                    .location
                    .prefix_match(&root)
                    .map(|p| p.count())
                    .unwrap_or(0),
            );
        }
        sets.push(
            d.file_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .chain(d.partition_cols.iter().map(|(n, _)| n.clone()))
                .collect(),
        );
    }
    if kinds.len() != 1 {
        return Err(format!(
            "the sibling folders mix {} formats or compressions",
            kinds.len()
        ));
    }
    if depths.len() != 1 {
        return Err("the sibling folders hold files at different depths".into());
    }
    let mut clusters: Vec<(std::collections::BTreeSet<String>, usize)> = Vec::new();
    for set in sets {
        match clusters
            .iter_mut()
            .find(|(c, _)| set.is_subset(c) || c.is_subset(&set))
        {
            Some((c, n)) => {
                c.extend(set);
                *n += 1;
            }
            None => clusters.push((set, 1)),
        }
    }
    let largest = clusters.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let share = largest as f64 / described.len() as f64;
    if !(share > PARTITION_THRESHOLD && clusters.len() <= MAX_CLUSTERS) {
        return Err(format!(
            "only {:.0}% of the sibling folders share a schema ({} clusters; merging needs over 70% and at most 5)",
            share * 100.0,
            clusters.len()
        ));
    }
    {
        let names: Vec<&str> = described.iter().map(|(n, _)| *n).collect();
        Ok(format!(
            "sibling folders [{}] hold the same format at the same depth and {:.0}% share one schema ({} cluster(s)): one table partitioned by partition_0",
            names.join(", "),
            share * 100.0,
            clusters.len()
        ))
    }
}

/// Crawls `location` into `database`.
pub async fn crawl(
    session: &SluiceSession,
    catalog: &Catalog,
    location: &Location,
    database: &str,
    options: &CrawlOptions,
) -> Result<CrawlReport> {
    check_database(database)?;
    let root = location.as_folder();
    let exclude = if options.exclude.is_empty() {
        None
    } else {
        Some(Exclude::try_new(&root, &options.exclude)?)
    };
    let store = session.store_for(&root)?;
    let prefix = root.store_path();
    let prefix_opt = (!prefix.as_ref().is_empty()).then_some(&prefix);
    let listing = store
        .list_with_delimiter(prefix_opt)
        .await
        .map_err(|e| EngineError::store(root.original(), e))?;
    let files_here = listing
        .objects
        .iter()
        .filter_map(|m| m.location.filename())
        .any(|n| !is_hidden(n) && format_of(n).is_some());
    // Files whose names say no format count when there is nothing else (they are classified by content).
    let files_here = files_here
        || (listing.common_prefixes.is_empty()
            && listing
                .objects
                .iter()
                .filter_map(|m| m.location.filename())
                .any(|n| !is_hidden(n)));
    let folders: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter(|p| !exclude.as_ref().is_some_and(|e| e.matches(&format!("{p}/"))))
        .filter_map(|p| p.filename().map(str::to_string))
        .filter(|n| !is_hidden(n))
        .collect();
    if !files_here && folders.is_empty() {
        // Nothing listed under a folder: the location may not exist at all.
        let any: Option<_> = store
            .list(prefix_opt)
            .try_next()
            .await
            .map_err(|e| EngineError::store(root.original(), e))?;
        if any.is_none() {
            return Err(EngineError::NotFound {
                location: location.original().to_string(),
            }
            .into());
        }
    }
    let root_name = root
        .url()
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()).map(str::to_string))
        .or_else(|| root.url().host_str().map(str::to_string))
        .unwrap_or_else(|| "root".into());
    let root_name = table_name(&unescape_path_name(&root_name));
    // A folder merged into one table by an earlier crawl stays one table: describe it directly
    // (reading only changed files) instead of judging its sub-folders again.
    let merged_before = catalog.find(database, &root_name)?.is_some_and(|t| {
        t.location == root.url().as_str() && t.partition_keys.first().is_some_and(|k| k.name == "partition_0")
    });
    let siblings =
        !(files_here || folders.iter().any(|f| parse_partition_segment(f).is_some()) || merged_before);
    let tables: Vec<(String, Location)> = if siblings {
        folders
            .iter()
            .map(|f| Ok((table_name(f), root.join(&format!("{f}/"))?)))
            .collect::<Result<_>>()?
    } else {
        vec![(root_name.clone(), root.clone())]
    };
    let state = session.ctx().state();
    let crawl_options = options;
    let options = ReadOptions {
        exclude,
        sample_files: crawl_options.sample_files,
        unnamed_partitions: true,
        count_rows: true,
        ..ReadOptions::default()
    };
    let mut planned = Vec::new();
    for (name, table_location) in tables {
        planned.push(plan_table(catalog, database, name, table_location)?);
    }
    let state_ref = &state;
    let options_ref = &options;
    let mut described: Vec<_> = futures::stream::iter(planned)
        .map(|p| async move {
            let result =
                describe_location_incremental(state_ref, &p.location, options_ref, p.known.as_ref()).await;
            (p.name, p.old, p.pins, result)
        })
        .buffered(TABLES_AT_ONCE)
        .collect()
        .await;
    // Glue's rule for sibling folders: similar enough, they are partitions of one table.
    if siblings && described.len() >= 2 {
        let results: Vec<_> = described
            .iter()
            .map(|(name, _, _, r)| (name.as_str(), r))
            .collect();
        let decision = sibling_merge(&results);
        if let Err(reason) = &decision {
            for (_, _, _, result) in &mut described {
                if let Ok((_, notes)) = result {
                    notes.notes.insert(0, format!("a table of its own: {reason}"));
                }
            }
        }
        if let Ok(note) = decision {
            let p = plan_table(catalog, database, root_name, root.clone())?;
            let result = describe_location_incremental(&state, &root, &options, p.known.as_ref())
                .await
                .map(|(d, mut n)| {
                    n.notes.insert(0, note);
                    (d, n)
                });
            described = vec![(p.name, p.old, p.pins, result)];
        }
    }
    if let Some(max) = crawl_options.max_new_tables {
        let new: Vec<&str> = described
            .iter()
            .filter(|(_, old, _, r)| old.is_none() && r.is_ok())
            .map(|(name, ..)| name.as_str())
            .collect();
        if new.len() > max {
            return Err(CatalogError::GuardRail {
                reason: format!(
                    "the crawl would create {} new tables ({}), more than --max-new-tables {max}; check the folder layout or raise the limit",
                    new.len(),
                    new.iter().take(10).copied().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let mut report = CrawlReport::default();
    let mut found = std::collections::HashSet::new();
    for (name, old, pins, result) in described {
        let qualified = format!("{database}.{name}");
        let (mut described, mut notes) = match result {
            Ok(d) => d,
            Err(e @ (EngineError::NoDataFiles { .. } | EngineError::NotFound { .. })) => {
                report.tables.push(CrawledTable {
                    table: qualified,
                    action: "skipped".into(),
                    detail: e.to_string(),
                    columns: 0,
                    partitions: 0,
                    files: 0,
                    files_read: 0,
                    partitions_added: 0,
                    partitions_removed: 0,
                    notes: Vec::new(),
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        found.insert(name.clone());
        if !pins.is_empty() {
            let mut fields: Vec<arrow::datatypes::Field> = described
                .file_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            for (column, ty) in &pins {
                if let Some(f) = fields.iter_mut().find(|f| f.name() == column) {
                    let pinned = crate::lifecycle::parse_type(ty)?;
                    if f.data_type() != &pinned {
                        notes.notes.push(format!(
                            "column `{column}` pinned to {ty} (files suggest {})",
                            f.data_type()
                        ));
                    }
                    *f = arrow::datatypes::Field::new(column, pinned, true);
                }
            }
            described.file_schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
        }
        let mut def = TableDef::from_described(database, &name, &described);
        if let Some(old) = &old {
            let before: std::collections::HashMap<&str, &crate::model::FileEntry> =
                old.files.iter().map(|f| (f.path.as_str(), f)).collect();
            for f in def.files.iter_mut().filter(|f| f.rows.is_none()) {
                if let Some(prev) = before.get(f.path.as_str())
                    && prev.size == f.size
                    && prev.last_modified == f.last_modified
                {
                    f.rows = prev.rows;
                }
            }
        }
        let (partitions_added, partitions_removed) = partition_changes(old.as_ref(), &def);
        let schema_change = old.as_ref().and_then(|old| def.schema_diff(old));
        match (crawl_options.on_schema_change, schema_change) {
            (SchemaChangePolicy::Fail, Some(diff)) => {
                return Err(CatalogError::SchemaChanged {
                    table: qualified,
                    diff,
                });
            }
            (SchemaChangePolicy::Log, Some(diff)) => {
                tracing::warn!(table = %qualified, %diff, "schema change logged, table left as it was");
                report.tables.push(CrawledTable {
                    table: qualified,
                    action: "schema-change-logged".into(),
                    detail: diff,
                    columns: def.columns.len(),
                    partitions: def.partition_count(),
                    files: def.files.len(),
                    files_read: notes.files_read,
                    partitions_added: 0,
                    partitions_removed: 0,
                    notes: notes.notes,
                });
                continue;
            }
            _ => {}
        }
        let (action, mut detail) = if crawl_options.dry_run {
            match old.as_ref().map(|o| def.diff(o)) {
                None => ("would-create", String::new()),
                Some(Some(diff)) => ("would-update", diff),
                Some(None) => ("unchanged", String::new()),
            }
        } else {
            match catalog.upsert(&def)? {
                Change::Created => ("created", String::new()),
                Change::Updated(diff) => ("updated", diff),
                Change::Unchanged => ("unchanged", String::new()),
            }
        };
        if !crawl_options.dry_run && old.is_some() && catalog.set_deprecated(database, &name, false)? {
            detail = [detail.as_str(), "found again: no longer deprecated"]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("; ");
        }
        tracing::info!(table = %qualified, action, "crawled");
        report.tables.push(CrawledTable {
            table: qualified,
            action: action.into(),
            detail,
            columns: def.columns.len(),
            partitions: def.partition_count(),
            files: def.files.len(),
            files_read: notes.files_read,
            partitions_added,
            partitions_removed,
            notes: notes.notes,
        });
    }
    // Tables recorded under this folder that the crawl no longer finds.
    let root_url = root.url().to_string();
    for gone in catalog.tables(Some(database))? {
        if !gone.location.starts_with(&root_url) || found.contains(&gone.name) {
            continue;
        }
        let qualified = format!("{database}.{}", gone.name);
        let action = match (crawl_options.on_delete, crawl_options.dry_run) {
            (DeletePolicy::Log, _) => "missing",
            (DeletePolicy::Deprecate, true) => "would-deprecate",
            (DeletePolicy::Delete, true) => "would-delete",
            (DeletePolicy::Deprecate, false) => {
                catalog.set_deprecated(database, &gone.name, true)?;
                "deprecated"
            }
            (DeletePolicy::Delete, false) => {
                catalog.drop_table(database, &gone.name)?;
                "deleted"
            }
        };
        tracing::warn!(table = %qualified, action, "the crawl found no data for a catalog table");
        report.tables.retain(|t| t.table != qualified);
        report.tables.push(CrawledTable {
            table: qualified,
            action: action.into(),
            detail: format!("no data under {}", gone.location),
            columns: gone.columns,
            partitions: gone.partitions,
            files: gone.objects,
            files_read: 0,
            partitions_added: 0,
            partitions_removed: 0,
            notes: Vec::new(),
        });
    }
    report.tables.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Orders", "orders")]
    #[case("raw-events 2026", "raw_events_2026")]
    #[case("2026_sales", "t_2026_sales")]
    fn glue_table_names(#[case] folder: &str, #[case] name: &str) {
        assert_eq!(table_name(folder), name);
    }
}
