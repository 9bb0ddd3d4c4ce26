//! `sluice vacuum DEST`: delete files no reader needs (killed writes, files removed before the retention).

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use sluice_engine::Location;

use crate::args::VacuumArgs;
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
