//! Running sluice's SQL and jobs on an Apache DataFusion Ballista cluster.
//!
//! ```text
//! sluice sql/run --cluster df://host:port          sluice scheduler            sluice executor ×N
//!   catalog tables ──plan locally──> logical plan ──> physical plan, stages ──> tasks read the lake
//!   (LakeTable: the exact committed files,            (same file list,          (S3 from their own
//!    sent as bytes by [`SluiceCodec`])                 rebuilt from the bytes)   environment)
//!   writes: each task writes its files to the destination  <───────────────────────────┘
//!   └─> the client gets the file lists and makes the one Delta commit, as locally
//! ```
//!
//! Every role is the same sluice binary; [`run_scheduler`] and [`run_executor`] embed Ballista's
//! scheduler and executor with sluice's object stores and codec, and [`remote_upgrade`] turns a
//! local session into one that executes on the cluster.

mod codec;
mod roles;
mod tally;

use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use ballista_core::extension::SessionStateExt;
use datafusion::execution::SessionStateBuilder;
use sluice_engine::StateUpgrade;

pub use codec::{SluiceCodec, SluicePhysicalCodec};
pub use roles::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};

/// The port a scheduler listens on unless told otherwise (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// What can go wrong talking to or running a cluster role.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A cluster address that is not `df://HOST[:PORT]`.
    #[error("`{url}` is not a cluster address: {reason}; write df://HOST:PORT, e.g. df://127.0.0.1:50050")]
    BadUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A role could not start or stopped with an error.
    #[error("the {role} failed: {message}")]
    Role {
        /// `scheduler` or `executor`.
        role: &'static str,
        /// Ballista's message.
        message: String,
    },
    /// Building stores or sessions failed.
    #[error(transparent)]
    Engine(#[from] sluice_engine::EngineError),
    /// DataFusion refused a setting.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

/// `Result` with [`ClusterError`].
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// A parsed `df://HOST[:PORT]` scheduler address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerAddr {
    /// Host name or IP address.
    pub host: String,
    /// gRPC port.
    pub port: u16,
}

impl SchedulerAddr {
    /// Parses `df://HOST[:PORT]`; `HOST:PORT` without a scheme is accepted too.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |reason: &str| ClusterError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("df://{url}")
        };
        let parsed = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "df" {
            return Err(bad(&format!("the scheme is `{}`, not `df`", parsed.scheme())));
        }
        if !(parsed.path().is_empty() || parsed.path() == "/") || parsed.query().is_some() {
            return Err(bad("it has a path or query after the port"));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("it has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(DEFAULT_SCHEDULER_PORT),
        })
    }

    /// The gRPC endpoint Ballista's client connects to.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for SchedulerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// Turns a local session state into one that plans locally (catalog, partition pruning) and runs
/// every query on the cluster at `addr`. Queries shuffle over `partitions` partitions (Ballista's
/// stage width).
pub fn remote_upgrade(addr: &SchedulerAddr, partitions: usize) -> StateUpgrade {
    let endpoint = addr.endpoint();
    Arc::new(move |state| {
        let config = state
            .config()
            .clone()
            .with_ballista_logical_extension_codec(Arc::new(SluiceCodec::default()))
            .upgrade_for_ballista()
            .with_target_partitions(partitions.max(1))
            .with_option_extension(sluice_engine::writer::DistributedWrites);
        let state = SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build();
        let state = state.upgrade_for_ballista(endpoint.clone())?;
        let planner = Arc::new(tally::TallyPlanner {
            inner: Arc::clone(state.query_planner()),
            scheduler: endpoint.clone(),
        });
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_query_planner(planner)
            .build())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scheduler_addresses() {
        let a = SchedulerAddr::parse("df://10.0.0.5:6000").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("10.0.0.5", 6000));
        assert_eq!(a.endpoint(), "http://10.0.0.5:6000");
        let b = SchedulerAddr::parse("sched.internal").unwrap();
        assert_eq!(b.to_string(), "df://sched.internal:50050");
        for bad in ["http://x:1", "df://", "df://h:1/path", "df://h:notaport"] {
            let err = SchedulerAddr::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("df://HOST:PORT"), "{err}");
        }
    }
}
