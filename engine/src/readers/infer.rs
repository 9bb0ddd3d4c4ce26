//! Schema inference beyond what each format's reader does alone: the widening lattice that merges
//! the schemas of many files, CSV dialect sniffing (delimiter, header), and dates and timestamps in
//! JSON strings.
//!
//! ```text
//! widening (same column in two files):
//!   Null ∨ T = T        Int8..Int64, UInt8..UInt32 ∨ each other = Int64
//!   integer ∨ float/decimal = Float64            Decimal(p1,s1) ∨ Decimal(p2,s2) = Decimal (or Float64 past 38 digits)
//!   Date32 ∨ Timestamp(u) = Timestamp(u)          Timestamp(u1) ∨ Timestamp(u2) = the finer unit
//!   Struct ∨ Struct = fields merged by name        List(a) ∨ List(b) = List(a ∨ b)
//!   anything else (strings included) = Utf8
//! ```

use std::io::Read;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::error::{EngineError, Result};

fn is_int(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}

fn is_number(t: &DataType) -> bool {
    is_int(t)
        || matches!(
            t,
            DataType::UInt64
                | DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
        )
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn finer(a: TimeUnit, b: TimeUnit) -> TimeUnit {
    let rank = |u: TimeUnit| match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    };
    if rank(a) >= rank(b) { a } else { b }
}

/// The narrowest type both `a` and `b` values fit (see the module's lattice).
pub fn widen(a: &DataType, b: &DataType) -> DataType {
    use DataType::*;
    if a == b {
        return if is_string(a) { Utf8 } else { a.clone() };
    }
    match (a, b) {
        (Null, x) | (x, Null) => x.clone(),
        (x, y) if is_string(x) && is_string(y) => Utf8,
        (x, y) if is_int(x) && is_int(y) => Int64,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let scale = (*s1).max(*s2);
            let int_digits = (*p1 as i16 - *s1 as i16).max(*p2 as i16 - *s2 as i16).max(0);
            let precision = int_digits + scale as i16;
            if precision <= 38 && scale >= 0 {
                Decimal128(precision as u8, scale)
            } else {
                Float64
            }
        }
        (x, y) if is_number(x) && is_number(y) => Float64,
        (Date32, Timestamp(u, tz)) | (Timestamp(u, tz), Date32) => Timestamp(*u, tz.clone()),
        (Timestamp(u1, tz1), Timestamp(u2, tz2)) if tz1 == tz2 => Timestamp(finer(*u1, *u2), tz1.clone()),
        (Struct(fa), Struct(fb)) => Struct(merge_fields(fa, fb)),
        (List(fa), List(fb)) => List(Arc::new(Field::new(
            fa.name(),
            widen(fa.data_type(), fb.data_type()),
            true,
        ))),
        _ => Utf8,
    }
}

fn merge_fields(a: &Fields, b: &Fields) -> Fields {
    let mut out: Vec<Field> = a.iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
    for f in b {
        match out.iter_mut().find(|o| o.name() == f.name()) {
            Some(o) => *o = Field::new(f.name(), widen(o.data_type(), f.data_type()), true),
            None => out.push(f.as_ref().clone().with_nullable(true)),
        }
    }
    Fields::from(out)
}

/// The schemas of several files merged by column name (first-seen order) with [`widen`]; also says
/// which file widened which column.
pub fn merge_schemas(parts: &[(String, Arc<Schema>)]) -> (Schema, Vec<String>) {
    let mut fields: Vec<Field> = Vec::new();
    let mut notes = Vec::new();
    for (file, schema) in parts {
        for f in schema.fields() {
            match fields.iter_mut().find(|o| o.name() == f.name()) {
                Some(existing) => {
                    let wide = widen(existing.data_type(), f.data_type());
                    if &wide != existing.data_type() {
                        notes.push(format!(
                            "column `{}` widened from {} to {wide} by `{file}` ({})",
                            f.name(),
                            existing.data_type(),
                            f.data_type()
                        ));
                        *existing = Field::new(f.name(), wide, true);
                    }
                }
                None => {
                    let ty = if is_string(f.data_type()) {
                        DataType::Utf8
                    } else {
                        f.data_type().clone()
                    };
                    fields.push(Field::new(f.name(), ty, true));
                }
            }
        }
    }
    (Schema::new(fields), notes)
}

