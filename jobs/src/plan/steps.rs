//! `[[steps]]`: what each step reads, and the order they are planned in.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::sql::parser::DFParser;

use super::valid_name;
use crate::error::Result;
use crate::spec::{ErrFn, StepSpec};
use crate::transform::{Registry, Transform};

/// A transformation.
#[derive(Debug, Clone)]
pub struct Step {
    /// The name as written.
    pub name: String,
    /// The name as registered for SQL (lower case).
    pub key: String,
    /// What it computes.
    pub action: StepAction,
    /// The sources and steps it reads (lower case, sorted).
    pub reads: Vec<String>,
    /// Compute once and keep in memory for every consumer.
    pub cache: bool,
}

/// What a step computes.
#[derive(Clone)]
pub enum StepAction {
    /// A SQL query over sources, earlier steps and catalog tables.
    Sql(String),
    /// A registered Rust transform with its arguments.
    Rust(RustStep),
}

/// A step computed by a Rust transform.
#[derive(Clone)]
pub struct RustStep {
    /// The name it is registered under.
    pub name: String,
    /// The transform.
    pub transform: Arc<dyn Transform>,
    /// Its arguments.
    pub args: toml::Table,
    /// The sources and steps it reads, as the transform names them.
    pub inputs: Vec<String>,
}

impl std::fmt::Debug for StepAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sql(sql) => f.debug_tuple("Sql").field(sql).finish(),
            Self::Rust(r) => f
                .debug_struct("Rust")
                .field("name", &r.name)
                .field("args", &r.args)
                .finish(),
        }
    }
}

impl StepAction {
    /// `sql` or `rust:<transform>`, for plans.
    pub fn kind(&self) -> String {
        match self {
            Self::Sql(_) => "sql".into(),
            Self::Rust(r) => format!("rust:{}", r.name),
        }
    }
}

/// Checks every step and orders them so each comes after the steps it reads. `names` holds the
/// source names and receives the step names.
pub(super) fn plan(
    specs: &[StepSpec],
    names: &mut BTreeSet<String>,
    registry: &Registry,
    err: &ErrFn<'_>,
) -> Result<Vec<Step>> {
    for spec in specs {
        declare(spec, names, err)?;
    }
    let steps = specs
        .iter()
        .map(|spec| step(spec, names, registry, err))
        .collect::<Result<Vec<_>>>()?;
    let deps: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| {
            s.reads
                .iter()
                .filter_map(|r| steps.iter().position(|o| &o.key == r))
                .collect()
        })
        .collect();
    let order = crate::dag::order(&deps).map_err(|cycle| {
        let step = &specs[cycle[0]];
        err(
            Some(step.name.span()),
            format!(
                "steps read each other in a cycle (through `{}`)",
                step.name.get_ref()
            ),
        )
    })?;
    let mut steps: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| steps[i].take()).collect())
}

/// Checks a step's name and shape and adds its name to `names`.
fn declare(spec: &StepSpec, names: &mut BTreeSet<String>, err: &ErrFn<'_>) -> Result<()> {
    let name = spec.name.get_ref();
    let at = Some(spec.name.span());
    if !valid_name(name) {
        return Err(err(
            at,
            format!("step name `{name}` must start with a letter and use only letters, digits and `_`"),
        ));
    }
    if !names.insert(name.to_ascii_lowercase()) {
        return Err(err(
            at,
            format!("the name `{name}` is used twice; sources and steps need distinct names"),
        ));
    }
    if spec.sql.is_some() == spec.rust.is_some() {
        return Err(err(
            at,
            format!("step `{name}` needs exactly one of `sql = \"...\"` or `rust = \"transform\"`"),
        ));
    }
    if spec.sql.is_some() && !spec.args.is_empty() {
        return Err(err(at, format!("step `{name}`: `args` belong to `rust` steps")));
    }
    Ok(())
}

fn step(spec: &StepSpec, names: &BTreeSet<String>, registry: &Registry, err: &ErrFn<'_>) -> Result<Step> {
    let (action, mut reads) = match (&spec.sql, &spec.rust) {
        (Some(sql), _) => (
            StepAction::Sql(sql.get_ref().clone()),
            sql_reads(spec, names, err)?,
        ),
        (None, Some(transform)) => rust(spec, transform, names, registry, err)?,
        (None, None) => {
            return Err(err(
                Some(spec.name.span()),
                format!("step `{}` needs `sql` or `rust`", spec.name.get_ref()),
            ));
        }
    };
    reads.sort();
    reads.dedup();
    let key = spec.name.get_ref().to_ascii_lowercase();
    if reads.contains(&key) {
        return Err(err(
            Some(spec.name.span()),
            format!("step `{}` reads itself", spec.name.get_ref()),
        ));
    }
    Ok(Step {
        name: spec.name.get_ref().clone(),
        key,
        action,
        reads,
        cache: spec.cache,
    })
}

/// The job's sources and steps a SQL step names (catalog tables are not the job's).
fn sql_reads(spec: &StepSpec, names: &BTreeSet<String>, err: &ErrFn<'_>) -> Result<Vec<String>> {
    let Some(sql) = &spec.sql else {
        return Ok(Vec::new());
    };
    let invalid =
        |e: &dyn std::fmt::Display| err(Some(sql.span()), format!("step `{}`: {e}", spec.name.get_ref()));
    let plain = sluice_engine::without_versions(sql.get_ref()).map_err(|e| invalid(&e))?;
    let mut reads = Vec::new();
    for statement in &DFParser::parse_sql(&plain).map_err(|e| invalid(&e))? {
        let (tables, _ctes) =
            datafusion::sql::resolve::resolve_table_references(statement, true).map_err(|e| invalid(&e))?;
        reads.extend(
            tables
                .iter()
                .filter(|t| t.schema().is_none())
                .map(|t| t.table().to_ascii_lowercase())
                .filter(|n| names.contains(n)),
        );
    }
    Ok(reads)
}

/// A Rust step: its transform and the inputs the transform says it reads.
fn rust(
    spec: &StepSpec,
    rust: &toml::Spanned<String>,
    names: &BTreeSet<String>,
    registry: &Registry,
    err: &ErrFn<'_>,
) -> Result<(StepAction, Vec<String>)> {
    let step = spec.name.get_ref();
    let transform = registry.get(rust.get_ref()).ok_or_else(|| {
        err(
            Some(rust.span()),
            format!(
                "step `{step}`: no transform named `{}`; registered: {}",
                rust.get_ref(),
                registry.names().join(", ")
            ),
        )
    })?;
    let inputs = transform.inputs(&spec.args).map_err(|e| {
        err(
            Some(spec.name.span()),
            format!("step `{step}` ({}): {e}", rust.get_ref()),
        )
    })?;
    if let Some(unknown) = inputs.iter().find(|n| !names.contains(&n.to_ascii_lowercase())) {
        return Err(err(
            Some(spec.name.span()),
            format!("step `{step}` reads `{unknown}`, which is no source or step"),
        ));
    }
    let action = StepAction::Rust(RustStep {
        name: rust.get_ref().clone(),
        transform,
        args: spec.args.clone(),
        inputs: inputs.clone(),
    });
    Ok((action, inputs.iter().map(|n| n.to_ascii_lowercase()).collect()))
}
