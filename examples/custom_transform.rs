//! A team's own sluice binary: the whole CLI, plus one Rust transform that job files can name.
//!
//! ```sh
//! cargo run --example custom_transform -- run my_job.toml
//! ```
//!
//! with a step such as
//!
//! ```toml
//! [[steps]]
//! name = "priced"
//! rust = "add_margin"
//! args = { input = "orders", column = "amount", rate = 0.2 }
//! ```

use std::process::ExitCode;

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{col, lit};
use sluice_jobs::{Registry, Transform, TransformError, TransformInput};

/// Adds `margin = <column> * rate` to its input.
struct AddMargin;

#[async_trait]
impl Transform for AddMargin {
    async fn apply(&self, input: &TransformInput, args: &toml::Table) -> Result<DataFrame, TransformError> {
        let name = args
            .get("input")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| TransformError::new("needs `input = \"name\"`"))?;
        let column = args
            .get("column")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| TransformError::new("needs `column = \"name\"`"))?;
        let rate = match args.get("rate") {
            Some(toml::Value::Float(f)) => *f,
            Some(toml::Value::Integer(i)) => *i as f64,
            _ => return Err(TransformError::new("needs `rate = <number>`")),
        };
        let df = input.frame(name)?;
        Ok(df.with_column("margin", col(column) * lit(rate))?)
    }
}

fn main() -> ExitCode {
    let mut registry = Registry::with_builtins();
    registry.register("add_margin", AddMargin);
    sluice::main_with(registry)
}
