//! SQL statements as sluice runs them, for the CLI and library callers alike.
//!
//! ```text
//! text ──time travel resolved──> statements (the session's dialect)
//!   COPY ... TO 'folder/' STORED AS PARQUET [PARTITIONED BY] [OPTIONS] ──> sluice's writer:
//!        Hive escaping, NULL partitions, bounded memory, one Delta commit; its `count` row back
//!   anything else ──> DataFusion
//! ```
//!
//! A COPY's options map onto sluice's write settings; one the writer cannot honour is an error,
//! never a silent fall back to another writer.

use datafusion::dataframe::DataFrame;
use datafusion::sql::parser::{CopyToSource, CopyToStatement, DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::Value as SqlValue;
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::error::{EngineError, Result};
use crate::session::{SluiceSession, new_run_id};
use crate::stores::Location;
use crate::writer::{Codec, WriteMode, WriteOptions};

/// What a COPY to a folder accepts, for error messages.
const COPY_OPTIONS: &str = "COPY to a folder writes a Delta table through sluice's writer, which takes 'format.compression' (zstd, zstd(1..22), snappy, gzip, lz4, none), 'format.max_row_group_size', 'format.bloom_filter_enabled::COLUMN' 'true', 'format.statistics_enabled' 'page' and 'execution.keep_partition_by_columns'; name a .parquet file instead for DataFusion's own writer";

impl SluiceSession {
    /// Plans one SQL statement as sluice runs it: `VERSION AS OF` / `TIMESTAMP AS OF` on Delta
    /// tables resolved first, and a COPY to a folder through sluice's writer (as above).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let sql = crate::time_travel::resolve(self.ctx(), sql).await?;
        let mut statements = parse_statements(self, &sql)?;
        match (statements.pop(), statements.is_empty()) {
            (Some(statement), true) => run_statement(self, statement).await,
            _ => Err(EngineError::InvalidOption {
                option: "SQL".into(),
                reason: "expected exactly one statement".into(),
            }),
        }
    }
}

/// Splits SQL text into statements with the session's dialect (`datafusion.sql_parser.dialect`).
pub fn parse_statements(session: &SluiceSession, sql: &str) -> Result<Vec<Statement>> {
    let state = session.ctx().state();
    let name = state.config().options().sql_parser.dialect;
    let dialect = dialect_from_str(name).ok_or_else(|| EngineError::InvalidOption {
        option: "datafusion.sql_parser.dialect".into(),
        reason: format!(
            "unknown SQL dialect `{name}`; use e.g. `SET datafusion.sql_parser.dialect = 'generic'`"
        ),
    })?;
    let mut parser = DFParserBuilder::new(sql).with_dialect(dialect.as_ref()).build()?;
    Ok(parser.parse_statements()?.into_iter().collect())
}

/// Runs one statement: a COPY of Parquet to a folder through sluice's writer (its frame holds the
/// `count` row), anything else planned by DataFusion.
pub async fn run_statement(session: &SluiceSession, statement: Statement) -> Result<DataFrame> {
    if let Statement::CopyTo(copy) = &statement
        && is_ours(copy)
    {
        return copy_through_writer(session, copy).await;
    }
    let state = session.ctx().state();
    let plan = state.statement_to_plan(statement).await?;
    Ok(session.ctx().execute_logical_plan(plan).await?)
}

/// `COPY ... TO 'folder/' STORED AS PARQUET`: sluice's; COPY to a file or to CSV/JSON: DataFusion's.
fn is_ours(copy: &CopyToStatement) -> bool {
    let parquet = copy
        .stored_as
        .as_ref()
        .is_some_and(|f| f.eq_ignore_ascii_case("parquet"));
    parquet && copy.target.ends_with('/')
}

async fn copy_through_writer(session: &SluiceSession, copy: &CopyToStatement) -> Result<DataFrame> {
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
    let count = format!("SELECT CAST({} AS BIGINT UNSIGNED) AS count", report.rows);
    Ok(session.ctx().sql(&count).await?)
}

/// The write settings a COPY's `OPTIONS (...)` give, in DataFusion's spelling (`format.` optional).
pub fn copy_options(given: &[(String, SqlValue)]) -> Result<WriteOptions> {
    let mut options = WriteOptions::new();
    let mut bloom = Vec::new();
    for (key, value) in given {
        let text = match value {
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => s.clone(),
            SqlValue::Number(n, _) => n.to_string(),
            SqlValue::Boolean(b) => b.to_string(),
            other => other.to_string(),
        };
        let bad = |what: &str| EngineError::InvalidOption {
            option: format!("COPY option `{key}` = `{text}`"),
            reason: format!("{what}. {COPY_OPTIONS}"),
        };
        let flag = |text: &str| text.parse::<bool>().map_err(|_| bad("not true or false"));
        let name = key.to_ascii_lowercase();
        let name = name.strip_prefix("format.").unwrap_or(&name);
        options = match name {
            "compression" => options.with_codec(text.parse::<Codec>().map_err(|e| bad(&e.to_string()))?),
            "max_row_group_size" => {
                options.with_row_group_rows(text.parse().map_err(|_| bad("not a number of rows"))?)
            }
            "execution.keep_partition_by_columns" | "keep_partition_by_columns" => {
                options.with_keep_partition_columns(flag(&text)?)
            }
            // sluice always writes page statistics and the page index.
            "statistics_enabled" if text.eq_ignore_ascii_case("page") => options,
            _ => match name.strip_prefix("bloom_filter_enabled::") {
                Some(column) => {
                    if flag(&text)? {
                        bloom.push(column.to_string());
                    }
                    options
                }
                None => return Err(bad("sluice's Delta writer does not take this option")),
            },
        };
    }
    Ok(if bloom.is_empty() {
        options
    } else {
        options.with_bloom_filters(bloom)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<WriteOptions> {
        let given: Vec<(String, SqlValue)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SqlValue::SingleQuotedString(v.to_string())))
            .collect();
        copy_options(&given)
    }

    #[tokio::test]
    async fn a_library_caller_copying_to_a_folder_gets_a_delta_commit() {
        let dir = tempfile::tempdir().unwrap();
        let session = crate::SessionBuilder::new().build().unwrap();
        let sql = format!(
            "COPY (SELECT 1 AS x, 'a/b' AS p) TO '{}/' STORED AS PARQUET PARTITIONED BY (p) OPTIONS ('format.compression' 'zstd(5)')",
            dir.path().display()
        );
        let batches = session.sql(&sql).await.unwrap().collect().await.unwrap();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string(),
            "+-------+\n| count |\n+-------+\n| 1     |\n+-------+"
        );
        assert!(dir.path().join("_delta_log/00000000000000000000.json").is_file());
        assert!(dir.path().join("p=a%2Fb").is_dir(), "Hive escaping");
    }

    #[test]
    fn copy_options_map_onto_the_writer_or_are_refused() {
        let o = opts(&[
            ("format.compression", "zstd(9)"),
            ("max_row_group_size", "1000"),
            ("format.bloom_filter_enabled::id", "true"),
            ("format.statistics_enabled", "page"),
        ])
        .unwrap();
        let text = format!("{o:?}");
        assert!(
            text.contains("Zstd(9)") && text.contains("1000") && text.contains("\"id\""),
            "{text}"
        );
        for bad in [
            ("format.bloom_filter_on_write", "true"),
            ("format.statistics_enabled", "none"),
            ("format.compression", "brotli"),
        ] {
            let err = opts(&[bad]).unwrap_err().to_string();
            assert!(err.contains(bad.0) && err.contains("COPY to a folder"), "{err}");
        }
    }
}
