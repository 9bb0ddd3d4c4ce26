//! Workflows: a TOML file that chains jobs and crawls with conditions, Glue-workflow style.
//!
//! ```toml
//! name = "nightly"
//! max_parallel = 2
//!
//! [params]                      # offered to every job (a job uses those it references)
//! lake = "testdata/lake"
//!
//! [nodes.crawl]
//! crawl = "${lake}"
//!
//! [nodes.revenue]
//! job = "daily_revenue.toml"    # relative to this file
//! after = ["crawl"]             # runs once `crawl` succeeded
//!
//! [nodes.alert]
//! job = "alert.toml"
//! after_failure = ["revenue"]   # runs only if `revenue` failed
//! ```
//!
//! A node with no conditions starts at once; nodes whose conditions hold run in parallel up to
//! `max_parallel`. A node whose conditions can no longer hold is skipped, and so are the nodes that
//! waited for it to succeed. The workflow run is recorded in the catalog with every node's outcome,
//! and each job run it started names it (`workflow_run_id`), so `sluice runs --run ID` links them.

use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use sluice_catalog::{Catalog, CrawlAction};
use sluice_engine::{Location, new_run_id};
use toml::Spanned;

use crate::JobFile;
use crate::error::{JobError, Result};
use crate::params::{self, Builtins, substitute};
use crate::plan::JobPlan;
use crate::record::RunStatus;
use crate::runner::{Runner, SessionFactory};
use crate::spec::{ErrFn, NodeSpec, WorkflowSpec, invalid};
use crate::transform::Registry;

/// Nodes run at once unless `max_parallel` says otherwise.
const DEFAULT_PARALLEL: usize = 4;

/// What a condition waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Awaited {
    /// The node succeeded.
    Succeeded,
    /// The node failed.
    Failed,
    /// The node ran and ended.
    Done,
}

/// What a node does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run this job (loaded and checked when the workflow was loaded).
    Job(Box<JobPlan>),
    /// Crawl this location into `database`.
    Crawl {
        /// Where.
        location: Location,
        /// The catalog database.
        database: String,
    },
}

/// A checked node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// What it does.
    pub action: Action,
    /// Its conditions: (node, outcome awaited).
    pub conditions: Vec<(String, Awaited)>,
    /// True when one condition is enough.
    pub any: bool,
    /// The run id its job run will have.
    pub run_id: String,
}

/// A loaded and checked workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// The file it came from.
    pub path: String,
    /// Nodes in an order where every node comes after those it waits for.
    pub nodes: Vec<Node>,
    /// Nodes running at once.
    pub max_parallel: usize,
}

/// Reads and checks a workflow file: node references, conditions, cycles, and every job file it
/// names (loaded with the workflow's and the node's params, `overrides` over both).
pub fn load_workflow(
    path: &str,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    registry: &Registry,
) -> Result<Workflow> {
    match crate::open(path, overrides, builtins, registry)? {
        JobFile::Workflow(workflow) => Ok(workflow),
        JobFile::Job(_) => Err(crate::wrong_kind(
            path,
            "this is a job file, not a workflow (no [nodes])",
        )),
    }
}

/// Checks a parsed workflow file; `text` is its text, for error positions.
pub(crate) fn plan(
    path: &str,
    text: &str,
    spec: &WorkflowSpec,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    registry: &Registry,
) -> Result<Workflow> {
    let err = |span: Option<std::ops::Range<usize>>, message: String| invalid(path, text, span, message);
    let mut params = params::values(&spec.params, &err)?;
    params.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    let max_parallel = match &spec.max_parallel {
        None => DEFAULT_PARALLEL,
        Some(n) if *n.get_ref() >= 1 => *n.get_ref() as usize,
        Some(n) => return Err(err(Some(n.span()), "`max_parallel` must be 1 or more".into())),
    };
    if spec.nodes.is_empty() {
        return Err(err(
            None,
            "the workflow has no nodes; add a `[nodes.NAME]` table".into(),
        ));
    }
    let context = Context {
        base: Path::new(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        params,
        overrides,
        today: builtins.today,
        registry,
        err: &err,
    };
    let nodes = spec
        .nodes
        .iter()
        .map(|(name, node)| context.node(&spec.nodes, name, node))
        .collect::<Result<Vec<_>>>()?;
    Ok(Workflow {
        name: spec.name.get_ref().clone(),
        path: path.to_string(),
        nodes: in_order(nodes, &err)?,
        max_parallel,
    })
}

/// What checking a node needs of its workflow.
struct Context<'a> {
    base: std::path::PathBuf,
    params: BTreeMap<String, String>,
    overrides: &'a BTreeMap<String, String>,
    today: chrono::NaiveDate,
    registry: &'a Registry,
    err: &'a ErrFn<'a>,
}

