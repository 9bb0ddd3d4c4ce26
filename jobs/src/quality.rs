//! Data-quality rules, checked on a step's output before anything commits.
//!
//! | rule                                 | holds when                                         |
//! |--------------------------------------|----------------------------------------------------|
//! | `row_count > 0` (`>=`,`<`,`<=`,`=`,`!=`) | the row count compares so                     |
//! | `row_count between 10 and 1000`      | the row count is in the range (inclusive)          |
//! | `not_null(a, b)` / `complete(a)`     | no NULL in the columns                             |
//! | `unique(a, b)`                       | no two rows share the values of the columns        |
//! | `accepted_values(c, 'x', 'y')`       | every non-NULL `c` is one of the values            |
//! | `range(c, 0, 100)`                   | every non-NULL `c` is within the bounds (inclusive)|
//! | any other text, e.g. `amount >= 0`   | the SQL condition is true for every row            |
//! | `sql = "SELECT ..."`                 | the query returns one row whose first value is true|

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::error::{JobError, Result};
use crate::spec::OnFail;
use crate::transform::quote;

/// The outcome of one rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleResult {
    /// The rule's label (its `name`, or its text).
    pub name: String,
    /// The step checked.
    pub step: String,
    /// The rule as written.
    pub rule: String,
    /// Whether it held.
    pub passed: bool,
    /// What was measured, e.g. `row_count = 0` or `3 rows violate`.
    pub observed: String,
    /// What a failure does.
    pub on_fail: OnFail,
}

/// A rule compiled to a query and a verdict on its result.
#[derive(Debug, Clone, PartialEq)]
enum Check {
    RowCount {
        op: String,
        low: i64,
        high: i64,
    },
    /// The query counts offending rows; 0 passes.
    Violations(String),
    /// A user query returning one boolean.
    Custom(String),
}

/// Splits `a, 'b, c', d` at top-level commas, keeping quotes and parentheses intact.
fn split_args(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut depth, mut quote_char) = (0i32, None::<char>);
    for ch in text.chars() {
        match (quote_char, ch) {
            (Some(q), c) if c == q => {
                quote_char = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote_char = Some(ch);
                current.push(ch);
            }
            (None, '(') => {
                depth += 1;
                current.push(ch);
            }
            (None, ')') => {
                depth -= 1;
                current.push(ch);
            }
            (None, ',') if depth == 0 => parts.push(std::mem::take(&mut current).trim().to_string()),
            (None, c) => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_string());
    }
    parts
}

/// A column named in a rule: quoted unless the user quoted it already.
fn column(name: &str) -> String {
    if name.starts_with('"') {
        name.to_string()
    } else {
        quote(name)
    }
}

/// Checks a rule (`rule = ...`) or a query (`sql = ...`) when the job file is read, so a typo fails
/// the job file (exit 2) before any input is read rather than the run after every sink wrote.
pub(crate) fn check_written(rule: Option<&str>, sql: Option<&str>) -> std::result::Result<(), String> {
    let query = match (rule, sql) {
        (Some(rule), _) => match compile(rule, "checked")? {
            Check::RowCount { .. } => return Ok(()),
            Check::Violations(q) | Check::Custom(q) => q,
        },
        (None, Some(sql)) => sql.to_string(),
        (None, None) => return Ok(()),
    };
    datafusion::sql::parser::DFParser::parse_sql(&query)
        .map(|_| ())
        .map_err(|e| {
            // The parser's position is in the query built around the rule, not in the rule.
            let text = e.to_string();
            let text = text
                .split_once("ParserError(\"")
                .map_or(text.as_str(), |(_, rest)| rest.trim_end_matches("\")"));
            let text = text.split(" at Line:").next().unwrap_or(text);
            format!("not valid SQL ({text})")
        })
}