/// The first bytes of a file (decompressed), cut after its last complete line.
pub async fn head(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    compression: FileCompressionType,
    limit: usize,
) -> Result<Vec<u8>> {
    let end = meta.size.min(limit as u64);
    if end == 0 {
        return Ok(Vec::new());
    }
    let bytes = store
        .get_range(&meta.location, 0..end)
        .await
        .map_err(|e| EngineError::store(meta.location.to_string(), e))?;
    let complete_file = end == meta.size;
    let mut data = if compression == FileCompressionType::UNCOMPRESSED {
        bytes.to_vec()
    } else {
        let mut reader = compression.convert_read(std::io::Cursor::new(bytes))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        // A truncated stream ends in an error; what came before it is good.
        while out.len() < limit * 4 {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        out
    };
    if !complete_file || compression != FileCompressionType::UNCOMPRESSED {
        match data.iter().rposition(|b| *b == b'\n') {
            Some(last) => data.truncate(last + 1),
            None if !complete_file => data.clear(),
            None => {}
        }
    }
    Ok(data)
}

/// What CSV sniffing decided for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The field delimiter.
    pub delimiter: u8,
    /// The quote character: `'` when values are wrapped in single quotes and never in double ones.
    pub quote: u8,
    /// `Some(true)` header, `Some(false)` none, `None` no evidence either way.
    pub has_header: Option<bool>,
}

const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];

fn records(head: &[u8], delimiter: u8, quote: u8, max: usize) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .quote(quote)
        .flexible(true)
        .from_reader(head);
    reader
        .records()
        .take(max)
        .filter_map(|r| r.ok())
        .map(|r| r.iter().map(str::to_string).collect())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    Number,
    Bool,
    Temporal,
    Text,
}

fn kind(value: &str) -> Kind {
    let v = value.trim();
    if v.is_empty() {
        Kind::Empty
    } else if v.parse::<f64>().is_ok() {
        Kind::Number
    } else if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        Kind::Bool
    } else if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() || parses_timestamp(v) {
        Kind::Temporal
    } else {
        Kind::Text
    }
}

fn parses_timestamp(v: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(v).is_ok()
        || ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .any(|f| chrono::NaiveDateTime::parse_from_str(v, f).is_ok())
}

/// `'` when some value starts right after a line start or a delimiter with `'` and closes with `'`
/// before a delimiter or line end, and no value is wrapped in `"` that way.
fn sniff_quote(head: &[u8]) -> Option<u8> {
    let wrapped = |q: u8| {
        head.windows(2)
            .enumerate()
            .filter(|(i, w)| {
                w[1] == q && (*i == 0 && w[0] == q || (DELIMITERS.contains(&w[0]) || w[0] == b'\n'))
            })
            .count()
    };
    let (single, double) = (wrapped(b'\''), wrapped(b'"'));
    (single >= 2 && double == 0).then_some(b'\'')
}

