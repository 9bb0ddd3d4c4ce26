//! A query's partition filters as a SQLite condition on the catalog's file rows, so a table of many
//! partitions is read from the catalog one partition at a time instead of whole.
//!
//! The condition may select more files than the filters keep, never fewer: a filter it cannot
//! translate is left out (the table still applies every filter to the files it gets), and each
//! translated comparison keeps a file whenever SQLite could not compare its value the way
//! DataFusion does.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use rusqlite::types::Value;

/// Stands for the table's id in a condition's SQL (the catalog puts the number in).
pub const TABLE_ID: &str = "{table_id}";

/// The first partition key's value as written: the catalog indexes it (`files_first_value`).
const FIRST_VALUE: &str = "json_extract(partition_values, '$[0]')";
/// Files whose first value is not a plainly written integer (`files_first_not_integer`).
const FIRST_NOT_INTEGER: &str = "CAST(CAST(json_extract(partition_values, '$[0]') AS INTEGER) AS TEXT) IS NOT json_extract(partition_values, '$[0]')";
/// Files whose first value is not a ten-character date (`files_first_not_date`).
const FIRST_NOT_DATE: &str = "length(json_extract(partition_values, '$[0]')) IS NOT 10";

/// A `WHERE` condition on the `files` table with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionCondition {
    /// SQL over `partition_values` (a JSON array in partition-key order), with `?` parameters.
    pub sql: String,
    /// The parameters, in order.
    pub params: Vec<Value>,
    /// The condition picks its files by rowid through an index (`rowid IN (...)` at its top
    /// level): the catalog then looks rows up by rowid rather than walking the table's files.
    pub by_rowid: bool,
}

/// The condition the `filters` (AND-ed, as a table scan gets them) put on the partition `keys`;
/// `None` when none of them can be translated.
pub fn condition(filters: &[Expr], keys: &[(String, DataType)]) -> Option<PartitionCondition> {
    let parts: Vec<PartitionCondition> = filters
        .iter()
        .flat_map(|f| datafusion::logical_expr::utils::split_conjunction_owned(f.clone()))
        .filter_map(|f| translate(&f, keys))
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(PartitionCondition {
        sql: parts
            .iter()
            .map(|p| format!("({})", p.sql))
            .collect::<Vec<_>>()
            .join(" AND "),
        by_rowid: parts.iter().any(|p| p.by_rowid),
        params: parts.into_iter().flat_map(|p| p.params).collect(),
    })
}

fn translate(expr: &Expr, keys: &[(String, DataType)]) -> Option<PartitionCondition> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => {
                let (l, r) = (translate(left, keys)?, translate(right, keys)?);
                let joiner = if *op == Operator::And { "AND" } else { "OR" };
                Some(PartitionCondition {
                    sql: format!("({}) {joiner} ({})", l.sql, r.sql),
                    by_rowid: *op == Operator::And && (l.by_rowid || r.by_rowid),
                    params: l.params.into_iter().chain(r.params).collect(),
                })
            }
            _ => compare(left, *op, right, keys).or_else(|| compare(right, flip(*op)?, left, keys)),
        },
        Expr::InList(list) if !list.negated => {
            let key = key_of(&list.expr, keys)?;
            let values: Vec<Value> = list
                .list
                .iter()
                .map(|v| literal(v, &key.1))
                .collect::<Option<_>>()?;
            let marks = vec!["?"; values.len()].join(", ");
            Some(key.test(&format!("IN ({marks})"), values, false))
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let key = key_of(expr, keys)?;
            let values = vec![literal(low, &key.1)?, literal(high, &key.1)?];
            Some(key.test("BETWEEN ? AND ?", values, true))
        }
        Expr::IsNull(inner) => {
            let key = key_of(inner, keys)?;
            Some(PartitionCondition {
                sql: format!("{} IS NULL", key.raw()),
                params: Vec::new(),
                by_rowid: false,
            })
        }
        _ => None,
    }
}