impl Context<'_> {
    fn node(&self, all: &BTreeMap<String, NodeSpec>, name: &str, node: &NodeSpec) -> Result<Node> {
        let run_id = new_run_id();
        Ok(Node {
            name: name.to_string(),
            action: self.action(name, node, &run_id)?,
            conditions: conditions_of(all, name, node, self.err)?,
            any: trigger(node, self.err)?,
            run_id,
        })
    }

    fn action(&self, name: &str, node: &NodeSpec, run_id: &str) -> Result<Action> {
        let err = self.err;
        match (&node.job, &node.crawl) {
            (Some(job), None) => self.job(name, node, job, run_id),
            (None, Some(crawl)) => {
                if !node.params.is_empty() {
                    return Err(err(
                        Some(crawl.span()),
                        format!("node `{name}` is a crawl; `params` belong to job nodes"),
                    ));
                }
                let url =
                    substitute(crawl.get_ref(), &self.params).map_err(|m| err(Some(crawl.span()), m))?;
                let location = Location::parse(&url).map_err(|e| {
                    err(
                        Some(crawl.span()),
                        format!("`crawl = \"{url}\"` is not a location: {e}"),
                    )
                })?;
                Ok(Action::Crawl {
                    location,
                    database: node.database.clone().unwrap_or_else(|| "default".into()),
                })
            }
            _ => Err(err(
                None,
                format!("node `{name}` needs exactly one of `job = \"FILE\"` or `crawl = \"URL\"`"),
            )),
        }
    }

    /// Loads and plans a job node's file with the workflow's params, the node's, then overrides.
    fn job(&self, name: &str, node: &NodeSpec, job: &Spanned<String>, run_id: &str) -> Result<Action> {
        let mut job_params = self.params.clone();
        job_params.extend(params::values(&node.params, self.err)?);
        job_params.extend(self.overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        let file = resolve(&self.base, job.get_ref());
        let builtins = Builtins {
            run_id: run_id.to_string(),
            today: self.today,
        };
        let plan = crate::plan::load(&file, &job_params, &builtins, self.registry).map_err(|e| match e {
            JobError::Read { source, .. } => (self.err)(
                Some(job.span()),
                format!("node `{name}`: cannot read the job file `{file}`: {source}"),
            ),
            other => other,
        })?;
        Ok(Action::Job(Box::new(plan)))
    }
}

/// A node's conditions: (node, outcome awaited).
fn conditions_of(
    all: &BTreeMap<String, NodeSpec>,
    name: &str,
    node: &NodeSpec,
    err: &ErrFn<'_>,
) -> Result<Vec<(String, Awaited)>> {
    let mut conditions = Vec::new();
    for (list, awaited) in [
        (&node.after, Awaited::Succeeded),
        (&node.after_failure, Awaited::Failed),
        (&node.after_done, Awaited::Done),
    ] {
        for other in list {
            if !all.contains_key(other.get_ref()) {
                return Err(err(
                    Some(other.span()),
                    format!(
                        "node `{name}` waits for `{}`, which is not a node",
                        other.get_ref()
                    ),
                ));
            }
            if other.get_ref() == name {
                return Err(err(Some(other.span()), format!("node `{name}` waits for itself")));
            }
            conditions.push((other.get_ref().clone(), awaited));
        }
    }
    Ok(conditions)
}

/// True for `trigger = "any"`.
fn trigger(node: &NodeSpec, err: &ErrFn<'_>) -> Result<bool> {
    match node.trigger.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
        None | Some(("all", _)) => Ok(false),
        Some(("any", _)) => Ok(true),
        Some((other, span)) => Err(err(
            Some(span),
            format!("`trigger = \"{other}\"` is not `all` or `any`"),
        )),
    }
}

