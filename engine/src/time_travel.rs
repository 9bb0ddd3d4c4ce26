//! Time travel in SQL: `FROM t VERSION AS OF 3` and `FROM t TIMESTAMP AS OF '2026-12-01 00:00:00'`
//! (the Delta Lake / Spark syntax) in any statement, on catalog tables and quoted paths alike.
//!
//! ```text
//! SELECT * FROM raw.orders VERSION AS OF 3 o     the clause is found in the SQL's tokens
//!   ──> raw.orders is a Delta table at `lake/orders/`: its version 3 opened from the log
//!   ──> SELECT * FROM "__sluice_asof_1"."orders" o  (the table keeps its name for `orders.col`)
//! ```
//!
//! DataFusion's planner ignores a version clause, so every versioned table is replaced before
//! planning; SQL that names none is passed on untouched. Timestamps without a zone are UTC.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::{Dialect, dialect_from_str};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::{EngineError, Result};
use crate::lake::AsOf;
use crate::readers::{LakeTable, ReadOptions, build_table, describe_delta};
use crate::stores::Location;

/// Names the versioned tables of one process apart.
static SEQ: AtomicUsize = AtomicUsize::new(0);

/// How a versioned table is named in the SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TableName {
    /// `'s3://lake/orders/'`.
    Path(String),
    /// `raw.orders`, `"Raw"."Orders"`: the parts as DataFusion would normalize them.
    Parts(Vec<String>),
}

/// One `name VERSION|TIMESTAMP AS OF value` in the SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Versioned {
    /// Byte range of the name and its clause.
    range: std::ops::Range<usize>,
    /// Where the clause starts (after the name).
    clause: usize,
    name: TableName,
    as_of: AsOf,
}

/// Opens every versioned table in `sql` at its version and returns the SQL naming them instead.
pub async fn resolve(ctx: &SessionContext, sql: &str) -> Result<String> {
    if !sql.to_ascii_uppercase().contains(" OF") {
        return Ok(sql.to_string());
    }
    let found = versioned_in(&ctx.state(), sql)?;
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for v in found {
        let replacement = open_version(ctx, &v).await?;
        out.push_str(&sql[at..v.range.start]);
        out.push_str(&replacement);
        at = v.range.end;
    }
    out.push_str(&sql[at..]);
    Ok(out)
}

/// The versioned tables in `sql`, read with the session's SQL dialect.
fn versioned_in(state: &datafusion::execution::SessionState, sql: &str) -> Result<Vec<Versioned>> {
    let options = state.config().options();
    let dialect = dialect_from_str(options.sql_parser.dialect).ok_or_else(|| EngineError::InvalidOption {
        option: "datafusion.sql_parser.dialect".into(),
        reason: format!("unknown SQL dialect `{}`", options.sql_parser.dialect),
    })?;
    find(
        sql,
        dialect.as_ref(),
        options.sql_parser.enable_ident_normalization,
    )
}

/// `sql` without its version clauses (each table keeps its name), for reading which tables a
/// statement names; DataFusion's generic parser does not know the clauses.
pub fn without_versions(sql: &str) -> Result<String> {
    let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for v in find(sql, &dialect, true)? {
        out.push_str(&sql[at..v.clause]);
        at = v.range.end;
    }
    out.push_str(&sql[at..]);
    Ok(out)
}

/// Registers the table of `v` at its version; returns the quoted name it is registered under.
async fn open_version(ctx: &SessionContext, v: &Versioned) -> Result<String> {
    let (location, shown) = match &v.name {
        TableName::Path(path) => (Location::parse(path)?, path.clone()),
        TableName::Parts(parts) => {
            let shown = parts.join(".");
            (delta_location_of(ctx, parts, &shown).await?, shown)
        }
    };
    let state = ctx.state();
    let store = state.runtime_env().object_store(location.listing_url()?)?;
    let described =
        describe_delta(&store, &location, v.as_of)
            .await?
            .ok_or_else(|| EngineError::NotDelta {
                table: shown.clone(),
                hint: "its folder has no `_delta_log/`".into(),
            })?;
    let options = ReadOptions {
        bad_records: state.config().get_extension(),
        ..ReadOptions::default()
    };
    let table = build_table(&described, &options)?;
    let schema = format!("__sluice_asof_{}", SEQ.fetch_add(1, Ordering::Relaxed) + 1);
    let name = match &v.name {
        TableName::Parts(parts) => parts.last().cloned().unwrap_or_default(),
        TableName::Path(_) => "t".to_string(),
    };
    let catalog_name = &state.config().options().catalog.default_catalog;
    let catalog = ctx.catalog(catalog_name).ok_or_else(|| {
        EngineError::DataFusion(datafusion::error::DataFusionError::Internal(format!(
            "the session has no catalog `{catalog_name}`"
        )))
    })?;
    let provider = Arc::new(MemorySchemaProvider::new());
    catalog.register_schema(&schema, Arc::clone(&provider) as _)?;
    datafusion::catalog::SchemaProvider::register_table(provider.as_ref(), name.clone(), Arc::new(table))?;
    Ok(quoted(&schema, &name))
}

