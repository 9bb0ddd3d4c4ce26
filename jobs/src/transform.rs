//! Rust-defined steps: the [`Transform`] trait, the [`Registry`] of transforms by name, and the
//! built-in transforms that SQL makes awkward.
//!
//! A step `rust = "dedupe"` with `args = { input = "orders", key = ["id"] }` looks up `dedupe`,
//! asks it which inputs it reads ([`Transform::inputs`]), and calls [`Transform::apply`] with those
//! inputs as DataFrames. A team adds its own transforms by registering them and calling
//! `sluice::main_with(registry)` from its own binary.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

/// What a transform gets: its inputs by name, the session, the job's params.
#[derive(Clone)]
pub struct TransformInput {
    /// The session the job runs in (catalog tables, sources and earlier steps are registered).
    pub ctx: SessionContext,
    /// The inputs the transform asked for, by name. An input named by an `optional` source that had
    /// no files is absent.
    pub frames: BTreeMap<String, DataFrame>,
    /// The job's params after substitution (`run_date`, `run_id`, ...).
    pub params: BTreeMap<String, String>,
    /// The step's name.
    pub step: String,
}

impl std::fmt::Debug for TransformInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformInput")
            .field("frames", &self.frames.keys().collect::<Vec<_>>())
            .field("step", &self.step)
            .finish()
    }
}

impl TransformInput {
    /// The input named `name`, or an error that says which argument is missing.
    pub fn frame(&self, name: &str) -> Result<DataFrame, TransformError> {
        self.frames
            .get(name)
            .cloned()
            .ok_or_else(|| TransformError::new(format!("input `{name}` is not available")))
    }

    /// Runs SQL in which each `{name}` placeholder stands for the input `name`: the inputs are
    /// registered under private names for the duration of planning.
    pub async fn sql(&self, sql_with_inputs: &str) -> Result<DataFrame, TransformError> {
        let mut sql = sql_with_inputs.to_string();
        let mut registered = Vec::new();
        for (name, df) in &self.frames {
            let placeholder = format!("{{{name}}}");
            if !sql.contains(&placeholder) {
                continue;
            }
            let private = format!("__sluice_{}_{}_{}", self.step, name, registered.len());
            self.ctx
                .register_table(private.as_str(), df.clone().into_view())?;
            sql = sql.replace(&placeholder, &quote(&private));
            registered.push(private);
        }
        let planned = match sluice_engine::resolve_time_travel(&self.ctx, &sql).await {
            Ok(sql) => self.ctx.sql(&sql).await.map_err(TransformError::from),
            Err(e) => Err(TransformError(e.to_string())),
        };
        for private in registered {
            self.ctx.deregister_table(private.as_str())?;
        }
        planned
    }
}

/// A transform's failure: bad arguments or a planning error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(pub String);

impl TransformError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<DataFusionError> for TransformError {
    fn from(e: DataFusionError) -> Self {
        Self(e.to_string())
    }
}

/// A step implemented in Rust.
#[async_trait]
pub trait Transform: Send + Sync {
    /// The names (sources or steps) this call reads, taken from its arguments. The default reads
    /// `input = "name"` and `inputs = ["a", "b"]`.
    fn inputs(&self, args: &toml::Table) -> Result<Vec<String>, TransformError> {
        let mut names = Vec::new();
        if let Some(input) = args.get("input") {
            names.push(
                input
                    .as_str()
                    .ok_or_else(|| TransformError::new("`input` must be a name"))?
                    .to_string(),
            );
        }
        if args.contains_key("inputs") {
            names.extend(string_list(args, "inputs")?);
        }
        if names.is_empty() {
            return Err(TransformError::new("needs `input = \"name\"` in its args"));
        }
        Ok(names)
    }

    /// Builds the output from the inputs and arguments. Usually lazy: return a DataFrame plan, the
    /// job executes it when a sink or rule needs it.
    async fn apply(&self, input: &TransformInput, args: &toml::Table) -> Result<DataFrame, TransformError>;
}

/// Transforms by name.
#[derive(Clone)]
pub struct Registry {
    transforms: HashMap<String, Arc<dyn Transform>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::with_builtins()
    }
}

impl Registry {
    /// No transforms at all.
    pub fn empty() -> Self {
        Self {
            transforms: HashMap::new(),
        }
    }

