//! The jobs crate's error type.

use datafusion::error::DataFusionError;
use sluice_catalog::CatalogError;
use sluice_engine::EngineError;

/// Result alias used throughout `sluice-jobs`.
pub type Result<T, E = JobError> = std::result::Result<T, E>;

/// Everything that can go wrong in a job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job file could not be read.
    #[error("cannot read job file `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The job file is not valid TOML or has unknown keys or wrong types (the message names the
    /// key, line and column).
    #[error("job file `{path}`: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },

    /// The job file parses but says something inconsistent.
    #[error("`{path}`{}: {message}", at.map(|(l, c)| format!(", line {l}, column {c}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: String,
        /// Line and column (1-based) of the offending value, when known.
        at: Option<(usize, usize)>,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A Rust transform rejected its arguments or input.
    #[error("transform `{transform}` in step `{step}`: {message}")]
    Transform {
        /// The step.
        step: String,
        /// The registered transform name.
        transform: String,
        /// What is wrong.
        message: String,
    },

    /// A quality rule with `on_fail = "fail"` did not hold; nothing was committed.
    #[error("quality rule failed, nothing was committed: {0}")]
    Quality(String),

    /// Another run of the job holds its lock.
    #[error(
        "job `{job}` is already running (run {run_id}, pid {pid} on {host}, since {since}); wait for it to end. A lock of a crashed run is taken over automatically"
    )]
    AlreadyRunning {
        /// The job.
        job: String,
        /// The run holding the lock.
        run_id: String,
        /// Its host.
        host: String,
        /// Its process id.
        pid: u32,
        /// When it started.
        since: String,
    },

    /// Another run took the job's lock over (this one looked dead); this run stops before committing.
    #[error("job `{job}` lost its lock to another run before committing; nothing of this run was committed")]
    LockLost {
        /// The job.
        job: String,
    },

    /// The job ran longer than its `timeout`; nothing was committed.
    #[error("job `{job}` timed out after {timeout}; nothing was committed")]
    Timeout {
        /// The job.
        job: String,
        /// The configured timeout, as written.
        timeout: String,
    },

    /// A step or sink failed in the engine.
    #[error("{context}")]
    Engine {
        /// Which step, source or sink.
        context: String,
        /// The engine's error.
        #[source]
        source: EngineError,
    },

    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl JobError {
    /// An error inside a named part of the job (`source `orders``, `sink 1 (revenue)`, ...).
    pub fn engine(context: impl Into<String>, source: impl Into<EngineError>) -> Self {
        Self::Engine {
            context: context.into(),
            source: source.into(),
        }
    }

    /// An error from DataFusion inside a named part of the job.
    pub fn datafusion(context: impl Into<String>, source: DataFusionError) -> Self {
        Self::engine(context, EngineError::DataFusion(source))
    }

    /// True when the job file itself is wrong (the CLI exits with 2).
    pub fn is_invalid_job(&self) -> bool {
        matches!(
            self,
            Self::Read { .. } | Self::Syntax { .. } | Self::Invalid { .. }
        )
    }

    /// True when another attempt may succeed: store faults and commit races, never bad data, bad SQL,
    /// failed quality rules or a bad job file.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Engine { source, .. } => sluice_engine::is_transient(source),
            Self::Catalog(e) => e.is_busy(),
            _ => false,
        }
    }
}