/// Sniffs the delimiter (unless `fixed`) and whether the first line is a header, like Python's
/// `csv.Sniffer`: a delimiter must split most lines into the same number (> 1) of fields; a first
/// line whose values do not fit the type (or the fixed length) of the values below them is a header.
pub fn sniff_csv(head: &[u8], fixed: Option<u8>, quote: u8) -> Dialect {
    let quote = sniff_quote(head).unwrap_or(quote);
    let delimiter = fixed.unwrap_or_else(|| {
        let mut best = (b',', 0.0f64, 1usize);
        for d in DELIMITERS {
            let rows = records(head, d, quote, 50);
            if rows.is_empty() {
                continue;
            }
            let mut counts = std::collections::HashMap::new();
            for r in &rows {
                *counts.entry(r.len()).or_insert(0usize) += 1;
            }
            let (modal, n) = counts
                .into_iter()
                .max_by_key(|(len, n)| (*n, *len))
                .unwrap_or((1, 0));
            let consistency = n as f64 / rows.len() as f64;
            if modal > 1 && (consistency > best.1 || (consistency == best.1 && modal > best.2)) {
                best = (d, consistency, modal);
            }
        }
        best.0
    });
    let rows = records(head, delimiter, quote, 50);
    if rows.len() < 2 {
        return Dialect {
            delimiter,
            quote,
            has_header: None,
        };
    }
    let first = &rows[0];
    let mut votes = 0i32;
    for (col, value) in first.iter().enumerate() {
        let below: Vec<&str> = rows[1..]
            .iter()
            .filter_map(|r| r.get(col).map(String::as_str))
            .filter(|v| kind(v) != Kind::Empty)
            .collect();
        if below.is_empty() {
            continue;
        }
        let kinds: Vec<Kind> = below.iter().map(|v| kind(v)).collect();
        let head_kind = kind(value);
        if kinds.iter().all(|k| *k == kinds[0]) && kinds[0] != Kind::Text {
            // An empty first value, or one of the column's type, looks like data.
            if head_kind == Kind::Empty || head_kind == kinds[0] {
                votes -= 1;
            } else {
                votes += 1;
            }
        } else {
            let len = below[0].chars().count();
            if below.iter().all(|v| v.chars().count() == len) && below.len() > 1 {
                if value.chars().count() == len {
                    votes -= 1;
                } else {
                    votes += 1;
                }
            }
        }
    }
    Dialect {
        delimiter,
        quote,
        has_header: match votes.cmp(&0) {
            std::cmp::Ordering::Greater => Some(true),
            std::cmp::Ordering::Less => Some(false),
            std::cmp::Ordering::Equal => None,
        },
    }
}

/// Top-level string columns of NDJSON whose every sampled value is a date (`YYYY-MM-DD`) or a
/// timestamp (RFC 3339, or `YYYY-MM-DD[T ]HH:MM:SS[.f]`): they become `Date32` or `Timestamp(µs)`.
pub fn json_temporal_columns(heads: &[Vec<u8>], schema: &Schema) -> Vec<(String, DataType)> {
    let candidates: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| is_string(f.data_type()))
        .map(|f| f.name().as_str())
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    // Per column: (seen a value, all dates, all timestamps).
    let mut state: Vec<(bool, bool, bool)> = vec![(false, true, true); candidates.len()];
    for head in heads {
        for line in head.split(|b| *b == b'\n').take(1000) {
            let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice::<serde_json::Value>(line) else {
                continue;
            };
            for (i, name) in candidates.iter().enumerate() {
                match obj.get(*name) {
                    None | Some(serde_json::Value::Null) => {}
                    Some(serde_json::Value::String(s)) => {
                        let st = &mut state[i];
                        st.0 = true;
                        st.1 &= s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
                        st.2 &= parses_timestamp(s);
                    }
                    Some(_) => state[i] = (true, false, false),
                }
            }
        }
    }
    candidates
        .iter()
        .zip(state)
        .filter_map(|(name, (seen, dates, stamps))| match (seen, dates, stamps) {
            (true, true, _) => Some((name.to_string(), DataType::Date32)),
            (true, false, true) => Some((name.to_string(), DataType::Timestamp(TimeUnit::Microsecond, None))),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(DataType::Int32, DataType::Int64, DataType::Int64)]
    #[case(DataType::Int64, DataType::Float64, DataType::Float64)]
    #[case(DataType::Null, DataType::Boolean, DataType::Boolean)]
    #[case(
        DataType::Date32,
        DataType::Timestamp(TimeUnit::Second, None),
        DataType::Timestamp(TimeUnit::Second, None)
    )]
    #[case(DataType::Boolean, DataType::Int64, DataType::Utf8)]
    #[case(DataType::Utf8View, DataType::Utf8, DataType::Utf8)]
    #[case(
        DataType::Decimal128(10, 2),
        DataType::Decimal128(12, 4),
        DataType::Decimal128(12, 4)
    )]
    fn the_lattice(#[case] a: DataType, #[case] b: DataType, #[case] expected: DataType) {
        assert_eq!(widen(&a, &b), expected);
        assert_eq!(widen(&b, &a), expected);
    }

    #[test]
    fn merging_names_the_file_that_widened() {
        let a = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let b = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("y", DataType::Utf8, true),
        ]));
        let (merged, notes) = merge_schemas(&[("a.csv".into(), a), ("b.csv".into(), b)]);
        assert_eq!(merged.field(0).data_type(), &DataType::Float64);
        assert_eq!(merged.fields().len(), 2);
        assert!(
            notes[0].contains("`x` widened from Int64 to Float64 by `b.csv`"),
            "{notes:?}"
        );
    }

    #[rstest]
    #[case(b"id,name,amount\n1,ab,2.5\n2,cd,3.0\n", b',', Some(true))]
    #[case(b"1;ab;2.5\n2;cd;3.0\n3;ef;4\n", b';', Some(false))]
    #[case(b"day\tcount\n2026-01-01\t3\n2026-01-02\t4\n", b'\t', Some(true))]
    #[case(b"a|bb\nccc|d\ne|ffff\n", b'|', None)]
    #[case(b"a|b\nx|y\nz|w\n", b'|', Some(false))]
    #[case(b"'id';'name'\n'1';'a;b'\n'2';'c'\n", b';', Some(true))]
    fn sniffing(#[case] head: &[u8], #[case] delimiter: u8, #[case] header: Option<bool>) {
        let d = sniff_csv(head, None, b'"');
        assert_eq!((d.delimiter as char, d.has_header), (delimiter as char, header));
    }

    #[test]
    fn json_strings_that_are_all_dates_become_dates() {
        let schema = Schema::new(vec![
            Field::new("d", DataType::Utf8, true),
            Field::new("ts", DataType::Utf8, true),
            Field::new("s", DataType::Utf8, true),
        ]);
        let head = br#"{"d": "2026-01-02", "ts": "2026-01-02T03:04:05Z", "s": "2026-01-02"}
{"d": null, "ts": "2026-01-02 03:04:05", "s": "soon"}
"#
        .to_vec();
        let got = json_temporal_columns(&[head], &schema);
        assert_eq!(
            got,
            vec![
                ("d".to_string(), DataType::Date32),
                ("ts".to_string(), DataType::Timestamp(TimeUnit::Microsecond, None))
            ]
        );
    }
}

