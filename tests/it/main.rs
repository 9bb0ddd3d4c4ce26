#![allow(missing_docs, clippy::unwrap_used, clippy::print_stderr)]
//! End-to-end tests of the `sluice` binary: real files, a real S3-compatible server started by
//! `scripts/test.sh`, and DuckDB/pyarrow as independent readers.

mod aws;
mod bad;
mod catalog;
mod cli;
mod cluster;
mod convert;
mod crash;
mod delta;
mod faults;
mod glue;
mod jobs;
mod ops;
mod readme;
mod s3;
mod test_util;
mod versions;
