//! Turns global flags (already merged with their environment variables by clap) into a session.

use std::io::IsTerminal;

use sluice_engine::readers::guard::{BadRecordPolicy, BadRecordSpec, MaxBadRecords};
use sluice_engine::{Location, SessionBuilder, SluiceSession, parse_size};

use crate::diagnostics::UsageError;

use crate::args::{GlobalArgs, OutputFormat};

/// Resolved global settings.
#[derive(Debug)]
pub struct Settings {
    /// How to print rows.
    pub format: OutputFormat,
    /// Suppress progress and non-error logs.
    pub quiet: bool,
    /// The catalog file.
    pub catalog: std::path::PathBuf,
    memory_limit: Option<usize>,
    spill_dir: Option<std::path::PathBuf>,
    target_partitions: Option<usize>,
    /// The bad-records policy given on the command line, if any.
    pub bad_records: Option<BadRecordSpec>,
    /// The cluster queries and jobs run on (`--cluster`), if any.
    pub cluster: Option<sluice_cluster::SchedulerAddr>,
}

impl Settings {
    /// Validates the global flags.
    pub fn resolve(global: &GlobalArgs) -> anyhow::Result<Self> {
        let memory_limit = global.memory_limit.as_deref().map(memory_limit).transpose()?;
        let format = global.format.unwrap_or_else(default_format);
        let bad_records = bad_record_spec(global)?;
        let cluster = global
            .cluster
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(sluice_cluster::SchedulerAddr::parse)
            .transpose()?;
        Ok(Self {
            cluster,
            bad_records,
            format,
            quiet: global.quiet,
            catalog: global.catalog.clone(),
            memory_limit,
            spill_dir: global.spill_dir.clone(),
            target_partitions: global.target_partitions,
        })
    }

    /// Builds the engine session every command runs in; with `--on-bad-records`, its CSV and NDJSON
    /// reads count bad records under that policy (`SluiceSession::bad_records`).
    pub fn session(&self) -> anyhow::Result<SluiceSession> {
        let mut builder = self.builder();
        if let Some(spec) = &self.bad_records {
            builder = builder.with_bad_records(spec.start()?);
        }
        Ok(builder.build()?)
    }

    /// A session builder with these settings.
    fn builder(&self) -> SessionBuilder {
        builder(
            self.memory_limit,
            self.spill_dir.as_deref(),
            self.target_partitions,
            self.cluster.as_ref(),
        )
    }

    /// Makes engine sessions with these settings (a job builds a fresh one per attempt; its sources
    /// carry their own bad-records policies). A job file's `cluster =` is used when no `--cluster`
    /// was given.
    pub fn session_factory(&self) -> sluice_jobs::SessionFactory {
        let (limit, spill_dir, partitions) =
            (self.memory_limit, self.spill_dir.clone(), self.target_partitions);
        let flag = self.cluster.clone();
        std::sync::Arc::new(move |job_cluster: Option<&str>| {
            let cluster = match (&flag, job_cluster) {
                (Some(addr), _) => Some(addr.clone()),
                (None, Some(text)) => Some(sluice_cluster::SchedulerAddr::parse(text).map_err(|e| {
                    sluice_engine::EngineError::InvalidOption {
                        option: "cluster".into(),
                        reason: e.to_string(),
                    }
                })?),
                (None, None) => None,
            };
            builder(limit, spill_dir.as_deref(), partitions, cluster.as_ref()).build()
        })
    }

    /// The memory limit given (`--memory-limit`), in bytes.
    pub fn memory_limit(&self) -> Option<usize> {
        self.memory_limit
    }

    /// A session with the catalog's tables mounted as `db.table`, when the catalog file exists.
    pub fn session_with_catalog(&self) -> anyhow::Result<SluiceSession> {
        let session = self.session()?;
        if self.catalog.is_file() {
            let catalog = std::sync::Arc::new(sluice_catalog::Catalog::open(&self.catalog)?);
            let n = sluice_catalog::mount(&session, &catalog)?;
            tracing::debug!(databases = n, catalog = %self.catalog.display(), "mounted the catalog");
        }
        Ok(session)
    }