/// The nodes ordered so each comes after those it waits for; a cycle is an error.
fn in_order(nodes: Vec<Node>, err: &ErrFn<'_>) -> Result<Vec<Node>> {
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            n.conditions
                .iter()
                .map(|(other, _)| index[other.as_str()])
                .collect()
        })
        .collect();
    let order = crate::dag::order(&deps).map_err(|cycle| {
        let names: Vec<&str> = cycle.iter().map(|&i| nodes[i].name.as_str()).collect();
        err(
            None,
            format!("nodes wait for each other in a cycle: {}", names.join(" -> ")),
        )
    })?;
    let mut nodes: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| nodes[i].take()).collect())
}

fn resolve(base: &Path, file: &str) -> String {
    let path = Path::new(file);
    if path.is_absolute() {
        file.to_string()
    } else {
        base.join(path).display().to_string()
    }
}

/// Where a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Waiting for its conditions.
    Waiting,
    /// Started.
    Running,
    /// Ended well.
    Succeeded,
    /// Ended badly.
    Failed,
    /// Its conditions can no longer hold; it did not run.
    Skipped,
}

impl NodeState {
    /// The state as written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn ended(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Skipped)
    }
}

/// One node of a workflow run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node.
    pub name: String,
    /// `job` or `crawl`.
    pub kind: String,
    /// The job's name or the crawled location.
    pub target: String,
    /// How it ended.
    pub state: NodeState,
    /// The job run's id (job nodes that ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// RFC 3339 start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Seconds it ran.
    pub seconds: f64,
    /// What it did (crawl summary) or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything about one workflow run (stored in the catalog's run history, `kind = "workflow"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// Always `workflow`.
    pub kind: String,
    /// The workflow run id.
    pub run_id: String,
    /// The workflow name.
    pub workflow: String,
    /// The workflow file.
    pub file: String,
    /// `running`, `succeeded` (no node failed) or `failed`.
    pub status: RunStatus,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub ended_at: Option<String>,
    /// Seconds from start to end.
    pub seconds: f64,
    /// Every node, in dependency order.
    pub nodes: Vec<NodeRecord>,
}

impl NodeRecord {
    /// A node not started yet.
    fn waiting(node: &Node) -> Self {
        let (kind, target) = match &node.action {
            Action::Job(job) => ("job", job.name().to_string()),
            Action::Crawl { location, .. } => ("crawl", location.to_string()),
        };
        Self {
            name: node.name.clone(),
            kind: kind.into(),
            target,
            state: NodeState::Waiting,
            run_id: None,
            started_at: None,
            seconds: 0.0,
            detail: None,
            error: None,
        }
    }

    fn start(&mut self, node: &Node) {
        self.state = NodeState::Running;
        self.started_at = Some(chrono::Utc::now().to_rfc3339());
        if let Action::Job(_) = node.action {
            self.run_id = Some(node.run_id.clone());
        }
    }

    /// Records how the node ended; returns its job run's record, if it ran a job.
    fn end(&mut self, result: NodeResult) -> Option<crate::RunRecord> {
        self.state = result.state;
        self.detail = result.detail;
        self.error = result.error;
        self.seconds = result.seconds;
        tracing::info!(node = %self.name, state = self.state.as_str(), seconds = self.seconds, "node ended");
        result.record
    }
}

impl WorkflowRecord {
    /// The record of a run of `workflow` that starts now.
    fn start(workflow: &Workflow, run_id: &str) -> Self {
        Self {
            kind: "workflow".into(),
            run_id: run_id.to_string(),
            workflow: workflow.name.clone(),
            file: workflow.path.clone(),
            status: RunStatus::Running,
            started_at: chrono::Utc::now().to_rfc3339(),
            ended_at: None,
            seconds: 0.0,
            nodes: workflow.nodes.iter().map(NodeRecord::waiting).collect(),
        }
    }
}

impl crate::state::StoredRun for WorkflowRecord {
    fn key(&self) -> (&str, &str, RunStatus, &str, Option<&str>) {
        (
            &self.run_id,
            &self.workflow,
            self.status,
            &self.started_at,
            self.ended_at.as_deref(),
        )
    }
}

/// The end of a workflow run.
#[derive(Debug)]
pub struct WorkflowOutcome {
    /// What happened.
    pub record: WorkflowRecord,
    /// The records of the job runs it started, in the order they ended.
    pub job_runs: Vec<crate::RunRecord>,
}

type NodeFuture<'a> = Pin<Box<dyn Future<Output = (usize, NodeResult)> + Send + 'a>>;