/// Column types of CSV records read from the middle or end of a file (no header there): each
/// column's values classified as in the sniffer. Records whose field count differs from `names`
/// (a cut line, a newline inside quotes) are skipped. `None` when no record fits.
pub fn infer_csv_lines(data: &[u8], names: &[String], delimiter: u8, quote: u8) -> Option<Schema> {
    infer_csv_records(records(data, delimiter, quote, usize::MAX), names)
}

/// Column types of CSV records (see [`infer_csv_lines`]).
fn infer_csv_records(rows: Vec<Vec<String>>, names: &[String]) -> Option<Schema> {
    let rows: Vec<Vec<String>> = rows.into_iter().filter(|r| r.len() == names.len()).collect();
    if rows.is_empty() {
        return None;
    }
    let fields = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Vec<&str> = rows
                .iter()
                .map(|r| r[i].trim())
                .filter(|v| !v.is_empty())
                .collect();
            let kinds: Vec<Kind> = values.iter().map(|v| kind(v)).collect();
            let ty = if values.is_empty() {
                DataType::Null
            } else if kinds.iter().all(|k| *k == Kind::Number) {
                if values.iter().all(|v| v.parse::<i64>().is_ok()) {
                    DataType::Int64
                } else {
                    DataType::Float64
                }
            } else if kinds.iter().all(|k| *k == Kind::Bool) {
                DataType::Boolean
            } else if kinds.iter().all(|k| *k == Kind::Temporal) {
                if values.iter().all(|v| v.len() == 10) {
                    DataType::Date32
                } else if values.iter().any(|v| v.contains('.')) {
                    DataType::Timestamp(TimeUnit::Nanosecond, None)
                } else {
                    DataType::Timestamp(TimeUnit::Second, None)
                }
            } else {
                DataType::Utf8
            };
            Field::new(name, ty, true)
        })
        .collect::<Vec<_>>();
    Some(Schema::new(fields))
}

