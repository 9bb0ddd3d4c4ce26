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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use datafusion::execution::SessionState;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sluice_engine::lake::layout::{parse_partition_segment, unescape_path_name};
use sluice_engine::readers::{
    DescribeNotes, Exclude, Known, TableFiles, describe_location_incremental, file_compression_of,
    file_format_of, format_of, is_hidden,
};
use sluice_engine::{EngineError, Location, ReadOptions, SluiceSession};

use crate::error::{CatalogError, Result};
use crate::model::{FileEntry, TableDef};
use crate::store::{Catalog, Change};

/// What a crawl did to one table.
#[derive(Debug, Clone, Serialize)]
pub struct CrawledTable {
    /// `database.table`.
    pub table: String,
    /// What the crawl did.
    pub action: CrawlAction,
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

/// What a crawl did to one table; shown and serialized in kebab case (`would-create`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrawlAction {
    /// A new table was recorded.
    Created,
    /// The table's recorded definition changed.
    Updated,
    /// The table is as recorded.
    Unchanged,
    /// The folder holds no data files.
    Skipped,
    /// The schema changed and `on_schema_change` is `log`: the table was left as it was.
    SchemaChangeLogged,
    /// Dry run: the table would be created.
    WouldCreate,
    /// Dry run: the table would be updated.
    WouldUpdate,
    /// A recorded table's data is gone, and `on_delete` only reports it.
    Missing,
    /// Dry run: a table whose data is gone would be deprecated.
    WouldDeprecate,
    /// Dry run: a table whose data is gone would be deleted.
    WouldDelete,
    /// A table whose data is gone was marked deprecated.
    Deprecated,
    /// A table whose data is gone was removed from the catalog.
    Deleted,
}

impl CrawlAction {
    /// The action as shown: `created`, `would-create`, `schema-change-logged`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
            Self::SchemaChangeLogged => "schema-change-logged",
            Self::WouldCreate => "would-create",
            Self::WouldUpdate => "would-update",
            Self::Missing => "missing",
            Self::WouldDeprecate => "would-deprecate",
            Self::WouldDelete => "would-delete",
            Self::Deprecated => "deprecated",
            Self::Deleted => "deleted",
        }
    }
}

impl std::fmt::Display for CrawlAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for CrawlAction {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl CrawledTable {
    /// A table as described and recorded (partition changes zero until set).
    fn of(table: String, action: CrawlAction, detail: String, def: &TableDef, notes: DescribeNotes) -> Self {
        Self {
            table,
            action,
            detail,
            columns: def.columns.len(),
            partitions: def.partition_count(),
            files: def.files.len(),
            files_read: notes.files_read,
            partitions_added: 0,
            partitions_removed: 0,
            notes: notes.notes,
        }
    }

    /// A table the crawl found no data for.
    fn without_data(table: String, action: CrawlAction, detail: String) -> Self {
        Self {
            table,
            action,
            detail,
            columns: 0,
            partitions: 0,
            files: 0,
            files_read: 0,
            partitions_added: 0,
            partitions_removed: 0,
            notes: Vec::new(),
        }
    }
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
    pins: BTreeMap<String, String>,
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
///
/// ```text
/// survey (list one level: a table here, or one per sub-folder) ──> describe each (concurrently)
///   ──> Glue's sibling rule (similar sub-folders: one table) ──> --max-new-tables
///   ──> record each (pins, row counts kept, schema-change policy, upsert) ──> tables now missing
/// ```
pub async fn crawl(
    session: &SluiceSession,
    catalog: &Catalog,
    location: &Location,
    database: &str,
    options: &CrawlOptions,
) -> Result<CrawlReport> {
    check_database(database)?;
    let run = CrawlRun::new(session, catalog, location, database, options)?;
    let survey = run.survey().await?;
    let described = run.describe_tables(survey).await?;
    run.check_new_tables(&described)?;
    let mut report = CrawlReport::default();
    let mut found = HashSet::new();
    for table in described {
        let name = table.name.clone();
        let entry = run.record(table)?;
        if entry.action != CrawlAction::Skipped {
            found.insert(name);
        }
        report.tables.push(entry);
    }
    run.missing_tables(&found, &mut report)?;
    report.tables.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(report)
}

/// One crawl: where, into which database, and how.
struct CrawlRun<'a> {
    session: &'a SluiceSession,
    catalog: &'a Catalog,
    location: &'a Location,
    database: &'a str,
    options: &'a CrawlOptions,
    /// The crawled URL as a folder.
    root: Location,
    /// How tables are described: the excludes, the sample size, every folder a partition.
    read: ReadOptions,
    state: SessionState,
}

/// What the top level of the crawled folder says about its tables.
struct Survey {
    /// The table name of the crawled folder itself.
    root_name: String,
    /// Each sub-folder may be a table of its own (else the folder is one table).
    siblings: bool,
    /// The tables to describe, by name.
    tables: Vec<(String, Location)>,
}

/// What the top level of the crawled folder holds.
struct TopLevel {
    /// Data files directly in the folder.
    files_here: bool,
    /// Sub-folders that are neither hidden nor excluded.
    folders: Vec<String>,
}

/// One table described, with what the catalog knew of it.
struct DescribedTable {
    name: String,
    old: Option<TableDef>,
    pins: BTreeMap<String, String>,
    result: Described,
}

impl<'a> CrawlRun<'a> {
    fn new(
        session: &'a SluiceSession,
        catalog: &'a Catalog,
        location: &'a Location,
        database: &'a str,
        options: &'a CrawlOptions,
    ) -> Result<Self> {
        let root = location.as_folder();
        let exclude = if options.exclude.is_empty() {
            None
        } else {
            Some(Exclude::try_new(&root, &options.exclude)?)
        };
        let read = ReadOptions {
            exclude,
            sample_files: options.sample_files,
            unnamed_partitions: true,
            count_rows: true,
            ..ReadOptions::default()
        };
        Ok(Self {
            session,
            catalog,
            location,
            database,
            options,
            root,
            read,
            state: session.ctx().state(),
        })
    }