fn compile(rule: &str, table: &str) -> std::result::Result<Check, String> {
    let text = rule.trim();
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("row_count") {
        let rest = rest.trim();
        if let Some(range) = rest.strip_prefix("between") {
            let (low, high) = range
                .split_once(" and ")
                .ok_or_else(|| "write `row_count between LOW and HIGH`".to_string())?;
            let parse = |s: &str| {
                s.trim()
                    .replace('_', "")
                    .parse::<i64>()
                    .map_err(|_| format!("`{}` is not a whole number", s.trim()))
            };
            return Ok(Check::RowCount {
                op: "between".into(),
                low: parse(low)?,
                high: parse(high)?,
            });
        }
        for op in [">=", "<=", "!=", "<>", "==", ">", "<", "="] {
            if let Some(n) = rest.strip_prefix(op) {
                let n = n
                    .trim()
                    .replace('_', "")
                    .parse::<i64>()
                    .map_err(|_| format!("`{}` is not a whole number", n.trim()))?;
                return Ok(Check::RowCount {
                    op: op.to_string(),
                    low: n,
                    high: n,
                });
            }
        }
        return Err(
            "write `row_count > N`, `row_count >= N`, `row_count = N` or `row_count between A and B`".into(),
        );
    }
    let call = |name: &str| -> Option<Vec<String>> {
        let rest = lower.strip_prefix(name)?.trim_start();
        rest.starts_with('(').then_some(())?;
        rest.ends_with(')').then_some(())?;
        // Arguments keep their original case.
        let open = text.find('(')?;
        // `complete(a) OR (b > 0)` is a condition, not a call: the first `(` must close at the end.
        let mut depth = 0i32;
        let mut quote = None;
        for (i, ch) in text.char_indices().skip_while(|(i, _)| *i < open) {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(ch),
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth -= 1;
                    if depth == 0 && i + 1 != text.len() {
                        return None;
                    }
                }
                _ => {}
            }
        }
        Some(split_args(&text[open + 1..text.len() - 1]))
    };
    if let Some(cols) = call("not_null").or_else(|| call("complete")) {
        if cols.is_empty() {
            return Err("name at least one column: `not_null(a, b)`".into());
        }
        let cond = cols
            .iter()
            .map(|c| format!("{} IS NULL", column(c)))
            .collect::<Vec<_>>()
            .join(" OR ");
        return Ok(Check::Violations(format!(
            "SELECT count(*) FROM {table} WHERE {cond}"
        )));
    }
    if let Some(cols) = call("unique") {
        if cols.is_empty() {
            return Err("name at least one column: `unique(a)`".into());
        }
        let list = cols.iter().map(|c| column(c)).collect::<Vec<_>>().join(", ");
        return Ok(Check::Violations(format!(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {table} GROUP BY {list} HAVING count(*) > 1)"
        )));
    }
    if let Some(args) = call("accepted_values") {
        let (col, values) = args
            .split_first()
            .filter(|(_, v)| !v.is_empty())
            .ok_or_else(|| "write `accepted_values(column, 'a', 'b')`".to_string())?;
        // A NULL in the list would make `NOT IN` never true; NULL values are not_null's business.
        let values: Vec<&str> = values
            .iter()
            .map(String::as_str)
            .filter(|v| !v.eq_ignore_ascii_case("null"))
            .collect();
        if values.is_empty() {
            return Err("list at least one value that is not NULL".into());
        }
        return Ok(Check::Violations(format!(
            "SELECT count(*) FROM {table} WHERE {c} IS NOT NULL AND {c} NOT IN ({})",
            values.join(", "),
            c = column(col)
        )));
    }
    if let Some(args) = call("range") {
        let [col, low, high] = args.as_slice() else {
            return Err("write `range(column, low, high)`".into());
        };
        return Ok(Check::Violations(format!(
            "SELECT count(*) FROM {table} WHERE {c} < {low} OR {c} > {high}",
            c = column(col)
        )));
    }
    Ok(Check::Violations(format!(
        "SELECT count(*) FROM {table} WHERE NOT coalesce(({text}), false)"
    )))
}

fn first_value(batches: &[arrow::record_batch::RecordBatch]) -> Option<(DataType, i64, Option<bool>)> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let col = batch.column(0);
    if col.is_null(0) {
        return Some((col.data_type().clone(), 0, None));
    }
    match col.data_type() {
        DataType::Boolean => Some((DataType::Boolean, 0, Some(col.as_boolean().value(0)))),
        DataType::Int64 => Some((DataType::Int64, col.as_primitive::<Int64Type>().value(0), None)),
        other => {
            let cast = arrow::compute::cast(col, &DataType::Int64).ok()?;
            Some((other.clone(), cast.as_primitive::<Int64Type>().value(0), None))
        }
    }
}

