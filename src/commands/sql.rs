//! `sluice sql`: run statements from an argument, a file or stdin, or open the shell.

use std::io::{IsTerminal, Read};
use std::time::Instant;

use anyhow::Context;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::sql::parser::CopyToSource;
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::Value as SqlValue;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use sluice_engine::{Codec, Location, SluiceSession, WriteMode, WriteOptions, new_run_id};

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
    run_script(&session, &sql, settings, args.output.as_deref()).await?;
    finish_bad_records(&session, settings, &new_run_id()).await?;
    Ok(())
}

/// After a command read under `--on-bad-records`: fails beyond a `--max-bad-records` share, writes
/// the quarantine file (named after `run_id`), and reports the counts on stderr. Returns the counts and the quarantine
/// file written.
pub async fn finish_bad_records(
    session: &SluiceSession,
    settings: &Settings,
    run_id: &str,
) -> anyhow::Result<Option<(sluice_engine::readers::guard::BadRecordCounts, Option<String>)>> {
    let Some(guard) = session.bad_records() else {
        return Ok(None);
    };
    guard.check()?;
    let written = match guard.quarantine() {
        Some(q) => guard.write_quarantine(&session.store_for(q)?, run_id).await?,
        None => None,
    };
    let c = guard.counts();
    let mut line = format!(
        "bad records: {} good, {} skipped, {} quarantined",
        c.good, c.skipped, c.quarantined
    );
    if let Some(path) = &written {
        line.push_str(&format!(" (to {path})"));
    }
    output::status(settings.quiet, &line);
    for example in guard.examples().iter().take(3) {
        tracing::warn!(record = %example.describe(), "bad record left out");
    }
    Ok(Some((c, written)))
}

fn read_stdin() -> anyhow::Result<String> {
    let mut sql = String::new();
    std::io::stdin()
        .read_to_string(&mut sql)
        .context("reading SQL from stdin")?;
    Ok(sql)
}

/// Splits SQL text into statements with DataFusion's parser (its dialect setting applies).
pub fn parse_statements(session: &SluiceSession, sql: &str) -> anyhow::Result<Vec<Statement>> {
    let state = session.ctx().state();
    let name = state.config().options().sql_parser.dialect;
    let dialect = dialect_from_str(name).ok_or_else(|| {
        UsageError::new(
            format!("unknown SQL dialect `{name}`"),
            "use e.g. `SET datafusion.sql_parser.dialect = 'generic'`",
        )
    })?;
    let mut parser = DFParserBuilder::new(sql).with_dialect(dialect.as_ref()).build()?;
    let statements = parser.parse_statements()?;
    Ok(statements.into_iter().collect())
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
    let statements = parse_statements(session, &sql)?;
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
        let df = match copy_through_writer(session, statement).await? {
            Copied::Done(df) => df,
            Copied::NotOurs(statement) => {
                let state = session.ctx().state();
                let plan = state.statement_to_plan(*statement).await?;
                session.ctx().execute_logical_plan(plan).await?
            }
        };
        match output {
            Some(path) if i == last => write_output(session, df, path, settings).await?,
            _ => print_result(df, settings, started).await?,
        }
    }
    Ok(())
}

enum Copied {
    /// The COPY ran through sluice's writer; the frame holds its `count` row.
    Done(DataFrame),
    /// Any other statement, for DataFusion.
    NotOurs(Box<Statement>),
}

/// `COPY ... TO 'folder/' STORED AS PARQUET [PARTITIONED BY (...)] [OPTIONS (...)]` goes through
/// sluice's writer (Hive escaping, NULL partitions, bounded memory, the Delta commit); COPY to a file
/// or to CSV/JSON stays DataFusion's.
async fn copy_through_writer(session: &SluiceSession, statement: Statement) -> anyhow::Result<Copied> {
    let Statement::CopyTo(copy) = &statement else {
        return Ok(Copied::NotOurs(Box::new(statement)));
    };
    let parquet = match &copy.stored_as {
        Some(format) => format.eq_ignore_ascii_case("parquet"),
        None => false,
    };
    let folder = copy.target.ends_with('/');
    if !parquet || !folder {
        return Ok(Copied::NotOurs(Box::new(statement)));
    }
    let options = copy_options(&copy.options)?
        .with_partition_by(copy.partitioned_by.clone())
        .with_mode(WriteMode::Append);
    let source_sql = match &copy.source {
        CopyToSource::Query(query) => query.to_string(),
        CopyToSource::Relation(name) => format!("SELECT * FROM {name}"),
    };
    let df = session.ctx().sql(&source_sql).await?;
    let report = session
        .write_parquet(df, &Location::parse(&copy.target)?, options, &new_run_id())
        .await?;
    let count = session
        .ctx()
        .sql(&format!(
            "SELECT CAST({} AS BIGINT UNSIGNED) AS count",
            report.rows
        ))
        .await?;
    Ok(Copied::Done(count))
}

/// The write settings a COPY's `OPTIONS (...)` give, in DataFusion's spelling (`format.` optional).
fn copy_options(given: &[(String, SqlValue)]) -> anyhow::Result<WriteOptions> {
    let mut options = WriteOptions::new();
    for (key, value) in given {
        let text = match value {
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => s.clone(),
            SqlValue::Number(n, _) => n.to_string(),
            SqlValue::Boolean(b) => b.to_string(),
            other => other.to_string(),
        };
        let bad =
            |what: &str| UsageError::new(format!("COPY option `{key}` = `{text}`: {what}"), COPY_OPTIONS);
        let name = key.to_ascii_lowercase();
        options = match name.strip_prefix("format.").unwrap_or(&name) {
            "compression" => options.with_codec(text.parse::<Codec>().map_err(|e| bad(&e.to_string()))?),
            "max_row_group_size" => {
                options.with_row_group_rows(text.parse().map_err(|_| bad("not a number of rows"))?)
            }
            "execution.keep_partition_by_columns" | "keep_partition_by_columns" => {
                options.with_keep_partition_columns(text.parse().map_err(|_| bad("not true or false"))?)
            }
            _ => return Err(bad("sluice's Delta writer does not take this option").into()),
        };
    }
    Ok(options)
}

const COPY_OPTIONS: &str = "COPY to a folder writes a Delta table through sluice's writer, which takes 'format.compression' (zstd, zstd(1..22), snappy, gzip, lz4, none), 'format.max_row_group_size' and 'execution.keep_partition_by_columns'; name a .parquet file instead for DataFusion's own writer";

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