    /// Decides from one listing level which tables there are: the folder itself when it holds data
    /// files or `key=value/` folders (or was merged before), else one per sub-folder.
    async fn survey(&self) -> Result<Survey> {
        let top = self.list_top().await?;
        let root_name = table_name(&unescape_path_name(&self.root_folder_name()));
        // A folder merged into one table by an earlier crawl stays one table: describe it directly
        // (reading only changed files) instead of judging its sub-folders again.
        let merged_before = self.catalog.find(self.database, &root_name)?.is_some_and(|t| {
            t.location == self.root.url().as_str()
                && t.partition_keys.first().is_some_and(|k| k.name == "partition_0")
        });
        let hive = top.folders.iter().any(|f| parse_partition_segment(f).is_some());
        let siblings = !(top.files_here || hive || merged_before);
        let tables = if siblings {
            top.folders
                .iter()
                .map(|f| Ok((table_name(f), self.root.join(&format!("{f}/"))?)))
                .collect::<Result<_>>()?
        } else {
            vec![(root_name.clone(), self.root.clone())]
        };
        Ok(Survey {
            root_name,
            siblings,
            tables,
        })
    }

    /// Lists the folder one level deep; a folder with nothing below it at all does not exist.
    async fn list_top(&self) -> Result<TopLevel> {
        let root = &self.root;
        let store = self.session.store_for(root)?;
        let prefix = root.store_path();
        let prefix_opt = (!prefix.as_ref().is_empty()).then_some(&prefix);
        let listing = store
            .list_with_delimiter(prefix_opt)
            .await
            .map_err(|e| EngineError::store(root.original(), e))?;
        let names = || {
            listing
                .objects
                .iter()
                .filter_map(|m| m.location.filename())
                .filter(|n| !is_hidden(n))
        };
        // Files whose names say no format count when there is nothing else (they are classified
        // by content).
        let files_here = names().any(|n| format_of(n).is_some())
            || (listing.common_prefixes.is_empty() && names().next().is_some());
        let exclude = self.read.exclude.as_ref();
        let folders: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter(|p| !exclude.is_some_and(|e| e.matches(&format!("{p}/"))))
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| !is_hidden(n))
            .collect();
        if !files_here && folders.is_empty() {
            let any: Option<_> = store
                .list(prefix_opt)
                .try_next()
                .await
                .map_err(|e| EngineError::store(root.original(), e))?;
            if any.is_none() {
                return Err(EngineError::NotFound {
                    location: self.location.original().to_string(),
                }
                .into());
            }
        }
        Ok(TopLevel { files_here, folders })
    }

    /// The last non-empty segment of the crawled URL (its bucket for a bucket root).
    fn root_folder_name(&self) -> String {
        let url = self.root.url();
        url.path_segments()
            .and_then(|mut s| s.rfind(|p| !p.is_empty()).map(str::to_string))
            .or_else(|| url.host_str().map(str::to_string))
            .unwrap_or_else(|| "root".into())
    }

