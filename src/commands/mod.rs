//! One module per subcommand; each takes its arguments and the resolved settings.

pub mod catalog;
pub mod cluster;
pub mod convert;
pub mod doctor;
pub mod jobs;
pub mod metrics;
pub mod schedule;
pub mod shell;
pub mod sql;
pub mod vacuum;
