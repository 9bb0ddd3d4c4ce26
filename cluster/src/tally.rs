//! What a cluster job's scans counted, brought back to the client.
//!
//! Executors count the rows and bad records of scans under a bad-records policy as named metrics
//! (see `sluice_engine::readers::GuardedScanExec`); Ballista's scheduler keeps each job's metrics.
//! Every query the client runs on the cluster is wrapped in [`TallyExec`]: once the job's rows are
//! all fetched, it asks the scheduler for the job's metrics and hands the counts to the reads they
//! belong to (`guard::record_remote_counts`), where the run record, `--max-bad-records` and the
//! command's report find them as for a local read.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::operator_metric::Metric;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{GetJobMetricsParams, GetJobMetricsResult, OperatorWithMetrics};
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_endpoint};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::StreamExt;
use sluice_engine::readers::SCAN_ROWS;
use sluice_engine::readers::guard::{parse_remote_counter, record_remote_counts};

type Job = DistributedQueryExec<LogicalPlanNode>;

/// Ballista's client planner, with every cluster query wrapped in a [`TallyExec`].
pub(crate) struct TallyPlanner {
    pub(crate) inner: Arc<dyn QueryPlanner + Send + Sync>,
    pub(crate) scheduler: String,
}

impl fmt::Debug for TallyPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TallyPlanner")
            .field("scheduler", &self.scheduler)
            .finish()
    }
}

#[async_trait]
impl QueryPlanner for TallyPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.create_physical_plan(logical_plan, session).await?;
        if plan.downcast_ref::<Job>().is_none() {
            return Ok(plan);
        }
        Ok(Arc::new(TallyExec {
            job: plan,
            scheduler: self.scheduler.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }
}

/// Runs a cluster job, then collects the counts its scans reported.
#[derive(Debug)]
pub(crate) struct TallyExec {
    job: Arc<dyn ExecutionPlan>,
    scheduler: String,
    /// The rows of each file scan the job ran (see `sluice_engine::readers::SCAN_ROWS`).
    metrics: ExecutionPlanMetricsSet,
}

impl DisplayAs for TallyExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("SluiceTallyExec")
    }
}

impl ExecutionPlan for TallyExec {
    fn name(&self) -> &str {
        "SluiceTallyExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.job.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.job]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(job), true) => Ok(Arc::new(Self {
                job,
                scheduler: self.scheduler.clone(),
                metrics: ExecutionPlanMetricsSet::new(),
            })),
            _ => Err(DataFusionError::Internal(
                "SluiceTallyExec takes one child".into(),
            )),
        }
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let rows = self.job.execute(partition, Arc::clone(&context))?;
        let job = Arc::clone(&self.job);
        let scheduler = self.scheduler.clone();
        let metrics = self.metrics.clone();
        let done = futures::stream::once(async move { tally(&job, &scheduler, &context, &metrics).await })
            .filter_map(|outcome| async move { outcome.err().map(Err) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            rows.chain(done),
        )))
    }
}

/// Fetches the finished job's metrics and hands its scans' counts to their reads.
async fn tally(
    job: &Arc<dyn ExecutionPlan>,
    scheduler: &str,
    context: &TaskContext,
    scans: &ExecutionPlanMetricsSet,
) -> Result<()> {
    let Some(job_id) = job.downcast_ref::<Job>().and_then(DistributedQueryExec::job_id) else {
        return Ok(());
    };
    let metrics = job_metrics(scheduler, job_id.as_ref(), context)
        .await
        .map_err(|e| {
            DataFusionError::Execution(format!(
                "the job ran, but its counts could not be read from the scheduler at {scheduler}: {e}"
            ))
        })?;
    let all = counts(&metrics);
    let reads: std::collections::BTreeSet<u64> = all.keys().map(|(id, _)| *id).collect();
    for id in reads {
        let good = all.get(&(id, false)).copied().unwrap_or(0);
        let bad = all.get(&(id, true)).copied().unwrap_or(0);
        tracing::debug!(read = id, good, bad, "counts from the cluster");
        record_remote_counts(id, good, bad);
    }
    for (file, rows) in scan_rows(&metrics) {
        MetricBuilder::new(scans)
            .counter(format!("{SCAN_ROWS}{file}"), 0)
            .add(usize::try_from(rows).unwrap_or(usize::MAX));
    }
    Ok(())
}