    /// Describes every table the survey found, a few at once, then applies Glue's sibling rule.
    async fn describe_tables(&self, survey: Survey) -> Result<Vec<DescribedTable>> {
        let mut planned = Vec::new();
        for (name, table_location) in survey.tables {
            planned.push(plan_table(self.catalog, self.database, name, table_location)?);
        }
        let described: Vec<DescribedTable> = futures::stream::iter(planned)
            .map(|p| self.describe(p))
            .buffered(TABLES_AT_ONCE)
            .collect()
            .await;
        if survey.siblings && described.len() >= 2 {
            return self.merge_siblings(described, survey.root_name).await;
        }
        Ok(described)
    }

    /// Describes one planned table, reading only what the catalog does not know.
    async fn describe(&self, p: Planned) -> DescribedTable {
        let result =
            describe_location_incremental(&self.state, &p.location, &self.read, p.known.as_ref()).await;
        DescribedTable {
            name: p.name,
            old: p.old,
            pins: p.pins,
            result,
        }
    }

    /// Glue's rule for sibling folders: similar enough, they are partitions of one table (the
    /// crawled folder, described again as a whole); else each notes why it stays a table.
    async fn merge_siblings(
        &self,
        mut described: Vec<DescribedTable>,
        root_name: String,
    ) -> Result<Vec<DescribedTable>> {
        let results: Vec<_> = described.iter().map(|t| (t.name.as_str(), &t.result)).collect();
        let note = match sibling_merge(&results) {
            Ok(note) => note,
            Err(reason) => {
                for (_, notes) in described.iter_mut().filter_map(|t| t.result.as_mut().ok()) {
                    notes.notes.insert(0, format!("a table of its own: {reason}"));
                }
                return Ok(described);
            }
        };
        let p = plan_table(self.catalog, self.database, root_name, self.root.clone())?;
        let mut merged = self.describe(p).await;
        if let Ok((_, notes)) = &mut merged.result {
            notes.notes.insert(0, note);
        }
        Ok(vec![merged])
    }

    /// Refuses, before anything changes, a crawl that would create more tables than allowed.
    fn check_new_tables(&self, described: &[DescribedTable]) -> Result<()> {
        let Some(max) = self.options.max_new_tables else {
            return Ok(());
        };
        let new: Vec<&str> = described
            .iter()
            .filter(|t| t.old.is_none() && t.result.is_ok())
            .map(|t| t.name.as_str())
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
        Ok(())
    }

