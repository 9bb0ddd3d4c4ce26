//! `sluice convert SRC DST`: CSV/NDJSON to (partitioned) Parquet through sluice's writer.

use std::time::Instant;

use sluice_engine::{
    CsvReadOptions, FileFormatKind, Location, ReadOptions, Staged, WriteMode, WriteOptions, new_run_id,
    parse_size,
};

use crate::args::{ConvertArgs, InputFormat};
use crate::diagnostics::UsageError;
use crate::output::{IoProgress, Record, human_bytes};
use crate::settings::Settings;

/// How `convert` reads its source, from the flags.
fn read_options(args: &ConvertArgs) -> anyhow::Result<ReadOptions> {
    Ok(ReadOptions {
        format: args.input_format.map(|f| match f {
            InputFormat::Csv => FileFormatKind::Csv,
            InputFormat::Json => FileFormatKind::Json,
        }),
        csv: CsvReadOptions {
            has_header: !args.no_header,
            delimiter: args.delimiter.as_deref().map(parse_delimiter).transpose()?,
            quote: args
                .quote
                .as_deref()
                .map(|q| one_byte("--quote", q))
                .transpose()?
                .unwrap_or(b'"'),
            escape: args
                .escape
                .as_deref()
                .map(|e| one_byte("--escape", e))
                .transpose()?,
            comment: args
                .comment
                .as_deref()
                .map(|c| one_byte("--comment", c))
                .transpose()?,
            sniff: !args.no_header,
            ..CsvReadOptions::default()
        },
        ..ReadOptions::default()
    })
}

/// How `convert` writes its destination, from the flags.
fn write_options(args: &ConvertArgs) -> anyhow::Result<WriteOptions> {
    let target = parse_size(&args.target_file_size).map_err(|_| {
        UsageError::new(
            format!("`{}` is not a size", args.target_file_size),
            "write e.g. `--target-file-size 128MiB`",
        )
    })?;
    if !args.merge_keys.is_empty() && args.mode != WriteMode::Merge {
        return Err(UsageError::new(
            "--merge-keys is for --mode merge",
            "add `--mode merge` to upsert on those keys, or leave --merge-keys out",
        )
        .into());
    }
    Ok(WriteOptions::new()
        .with_partition_by(args.partition_by.clone())
        .with_codec(args.compression)
        .with_mode(args.mode)
        .with_merge_keys(args.merge_keys.clone())
        .with_target_file_size(target)
        .with_sort_by(args.sort_by.clone())
        .with_bloom_filters(args.bloom_filter.clone())
        .with_row_group_rows(args.row_group_rows)
        .with_keep_partition_columns(args.keep_partition_columns))
}

/// Runs `sluice convert`.
pub async fn run(args: ConvertArgs, settings: &Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    let src = Location::parse(&args.src)?;
    let dst = Location::parse(&args.dst)?;
    let read = read_options(&args)?;
    let write = write_options(&args)?;
    let session = settings.session()?;
    let total = if settings.show_progress() {
        input_bytes(&session, &src).await
    } else {
        None
    };
    let progress = IoProgress::start(
        format!("converting {src} to {dst}"),
        total,
        settings.show_progress(),
    );
    let run_id = new_run_id();
    // Named before the read: on a cluster the executors write the quarantine.
    if let Some(guard) = session.bad_records() {
        guard.name_output(&run_id);
    }
    let result = async {
        let df = session.read(&src, &read).await?;
        session.stage_parquet(df, &dst, write, &run_id).await
    }
    .await;
    progress.finish();
    // Bad records beyond a share abort the write; the quarantine file is written before the
    // output commits.
    let report = match result? {
        Staged::Committed(report) => {
            super::sql::finish_bad_records(&session, settings, &run_id).await?;
            report
        }
        Staged::Pending(pending) => match super::sql::finish_bad_records(&session, settings, &run_id).await {
            Ok(_) => pending.commit().await?,
            Err(e) => {
                pending.abort().await;
                return Err(e);
            }
        },
    };
    let counts = session.bad_records().map(|g| g.counts());
    tracing::info!(rows = report.rows, files = report.files.len(), bytes = %human_bytes(report.bytes), "converted");
    let mut record = Record::new()
        .text("destination", dst.original())
        .number("rows", report.rows);
    if let Some(c) = counts {
        record = record
            .number("skipped_records", c.skipped)
            .number("quarantined_records", c.quarantined);
    }
    record
        .number("files", report.files.len() as u64)
        .number("partitions", report.partitions as u64)
        .number("bytes", report.bytes)
        .number("replaced_files", report.replaced_files as u64)
        .text("run_id", report.run_id)
        .text("elapsed", format!("{:.2}s", started.elapsed().as_secs_f64()))
        .print(settings.format)
}

fn parse_delimiter(text: &str) -> anyhow::Result<u8> {
    sluice_engine::readers::parse_delimiter(text).ok_or_else(|| {
        UsageError::new(
            format!("`{text}` is not a single-byte delimiter"),
            "use e.g. `--delimiter ';'` or `--delimiter '\\t'`",
        )
        .into()
    })
}

/// Bytes under `src` (one file or a folder), for the progress bar's total; `None` when unknown.
async fn input_bytes(session: &sluice_engine::SluiceSession, src: &Location) -> Option<u64> {
    use futures::TryStreamExt;
    let store = session.store_for(src).ok()?;
    let path = src.store_path();
    if !src.is_folder()
        && let Ok(meta) = object_store::ObjectStoreExt::head(store.as_ref(), &path).await
    {
        return Some(meta.size);
    }
    let listed: Vec<object_store::ObjectMeta> = store.list(Some(&path)).try_collect().await.ok()?;
    Some(listed.iter().map(|m| m.size).sum())
}

fn one_byte(flag: &str, text: &str) -> anyhow::Result<u8> {
    match text.as_bytes() {
        [b] => Ok(*b),
        _ => Err(UsageError::new(
            format!("`{flag} {text}` is not a single-byte character"),
            format!("write e.g. `{flag} '#'`"),
        )
        .into()),
    }
}