/// A schema from a file's head that DataFusion's inference refused (invalid UTF-8, a record with
/// the wrong number of fields, a line that is not a JSON object), for reads under a bad-records
/// policy: the records that do not fit are left out of inference as they will be out of the
/// rows. `csv` is (delimiter, quote, has_header); `None` reads NDJSON. `None` when no record fits.
pub async fn tolerant_schema(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    compression: FileCompressionType,
    csv: Option<(u8, u8, bool)>,
) -> Result<Option<Schema>> {
    let data = head(store, meta, compression, 1 << 20).await?;
    let data = data.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&data);
    Ok(match csv {
        Some((delimiter, quote, has_header)) => {
            let mut rows = records(data, delimiter, quote, usize::MAX).into_iter();
            let Some(first) = rows.next() else {
                return Ok(None);
            };
            if has_header {
                infer_csv_records(rows.collect(), &first)
            } else {
                let names: Vec<String> = (1..=first.len()).map(|i| format!("column_{i}")).collect();
                infer_csv_records(std::iter::once(first).chain(rows).collect(), &names)
            }
        }
        None => {
            let mut objects: Vec<serde_json::Value> = data
                .split(|b| *b == b'\n')
                .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
                .filter(serde_json::Value::is_object)
                .collect();
            if objects.is_empty() {
                return Ok(None);
            }
            majority_kinds(&mut objects);
            Some(
                arrow::json::reader::infer_json_schema_from_iterator(objects.into_iter().map(Ok))
                    .map_err(datafusion::error::DataFusionError::from)?,
            )
        }
    })
}

/// Drops, key by key, the values whose JSON kind (number, string, boolean, object, array) is not
/// the most common one, so a few odd values do not turn a column into text: under a bad-records
/// policy they become the bad records.
fn majority_kinds(objects: &mut [serde_json::Value]) {
    use serde_json::Value;
    fn kind(v: &Value) -> Option<u8> {
        match v {
            Value::Null => None,
            Value::Bool(_) => Some(0),
            Value::Number(_) => Some(1),
            Value::String(_) => Some(2),
            Value::Array(_) => Some(3),
            Value::Object(_) => Some(4),
        }
    }
    let mut counts: std::collections::HashMap<String, [usize; 5]> = std::collections::HashMap::new();
    for object in objects.iter() {
        if let Value::Object(map) = object {
            for (key, value) in map {
                if let Some(k) = kind(value) {
                    counts.entry(key.clone()).or_default()[k as usize] += 1;
                }
            }
        }
    }
    let chosen: std::collections::HashMap<String, u8> = counts
        .into_iter()
        .filter_map(|(key, c)| {
            let best = (0..5u8).max_by_key(|k| c[*k as usize])?;
            Some((key, best))
        })
        .collect();
    for object in objects.iter_mut() {
        if let Value::Object(map) = object {
            map.retain(|key, value| kind(value).is_none_or(|k| chosen.get(key) == Some(&k)));
        }
    }
}

/// Complete lines from a byte range that starts and ends anywhere in a file.
pub fn whole_lines(data: &[u8]) -> &[u8] {
    let start = data
        .iter()
        .position(|b| *b == b'\n')
        .map_or(data.len(), |i| i + 1);
    let end = data.iter().rposition(|b| *b == b'\n').map_or(start, |i| i + 1);
    if end <= start { &[] } else { &data[start..end] }
}

#[cfg(test)]
mod lines_tests {
    use super::*;

    #[test]
    fn types_from_the_middle_of_a_file() {
        let data = b"3,x\n4,4.5\n5,zz,extra\n6,7\n";
        let names = vec!["a".to_string(), "b".to_string()];
        let got = infer_csv_lines(whole_lines(data), &names, b',', b'"').unwrap();
        // `3,x` may be a cut line and is dropped; `5,zz,extra` has three fields and is skipped.
        assert_eq!(got.field(0).data_type(), &DataType::Int64);
        assert_eq!(got.field(1).data_type(), &DataType::Float64);
        assert!(infer_csv_lines(whole_lines(b"1,2,3\n4,5,6\n"), &names, b',', b'"').is_none());
    }
}
