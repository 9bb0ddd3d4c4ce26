//! `sluice crawl` and `sluice tables`.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{Field, Schema};
use sluice_catalog::Catalog;
use sluice_engine::Location;

use crate::args::{CrawlArgs, TablesArgs};
use crate::output::{Progress, write_batches};
use crate::settings::Settings;

fn print(settings: &Settings, columns: Vec<(&str, ArrayRef)>) -> anyhow::Result<()> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns.into_iter().map(|(_, a)| a).collect())?;
    write_batches(settings.format, &schema, &[batch], &mut std::io::stdout().lock())?;
    Ok(())
}

fn text<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn numbers(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(values))
}

/// Runs `sluice crawl`.
pub async fn crawl(args: CrawlArgs, settings: &Settings) -> anyhow::Result<()> {
    let location = Location::parse(&args.url)?;
    let session = settings.session()?;
    let catalog = Catalog::open(&settings.catalog)?;
    let progress = Progress::spinner(format!("crawling {location}"), settings.show_progress());
    let report = sluice_catalog::crawl(&session, &catalog, &location, &args.database).await;
    progress.finish();
    let t = report?.tables;
    print(
        settings,
        vec![
            ("table", text(t.iter().map(|t| t.table.as_str()))),
            ("action", text(t.iter().map(|t| t.action.as_str()))),
            ("columns", numbers(t.iter().map(|t| t.columns as u64))),
            ("partitions", numbers(t.iter().map(|t| t.partitions as u64))),
            ("files", numbers(t.iter().map(|t| t.files as u64))),
            ("detail", text(t.iter().map(|t| t.detail.as_str()))),
        ],
    )
}

/// Runs `sluice tables`.
pub fn tables(args: TablesArgs, settings: &Settings) -> anyhow::Result<()> {
    let catalog = Catalog::open(&settings.catalog)?;
    let t = catalog.tables(args.database.as_deref())?;
    let keys: Vec<String> = t.iter().map(|t| t.partition_keys.join(",")).collect();
    print(
        settings,
        vec![
            ("database", text(t.iter().map(|t| t.database.as_str()))),
            ("table", text(t.iter().map(|t| t.name.as_str()))),
            ("format", text(t.iter().map(|t| t.classification.as_str()))),
            ("partition_keys", text(keys.iter().map(String::as_str))),
            ("columns", numbers(t.iter().map(|t| t.columns as u64))),
            ("partitions", numbers(t.iter().map(|t| t.partitions as u64))),
            ("objects", numbers(t.iter().map(|t| t.objects as u64))),
            ("bytes", numbers(t.iter().map(|t| t.bytes))),
            ("version", numbers(t.iter().map(|t| t.version as u64))),
            ("location", text(t.iter().map(|t| t.location.as_str()))),
        ],
    )
}
