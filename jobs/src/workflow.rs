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

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use sluice_catalog::{Catalog, LockOutcome, RunRow};
use sluice_engine::{Location, new_run_id};
use toml::Spanned;

use crate::error::{JobError, Result};
use crate::record::RunStatus;
use crate::runner::{Runner, SessionFactory};
use crate::spec::{Builtins, ErrFn, Job, invalid};

/// Nodes run at once unless `max_parallel` says otherwise.
const DEFAULT_PARALLEL: usize = 4;

/// How often a running workflow refreshes its lock.
const HEARTBEAT: Duration = Duration::from_secs(20);

/// A workflow file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    /// The workflow's name: its runs and its lock are kept under it.
    pub name: Spanned<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Nodes running at once (default 4).
    #[serde(default)]
    pub max_parallel: Option<Spanned<i64>>,
    /// Params offered to every job and substituted as `${name}` in crawl locations.
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<toml::Value>>,
    /// The nodes by name.
    pub nodes: BTreeMap<String, NodeSpec>,
}

/// One node: a job or a crawl, and when it runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// A job file (relative to the workflow file).
    #[serde(default)]
    pub job: Option<Spanned<String>>,
    /// A folder or S3 prefix to crawl into the catalog.
    #[serde(default)]
    pub crawl: Option<Spanned<String>>,
    /// The catalog database a crawl records into (default `default`).
    #[serde(default)]
    pub database: Option<String>,
    /// Params for this node's job (over the workflow's).
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<toml::Value>>,
    /// Nodes that must have succeeded.
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
    /// Nodes that must have failed.
    #[serde(default)]
    pub after_failure: Vec<Spanned<String>>,
    /// Nodes that must have ended, either way.
    #[serde(default)]
    pub after_done: Vec<Spanned<String>>,
    /// `all` (default): every condition must hold; `any`: one is enough.
    #[serde(default)]
    pub trigger: Option<Spanned<String>>,
}

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
    Job(Box<Job>),
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

/// True when a TOML file is a workflow (it has a `[nodes]` table) rather than a job.
pub fn is_workflow(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("nodes"))
}

