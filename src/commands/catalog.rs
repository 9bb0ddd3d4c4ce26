//! `sluice crawl`, `sluice tables`, `sluice table …` and `sluice catalog …`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_catalog::{Catalog, ColumnDef, CrawledTable, Dialect, TableDef};
use sluice_engine::Location;

use crate::args::{
    CatalogCommand, CrawlArgs, DdlArgs, DeleteArg, DialectArg, SchemaChangeArg, TableCommand, TablesArgs,
};
use crate::diagnostics::UsageError;
use crate::output::{IoProgress, Record, number_column, print_columns, status, text_column};
use crate::settings::Settings;

/// Runs `sluice crawl`.
pub async fn crawl(args: CrawlArgs, settings: &Settings) -> anyhow::Result<()> {
    let location = Location::parse(&args.url)?;
    let session = settings.session()?;
    let catalog = settings.catalog_for(args.dry_run)?;
    let progress = IoProgress::start(format!("crawling {location}"), None, settings.show_progress());
    let options = crawl_options(&args);
    let started = std::time::Instant::now();
    let report = sluice_catalog::crawl(&session, &catalog, &location, &args.database, &options).await;
    progress.finish();
    let t = report?.tables;
    status(settings.quiet, &crawl_summary(&t, started.elapsed()));
    print_crawled(&t, args.explain, settings)?;
    if args.sync_glue {
        sync_after(&catalog, vec![args.database.clone()], settings).await?;
    }
    Ok(())
}

/// The crawler's options from the command line.
fn crawl_options(args: &CrawlArgs) -> sluice_catalog::CrawlOptions {
    sluice_catalog::CrawlOptions {
        exclude: args.exclude.clone(),
        sample_files: args.sample_files,
        on_schema_change: match args.on_schema_change {
            SchemaChangeArg::Update => sluice_catalog::SchemaChangePolicy::Update,
            SchemaChangeArg::Log => sluice_catalog::SchemaChangePolicy::Log,
            SchemaChangeArg::Fail => sluice_catalog::SchemaChangePolicy::Fail,
        },
        dry_run: args.dry_run,
        on_delete: match args.on_delete {
            DeleteArg::Deprecate => sluice_catalog::DeletePolicy::Deprecate,
            DeleteArg::Delete => sluice_catalog::DeletePolicy::Delete,
            DeleteArg::Log => sluice_catalog::DeletePolicy::Log,
        },
        max_new_tables: args.max_new_tables,
    }
}

/// The one-line summary of a crawl: tables by action, partitions and files, and the time taken.
fn crawl_summary(t: &[CrawledTable], elapsed: std::time::Duration) -> String {
    let count = |action: &str| t.iter().filter(|t| t.action == action).count();
    format!(
        "{} tables: {} created, {} updated, {} unchanged; partitions {} added, {} removed; read {} of {} files in {:.2}s",
        t.len(),
        count("created") + count("would-create"),
        count("updated") + count("would-update"),
        count("unchanged"),
        t.iter().map(|t| t.partitions_added).sum::<usize>(),
        t.iter().map(|t| t.partitions_removed).sum::<usize>(),
        t.iter().map(|t| t.files_read).sum::<usize>(),
        t.iter().map(|t| t.files).sum::<usize>(),
        elapsed.as_secs_f64()
    )
}

/// One row per crawled table; with `explain`, the crawler's decisions too.
fn print_crawled(t: &[CrawledTable], explain: bool, settings: &Settings) -> anyhow::Result<()> {
    let notes: Vec<String> = t.iter().map(|t| t.notes.join("; ")).collect();
    let mut columns = vec![
        ("table", text_column(t.iter().map(|t| t.table.as_str()))),
        ("action", text_column(t.iter().map(|t| t.action.as_str()))),
        ("columns", number_column(t.iter().map(|t| t.columns as u64))),
        ("partitions", number_column(t.iter().map(|t| t.partitions as u64))),
        ("files", number_column(t.iter().map(|t| t.files as u64))),
        ("files_read", number_column(t.iter().map(|t| t.files_read as u64))),
        ("detail", text_column(t.iter().map(|t| t.detail.as_str()))),
    ];
    if explain {
        columns.push(("decisions", text_column(notes.iter().map(String::as_str))));
    }
    print_columns(settings.format, columns)
}

