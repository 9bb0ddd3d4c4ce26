//! `sluice scheduler` and `sluice executor`: the Ballista roles, from the same binary.

use sluice_cluster::{ExecutorOptions, SchedulerAddr, SchedulerOptions};

use crate::args::{ExecutorArgs, SchedulerArgs};
use crate::diagnostics::UsageError;
use crate::settings::Settings;

/// Runs a scheduler until Ctrl-C or SIGTERM.
pub async fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let executor_timeout = humantime::parse_duration(args.executor_timeout.trim()).map_err(|e| {
        UsageError::new(
            format!("--executor-timeout `{}`: {e}", args.executor_timeout),
            "write a duration such as `30s` or `2m`",
        )
    })?;
    sluice_cluster::run_scheduler(SchedulerOptions {
        bind: args.bind,
        external_host: args.external_host,
        executor_timeout,
        ..SchedulerOptions::default()
    })
    .await?;
    Ok(())
}

/// Runs an executor until Ctrl-C or SIGTERM.
pub async fn executor(args: ExecutorArgs, settings: &Settings) -> anyhow::Result<()> {
    let scheduler = SchedulerAddr::parse(&args.scheduler)?;
    let slots = args
        .slots
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if slots == 0 {
        return Err(UsageError::new("--slots must be at least 1", "e.g. `--slots 4`").into());
    }
    let work_dir = args
        .work_dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("sluice-executor-{}", args.bind.port())));
    sluice_cluster::run_executor(ExecutorOptions {
        scheduler,
        bind: args.bind,
        grpc_port: args.grpc_port,
        external_host: args.external_host,
        slots,
        work_dir,
        memory_limit: settings.memory_limit().map(|b| b as u64),
    })
    .await?;
    Ok(())
}