/// (first file, rows) of every file scan in the job's stages.
///
/// Ballista runs a scan below a collapse (a merge into one partition, the build side of a
/// `CollectLeft` join) whole in every task of its stage; such a scan's rows are those of the one
/// task that read most (each read them all), the others' are summed: the rows of the files, as a
/// local run counts them.
fn scan_rows(metrics: &GetJobMetricsResult) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    for stage in &metrics.stages {
        let collapsed = collapsed_scopes(&stage.operators);
        for (operator, whole) in stage.operators.iter().zip(collapsed) {
            if operator.operator_type != "DataSourceExec" {
                continue;
            }
            let Some(file) = first_file(&operator.operator_desc) else {
                continue;
            };
            let rows = operator.metrics.iter().filter_map(|m| match m.metric {
                Some(Metric::OutputRows(n)) => Some(((), m.partition, n)),
                _ => None,
            });
            let rows = per_operator(rows, whole).remove(&()).unwrap_or(0);
            found.push((file, rows));
        }
    }
    found
}

/// For each operator of a stage (listed depth-first, first child first), whether every task runs
/// it whole: it sits below a merge into one partition or on the build side of a `CollectLeft` join.
fn collapsed_scopes(operators: &[OperatorWithMetrics]) -> Vec<bool> {
    // (depth, operator, children seen so far, whole) of the current node's ancestors.
    let mut path: Vec<(u32, &OperatorWithMetrics, usize, bool)> = Vec::new();
    let mut whole = Vec::with_capacity(operators.len());
    for operator in operators {
        while path.last().is_some_and(|(depth, ..)| *depth >= operator.depth) {
            path.pop();
        }
        let this = match path.last_mut() {
            Some((_, parent, seen, parent_whole)) => {
                let child = *seen;
                *seen += 1;
                *parent_whole || collapses(parent, child)
            }
            None => false,
        };
        whole.push(this);
        path.push((operator.depth, operator, 0, this));
    }
    whole
}

/// True when `parent` needs its input `child` in one partition (Ballista then runs that input
/// whole in every task).
fn collapses(parent: &OperatorWithMetrics, child: usize) -> bool {
    match parent.operator_type.as_str() {
        "CoalescePartitionsExec" | "SortPreservingMergeExec" => true,
        "HashJoinExec" => child == 0 && parent.operator_desc.contains("mode=CollectLeft"),
        "NestedLoopJoinExec" | "CrossJoinExec" => child == 0,
        _ => false,
    }
}

/// The first file of a file scan as DataFusion describes it:
/// `DataSourceExec: file_groups={2 groups: [[path/a.csv:0..1000, ...], [...]]}, ...`.
fn first_file(description: &str) -> Option<String> {
    let groups = description.split_once("file_groups={")?.1;
    let first = groups.split_once("[[")?.1;
    let end = first.find([',', ']']).unwrap_or(first.len());
    let file = &first[..end];
    // A file split into ranges shows its range after the path.
    let file = match file.rsplit_once(':') {
        Some((path, range)) if range.contains("..") => path,
        _ => file,
    };
    Some(file.trim().to_string())
}

/// The sluice counters of a job, summed over its stages: (read id, bad?) to count.
fn counts(metrics: &GetJobMetricsResult) -> HashMap<(u64, bool), u64> {
    let mut found = HashMap::new();
    for stage in &metrics.stages {
        let collapsed = collapsed_scopes(&stage.operators);
        for (operator, whole) in stage.operators.iter().zip(collapsed) {
            let counters = operator.metrics.iter().filter_map(|m| match &m.metric {
                Some(Metric::Count(c)) => Some((parse_remote_counter(&c.name)?, m.partition, c.value)),
                _ => None,
            });
            for (key, value) in per_operator(counters, whole) {
                *found.entry(key).or_default() += value;
            }
        }
    }
    found
}