/// Evaluates one rule on `step` (a registered table).
pub async fn evaluate(
    ctx: &SessionContext,
    step: &str,
    rule: Option<&str>,
    sql: Option<&str>,
    name: Option<&str>,
    on_fail: OnFail,
) -> Result<RuleResult> {
    let written = rule.or(sql).unwrap_or_default().to_string();
    let label = name.map(str::to_string).unwrap_or_else(|| written.clone());
    let context = format!("quality rule `{label}` on `{step}`");
    let check = match (rule, sql) {
        (Some(rule), _) => compile(rule, &quote(step))
            .map_err(|m| JobError::Quality(format!("rule `{rule}` cannot be read: {m}")))?,
        (None, Some(sql)) => Check::Custom(sql.to_string()),
        (None, None) => return Err(JobError::Quality(format!("{context} has no rule"))),
    };
    let query = match &check {
        Check::RowCount { .. } => format!("SELECT count(*) FROM {}", quote(step)),
        Check::Violations(q) | Check::Custom(q) => q.clone(),
    };
    let batches = ctx
        .sql(&query)
        .await
        .map_err(|e| JobError::datafusion(context.clone(), e))?
        .collect()
        .await
        .map_err(|e| JobError::datafusion(context.clone(), e))?;
    let value = first_value(&batches);
    let (passed, observed) = match (&check, value) {
        (Check::RowCount { op, low, high }, Some((_, n, _))) => {
            let ok = match op.as_str() {
                "between" => (*low..=*high).contains(&n),
                ">" => n > *low,
                ">=" => n >= *low,
                "<" => n < *low,
                "<=" => n <= *low,
                "!=" | "<>" => n != *low,
                _ => n == *low,
            };
            (ok, format!("row_count = {n}"))
        }
        (Check::Violations(_), Some((_, n, _))) => (n == 0, format!("{n} rows violate")),
        (Check::Custom(_), Some((DataType::Boolean, _, Some(b)))) => (b, format!("query returned {b}")),
        (Check::Custom(_), _) => {
            return Err(JobError::Quality(format!(
                "{context}: the query must return one row with a boolean first column"
            )));
        }
        (_, None) => (false, "no result".to_string()),
    };
    Ok(RuleResult {
        name: label,
        step: step.to_string(),
        rule: written,
        passed,
        observed,
        on_fail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_compile_to_queries() {
        let t = "\"t\"";
        assert_eq!(
            compile("row_count between 1 and 1_000", t).unwrap(),
            Check::RowCount {
                op: "between".into(),
                low: 1,
                high: 1000
            }
        );
        assert_eq!(
            compile("not_null(a, \"B\")", t).unwrap(),
            Check::Violations("SELECT count(*) FROM \"t\" WHERE \"a\" IS NULL OR \"B\" IS NULL".into())
        );
        assert_eq!(
            compile("accepted_values(status, 'a, b', 'c')", t).unwrap(),
            Check::Violations(
                "SELECT count(*) FROM \"t\" WHERE \"status\" IS NOT NULL AND \"status\" NOT IN ('a, b', 'c')"
                    .into()
            )
        );
        assert!(compile("row_count ~ 3", t).is_err());
        assert_eq!(
            compile("complete(a) OR (b > 0)", t).unwrap(),
            Check::Violations(
                "SELECT count(*) FROM \"t\" WHERE NOT coalesce((complete(a) OR (b > 0)), false)".into()
            )
        );
        assert!(compile("range(a, 1)", t).is_err());
    }

    #[tokio::test]
    async fn rules_hold_or_not_on_real_rows() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE VIEW s AS SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (2, NULL)) AS t(id, status)")
            .await
            .unwrap();
        let check = |rule: &'static str| {
            let ctx = ctx.clone();
            async move {
                evaluate(&ctx, "s", Some(rule), None, None, OnFail::Fail)
                    .await
                    .unwrap()
            }
        };
        assert!(check("row_count = 3").await.passed);
        assert!(!check("row_count > 3").await.passed);
        let unique = check("unique(id)").await;
        assert_eq!(
            (unique.passed, unique.observed.as_str()),
            (false, "1 rows violate")
        );
        assert!(!check("not_null(status)").await.passed);
        assert!(check("accepted_values(status, 'a', 'b')").await.passed);
        assert!(
            !check("accepted_values(status, 'a', NULL)").await.passed,
            "a NULL in the list"
        );
        assert!(!check("range(id, 0, 1)").await.passed);
        assert!(check("id > 0").await.passed);
        let custom = evaluate(
            &ctx,
            "s",
            None,
            Some("SELECT sum(id) = 5 FROM s"),
            None,
            OnFail::Warn,
        )
        .await
        .unwrap();
        assert!(custom.passed);
    }
}