/// Runs `sluice tables`.
pub fn tables(args: TablesArgs, settings: &Settings) -> anyhow::Result<()> {
    let catalog = Catalog::open(&settings.catalog)?;
    let t = catalog.tables(args.database.as_deref())?;
    let keys: Vec<String> = t.iter().map(|t| t.partition_keys.join(",")).collect();
    print_columns(
        settings.format,
        vec![
            ("database", text_column(t.iter().map(|t| t.database.as_str()))),
            ("table", text_column(t.iter().map(|t| t.name.as_str()))),
            ("format", text_column(t.iter().map(|t| t.classification.as_str()))),
            ("partition_keys", text_column(keys.iter().map(String::as_str))),
            ("columns", number_column(t.iter().map(|t| t.columns as u64))),
            ("partitions", number_column(t.iter().map(|t| t.partitions as u64))),
            ("objects", number_column(t.iter().map(|t| t.objects as u64))),
            ("rows", number_column(t.iter().map(|t| t.rows))),
            ("bytes", number_column(t.iter().map(|t| t.bytes))),
            ("version", number_column(t.iter().map(|t| t.version as u64))),
            ("location", text_column(t.iter().map(|t| t.location.as_str()))),
            (
                "deprecated_at",
                text_column(t.iter().map(|t| t.deprecated_at.as_deref().unwrap_or(""))),
            ),
        ],
    )
}

/// Runs `sluice table show|partitions|history|drop|ddl|pin|unpin`.
pub async fn table(command: TableCommand, settings: &Settings) -> anyhow::Result<()> {
    let catalog = Catalog::open(&settings.catalog)?;
    match command {
        TableCommand::Pin {
            name,
            column,
            data_type,
        } => pin(&catalog, &name, &column, Some(&data_type), settings),
        TableCommand::Unpin { name, column } => pin(&catalog, &name, &column, None, settings),
        TableCommand::Ddl(args) => ddl(&catalog, &args),
        TableCommand::Drop(t) => drop_table(&catalog, &t.name, settings),
        TableCommand::Show(t) => show(&catalog, &t.name, settings),
        TableCommand::Partitions(t) => partitions(&catalog, &t.name, settings),
        TableCommand::History(t) => history(&catalog, &t.name, settings).await,
    }
}

/// `sluice table pin` (with a type) and `sluice table unpin` (without): prints the column's pin.
fn pin(
    catalog: &Catalog,
    name: &str,
    column: &str,
    data_type: Option<&str>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (db, table) = sluice_catalog::split_name(name)?;
    catalog.set_pin(db, table, column, data_type)?;
    Record::new()
        .text("table", name)
        .text("column", column)
        .text("pinned", data_type.unwrap_or(""))
        .print(settings.format)
}

/// The table `qualified` names (`db.table`): the name's database and table parts, and its
/// definition; `TableNotFound` when the catalog has no such table.
fn find_table<'a>(catalog: &Catalog, qualified: &'a str) -> anyhow::Result<(&'a str, &'a str, TableDef)> {
    let (db, name) = sluice_catalog::split_name(qualified)?;
    let Some(def) = catalog.find(db, name)? else {
        return Err(sluice_catalog::CatalogError::TableNotFound {
            name: qualified.to_string(),
        }
        .into());
    };
    Ok((db, name, def))
}

/// `sluice table ddl`: the CREATE statement for another engine, on stdout.
#[allow(clippy::print_stdout)]
fn ddl(catalog: &Catalog, args: &DdlArgs) -> anyhow::Result<()> {
    let (_, _, def) = find_table(catalog, &args.name)?;
    let dialect = match args.dialect {
        DialectArg::Athena => Dialect::Athena,
        DialectArg::Spark => Dialect::Spark,
        DialectArg::Trino => Dialect::Trino,
        DialectArg::Duckdb => Dialect::Duckdb,
    };
    print!("{}", sluice_catalog::ddl(&def, dialect));
    Ok(())
}

/// `sluice table drop`: forgets the table; its files stay where they are.
fn drop_table(catalog: &Catalog, qualified: &str, settings: &Settings) -> anyhow::Result<()> {
    let (db, name) = sluice_catalog::split_name(qualified)?;
    if !catalog.drop_table(db, name)? {
        return Err(sluice_catalog::CatalogError::TableNotFound {
            name: qualified.to_string(),
        }
        .into());
    }
    status(
        settings.quiet,
        &format!("dropped {db}.{name} from the catalog; its files are untouched"),
    );
    Ok(())
}

