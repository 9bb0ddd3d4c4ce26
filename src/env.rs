//! Every environment variable sluice reads, in one place.
//!
//! The AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`) are read by `sluice_engine::stores::s3`.

/// The catalog file (flag `--catalog`, default `./sluice-catalog.db`).
pub const SLUICE_CATALOG: &str = "SLUICE_CATALOG";
/// Tracked memory limit, e.g. `4GiB` (flag `--memory-limit`).
pub const SLUICE_MEMORY_LIMIT: &str = "SLUICE_MEMORY_LIMIT";
/// Folder operators spill to (flag `--spill-dir`).
pub const SLUICE_SPILL_DIR: &str = "SLUICE_SPILL_DIR";
/// Partitions per query (flag `--target-partitions`).
pub const SLUICE_TARGET_PARTITIONS: &str = "SLUICE_TARGET_PARTITIONS";
/// Output format for rows and records (flag `--format`).
pub const SLUICE_FORMAT: &str = "SLUICE_FORMAT";
/// Log filter in `tracing` syntax, e.g. `sluice=debug` (overrides `-v`/`-q`).
pub const SLUICE_LOG: &str = "SLUICE_LOG";
/// Where the interactive shell keeps its history (default `~/.sluice_history`).
pub const SLUICE_HISTORY: &str = "SLUICE_HISTORY";
/// `text` or `json` log lines (`--log-format`).
pub const SLUICE_LOG_FORMAT: &str = "SLUICE_LOG_FORMAT";
/// Default `--on-bad-records`.
pub const SLUICE_ON_BAD_RECORDS: &str = "SLUICE_ON_BAD_RECORDS";
/// Default `--max-bad-records`.
pub const SLUICE_MAX_BAD_RECORDS: &str = "SLUICE_MAX_BAD_RECORDS";
/// Default `--quarantine`.
pub const SLUICE_QUARANTINE: &str = "SLUICE_QUARANTINE";
/// Default `--cluster`: the Ballista scheduler queries and jobs run on.
pub const SLUICE_CLUSTER: &str = "SLUICE_CLUSTER";