    /// The built-in transforms: `dedupe`, `scd2`, `flatten`, `conform`.
    pub fn with_builtins() -> Self {
        let mut registry = Self::empty();
        registry.register("dedupe", Dedupe);
        registry.register("scd2", Scd2);
        registry.register("flatten", Flatten);
        registry.register("conform", Conform);
        registry
    }

    /// Adds (or replaces) a transform under `name`.
    pub fn register(&mut self, name: impl Into<String>, transform: impl Transform + 'static) -> &mut Self {
        self.transforms.insert(name.into(), Arc::new(transform));
        self
    }

    /// The transform named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Transform>> {
        self.transforms.get(name).cloned()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.transforms.keys().cloned().collect();
        names.sort();
        names
    }
}

/// Quotes a SQL identifier.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A list of strings under `key` (a single string counts as a list of one).
pub fn string_list(args: &toml::Table, key: &str) -> Result<Vec<String>, TransformError> {
    match args.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::String(s)) => Ok(vec![s.clone()]),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| TransformError::new(format!("`{key}` must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(TransformError::new(format!(
            "`{key}` must be a string or a list of strings"
        ))),
    }
}

fn required_list(args: &toml::Table, key: &str) -> Result<Vec<String>, TransformError> {
    let list = string_list(args, key)?;
    if list.is_empty() {
        return Err(TransformError::new(format!(
            "needs `{key} = [\"column\", ...]` in its args"
        )));
    }
    Ok(list)
}

fn string_arg<'a>(args: &'a toml::Table, key: &str) -> Result<Option<&'a str>, TransformError> {
    match args.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| TransformError::new(format!("`{key}` must be a string"))),
    }
}

