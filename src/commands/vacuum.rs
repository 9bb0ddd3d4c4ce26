//! Table maintenance: `sluice vacuum DEST` deletes files no reader needs (killed writes, files
//! removed before the retention); `sluice optimize DEST` compacts small files.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use sluice_engine::Location;
use sluice_engine::writer::OptimizeReport;

use crate::args::{OptimizeArgs, VacuumArgs};
use crate::diagnostics::UsageError;
use crate::output::{status, write_batches};
use crate::settings::Settings;

/// Runs `sluice vacuum`.
pub async fn run(args: VacuumArgs, settings: &Settings) -> anyhow::Result<()> {
    let dest = Location::parse(&args.dest)?;
    let session = settings.session()?;
    let files = session.vacuum(&dest, args.retain, args.dry_run).await?;
    let schema = Arc::new(Schema::new(vec![Field::new("file", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(StringArray::from(files.clone()))],
    )?;
    let stdout = std::io::stdout();
    write_batches(settings.format, &schema, &[batch], &mut stdout.lock())?;
    let verb = if args.dry_run { "would delete" } else { "deleted" };
    status(
        settings.quiet,
        &format!("{verb} {} unneeded file(s) at {dest}", files.len()),
    );
    Ok(())
}

/// Runs `sluice optimize`.
pub async fn optimize(args: OptimizeArgs, settings: &Settings) -> anyhow::Result<()> {
    let dest = Location::parse(&args.dest)?;
    let target = sluice_engine::parse_size(&args.target_file_size).map_err(|_| {
        UsageError::new(
            format!("`{}` is not a size", args.target_file_size),
            "write e.g. `--target-file-size 128MiB`",
        )
    })?;
    let session = settings.session()?;
    let report = session
        .optimize(&dest, args.filter.as_deref(), target, args.dry_run)
        .await?;
    let (schema, batch) = optimize_row(&report)?;
    write_batches(settings.format, &schema, &[batch], &mut std::io::stdout().lock())?;
    status(settings.quiet, &optimize_summary(args.dry_run, &report));
    Ok(())
}

/// The report as one row: counts of partitions, files and bytes, and the Delta version (if any).
fn optimize_row(report: &OptimizeReport) -> Result<(SchemaRef, RecordBatch), ArrowError> {
    let schema = Arc::new(Schema::new(
        [
            "partitions",
            "files_removed",
            "files_added",
            "bytes_removed",
            "bytes_added",
        ]
        .into_iter()
        .map(|n| Field::new(n, DataType::UInt64, false))
        .chain([Field::new("version", DataType::UInt64, true)])
        .collect::<Vec<_>>(),
    ));
    let number = |n: u64| -> ArrayRef { Arc::new(UInt64Array::from(vec![n])) };
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            number(report.partitions as u64),
            number(report.files_removed as u64),
            number(report.files_added as u64),
            number(report.bytes_removed),
            number(report.bytes_added),
            Arc::new(UInt64Array::from(vec![report.version])),
        ],
    )?;
    Ok((schema, batch))
}

/// The status line after `optimize`: what was (or would be) compacted.
fn optimize_summary(dry_run: bool, report: &OptimizeReport) -> String {
    match (dry_run, report.version) {
        (true, _) => format!(
            "would compact {} file(s) in {} partition(s)",
            report.files_removed, report.partitions
        ),
        (false, Some(v)) => format!(
            "compacted {} file(s) into {} in {} partition(s) (Delta version {v})",
            report.files_removed, report.files_added, report.partitions
        ),
        (false, None) => "nothing to compact".to_string(),
    }
}