fn quoted(schema: &str, table: &str) -> String {
    format!("\"{}\".\"{}\"", schema, table.replace('"', "\"\""))
}

/// Where a table named in SQL keeps its Delta log.
async fn delta_location_of(ctx: &SessionContext, parts: &[String], shown: &str) -> Result<Location> {
    let reference = match parts {
        [table] => TableReference::bare(table.as_str()),
        [schema, table] => TableReference::partial(schema.as_str(), table.as_str()),
        [catalog, schema, table] => TableReference::full(catalog.as_str(), schema.as_str(), table.as_str()),
        _ => {
            return Err(EngineError::InvalidOption {
                option: shown.to_string(),
                reason: "a table name has at most three parts".into(),
            });
        }
    };
    let provider = ctx.table_provider(reference).await?;
    provider
        .downcast_ref::<LakeTable>()
        .and_then(LakeTable::delta_location)
        .cloned()
        .ok_or_else(|| EngineError::NotDelta {
            table: shown.to_string(),
            hint: "write it with sluice (every sluice write is a Delta commit) or crawl a Delta folder"
                .into(),
        })
}

/// Finds `name VERSION AS OF n` and `name TIMESTAMP AS OF 'text'` after FROM, JOIN or a comma.
fn find(sql: &str, dialect: &dyn Dialect, normalize: bool) -> Result<Vec<Versioned>> {
    let tokens: Vec<TokenWithSpan> = Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .map_err(|e| EngineError::InvalidOption {
            option: "SQL".into(),
            reason: e.to_string(),
        })?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let offsets = LineOffsets::new(sql);
    let mut found = Vec::new();
    for i in 0..tokens.len() {
        let Some((as_of, end)) = clause_at(&tokens, i)? else {
            continue;
        };
        let Some((name, start)) = name_before(&tokens, i, normalize) else {
            continue;
        };
        found.push(Versioned {
            range: offsets.byte(&tokens[start], false)..offsets.byte(&tokens[end], true),
            clause: offsets.byte(&tokens[i], false),
            name,
            as_of,
        });
    }
    Ok(found)
}

/// `VERSION AS OF <n>` or `TIMESTAMP AS OF '<t>'` starting at `i`, and the index of its last token.
fn clause_at(tokens: &[TokenWithSpan], i: usize) -> Result<Option<(AsOf, usize)>> {
    let keyword = |j: usize| match tokens.get(j).map(|t| &t.token) {
        Some(Token::Word(w)) => Some(w.keyword),
        _ => None,
    };
    let kind = keyword(i);
    if !matches!(kind, Some(Keyword::VERSION | Keyword::TIMESTAMP))
        || keyword(i + 1) != Some(Keyword::AS)
        || keyword(i + 2) != Some(Keyword::OF)
    {
        return Ok(None);
    }
    let value = tokens.get(i + 3).map(|t| &t.token);
    let as_of = match (kind, value) {
        (Some(Keyword::VERSION), Some(Token::Number(n, _))) => {
            AsOf::Version(n.parse().map_err(|_| bad_clause(&format!("VERSION AS OF {n}")))?)
        }
        (Some(Keyword::TIMESTAMP), Some(Token::SingleQuotedString(s))) => {
            AsOf::Timestamp(parse_timestamp(s)?)
        }
        (Some(Keyword::VERSION), _) => return Err(bad_clause("VERSION AS OF needs a version number")),
        _ => return Err(bad_clause("TIMESTAMP AS OF needs a quoted timestamp")),
    };
    Ok(Some((as_of, i + 3)))
}

fn bad_clause(what: &str) -> EngineError {
    EngineError::InvalidOption {
        option: "AS OF".into(),
        reason: format!(
            "{what}; write e.g. `FROM db.t VERSION AS OF 3` or `FROM db.t TIMESTAMP AS OF '2026-12-01 00:00:00'`"
        ),
    }
}

/// `2026-12-01`, `2026-12-01 06:00:00[.fff]` (UTC) or RFC 3339 with a zone.
fn parse_timestamp(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(bad_clause(&format!("`{text}` is not a timestamp")))
}