/// `column op literal`, when the column is a partition key.
fn compare(
    column: &Expr,
    op: Operator,
    value: &Expr,
    keys: &[(String, DataType)],
) -> Option<PartitionCondition> {
    let sql_op = match op {
        Operator::Eq => "=",
        Operator::NotEq => "!=",
        Operator::Lt => "<",
        Operator::LtEq => "<=",
        Operator::Gt => ">",
        Operator::GtEq => ">=",
        _ => return None,
    };
    let key = key_of(column, keys)?;
    let value = literal(value, &key.1)?;
    let range = !matches!(op, Operator::Eq);
    Some(key.test(&format!("{sql_op} ?"), vec![value], range))
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Eq | Operator::NotEq => op,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        _ => return None,
    })
}

/// A partition key a filter names: its position and type.
struct Key(usize, DataType);

impl Key {
    /// The stored value as JSON text or NULL.
    fn raw(&self) -> String {
        format!("json_extract(partition_values, '$[{}]')", self.0)
    }

    /// The stored value as SQLite compares it with a parameter of the key's type.
    fn value(&self) -> String {
        match self.1 {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                format!("CAST({} AS INTEGER)", self.raw())
            }
            _ => self.raw(),
        }
    }

    /// `value test`, e.g. `= ?` or `IN (?, ?)`; `range` when the test orders values. On the first
    /// key it goes through the catalog's indexes where the written text decides: the value index
    /// for the test, and the partial index of values not written plainly (which the test on the
    /// text cannot decide) beside it. Elsewhere every file row of the table is tested.
    fn test(&self, test: &str, params: Vec<Value>, range: bool) -> PartitionCondition {
        let text_orders = !matches!(
            self.1,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
        );
        if self.0 != 0 || (range && !text_orders) {
            return self.guarded(format!("{} {test}", self.value()), params);
        }
        let select = format!("SELECT rowid FROM files WHERE table_id = {TABLE_ID} AND");
        let mut sql = format!("rowid IN ({select} {FIRST_VALUE} {test}");
        match self.1 {
            DataType::Date32 => sql.push_str(&format!(" UNION ALL {select} {FIRST_NOT_DATE}")),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {}
            _ => sql.push_str(&format!(" UNION ALL {select} {FIRST_NOT_INTEGER}")),
        }
        sql.push(')');
        // Compared with the written text, so integers as text too.
        let params = params
            .into_iter()
            .map(|p| match p {
                Value::Integer(n) => Value::Text(n.to_string()),
                other => other,
            })
            .collect();
        PartitionCondition {
            sql,
            params,
            by_rowid: true,
        }
    }

    /// `sql`, keeping also the files whose value SQLite cannot compare as DataFusion would: dates
    /// not written as ten-character ISO dates, integers not written plainly.
    fn guarded(&self, sql: String, params: Vec<Value>) -> PartitionCondition {
        let raw = self.raw();
        let sql = match self.1 {
            DataType::Date32 => format!("({sql}) OR length({raw}) != 10"),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                format!("({sql}) OR CAST(CAST({raw} AS INTEGER) AS TEXT) != {raw}")
            }
            _ => sql,
        };
        PartitionCondition {
            sql,
            params,
            by_rowid: false,
        }
    }
}

fn key_of(expr: &Expr, keys: &[(String, DataType)]) -> Option<Key> {
    let Expr::Column(column) = expr else {
        return None;
    };
    let (index, (_, ty)) = keys
        .iter()
        .enumerate()
        .find(|(_, (name, _))| *name == column.name)?;
    let comparable = matches!(
        ty,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Date32
    );
    comparable.then(|| Key(index, ty.clone()))
}

/// A literal as a parameter comparable with a key of type `ty`.
fn literal(expr: &Expr, ty: &DataType) -> Option<Value> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match (ty, value) {
        (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64, v) => {
            integer(v).map(Value::Integer)
        }
        (
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View,
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)),
        ) => Some(Value::Text(s.clone())),
        (DataType::Date32, ScalarValue::Date32(Some(days))) => {
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)?;
            Some(Value::Text(date.format("%Y-%m-%d").to_string()))
        }
        _ => None,
    }
}