fn check_columns(df: &DataFrame, columns: &[String], what: &str) -> Result<(), TransformError> {
    for c in columns {
        if df.schema().field_with_unqualified_name(c).is_err() {
            let names: Vec<&str> = df.schema().fields().iter().map(|f| f.name().as_str()).collect();
            return Err(TransformError::new(format!(
                "{what} column `{c}` is not in the input; it has: {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

fn check_args(args: &toml::Table, allowed: &[&str]) -> Result<(), TransformError> {
    for key in args.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(TransformError::new(format!(
                "unknown argument `{key}`; it takes: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

/// `dedupe`: one row per key, keeping the latest by `order_by` (or the first, with `keep = "first"`).
///
/// `args = { input = "orders", key = ["order_id"], order_by = ["updated_at"], keep = "last" }`
#[derive(Debug, Clone, Copy)]
pub struct Dedupe;

#[async_trait]
impl Transform for Dedupe {
    async fn apply(&self, input: &TransformInput, args: &toml::Table) -> Result<DataFrame, TransformError> {
        check_args(args, &["input", "key", "order_by", "keep"])?;
        let name = string_arg(args, "input")?.unwrap_or_default().to_string();
        let df = input.frame(&name)?;
        let key = required_list(args, "key")?;
        let order_by = string_list(args, "order_by")?;
        check_columns(&df, &key, "key")?;
        check_columns(&df, &order_by, "order_by")?;
        let direction = match string_arg(args, "keep")?.unwrap_or("last") {
            "last" => "DESC",
            "first" => "ASC",
            other => {
                return Err(TransformError::new(format!(
                    "`keep = \"{other}\"` is not one of last, first"
                )));
            }
        };
        let columns = column_list(&df);
        let partition = key.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let order = if order_by.is_empty() {
            partition.clone()
        } else {
            order_by
                .iter()
                .map(|c| format!("{} {direction} NULLS LAST", quote(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        input
            .sql(&format!(
                "SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY {order}) AS \"__sluice_rank\" FROM {{{name}}}) WHERE \"__sluice_rank\" = 1"
            ))
            .await
    }
}

fn column_list(df: &DataFrame) -> String {
    df.schema()
        .fields()
        .iter()
        .map(|f| quote(f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `scd2`: a slowly-changing dimension of type 2. Merges `updates` into the `current` dimension
/// (which may not exist yet): changed rows get their current version closed (`valid_to` set,
/// `is_current` false) and a new current version; new keys get a first version; history is kept.
/// Write the output with `mode = "overwrite"` to the dimension's own folder.
///
/// `args = { current = "dim", updates = "staged", key = ["customer_id"], compare = ["name", "region"],
/// effective_date = "${run_date}" }` (`compare` defaults to every non-key column of `updates`).
#[derive(Debug, Clone, Copy)]
pub struct Scd2;

#[async_trait]
impl Transform for Scd2 {
    fn inputs(&self, args: &toml::Table) -> Result<Vec<String>, TransformError> {
        let mut names = vec![
            string_arg(args, "updates")?
                .ok_or_else(|| TransformError::new("needs `updates = \"name\"` in its args"))?
                .to_string(),
        ];
        if let Some(current) = string_arg(args, "current")? {
            names.push(current.to_string());
        }
        Ok(names)
    }

    async fn apply(&self, input: &TransformInput, args: &toml::Table) -> Result<DataFrame, TransformError> {
        let scd = Scd2Args::read(input, args)?;
        let current_name = string_arg(args, "current")?.map(str::to_string);
        let Some(current) = current_name.as_ref().and_then(|n| input.frames.get(n)).cloned() else {
            return input.sql(&scd.first_versions()).await;
        };
        let current_name = current_name.unwrap_or_default();
        let mut needed = scd.columns.clone();
        needed.extend(["valid_from", "valid_to", "is_current"].map(String::from));
        check_columns(&current, &needed, &format!("current dimension `{current_name}`"))?;
        input.sql(&scd.merged_into(&current_name)).await
    }
}

/// The arguments of an `scd2` step, checked against its updates.
struct Scd2Args {
    updates: String,
    key: Vec<String>,
    compare: Vec<String>,
    /// Every column of the updates.
    columns: Vec<String>,
    /// `YYYY-MM-DD`.
    effective: String,
}

impl Scd2Args {
    fn read(input: &TransformInput, args: &toml::Table) -> Result<Self, TransformError> {
        check_args(args, &["current", "updates", "key", "compare", "effective_date"])?;
        let updates = string_arg(args, "updates")?.unwrap_or_default().to_string();
        let frame = input.frame(&updates)?;
        let key = required_list(args, "key")?;
        check_columns(&frame, &key, "key")?;
        let columns: Vec<String> = frame.schema().fields().iter().map(|f| f.name().clone()).collect();
        let compare = match string_list(args, "compare")? {
            c if c.is_empty() => columns.iter().filter(|c| !key.contains(c)).cloned().collect(),
            c => c,
        };
        check_columns(&frame, &compare, "compare")?;
        let effective = match string_arg(args, "effective_date")? {
            Some(d) => d.to_string(),
            None => input.params.get("run_date").cloned().unwrap_or_default(),
        };
        if chrono::NaiveDate::parse_from_str(&effective, "%Y-%m-%d").is_err() {
            return Err(TransformError::new(format!(
                "`effective_date = \"{effective}\"` is not a date (YYYY-MM-DD)"
            )));
        }
        Ok(Self {
            updates,
            key,
            compare,
            columns,
            effective,
        })
    }

    /// The data columns under the alias `prefix`.
    fn cols(&self, prefix: &str) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{prefix}.{}", quote(c)))
            .collect();
        cols.join(", ")
    }

    /// `a.k = b.k AND ...` over the key.
    fn key_match(&self, a: &str, b: &str) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .map(|k| format!("{a}.{q} = {b}.{q}", q = quote(k)))
            .collect();
        parts.join(" AND ")
    }

    /// True where a current row `c` and an update `u` differ in a compared column.
    fn differs(&self) -> String {
        let parts: Vec<String> = self
            .compare
            .iter()
            .map(|c| format!("(c.{q} IS DISTINCT FROM u.{q})", q = quote(c)))
            .collect();
        if parts.is_empty() {
            "false".to_string()
        } else {
            parts.join(" OR ")
        }
    }

    /// Every update as a first, current version (no dimension yet).
    fn first_versions(&self) -> String {
        format!(
            "SELECT {u}, DATE '{e}' AS valid_from, CAST(NULL AS DATE) AS valid_to, true AS is_current FROM {{{n}}} u",
            u = self.cols("u"),
            e = self.effective,
            n = self.updates,
        )
    }

    /// The dimension `current` with the updates merged: unchanged and past versions kept, changed
    /// current versions closed, new versions for new and changed keys.
    fn merged_into(&self, current: &str) -> String {
        let (updates, effective, differs) = (&self.updates, &self.effective, self.differs());
        let changed = format!(
            "EXISTS (SELECT 1 FROM {{{updates}}} u WHERE {} AND ({differs}))",
            self.key_match("u", "c")
        );
        format!(
            "SELECT {c}, c.valid_from, c.valid_to, c.is_current FROM {{{current}}} c
               WHERE NOT c.is_current OR NOT {changed}
             UNION ALL
             SELECT {c}, c.valid_from, DATE '{effective}' AS valid_to, false AS is_current FROM {{{current}}} c
               WHERE c.is_current AND {changed}
             UNION ALL
             SELECT {u}, DATE '{effective}' AS valid_from, CAST(NULL AS DATE) AS valid_to, true AS is_current
               FROM {{{updates}}} u
               WHERE NOT EXISTS (SELECT 1 FROM {{{current}}} c WHERE c.is_current AND {km})
                  OR EXISTS (SELECT 1 FROM {{{current}}} c WHERE c.is_current AND {km} AND ({differs}))",
            c = self.cols("c"),
            u = self.cols("u"),
            km = self.key_match("c", "u"),
        )
    }
}

/// `flatten`: nested JSON made flat. Struct fields become columns named `parent_child` (the
/// separator is configurable); lists named in `explode` become one row per element first.
///
/// `args = { input = "events", explode = ["items"], separator = "_" }`
#[derive(Debug, Clone, Copy)]
pub struct Flatten;

#[async_trait]
impl Transform for Flatten {
    async fn apply(&self, input: &TransformInput, args: &toml::Table) -> Result<DataFrame, TransformError> {
        check_args(args, &["input", "explode", "separator"])?;
        let name = string_arg(args, "input")?.unwrap_or_default().to_string();
        let mut df = input.frame(&name)?;
        let explode = string_list(args, "explode")?;
        check_columns(&df, &explode, "explode")?;
        let separator = string_arg(args, "separator")?.unwrap_or("_").to_string();
        if !explode.is_empty() {
            let names: Vec<&str> = explode.iter().map(String::as_str).collect();
            df = df.unnest_columns(&names)?;
        }
        let mut select = Vec::new();
        for field in df.schema().fields() {
            leaves(
                &quote(field.name()),
                field.name(),
                field.data_type(),
                &separator,
                &mut select,
            );
        }
        let flat = input.ctx.clone();
        let private = format!("__sluice_{}_flatten", input.step);
        flat.register_table(private.as_str(), df.into_view())?;
        let planned = flat
            .sql(&format!("SELECT {} FROM {}", select.join(", "), quote(&private)))
            .await;
        flat.deregister_table(private.as_str())?;
        Ok(planned?)
    }
}

fn leaves(expr: &str, name: &str, ty: &DataType, sep: &str, out: &mut Vec<String>) {
    match ty {
        DataType::Struct(fields) => {
            for f in fields {
                let child = format!("{expr}['{}']", f.name().replace('\'', "''"));
                leaves(
                    &child,
                    &format!("{name}{sep}{}", f.name()),
                    f.data_type(),
                    sep,
                    out,
                );
            }
        }
        _ => out.push(format!("{expr} AS {}", quote(name))),
    }
}

/// `conform`: casts to a declared schema, in its column order. Missing columns become NULLs of
/// their type; with `safe = true` values that do not convert become NULL instead of failing;
/// `extra = "drop"` leaves out undeclared columns (default `keep`, after the declared ones).
///
/// `args = { input = "raw", columns = ["id BIGINT", "amount DECIMAL(12,2)", "day DATE"], safe = false }`
#[derive(Debug, Clone, Copy)]
pub struct Conform;

#[async_trait]
impl Transform for Conform {
    async fn apply(&self, input: &TransformInput, args: &toml::Table) -> Result<DataFrame, TransformError> {
        check_args(args, &["input", "columns", "safe", "extra"])?;
        let name = string_arg(args, "input")?.unwrap_or_default().to_string();
        let df = input.frame(&name)?;
        let declared = required_list(args, "columns")?;
        let safe = match args.get("safe") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| TransformError::new("`safe` must be true or false"))?,
        };
        let keep_extra = match string_arg(args, "extra")?.unwrap_or("keep") {
            "keep" => true,
            "drop" => false,
            other => {
                return Err(TransformError::new(format!(
                    "`extra = \"{other}\"` is not one of keep, drop"
                )));
            }
        };
        let cast = if safe { "TRY_CAST" } else { "CAST" };
        let mut select = Vec::new();
        let mut seen = Vec::new();
        for decl in &declared {
            let (column, ty) = decl.trim().split_once(char::is_whitespace).ok_or_else(|| {
                TransformError::new(format!(
                    "`{decl}` in `columns` needs a name and a SQL type, e.g. \"id BIGINT\""
                ))
            })?;
            let source = if df.schema().field_with_unqualified_name(column).is_ok() {
                quote(column)
            } else {
                "NULL".to_string()
            };
            select.push(format!("{cast}({source} AS {}) AS {}", ty.trim(), quote(column)));
            seen.push(column.to_string());
        }
        if keep_extra {
            for f in df.schema().fields() {
                if !seen.contains(f.name()) {
                    select.push(quote(f.name()));
                }
            }
        }
        input
            .sql(&format!("SELECT {} FROM {{{name}}}", select.join(", ")))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::util::pretty::pretty_format_batches;

    async fn run(transform: &dyn Transform, sql: &str, args: &str) -> Result<String, TransformError> {
        let ctx = SessionContext::new();
        let df = ctx.sql(sql).await.unwrap();
        let args: toml::Table = toml::from_str(args).unwrap();
        let input = TransformInput {
            ctx: ctx.clone(),
            frames: BTreeMap::from([("t".to_string(), df)]),
            params: BTreeMap::new(),
            step: "s".into(),
        };
        let out = transform.apply(&input, &args).await?;
        let batches = out
            .sort(vec![datafusion::prelude::col("id").sort(true, true)])?
            .collect()
            .await?;
        Ok(pretty_format_batches(&batches).unwrap().to_string())
    }

    #[tokio::test]
    async fn flatten_makes_struct_fields_columns_and_explodes_lists() {
        let out = run(
            &Flatten,
            "SELECT 1 AS id, named_struct('a', 2, 'b', named_struct('c', 'x')) AS s, [10, 20] AS items",
            "input = \"t\"\nexplode = [\"items\"]",
        )
        .await
        .unwrap();
        assert!(out.contains("| id | s_a | s_b_c | items |"), "{out}");
        assert!(
            out.contains("| 1  | 2   | x     | 10    |") && out.contains("| 1  | 2   | x     | 20    |"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn dedupe_keeps_the_latest_row_per_key() {
        let out = run(
            &Dedupe,
            "SELECT * FROM (VALUES (1, 'old', 1), (1, 'new', 2), (2, 'only', 1)) AS v(id, v, ts)",
            "input = \"t\"\nkey = [\"id\"]\norder_by = [\"ts\"]",
        )
        .await
        .unwrap();
        assert!(
            out.contains("| 1  | new  |") && out.contains("| 2  | only |") && !out.contains("old"),
            "{out}"
        );
        let e = run(&Dedupe, "SELECT 1 AS id", "input = \"t\"\nkey = [\"nope\"]")
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("key column `nope` is not in the input"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn conform_casts_orders_and_fills_missing_columns() {
        let out = run(
            &Conform,
            "SELECT '7' AS id, 'x' AS extra",
            "input = \"t\"\ncolumns = [\"id BIGINT\", \"day DATE\"]\nextra = \"drop\"",
        )
        .await
        .unwrap();
        assert!(
            out.contains("| id | day |") && out.contains("| 7  |     |"),
            "{out}"
        );
        let strict = run(
            &Conform,
            "SELECT 'x' AS id",
            "input = \"t\"\ncolumns = [\"id BIGINT\"]",
        )
        .await;
        assert!(
            strict.is_err(),
            "a value that does not convert fails unless safe = true"
        );
        let safe = run(
            &Conform,
            "SELECT 'x' AS id",
            "input = \"t\"\ncolumns = [\"id BIGINT\"]\nsafe = true",
        )
        .await
        .unwrap();
        assert!(safe.contains("|    |"), "{safe}");
    }
}