    /// The catalog; for a dry run whose catalog file does not exist, an empty one in memory, so
    /// that a dry run never creates the file.
    pub fn catalog_for(&self, dry_run: bool) -> anyhow::Result<sluice_catalog::Catalog> {
        Ok(if dry_run && !self.catalog.exists() {
            sluice_catalog::Catalog::open(":memory:")?
        } else {
            sluice_catalog::Catalog::open(&self.catalog)?
        })
    }

    /// The spill folder given (`--spill-dir`), if any.
    pub fn spill_dir(&self) -> Option<std::path::PathBuf> {
        self.spill_dir.clone()
    }

    /// True when progress may be drawn on stderr.
    pub fn show_progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// `--memory-limit` in bytes.
fn memory_limit(text: &str) -> Result<usize, sluice_engine::EngineError> {
    parse_size(text).map_err(|_| sluice_engine::EngineError::InvalidOption {
        option: "--memory-limit".into(),
        reason: format!("`{text}` is not a size; write e.g. `4GiB` or `512MiB`"),
    })
}

/// Without `--format`: a table for a terminal, csv for a file or a pipe.
fn default_format() -> OutputFormat {
    if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    }
}

/// `--on-bad-records` (or quarantine when only `--quarantine` is given).
fn bad_record_policy(global: &GlobalArgs) -> Result<Option<BadRecordPolicy>, UsageError> {
    Ok(match (&global.on_bad_records, &global.quarantine) {
        (Some(p), _) => Some(p.parse::<BadRecordPolicy>().map_err(|e| {
            UsageError::new(format!("--on-bad-records: {e}"), "use fail, skip or quarantine")
        })?),
        (None, Some(_)) => Some(BadRecordPolicy::Quarantine),
        (None, None) => None,
    })
}

/// `--max-bad-records`, a count or a percentage.
fn max_bad_records(global: &GlobalArgs) -> Result<Option<MaxBadRecords>, UsageError> {
    global
        .max_bad_records
        .as_deref()
        .map(|m| {
            m.parse::<MaxBadRecords>().map_err(|e| {
                UsageError::new(
                    format!("--max-bad-records: {e}"),
                    "e.g. `--max-bad-records 100` or `1%`",
                )
            })
        })
        .transpose()
}

/// `--on-bad-records`, `--max-bad-records` and `--quarantine` as one policy; `None` when none given.
fn bad_record_spec(global: &GlobalArgs) -> anyhow::Result<Option<BadRecordSpec>> {
    let policy = bad_record_policy(global)?;
    let max = max_bad_records(global)?;
    let Some(policy) = policy else {
        if max.is_some() {
            return Err(UsageError::new(
                "--max-bad-records needs --on-bad-records skip or quarantine",
                "add `--on-bad-records skip` (or `--quarantine URL`)",
            )
            .into());
        }
        return Ok(None);
    };
    let quarantine = global.quarantine.as_deref().map(Location::parse).transpose()?;
    let spec = BadRecordSpec {
        policy,
        max,
        quarantine,
    };
    spec.start()?;
    Ok(Some(spec))
}

/// Stage width of cluster queries unless `--target-partitions` says otherwise (Ballista's default).
const CLUSTER_PARTITIONS: usize = 16;

/// A session builder with the given limits, spill folder, partitions and cluster.
fn builder(
    limit: Option<usize>,
    spill_dir: Option<&std::path::Path>,
    partitions: Option<usize>,
    cluster: Option<&sluice_cluster::SchedulerAddr>,
) -> SessionBuilder {
    let mut builder = SessionBuilder::new();
    if let Some(addr) = cluster {
        builder = builder.with_state_upgrade(sluice_cluster::remote_upgrade(
            addr,
            partitions.unwrap_or(CLUSTER_PARTITIONS),
        ));
    }
    if let Some(limit) = limit {
        builder = builder.with_memory_limit(limit);
    }
    if let Some(dir) = spill_dir {
        builder = builder.with_spill_dir(dir);
    }
    if let Some(n) = partitions {
        builder = builder.with_target_partitions(n);
    }
    builder
}