    /// Records one described table in the catalog (or, in a dry run, says what it would do); a
    /// folder without data is [`CrawlAction::Skipped`].
    fn record(&self, table: DescribedTable) -> Result<CrawledTable> {
        let qualified = format!("{}.{}", self.database, table.name);
        let (mut described, mut notes) = match table.result {
            Ok(d) => d,
            Err(e @ (EngineError::NoDataFiles { .. } | EngineError::NotFound { .. })) => {
                return Ok(CrawledTable::without_data(
                    qualified,
                    CrawlAction::Skipped,
                    e.to_string(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        apply_pins(&mut described, &table.pins, &mut notes)?;
        let mut def = TableDef::from_described(self.database, &table.name, &described);
        if let Some(old) = &table.old {
            keep_row_counts(&mut def, old);
        }
        let (partitions_added, partitions_removed) = partition_changes(table.old.as_ref(), &def);
        if let Some(diff) = table.old.as_ref().and_then(|old| def.schema_diff(old)) {
            match self.options.on_schema_change {
                SchemaChangePolicy::Fail => {
                    return Err(CatalogError::SchemaChanged {
                        table: qualified,
                        diff,
                    });
                }
                SchemaChangePolicy::Log => {
                    tracing::warn!(table = %qualified, %diff, "schema change logged, table left as it was");
                    let entry =
                        CrawledTable::of(qualified, CrawlAction::SchemaChangeLogged, diff, &def, notes);
                    return Ok(entry);
                }
                SchemaChangePolicy::Update => {}
            }
        }
        let (action, detail) = self.write(&def, table.old.as_ref())?;
        tracing::info!(table = %qualified, action = action.as_str(), "crawled");
        let mut entry = CrawledTable::of(qualified, action, detail, &def, notes);
        entry.partitions_added = partitions_added;
        entry.partitions_removed = partitions_removed;
        Ok(entry)
    }

    /// Upserts the table (a table found again is no longer deprecated); a dry run only compares.
    fn write(&self, def: &TableDef, old: Option<&TableDef>) -> Result<(CrawlAction, String)> {
        if self.options.dry_run {
            return Ok(match old.map(|o| def.diff(o)) {
                None => (CrawlAction::WouldCreate, String::new()),
                Some(Some(diff)) => (CrawlAction::WouldUpdate, diff),
                Some(None) => (CrawlAction::Unchanged, String::new()),
            });
        }
        let (action, mut detail) = match self.catalog.upsert(def)? {
            Change::Created => (CrawlAction::Created, String::new()),
            Change::Updated(diff) => (CrawlAction::Updated, diff),
            Change::Unchanged => (CrawlAction::Unchanged, String::new()),
        };
        if old.is_some() && self.catalog.set_deprecated(self.database, &def.name, false)? {
            detail = [detail.as_str(), "found again: no longer deprecated"]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("; ");
        }
        Ok((action, detail))
    }

    /// Tables recorded under the crawled folder that the crawl no longer finds: deprecated,
    /// deleted or only reported, as `on_delete` says.
    fn missing_tables(&self, found: &HashSet<String>, report: &mut CrawlReport) -> Result<()> {
        let root_url = self.root.url().to_string();
        for gone in self.catalog.tables(Some(self.database))? {
            if !gone.location.starts_with(&root_url) || found.contains(&gone.name) {
                continue;
            }
            let qualified = format!("{}.{}", self.database, gone.name);
            let action = self.retire(&gone.name)?;
            tracing::warn!(table = %qualified, action = action.as_str(), "the crawl found no data for a catalog table");
            report.tables.retain(|t| t.table != qualified);
            let mut entry =
                CrawledTable::without_data(qualified, action, format!("no data under {}", gone.location));
            entry.columns = gone.columns;
            entry.partitions = gone.partitions;
            entry.files = gone.objects;
            report.tables.push(entry);
        }
        Ok(())
    }

    /// Deprecates, deletes or only reports a table whose data is gone.
    fn retire(&self, name: &str) -> Result<CrawlAction> {
        Ok(match (self.options.on_delete, self.options.dry_run) {
            (DeletePolicy::Log, _) => CrawlAction::Missing,
            (DeletePolicy::Deprecate, true) => CrawlAction::WouldDeprecate,
            (DeletePolicy::Delete, true) => CrawlAction::WouldDelete,
            (DeletePolicy::Deprecate, false) => {
                self.catalog.set_deprecated(self.database, name, true)?;
                CrawlAction::Deprecated
            }
            (DeletePolicy::Delete, false) => {
                self.catalog.drop_table(self.database, name)?;
                CrawlAction::Deleted
            }
        })
    }
}

/// Columns the user pinned to a type keep it, whatever the files suggest.
fn apply_pins(
    described: &mut TableFiles,
    pins: &BTreeMap<String, String>,
    notes: &mut DescribeNotes,
) -> Result<()> {
    if pins.is_empty() {
        return Ok(());
    }
    let mut fields: Vec<Field> = described
        .file_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (column, ty) in pins {
        if let Some(f) = fields.iter_mut().find(|f| f.name() == column) {
            let pinned = crate::lifecycle::parse_type(ty)?;
            if f.data_type() != &pinned {
                notes.notes.push(format!(
                    "column `{column}` pinned to {ty} (files suggest {})",
                    f.data_type()
                ));
            }
            *f = Field::new(column, pinned, true);
        }
    }
    described.file_schema = Arc::new(Schema::new(fields));
    Ok(())
}

/// Unchanged files keep the row counts the catalog has for them when this crawl did not count.
fn keep_row_counts(def: &mut TableDef, old: &TableDef) {
    let before: HashMap<&str, &FileEntry> = old.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for f in def.files.iter_mut().filter(|f| f.rows.is_none()) {
        if let Some(prev) = before.get(f.path.as_str())
            && prev.size == f.size
            && prev.last_modified == f.last_modified
        {
            f.rows = prev.rows;
        }
    }
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

    #[rstest]
    #[case(CrawlAction::Created, "created")]
    #[case(CrawlAction::SchemaChangeLogged, "schema-change-logged")]
    #[case(CrawlAction::WouldCreate, "would-create")]
    #[case(CrawlAction::WouldDeprecate, "would-deprecate")]
    #[case(CrawlAction::Deleted, "deleted")]
    fn crawl_actions_show_and_serialize_alike(#[case] action: CrawlAction, #[case] text: &str) {
        assert_eq!(action.as_str(), text);
        assert_eq!(action.to_string(), text);
        assert_eq!(serde_json::to_value(action).unwrap(), serde_json::json!(text));
    }
}
