//! Plain DataFusion, for the end-to-end comparison: a `SessionContext` with a memory limit runs SQL
//! statements (such as `COPY ... PARTITIONED BY`) with DataFusion's own writer.
//!
//! `df_copy MEMORY_BYTES 'SQL; SQL; ...'`

#![allow(clippy::print_stderr)]

use std::sync::Arc;

use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(limit), Some(sql)) = (args.get(1).and_then(|l| l.parse::<usize>().ok()), args.get(2)) else {
        eprintln!("usage: df_copy MEMORY_BYTES SQL");
        return std::process::ExitCode::from(2);
    };
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
        .build_arc()
        .expect("a runtime with a memory pool builds");
    let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let result = match ctx.sql(statement).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    }
    std::process::ExitCode::SUCCESS
}
