//! `sluice scheduler` and `sluice executor`: Ballista's roles with sluice's stores and codec.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::{BallistaCluster, ClusterStateEvent, ClusterStateEventStream};
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use futures::StreamExt;
use sluice_engine::S3Options;
use sluice_engine::stores::StoreRegistry;

use crate::{ClusterError, Result, SchedulerAddr, SluiceCodec, SluicePhysicalCodec};

/// How to run a scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address the gRPC service listens on.
    pub bind: SocketAddr,
    /// Host name executors and clients reach this scheduler by (default: the bind address).
    pub external_host: Option<String>,
    /// An executor silent for this long is dead; its tasks (and the map output it held) run again
    /// elsewhere.
    pub executor_timeout: Duration,
    /// Failed attempts of one task before its job fails.
    pub task_max_failures: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], crate::DEFAULT_SCHEDULER_PORT)),
            external_host: None,
            executor_timeout: Duration::from_secs(30),
            task_max_failures: 4,
        }
    }
}

/// How to run an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler to register with.
    pub scheduler: SchedulerAddr,
    /// Address the Arrow Flight service (results and shuffle data) listens on.
    pub bind: SocketAddr,
    /// Port of the executor's gRPC service.
    pub grpc_port: u16,
    /// Host name the scheduler and clients reach this executor by (default: the bind address).
    pub external_host: Option<String>,
    /// Tasks run at once (default: the number of cores).
    pub slots: usize,
    /// Where shuffle and result files go.
    pub work_dir: PathBuf,
    /// Memory the executor's tasks may track together, in bytes (default: 70 % of the machine).
    pub memory_limit: Option<u64>,
}

/// Builds every store from this process's own environment (`AWS_*`), never from the client's.
fn stores() -> Result<Arc<StoreRegistry>> {
    Ok(Arc::new(StoreRegistry::new(S3Options::from_env()?)))
}

fn role_error(role: &'static str) -> impl Fn(ballista_core::error::BallistaError) -> ClusterError {
    move |e| ClusterError::Role {
        role,
        message: e.to_string(),
    }
}

/// Runs a scheduler until the process receives Ctrl-C or SIGTERM.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<()> {
    let stores = stores()?;
    let session_builder = Arc::new(move |config: SessionConfig| {
        let state = default_session_builder(config)?;
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&stores) as _)
            .build_arc()?;
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .with_query_planner(Arc::new(sluice_engine::writer::WriteQueryPlanner))
            .build())
    });
    let timeout = options.executor_timeout.as_secs().max(2);
    let mut config = SchedulerConfig::default()
        .with_hostname(
            options
                .external_host
                .clone()
                .unwrap_or_else(|| options.bind.ip().to_string()),
        )
        .with_port(options.bind.port())
        .with_scheduler_policy(TaskSchedulingPolicy::PullStaged)
        .with_task_distribution(TaskDistributionPolicy::RoundRobin)
        .with_override_session_builder(session_builder)
        .with_no_executors_grace_period_seconds(timeout);
    config.bind_host = options.bind.ip().to_string();
    config.executor_timeout_seconds = timeout;
    config.expire_dead_executor_interval_seconds = (timeout / 4).clamp(1, 15);
    config.task_max_failures = options.task_max_failures.max(1);
    config.override_logical_codec = Some(Arc::new(SluiceCodec::default()));
    config.override_physical_codec = Some(Arc::new(SluicePhysicalCodec::default()));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(role_error("scheduler"))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
        .await
        .map_err(role_error("scheduler"))?;
    let events = scheduler
        .state
        .executor_manager
        .cluster_state_events()
        .await
        .map_err(role_error("scheduler"))?;
    tracing::info!(bind = %options.bind, executor_timeout_secs = timeout, "scheduler listening");
    tokio::select! {
        served = start_grpc_service(options.bind, scheduler.clone()) => served.map_err(role_error("scheduler")),
        () = cancel_jobs_on_executor_loss(&scheduler, events) => Ok(()),
        () = shutdown_signal() => {
            tracing::info!("scheduler stopping");
            Ok(())
        }
    }
}

/// Fails every running job when an executor leaves the cluster.
///
/// Ballista 55 re-runs a lost executor's tasks, but its recovery is not safe: with the adaptive
/// planner (the default) the job never finishes, and without it a count over a join came back
/// ~30 % too high. A job that fails can be rerun (a sluice write commits nothing on failure); a
/// job that hangs or returns wrong rows cannot be trusted, so a lost executor fails its jobs.
async fn cancel_jobs_on_executor_loss(
    scheduler: &SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    mut events: ClusterStateEventStream,
) {
    while let Some(event) = events.next().await {
        let ClusterStateEvent::RemovedExecutor { executor_id } = event else {
            continue;
        };
        let running = scheduler.state.task_manager.get_running_job_cache();
        for job_id in running.keys() {
            tracing::warn!(job = %job_id, executor = %executor_id, "an executor running this job was lost; failing the job");
            if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
                tracing::error!(job = %job_id, error = %e, "could not cancel the job");
            }
        }
    }
    // The stream ends only with the scheduler; keep serving until then.
    std::future::pending::<()>().await;
}

/// Runs an executor until the process receives Ctrl-C or SIGTERM (running tasks drain first).
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    std::fs::create_dir_all(&options.work_dir).map_err(|source| {
        ClusterError::Engine(sluice_engine::EngineError::Io {
            path: options.work_dir.clone(),
            source,
        })
    })?;
    let stores = stores()?;
    let work_dir = options.work_dir.to_string_lossy().into_owned();
    let spill_dir = options.work_dir.clone();
    let runtime_producer = Arc::new(move |_: &SessionConfig| {
        RuntimeEnvBuilder::new()
            .with_temp_file_path(spill_dir.clone())
            .with_object_store_registry(Arc::clone(&stores) as _)
            .build_arc()
    });
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(
            options
                .external_host
                .clone()
                .unwrap_or_else(|| options.bind.ip().to_string()),
        ),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.host.clone(),
        scheduler_port: options.scheduler.port,
        scheduler_connect_timeout_seconds: 30,
        vcores: options.slots,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: Some(work_dir),
        memory_pool_size: options.memory_limit,
        override_runtime_producer: Some(runtime_producer),
        override_logical_codec: Some(Arc::new(SluiceCodec::default())),
        override_physical_codec: Some(Arc::new(SluicePhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(
        scheduler = %options.scheduler,
        bind = %options.bind,
        slots = options.slots,
        work_dir = %options.work_dir.display(),
        "executor starting"
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(role_error("executor"))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