/// Reads and checks a workflow file: node references, conditions, cycles, and every job file it
/// names (loaded with the workflow's and the node's params, `overrides` over both).
pub fn load_workflow(
    path: &str,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    runner: &Runner,
) -> Result<Workflow> {
    let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
        path: path.to_string(),
        source,
    })?;
    let spec: WorkflowSpec = toml::from_str(&text).map_err(|e| JobError::Syntax {
        path: path.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let err = |span: Option<std::ops::Range<usize>>, message: String| invalid(path, &text, span, message);
    let base = Path::new(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut params = param_values(&spec.params, &err)?;
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
    let mut nodes = BTreeMap::new();
    for (name, node) in &spec.nodes {
        let mut conditions = Vec::new();
        for (list, awaited) in [
            (&node.after, Awaited::Succeeded),
            (&node.after_failure, Awaited::Failed),
            (&node.after_done, Awaited::Done),
        ] {
            for other in list {
                if !spec.nodes.contains_key(other.get_ref()) {
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
        let any = match node.trigger.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
            None | Some(("all", _)) => false,
            Some(("any", _)) => true,
            Some((other, span)) => {
                return Err(err(
                    Some(span),
                    format!("`trigger = \"{other}\"` is not `all` or `any`"),
                ));
            }
        };
        let run_id = new_run_id();
        let action = match (&node.job, &node.crawl) {
            (Some(job), None) => {
                let mut job_params = params.clone();
                job_params.extend(param_values(&node.params, &err)?);
                job_params.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
                let file = resolve(&base, job.get_ref());
                let builtins = Builtins {
                    run_id: run_id.clone(),
                    today: builtins.today,
                };
                let job = crate::spec::load(&file, &job_params, &builtins).map_err(|e| match e {
                    JobError::Read { source, .. } => err(
                        Some(job.span()),
                        format!("node `{name}`: cannot read the job file `{file}`: {source}"),
                    ),
                    other => other,
                })?;
                runner.check(&job)?;
                Action::Job(Box::new(job))
            }
            (None, Some(crawl)) => {
                if !node.params.is_empty() {
                    return Err(err(
                        Some(crawl.span()),
                        format!("node `{name}` is a crawl; `params` belong to job nodes"),
                    ));
                }
                let url = substitute(crawl.get_ref(), &params)
                    .map_err(|message| err(Some(crawl.span()), message))?;
                let location = Location::parse(&url).map_err(|e| {
                    err(
                        Some(crawl.span()),
                        format!("`crawl = \"{url}\"` is not a location: {e}"),
                    )
                })?;
                Action::Crawl {
                    location,
                    database: node.database.clone().unwrap_or_else(|| "default".into()),
                }
            }
            _ => {
                return Err(err(
                    None,
                    format!("node `{name}` needs exactly one of `job = \"FILE\"` or `crawl = \"URL\"`"),
                ));
            }
        };
        nodes.insert(
            name.clone(),
            Node {
                name: name.clone(),
                action,
                conditions,
                any,
                run_id,
            },
        );
    }
    let order = topological(&nodes).map_err(|cycle| {
        err(
            None,
            format!("nodes wait for each other in a cycle: {}", cycle.join(" -> ")),
        )
    })?;
    let nodes = order.into_iter().filter_map(|n| nodes.remove(&n)).collect();
    Ok(Workflow {
        name: spec.name.get_ref().clone(),
        path: path.to_string(),
        nodes,
        max_parallel,
    })
}

fn param_values(
    params: &BTreeMap<String, Spanned<toml::Value>>,
    err: &ErrFn<'_>,
) -> Result<BTreeMap<String, String>> {
    params
        .iter()
        .map(|(name, value)| Ok((name.clone(), crate::spec::param_text(name, value, err)?)))
        .collect()
}

/// `${name}` replaced by the param's value.
fn substitute(text: &str, params: &BTreeMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err(format!("`{text}` has an unclosed `${{`"));
        };
        let name = &rest[start + 2..start + end];
        let value = params
            .get(name)
            .ok_or_else(|| format!("`${{{name}}}` is not a workflow param; add it to [params]"))?;
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(base: &Path, file: &str) -> String {
    let path = Path::new(file);
    if path.is_absolute() {
        file.to_string()
    } else {
        base.join(path).display().to_string()
    }
}

/// Node names in an order where each comes after the nodes it waits for, or a cycle.
fn topological(nodes: &BTreeMap<String, Node>) -> std::result::Result<Vec<String>, Vec<String>> {
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    let mut visiting = Vec::new();
    fn visit(
        name: &str,
        nodes: &BTreeMap<String, Node>,
        done: &mut BTreeSet<String>,
        visiting: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> std::result::Result<(), Vec<String>> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(at) = visiting.iter().position(|n| n == name) {
            let mut cycle = visiting[at..].to_vec();
            cycle.push(name.to_string());
            return Err(cycle);
        }
        visiting.push(name.to_string());
        for (other, _) in &nodes[name].conditions {
            visit(other, nodes, done, visiting, order)?;
        }
        visiting.pop();
        done.insert(name.to_string());
        order.push(name.to_string());
        Ok(())
    }
    for name in nodes.keys() {
        visit(name, nodes, &mut done, &mut visiting, &mut order)?;
    }
    Ok(order)
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

impl WorkflowRecord {
    fn row(&self) -> RunRow {
        RunRow {
            run_id: self.run_id.clone(),
            job: self.workflow.clone(),
            status: self.status.as_str().to_string(),
            started_at: self.started_at.clone(),
            ended_at: self.ended_at.clone(),
            record: serde_json::to_value(self).unwrap_or_default(),
        }
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
        if let LockOutcome::Held(held) = self.catalog.acquire_job_lock(&lock, run_id)? {
            return Err(JobError::AlreadyRunning {
                job: lock,
                run_id: held.run_id,
                host: held.host,
                pid: held.pid,
                since: held.acquired_at,
            });
        }
        let heartbeat = async {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = self.catalog.heartbeat_job_lock(&lock, run_id) {
                    tracing::warn!(error = %e, "could not refresh the workflow lock");
                }
            }
        };
        let span = tracing::error_span!("workflow", workflow = %workflow.name, workflow_run_id = %run_id);
        let outcome = tokio::select! {
            outcome = tracing::Instrument::instrument(self.run_locked(workflow, run_id), span) => outcome,
            never = heartbeat => never,
        };
        if let Err(e) = self.catalog.release_job_lock(&lock, run_id) {
            tracing::warn!(error = %e, "could not release the workflow lock; the next run takes it over");
        }
        outcome
    }

    async fn run_locked(&self, workflow: &Workflow, run_id: &str) -> Result<WorkflowOutcome> {
        // Holding the lock, an earlier run still marked running died: close it.
        for stale in self.catalog.runs(Some(&workflow.name), 100)? {
            if stale.run_id != run_id
                && stale.status == "running"
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
                self.catalog.save_run(&old.row())?;
            }
        }
        let started = Instant::now();
        let mut record = WorkflowRecord {
            kind: "workflow".into(),
            run_id: run_id.to_string(),
            workflow: workflow.name.clone(),
            file: workflow.path.clone(),
            status: RunStatus::Running,
            started_at: chrono::Utc::now().to_rfc3339(),
            ended_at: None,
            seconds: 0.0,
            nodes: workflow
                .nodes
                .iter()
                .map(|n| NodeRecord {
                    name: n.name.clone(),
                    kind: match n.action {
                        Action::Job(_) => "job".into(),
                        Action::Crawl { .. } => "crawl".into(),
                    },
                    target: match &n.action {
                        Action::Job(job) => job.name().to_string(),
                        Action::Crawl { location, .. } => location.to_string(),
                    },
                    state: NodeState::Waiting,
                    run_id: None,
                    started_at: None,
                    seconds: 0.0,
                    detail: None,
                    error: None,
                })
                .collect(),
        };
        self.catalog.save_run(&record.row())?;
        let index: BTreeMap<&str, usize> = workflow
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut running: FuturesUnordered<NodeFuture<'_>> = FuturesUnordered::new();
        let mut job_runs = Vec::new();
        loop {
            // Decide every waiting node whose conditions are settled; skips cascade, so repeat.
            let mut changed = true;
            while changed {
                changed = false;
                for (i, node) in workflow.nodes.iter().enumerate() {
                    if record.nodes[i].state != NodeState::Waiting {
                        continue;
                    }
                    match decide(node, &record.nodes, &index) {
                        Decision::Wait => {}
                        Decision::Skip(reason) => {
                            tracing::info!(node = %node.name, reason = %reason, "node skipped");
                            record.nodes[i].state = NodeState::Skipped;
                            record.nodes[i].detail = Some(reason);
                            changed = true;
                        }
                        Decision::Run if running.len() < workflow.max_parallel => {
                            tracing::info!(node = %node.name, "node started");
                            record.nodes[i].state = NodeState::Running;
                            record.nodes[i].started_at = Some(chrono::Utc::now().to_rfc3339());
                            if let Action::Job(_) = node.action {
                                record.nodes[i].run_id = Some(node.run_id.clone());
                            }
                            running.push(Box::pin(self.run_node(node, i, run_id)));
                            changed = true;
                        }
                        Decision::Run => {}
                    }
                }
            }
            self.catalog.save_run(&record.row())?;
            let Some((i, result)) = running.next().await else {
                break;
            };
            let node = &mut record.nodes[i];
            node.state = result.state;
            node.detail = result.detail;
            node.error = result.error;
            node.seconds = result.seconds;
            tracing::info!(node = %node.name, state = node.state.as_str(), seconds = node.seconds, "node ended");
            job_runs.extend(result.record);
        }
        record.status = if record.nodes.iter().any(|n| n.state == NodeState::Failed) {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        record.seconds = started.elapsed().as_secs_f64();
        record.ended_at = Some(chrono::Utc::now().to_rfc3339());
        self.catalog.save_run(&record.row())?;
        Ok(WorkflowOutcome { record, job_runs })
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
        let count = |action: &str| t.iter().filter(|t| t.action == action).count();
        Ok(format!(
            "{} tables: {} created, {} updated, {} unchanged",
            t.len(),
            count("created"),
            count("updated"),
            count("unchanged")
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
