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
use crate::transform::quote;

/// What a quality rule does when it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    /// Fail the run; nothing commits.
    Fail,
    /// Record and log, then go on.
    Warn,
}

impl std::str::FromStr for OnFail {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "fail" => Ok(Self::Fail),
            "warn" => Ok(Self::Warn),
            other => Err(format!("`on_fail = \"{other}\"` is not one of fail, warn")),
        }
    }
}

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

/// A rule checked and compiled when the job file is read: a typo fails the job file (exit 2)
/// before any input is read, not the run after every sink wrote.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The step (or source) checked, as written.
    step: String,
    /// The step as registered (lower case).
    key: String,
    /// The rule or query as written.
    written: String,
    /// Its label in logs and the run record.
    label: String,
    check: Check,
    /// What a failure does.
    pub on_fail: OnFail,
}

impl Rule {
    /// Compiles a rule (`rule = ...`) or a query (`sql = ...`) on `step`; the error says why it
    /// cannot be read.
    pub fn compile(
        step: &str,
        rule: Option<&str>,
        sql: Option<&str>,
        name: Option<&str>,
        on_fail: OnFail,
    ) -> std::result::Result<Self, String> {
        let key = step.to_ascii_lowercase();
        let check = match (rule, sql) {
            (Some(rule), None) => compile(rule, &quote(&key))?,
            (None, Some(sql)) => Check::Custom(sql.to_string()),
            _ => return Err("write exactly one of `rule = \"...\"` or `sql = \"SELECT ...\"`".into()),
        };
        if let Check::Violations(query) | Check::Custom(query) = &check {
            parses(query)?;
        }
        let written = rule.or(sql).unwrap_or_default().to_string();
        Ok(Self {
            label: name.map_or_else(|| written.clone(), str::to_string),
            step: step.to_string(),
            key,
            written,
            check,
            on_fail,
        })
    }

    /// The rule as written.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// The step it checks, as written.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The step it checks, as registered (lower case).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Evaluates the rule on its step (a registered table).
    pub async fn evaluate(&self, ctx: &SessionContext) -> Result<RuleResult> {
        let context = format!("quality rule `{}` on `{}`", self.label, self.key);
        let query = match &self.check {
            Check::RowCount { .. } => format!("SELECT count(*) FROM {}", quote(&self.key)),
            Check::Violations(q) | Check::Custom(q) => q.clone(),
        };
        let batches = ctx
            .sql(&query)
            .await
            .map_err(|e| JobError::datafusion(context.clone(), e))?
            .collect()
            .await
            .map_err(|e| JobError::datafusion(context.clone(), e))?;
        let (passed, observed) = verdict(&self.check, first_value(&batches)).ok_or_else(|| {
            JobError::Quality(format!(
                "{context}: the query must return one row with a boolean first column"
            ))
        })?;
        Ok(RuleResult {
            name: self.label.clone(),
            step: self.key.clone(),
            rule: self.written.clone(),
            passed,
            observed,
            on_fail: self.on_fail,
        })
    }
}

/// Whether a query parses, with the parser's reason when not.
fn parses(query: &str) -> std::result::Result<(), String> {
    datafusion::sql::parser::DFParser::parse_sql(query)
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
        return row_count(rest.trim());
    }
    if let Some(cols) = call(text, "not_null").or_else(|| call(text, "complete")) {
        return not_null(&cols, table);
    }
    if let Some(cols) = call(text, "unique") {
        return unique(&cols, table);
    }
    if let Some(args) = call(text, "accepted_values") {
        return accepted_values(&args, table);
    }
    if let Some(args) = call(text, "range") {
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

/// `row_count OP N` or `row_count between A and B`, `rest` being what follows `row_count`.
fn row_count(rest: &str) -> std::result::Result<Check, String> {
    let number = |s: &str| {
        s.trim()
            .replace('_', "")
            .parse::<i64>()
            .map_err(|_| format!("`{}` is not a whole number", s.trim()))
    };
    if let Some(range) = rest.strip_prefix("between") {
        let (low, high) = range
            .split_once(" and ")
            .ok_or_else(|| "write `row_count between LOW and HIGH`".to_string())?;
        return Ok(Check::RowCount {
            op: "between".into(),
            low: number(low)?,
            high: number(high)?,
        });
    }
    for op in [">=", "<=", "!=", "<>", "==", ">", "<", "="] {
        if let Some(n) = rest.strip_prefix(op) {
            let n = number(n)?;
            return Ok(Check::RowCount {
                op: op.to_string(),
                low: n,
                high: n,
            });
        }
    }
    Err("write `row_count > N`, `row_count >= N`, `row_count = N` or `row_count between A and B`".into())
}

/// The arguments of `name(...)` when `text` is that one call (arguments keep their case).
fn call(text: &str, name: &str) -> Option<Vec<String>> {
    let head = text.get(..name.len())?;
    let rest = text[name.len()..].trim_start();
    if !head.eq_ignore_ascii_case(name) || !rest.starts_with('(') || !rest.ends_with(')') {
        return None;
    }
    let open = text.find('(')?;
    // `complete(a) OR (b > 0)` is a condition, not a call: the first `(` must close at the end.
    (closing_paren(text, open)? + 1 == text.len()).then(|| split_args(&text[open + 1..text.len() - 1]))
}

/// Where the parenthesis opened at `open` closes, skipping quoted text.
fn closing_paren(text: &str, open: usize) -> Option<usize> {
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
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn not_null(cols: &[String], table: &str) -> std::result::Result<Check, String> {
    if cols.is_empty() {
        return Err("name at least one column: `not_null(a, b)`".into());
    }
    let cond = cols
        .iter()
        .map(|c| format!("{} IS NULL", column(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    Ok(Check::Violations(format!(
        "SELECT count(*) FROM {table} WHERE {cond}"
    )))
}

fn unique(cols: &[String], table: &str) -> std::result::Result<Check, String> {
    if cols.is_empty() {
        return Err("name at least one column: `unique(a)`".into());
    }
    let list = cols.iter().map(|c| column(c)).collect::<Vec<_>>().join(", ");
    Ok(Check::Violations(format!(
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {table} GROUP BY {list} HAVING count(*) > 1)"
    )))
}

fn accepted_values(args: &[String], table: &str) -> std::result::Result<Check, String> {
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
    Ok(Check::Violations(format!(
        "SELECT count(*) FROM {table} WHERE {c} IS NOT NULL AND {c} NOT IN ({})",
        values.join(", "),
        c = column(col)
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

/// Whether the rule held and what was observed; `None` when a custom query returned no boolean.
fn verdict(check: &Check, value: Option<(DataType, i64, Option<bool>)>) -> Option<(bool, String)> {
    Some(match (check, value) {
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
        (Check::Custom(_), _) => return None,
        (_, None) => (false, "no result".to_string()),
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
                Rule::compile("s", Some(rule), None, None, OnFail::Fail)
                    .unwrap()
                    .evaluate(&ctx)
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
        let custom = Rule::compile("s", None, Some("SELECT sum(id) = 5 FROM s"), None, OnFail::Warn)
            .unwrap()
            .evaluate(&ctx)
            .await
            .unwrap();
        assert!(custom.passed);
    }
}
