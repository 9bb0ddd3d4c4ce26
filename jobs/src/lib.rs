//! sluice-jobs: TOML job files (sources, SQL and Rust steps, sinks, quality rules, retries and
//! bookmarks) planned as a DAG and run against `sluice-engine` and `sluice-catalog`.
//!
//! It has no public API yet: `sluice run` is built on the engine's writer and the catalog.