/// The table name that ends just before `i`, when it follows FROM, JOIN or a comma; with the index
/// of its first token.
fn name_before(tokens: &[TokenWithSpan], i: usize, normalize: bool) -> Option<(TableName, usize)> {
    let last = i.checked_sub(1)?;
    let (name, start) = match &tokens[last].token {
        Token::SingleQuotedString(path) => (TableName::Path(path.clone()), last),
        Token::Word(_) => {
            let mut parts = Vec::new();
            let mut j = last;
            loop {
                let Token::Word(w) = &tokens[j].token else {
                    return None;
                };
                parts.push(match w.quote_style {
                    None if normalize => w.value.to_ascii_lowercase(),
                    _ => w.value.clone(),
                });
                match j.checked_sub(1).map(|k| &tokens[k].token) {
                    Some(Token::Period) if j >= 2 => j -= 2,
                    _ => break,
                }
            }
            parts.reverse();
            (TableName::Parts(parts), j)
        }
        _ => return None,
    };
    let before = &tokens[start.checked_sub(1)?].token;
    let follows_from = match before {
        Token::Comma => true,
        Token::Word(w) => matches!(w.keyword, Keyword::FROM | Keyword::JOIN),
        _ => false,
    };
    follows_from.then_some((name, start))
}

/// Turns the tokenizer's line and column positions into byte offsets.
struct LineOffsets<'a> {
    sql: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(sql: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Self { sql, starts }
    }

    /// The byte where a token starts, or where it ends when `end`.
    fn byte(&self, token: &TokenWithSpan, end: bool) -> usize {
        let at = if end { token.span.end } else { token.span.start };
        let line_start = self
            .starts
            .get(usize::try_from(at.line).unwrap_or(1).saturating_sub(1))
            .copied()
            .unwrap_or(self.sql.len());
        let column = usize::try_from(at.column).unwrap_or(1).saturating_sub(1);
        self.sql[line_start..]
            .char_indices()
            .nth(column)
            .map_or(self.sql.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn rewrite(sql: &str) -> (String, Vec<(TableName, AsOf)>) {
        let found = find(sql, &GenericDialect {}, true).unwrap();
        let mut out = String::new();
        let mut at = 0;
        for v in &found {
            out.push_str(&sql[at..v.range.start]);
            out.push('X');
            at = v.range.end;
        }
        out.push_str(&sql[at..]);
        (out, found.into_iter().map(|v| (v.name, v.as_of)).collect())
    }

    fn parts(p: &[&str]) -> TableName {
        TableName::Parts(p.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn versioned_tables_are_found_with_their_exact_text() {
        let (out, found) = rewrite("SELECT o.id FROM raw.Orders VERSION AS OF 3 o WHERE x = 'it''s'");
        assert_eq!(out, "SELECT o.id FROM X o WHERE x = 'it''s'");
        assert_eq!(found, vec![(parts(&["raw", "orders"]), AsOf::Version(3))]);

        let (out, found) = rewrite(
            "select *\nfrom 'out/' timestamp as of '2026-12-01 06:00:00' a\n  join \"Db\".t VERSION AS OF 0 b on a.id = b.id",
        );
        assert_eq!(out, "select *\nfrom X a\n  join X b on a.id = b.id");
        let t = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(6, 0, 0)
            .unwrap()
            .and_utc();
        assert_eq!(
            found,
            vec![
                (TableName::Path("out/".into()), AsOf::Timestamp(t)),
                (parts(&["Db", "t"]), AsOf::Version(0)),
            ]
        );
    }

    #[test]
    fn clauses_can_be_cut_leaving_the_names() {
        assert_eq!(
            without_versions("SELECT * FROM a VERSION AS OF 1 x JOIN 'p/' timestamp as of '2026-01-01' y")
                .unwrap(),
            "SELECT * FROM a  x JOIN 'p/'  y"
        );
    }

    #[test]
    fn other_uses_of_the_words_are_left_alone() {
        for sql in [
            "SELECT CAST(x AS TIMESTAMP) AS of FROM t",
            "SELECT 'VERSION AS OF 3' FROM t",
            "SELECT version FROM t",
        ] {
            let (out, found) = rewrite(sql);
            assert_eq!(out, sql);
            assert!(found.is_empty(), "{sql}");
        }
    }

    #[test]
    fn a_clause_without_its_value_is_bad_input() {
        for sql in [
            "SELECT * FROM t VERSION AS OF 'x'",
            "SELECT * FROM t TIMESTAMP AS OF 3",
        ] {
            let err = find(sql, &GenericDialect {}, true).unwrap_err();
            assert!(err.to_string().contains("AS OF"), "{err}");
        }
        let err = find("SELECT * FROM t TIMESTAMP AS OF 'soon'", &GenericDialect {}, true).unwrap_err();
        assert!(err.to_string().contains("`soon` is not a timestamp"), "{err}");
    }
}