fn integer(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => Some(*v),
        ScalarValue::UInt8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    fn keys() -> Vec<(String, DataType)> {
        vec![
            ("k".into(), DataType::Int64),
            ("s".into(), DataType::Utf8),
            ("d".into(), DataType::Date32),
            ("f".into(), DataType::Float64),
        ]
    }

    #[test]
    fn translates_what_it_can_and_leaves_the_rest_to_the_table() {
        let c = condition(
            &[
                col("k").eq(lit(5_i64)),
                col("s").in_list(vec![lit("a"), lit("b")], false),
            ],
            &keys(),
        )
        .unwrap();
        assert_eq!(
            c.params,
            vec![
                Value::Text("5".into()),
                Value::Text("a".into()),
                Value::Text("b".into())
            ]
        );
        assert!(
            c.sql.contains("json_extract(partition_values, '$[0]') = ?"),
            "{}",
            c.sql
        );
        assert!(
            c.sql.contains("json_extract(partition_values, '$[1]') IN (?, ?)"),
            "{}",
            c.sql
        );
        // A float key, a non-key column and a function are not translated.
        assert_eq!(condition(&[col("f").eq(lit(1.5))], &keys()), None);
        assert_eq!(condition(&[col("x").eq(lit(1_i64))], &keys()), None);
        // An OR translates only when both sides do.
        assert_eq!(
            condition(&[col("k").eq(lit(1_i64)).or(col("x").eq(lit(2_i64)))], &keys()),
            None
        );
        let flipped = condition(&[lit(3_i64).lt(col("k"))], &keys()).unwrap();
        assert!(flipped.sql.contains("AS INTEGER) > ?"), "{}", flipped.sql);
    }

    #[test]
    fn selects_the_files_datafusion_would_keep_and_never_fewer() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE files (table_id INTEGER, path TEXT, partition_values TEXT);
             CREATE INDEX files_first_value ON files (table_id, json_extract(partition_values, '$[0]'));",
        )
        .unwrap();
        let rows = [
            ("a", r#"["1","x","2026-11-01",null]"#),
            ("b", r#"["2","y","2026-11-02",null]"#),
            ("c", r#"["10","x","2026-11-10",null]"#),
            ("d", r#"["007","z","2026-1-3",null]"#),
            ("e", r#"[null,null,null,null]"#),
        ];
        for (path, values) in rows {
            conn.execute("INSERT INTO files VALUES (1, ?1, ?2)", [path, values])
                .unwrap();
        }
        let select = |filters: Vec<Expr>| -> Vec<String> {
            let c = condition(&filters, &keys()).unwrap();
            let sql = format!(
                "SELECT path FROM files WHERE {} ORDER BY path",
                c.sql.replace(TABLE_ID, "1")
            );
            let mut stmt = conn.prepare(&sql).unwrap();
            stmt.query_map(rusqlite::params_from_iter(c.params.iter()), |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<Vec<String>>>()
                .unwrap()
        };
        assert_eq!(
            select(vec![col("k").eq(lit(2_i64))]),
            ["b", "d"],
            "007 is kept: SQLite cannot tell"
        );
        assert_eq!(
            select(vec![col("k").gt(lit(5_i64))]),
            ["c", "d"],
            "numbers, not text"
        );
        assert_eq!(select(vec![col("s").eq(lit("x"))]), ["a", "c"]);
        let nov_2 = ScalarValue::Date32(Some(20_759));
        assert_eq!(
            select(vec![col("d").gt_eq(Expr::Literal(nov_2, None))]),
            ["b", "c", "d"],
            "2026-1-3 is kept"
        );
        assert_eq!(select(vec![col("k").is_null()]), ["e"]);
        assert_eq!(
            select(vec![col("k").between(lit(1_i64), lit(2_i64))]),
            ["a", "b", "d"]
        );
    }
}
