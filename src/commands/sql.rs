//! `sluice sql`: run statements from an argument, a file or stdin, or open the shell.

use std::io::{IsTerminal, Read};
use std::time::Instant;

use anyhow::Context;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use sluice_engine::readers::guard::BadRecordsReport;
use sluice_engine::{Location, SluiceSession, WriteMode, WriteOptions, new_run_id};

use crate::args::SqlArgs;
use crate::diagnostics::UsageError;
use crate::output::{self, write_batches};
use crate::settings::Settings;

/// Runs `sluice sql`.
pub async fn run(args: SqlArgs, settings: &Settings) -> anyhow::Result<()> {
    let session = settings.session_with_catalog()?;
    let sql = match (args.query, args.file) {
        (Some(query), _) => query,
        (None, Some(file)) if file.as_os_str() == "-" => read_stdin()?,
        (None, Some(file)) => {
            std::fs::read_to_string(&file).map_err(|source| sluice_engine::EngineError::Io {
                path: file.clone(),
                source,
            })?
        }
        (None, None) if std::io::stdin().is_terminal() => return super::shell::run(&session, settings).await,
        (None, None) => read_stdin()?,
    };
    let run_id = new_run_id();
    // Named before the read: on a cluster the executors write the quarantine.
    if let Some(guard) = session.bad_records() {
        guard.name_output(&run_id);
    }
    run_script(&session, &sql, settings, args.output.as_deref()).await?;
    finish_bad_records(&session, settings, &run_id).await?;
    Ok(())
}

/// After a command read under `--on-bad-records`: fails beyond a `--max-bad-records` share, writes
/// the quarantine file (named after `run_id`), logs a few bad records, and reports the counts on
/// stderr. Returns the counts and the quarantine file written.
pub async fn finish_bad_records(
    session: &SluiceSession,
    settings: &Settings,
    run_id: &str,
) -> anyhow::Result<Option<BadRecordsReport>> {
    let Some(guard) = session.bad_records() else {
        return Ok(None);
    };
    let report = guard.finish(|q| session.store_for(q), run_id, None).await?;
    let c = report.counts;
    let mut line = format!(
        "bad records: {} good, {} skipped, {} quarantined",
        c.good, c.skipped, c.quarantined
    );
    if let Some(path) = &report.quarantine_file {
        line.push_str(&format!(" (to {path})"));
    }
    output::status(settings.quiet, &line);
    Ok(Some(report))
}

fn read_stdin() -> anyhow::Result<String> {
    let mut sql = String::new();
    std::io::stdin()
        .read_to_string(&mut sql)
        .context("reading SQL from stdin")?;
    Ok(sql)
}

/// Runs every statement in `sql`, printing each result; `output` receives the last one instead.
pub async fn run_script(
    session: &SluiceSession,
    sql: &str,
    settings: &Settings,
    output: Option<&str>,
) -> anyhow::Result<()> {
    // `VERSION AS OF` / `TIMESTAMP AS OF`: versioned tables are opened first, under names of their own.
    let sql = sluice_engine::resolve_time_travel(session.ctx(), sql).await?;
    let statements = sluice_engine::statements::parse_statements(session, &sql)?;
    if statements.is_empty() {
        return Err(UsageError::new(
            "no SQL statement given",
            "pass a query, `-f FILE`, or pipe SQL on stdin",
        )
        .into());
    }
    let last = statements.len() - 1;
    for (i, statement) in statements.into_iter().enumerate() {
        let started = Instant::now();
        let df = sluice_engine::statements::run_statement(session, statement).await?;
        match output {
            Some(path) if i == last => write_output(session, df, path, settings).await?,
            _ => print_result(df, settings, started).await?,
        }
    }
    Ok(())
}

async fn print_result(df: DataFrame, settings: &Settings, started: Instant) -> anyhow::Result<()> {
    let schema = std::sync::Arc::clone(df.schema().inner());
    let batches = df.collect().await?;
    if schema.fields().is_empty() {
        return Ok(());
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    write_batches(settings.format, &schema, &batches, &mut lock)?;
    if settings.show_progress() {
        output::status(
            false,
            &format!("{rows} row(s) in {:.3}s", started.elapsed().as_secs_f64()),
        );
    }
    Ok(())
}

async fn write_output(
    session: &SluiceSession,
    df: DataFrame,
    path: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    let location = Location::parse(path)?;
    // A folder is a table: Parquet through sluice's writer, replaced in one Delta commit.
    if path.ends_with('/') {
        let options = WriteOptions::new().with_mode(WriteMode::Overwrite);
        let report = session
            .write_parquet(df, &location, options, &new_run_id())
            .await?;
        let line = format!(
            "wrote {} row(s) to {path} (Delta version {})",
            report.rows, report.commit
        );
        output::status(settings.quiet, &line);
        return Ok(());
    }
    let url = location.url().to_string();
    let lower = path.to_ascii_lowercase();
    let options = DataFrameWriteOptions::new().with_single_file_output(true);
    let batches = if lower.ends_with(".parquet") {
        df.write_parquet(&url, options, None).await?
    } else if lower.ends_with(".csv") {
        df.write_csv(&url, options, None).await?
    } else if lower.ends_with(".json") || lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
        df.write_json(&url, options, None).await?
    } else {
        return Err(UsageError::new(
            format!("cannot tell the output format of `{path}`"),
            "end the file name in .parquet, .csv, .json or .ndjson, or the folder in `/` for a Delta table",
        )
        .into());
    };
    let rows = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0);
    output::status(settings.quiet, &format!("wrote {rows} row(s) to {path}"));
    Ok(())
}