/// `sluice table show`: a summary line on stderr, then one row per column and partition key.
fn show(catalog: &Catalog, qualified: &str, settings: &Settings) -> anyhow::Result<()> {
    let (db, name, def) = find_table(catalog, qualified)?;
    let cols = column_rows(&def);
    status(
        settings.quiet,
        &format!(
            "{db}.{name}: {} at {}, {} file(s), {} partition(s)",
            def.classification,
            def.location,
            def.files.len(),
            def.partition_count()
        ),
    );
    print_columns(
        settings.format,
        vec![
            ("column", text_column(cols.iter().map(|c| c.0))),
            ("arrow_type", text_column(cols.iter().map(|c| c.1))),
            ("glue_type", text_column(cols.iter().map(|c| c.2))),
            ("role", text_column(cols.iter().map(|c| c.3))),
        ],
    )
}

/// Name, Arrow type, Glue type and role of each column, then of each partition key.
fn column_rows(def: &TableDef) -> Vec<(&str, &str, &str, &str)> {
    fn row<'a>(c: &'a ColumnDef, role: &'a str) -> (&'a str, &'a str, &'a str, &'a str) {
        (c.name.as_str(), c.data_type.as_str(), c.glue_type.as_str(), role)
    }
    def.columns
        .iter()
        .map(|c| row(c, ""))
        .chain(def.partition_keys.iter().map(|c| row(c, "partition key")))
        .collect()
}

/// Files, bytes and rows of one partition.
#[derive(Debug, Default)]
struct PartitionTotals {
    files: u64,
    bytes: u64,
    rows: u64,
}

/// `sluice table partitions`: one row per partition, in order of its values.
fn partitions(catalog: &Catalog, qualified: &str, settings: &Settings) -> anyhow::Result<()> {
    let (db, name, def) = find_table(catalog, qualified)?;
    if def.partition_keys.is_empty() {
        return Err(UsageError::new(
            format!("{db}.{name} has no partition keys"),
            "`sluice table show` lists its columns",
        )
        .into());
    }
    let parts = partition_totals(&def);
    let values: Vec<String> = parts.keys().map(|v| partition_path(&def, v)).collect();
    print_columns(
        settings.format,
        vec![
            ("partition", text_column(values.iter().map(String::as_str))),
            ("files", number_column(parts.values().map(|p| p.files))),
            ("bytes", number_column(parts.values().map(|p| p.bytes))),
            ("rows", number_column(parts.values().map(|p| p.rows))),
        ],
    )
}

/// The table's files summed by partition values.
fn partition_totals(def: &TableDef) -> BTreeMap<Vec<Option<String>>, PartitionTotals> {
    let mut parts: BTreeMap<Vec<Option<String>>, PartitionTotals> = BTreeMap::new();
    for f in &def.files {
        let e = parts.entry(f.partition_values.clone()).or_default();
        e.files += 1;
        e.bytes += f.size;
        e.rows += f.rows.unwrap_or(0);
    }
    parts
}

/// Partition values as a Hive path, `day=2024-01-01/region=eu` (`NULL` for a missing value).
fn partition_path(def: &TableDef, values: &[Option<String>]) -> String {
    def.partition_keys
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{}={}", k.name, v.as_deref().unwrap_or("NULL")))
        .collect::<Vec<_>>()
        .join("/")
}

/// `sluice table history`: the Delta log of a Delta table, else the catalog's own versions.
async fn history(catalog: &Catalog, qualified: &str, settings: &Settings) -> anyhow::Result<()> {
    let (db, name, def) = find_table(catalog, qualified)?;
    if def.classification == sluice_catalog::DELTA {
        delta_history(&def, settings).await
    } else {
        catalog_history(catalog, db, name, settings)
    }
}

/// The commits in a Delta table's log (at most 1000).
async fn delta_history(def: &TableDef, settings: &Settings) -> anyhow::Result<()> {
    let location = Location::parse(&def.location)?;
    let h = settings.session()?.table_history(&location, 1000).await?;
    let opt = |v: Option<u64>| v.map_or_else(String::new, |n| n.to_string());
    let added: Vec<String> = h.iter().map(|v| opt(v.rows_added)).collect();
    let removed: Vec<String> = h.iter().map(|v| opt(v.rows_removed)).collect();
    print_columns(
        settings.format,
        vec![
            ("version", number_column(h.iter().map(|v| v.version))),
            (
                "committed_at",
                text_column(h.iter().map(|v| v.committed_at.as_deref().unwrap_or(""))),
            ),
            ("operation", text_column(h.iter().map(|v| v.operation.as_str()))),
            (
                "mode",
                text_column(h.iter().map(|v| v.mode.as_deref().unwrap_or(""))),
            ),
            (
                "run_id",
                text_column(h.iter().map(|v| v.run_id.as_deref().unwrap_or(""))),
            ),
            ("rows_added", text_column(added.iter().map(String::as_str))),
            ("rows_removed", text_column(removed.iter().map(String::as_str))),
        ],
    )
}