struct NodeResult {
    state: NodeState,
    detail: Option<String>,
    error: Option<String>,
    record: Option<crate::RunRecord>,
    seconds: f64,
}

/// Runs workflows: jobs through a [`Runner`], crawls through the catalog.
#[derive(Clone)]
pub struct WorkflowRunner {
    runner: Runner,
    catalog: Arc<Catalog>,
    sessions: SessionFactory,
}

impl std::fmt::Debug for WorkflowRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowRunner")
            .field("runner", &self.runner)
            .finish()
    }
}

impl WorkflowRunner {
    /// A workflow runner over the same catalog and sessions as `runner`.
    pub fn new(runner: Runner, catalog: Arc<Catalog>, sessions: SessionFactory) -> Self {
        Self {
            runner,
            catalog,
            sessions,
        }
    }

    /// Runs `workflow` as run `run_id` under the workflow's lock. Returns an error only when it
    /// could not start; failed nodes are in the outcome.
    pub async fn run(&self, workflow: &Workflow, run_id: &str) -> Result<WorkflowOutcome> {
        let lock = format!("workflow:{}", workflow.name);
        crate::state::acquire(&self.catalog, &lock, run_id)?;
        let span = tracing::error_span!("workflow", workflow = %workflow.name, workflow_run_id = %run_id);
        let work = tracing::Instrument::instrument(self.run_locked(workflow, run_id), span);
        crate::state::while_held(&self.catalog, &lock, run_id, work).await
    }

    async fn run_locked(&self, workflow: &Workflow, run_id: &str) -> Result<WorkflowOutcome> {
        self.close_stale_runs(workflow, run_id)?;
        let started = Instant::now();
        let mut record = WorkflowRecord::start(workflow, run_id);
        crate::state::save(&self.catalog, &record)?;
        let index: BTreeMap<&str, usize> = workflow
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut running: FuturesUnordered<NodeFuture<'_>> = FuturesUnordered::new();
        let mut job_runs = Vec::new();
        loop {
            self.start_ready(workflow, run_id, &index, &mut record, &mut running);
            crate::state::save(&self.catalog, &record)?;
            let Some((i, result)) = running.next().await else {
                break;
            };
            job_runs.extend(record.nodes[i].end(result));
        }
        record.status = if record.nodes.iter().any(|n| n.state == NodeState::Failed) {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        record.seconds = started.elapsed().as_secs_f64();
        record.ended_at = Some(chrono::Utc::now().to_rfc3339());
        crate::state::save(&self.catalog, &record)?;
        Ok(WorkflowOutcome { record, job_runs })
    }

    /// Holding the lock, an earlier run still marked running died: close it.
    fn close_stale_runs(&self, workflow: &Workflow, run_id: &str) -> Result<()> {
        for (status, stale) in crate::state::runs(&self.catalog, &workflow.name)? {
            if stale.run_id != run_id
                && status == RunStatus::Running
                && let Ok(mut old) = serde_json::from_value::<WorkflowRecord>(stale.record)
                && old.kind == "workflow"
            {
                old.status = RunStatus::Failed;
                for node in &mut old.nodes {
                    if matches!(node.state, NodeState::Running | NodeState::Waiting) {
                        node.state = NodeState::Failed;
                        node.error = Some("the workflow process ended before this node did".into());
                    }
                }
                crate::state::save(&self.catalog, &old)?;
            }
        }
        Ok(())
    }

    /// Decides every waiting node whose conditions are settled, starting those that may run (up to
    /// `max_parallel` at once); skips cascade, so it repeats until nothing changes.
    fn start_ready<'a>(
        &'a self,
        workflow: &'a Workflow,
        run_id: &'a str,
        index: &BTreeMap<&str, usize>,
        record: &mut WorkflowRecord,
        running: &mut FuturesUnordered<NodeFuture<'a>>,
    ) {
        let mut changed = true;
        while changed {
            changed = false;
            for (i, node) in workflow.nodes.iter().enumerate() {
                if record.nodes[i].state != NodeState::Waiting {
                    continue;
                }
                match decide(node, &record.nodes, index) {
                    Decision::Wait => {}
                    Decision::Skip(reason) => {
                        tracing::info!(node = %node.name, reason = %reason, "node skipped");
                        record.nodes[i].state = NodeState::Skipped;
                        record.nodes[i].detail = Some(reason);
                        changed = true;
                    }
                    Decision::Run if running.len() < workflow.max_parallel => {
                        tracing::info!(node = %node.name, "node started");
                        record.nodes[i].start(node);
                        running.push(Box::pin(self.run_node(node, i, run_id)));
                        changed = true;
                    }
                    Decision::Run => {}
                }
            }
        }
    }