/// One operator's values by key: summed over its tasks, or, when every task ran it whole, those of
/// the task with the most (see [`scan_rows`]).
fn per_operator<K: std::hash::Hash + Eq + Copy>(
    values: impl Iterator<Item = (K, Option<u32>, u64)>,
    whole: bool,
) -> HashMap<K, u64> {
    let mut by_task: HashMap<(K, Option<u32>), u64> = HashMap::new();
    for (key, task, value) in values {
        *by_task.entry((key, task)).or_default() += value;
    }
    let mut out: HashMap<K, u64> = HashMap::new();
    for ((key, _), value) in by_task {
        let entry = out.entry(key).or_default();
        *entry = if whole {
            (*entry).max(value)
        } else {
            *entry + value
        };
    }
    out
}

async fn job_metrics(
    scheduler: &str,
    job_id: &str,
    context: &TaskContext,
) -> std::result::Result<GetJobMetricsResult, String> {
    use ballista_core::extension::SessionConfigExt;
    let config = context.session_config();
    let grpc = GrpcClientConfig::from(&config.ballista_config());
    let endpoint =
        create_grpc_client_endpoint(scheduler.to_string(), Some(&grpc)).map_err(|e| e.to_string())?;
    let connection = endpoint.connect().await.map_err(|e| e.to_string())?;
    let max = config.ballista_config().grpc_client_max_message_size();
    let mut client = SchedulerGrpcClient::new(connection)
        .max_encoding_message_size(max)
        .max_decoding_message_size(max);
    let params = GetJobMetricsParams {
        job_id: job_id.to_string(),
    };
    client
        .get_job_metrics(params)
        .await
        .map(|response| response.into_inner())
        .map_err(|status| status.message().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(depth: u32, kind: &str, desc: &str) -> OperatorWithMetrics {
        OperatorWithMetrics {
            depth,
            operator_type: kind.into(),
            operator_desc: desc.into(),
            metrics: Vec::new(),
        }
    }

    #[test]
    fn the_build_side_of_a_collect_left_join_runs_whole_in_every_task() {
        let stage = [
            op(0, "ShuffleWriterExec", ""),
            op(
                1,
                "HashJoinExec",
                "HashJoinExec: mode=CollectLeft, join_type=Inner",
            ),
            op(2, "CoalescePartitionsExec", ""),
            op(3, "DataSourceExec", "nation"),
            op(2, "ProjectionExec", ""),
            op(3, "DataSourceExec", "customer"),
            op(1, "DataSourceExec", "sibling"),
        ];
        assert_eq!(
            collapsed_scopes(&stage),
            [false, false, true, true, false, false, false]
        );
        let partitioned = [
            op(0, "HashJoinExec", "HashJoinExec: mode=Partitioned"),
            op(1, "DataSourceExec", "a"),
            op(1, "DataSourceExec", "b"),
        ];
        assert_eq!(collapsed_scopes(&partitioned), [false, false, false]);
    }

    #[test]
    fn reads_the_first_file_of_a_scan_description() {
        let d = "DataSourceExec: file_groups={2 groups: [[lake/li/a.csv:0..1000, lake/li/b.csv], [lake/li/c.csv]]}, projection=[x], file_type=csv";
        assert_eq!(first_file(d).as_deref(), Some("lake/li/a.csv"));
        let whole = "DataSourceExec: file_groups={1 group: [[t/p=1/x.parquet]]}, file_type=parquet";
        assert_eq!(first_file(whole).as_deref(), Some("t/p=1/x.parquet"));
        assert_eq!(first_file("ProjectionExec: expr=[a]"), None);
    }
}