/// The versions the catalog recorded for a table that is not Delta.
fn catalog_history(catalog: &Catalog, db: &str, name: &str, settings: &Settings) -> anyhow::Result<()> {
    let h = catalog.history(db, name)?;
    print_columns(
        settings.format,
        vec![
            ("version", number_column(h.iter().map(|v| v.0 as u64))),
            ("changed_at", text_column(h.iter().map(|v| v.1.as_str()))),
            ("change", text_column(h.iter().map(|v| v.2.as_str()))),
        ],
    )
}

/// Syncs `databases` to the AWS Glue Data Catalog after a crawl or run, with a one-line summary
/// on stderr (the command's own output stays one document on stdout).
pub async fn sync_after(
    catalog: &Catalog,
    databases: Vec<String>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let options = sluice_catalog::glue::SyncOptions {
        databases,
        dry_run: false,
    };
    let report = Box::pin(sluice_catalog::glue::sync(&catalog.all()?, &options)).await?;
    status(
        settings.quiet,
        &format!("Glue Data Catalog: {}", report.summary()),
    );
    Ok(())
}

/// Syncs `databases` (all when empty) to the AWS Glue Data Catalog and prints the changes.
pub async fn sync_glue(
    catalog: &Catalog,
    databases: Vec<String>,
    dry_run: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    let options = sluice_catalog::glue::SyncOptions { databases, dry_run };
    let report = Box::pin(sluice_catalog::glue::sync(&catalog.all()?, &options)).await?;
    let actions = &report.actions;
    if actions.is_empty() {
        tracing::info!("the Glue Data Catalog is up to date");
    }
    print_columns(
        settings.format,
        vec![
            ("action", text_column(actions.iter().map(|a| a.action))),
            ("kind", text_column(actions.iter().map(|a| a.kind))),
            ("name", text_column(actions.iter().map(|a| a.name.as_str()))),
            ("detail", text_column(actions.iter().map(|a| a.detail.as_str()))),
        ],
    )
}

/// Runs `sluice catalog export|import|sync`.
pub async fn catalog(command: CatalogCommand, settings: &Settings) -> anyhow::Result<()> {
    let catalog = Catalog::open(&settings.catalog)?;
    match command {
        CatalogCommand::Sync(args) => sync_glue(&catalog, args.database, args.dry_run, settings).await,
        CatalogCommand::Export(args) => export(&catalog, args.output),
        CatalogCommand::Import(args) => import(&catalog, &args.glue, settings),
    }
}

/// `sluice catalog export`: every table as Glue JSON, to `output` or stdout.
#[allow(clippy::print_stdout)]
fn export(catalog: &Catalog, output: Option<PathBuf>) -> anyhow::Result<()> {
    let doc = sluice_catalog::glue::export(&catalog.all()?);
    let text = serde_json::to_string_pretty(&doc)?;
    match output {
        Some(path) => std::fs::write(&path, text + "\n")
            .map_err(|source| sluice_engine::EngineError::Io { path, source })?,
        None => println!("{text}"),
    }
    Ok(())
}

/// `sluice catalog import`: tables from Glue JSON at `glue` (`-` for stdin) into the catalog,
/// with what each import changed.
fn import(catalog: &Catalog, glue: &Path, settings: &Settings) -> anyhow::Result<()> {
    let doc = read_glue_json(glue)?;
    let tables = sluice_catalog::glue::import(&doc)?;
    let mut changes = Vec::new();
    for t in &tables {
        let change = match catalog.upsert(t)? {
            sluice_catalog::Change::Created => "created",
            sluice_catalog::Change::Updated(_) => "updated",
            sluice_catalog::Change::Unchanged => "unchanged",
        };
        changes.push((format!("{}.{}", t.database, t.name), change));
    }
    print_columns(
        settings.format,
        vec![
            ("table", text_column(changes.iter().map(|c| c.0.as_str()))),
            ("action", text_column(changes.iter().map(|c| c.1))),
        ],
    )
}

/// The JSON document at `glue`, or on stdin for `-`.
fn read_glue_json(glue: &Path) -> anyhow::Result<serde_json::Value> {
    let body = if glue.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(glue).map_err(|source| sluice_engine::EngineError::Io {
            path: glue.to_path_buf(),
            source,
        })?
    };
    let doc = serde_json::from_str(&body).map_err(|e| {
        UsageError::new(
            format!("`{}` is not JSON: {e}", glue.display()),
            "pass a file written by `sluice catalog export --glue`",
        )
    })?;
    Ok(doc)
}