    async fn run_node(&self, node: &Node, i: usize, workflow_run: &str) -> (usize, NodeResult) {
        let started = Instant::now();
        let mut result = match &node.action {
            Action::Job(job) => {
                match Box::pin(self.runner.run_in_workflow(job, &node.run_id, Some(workflow_run))).await {
                    Ok(outcome) => NodeResult {
                        state: if outcome.error.is_none() {
                            NodeState::Succeeded
                        } else {
                            NodeState::Failed
                        },
                        detail: None,
                        error: outcome.record.error.clone(),
                        record: Some(outcome.record),
                        seconds: 0.0,
                    },
                    Err(e) => failed(crate::error_chain(&e)),
                }
            }
            Action::Crawl { location, database } => match self.crawl(location, database).await {
                Ok(summary) => NodeResult {
                    state: NodeState::Succeeded,
                    detail: Some(summary),
                    error: None,
                    record: None,
                    seconds: 0.0,
                },
                Err(e) => failed(crate::error_chain(&e)),
            },
        };
        result.seconds = started.elapsed().as_secs_f64();
        (i, result)
    }

    async fn crawl(&self, location: &Location, database: &str) -> Result<String> {
        let session = (self.sessions)(None).map_err(|e| JobError::engine("starting the crawl", e))?;
        let report = sluice_catalog::crawl(
            &session,
            &self.catalog,
            location,
            database,
            &sluice_catalog::CrawlOptions::default(),
        )
        .await?;
        let t = &report.tables;
        let count = |action: CrawlAction| t.iter().filter(|t| t.action == action).count();
        Ok(format!(
            "{} tables: {} created, {} updated, {} unchanged",
            t.len(),
            count(CrawlAction::Created),
            count(CrawlAction::Updated),
            count(CrawlAction::Unchanged)
        ))
    }
}

fn failed(error: String) -> NodeResult {
    NodeResult {
        state: NodeState::Failed,
        detail: None,
        error: Some(error),
        record: None,
        seconds: 0.0,
    }
}

enum Decision {
    Wait,
    Run,
    Skip(String),
}

/// Whether `node` runs now, waits, or can never run.
fn decide(node: &Node, states: &[NodeRecord], index: &BTreeMap<&str, usize>) -> Decision {
    if node.conditions.is_empty() {
        return Decision::Run;
    }
    let mut unmet = Vec::new();
    let mut pending = false;
    for (other, awaited) in &node.conditions {
        let state = states[index[other.as_str()]].state;
        if !state.ended() {
            pending = true;
            continue;
        }
        let holds = match awaited {
            Awaited::Succeeded => state == NodeState::Succeeded,
            Awaited::Failed => state == NodeState::Failed,
            Awaited::Done => matches!(state, NodeState::Succeeded | NodeState::Failed),
        };
        if holds && node.any {
            return Decision::Run;
        }
        if !holds {
            unmet.push(format!("`{other}` {}", state.as_str()));
        }
    }
    if pending {
        // `all` with a condition already failed can never run.
        if !node.any && !unmet.is_empty() {
            return Decision::Skip(format!("skipped: {}", unmet.join(", ")));
        }
        return Decision::Wait;
    }
    if unmet.is_empty() {
        Decision::Run
    } else {
        Decision::Skip(format!("skipped: {}", unmet.join(", ")))
    }
}

/// The file a workflow's job node names, for `--dry-run` output.
pub fn describe(node: &Node) -> String {
    match &node.action {
        Action::Job(job) => format!("job {} ({})", job.name(), job.path),
        Action::Crawl { location, database } => format!("crawl {location} into {database}"),
    }
}

/// The conditions of a node, as written.
pub fn conditions(node: &Node) -> String {
    if node.conditions.is_empty() {
        return "at start".into();
    }
    let parts: Vec<String> = node
        .conditions
        .iter()
        .map(|(other, awaited)| {
            let word = match awaited {
                Awaited::Succeeded => "succeeded",
                Awaited::Failed => "failed",
                Awaited::Done => "ended",
            };
            format!("{other} {word}")
        })
        .collect();
    parts.join(if node.any { " or " } else { " and " })
}
