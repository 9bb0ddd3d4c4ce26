//! The sluice command line as a library.
//!
//! `sluice::main()` parses the arguments, runs one command and returns the exit code, so a team can
//! build its own binary around it. The commands are thin: the work happens in `sluice-engine`.
//!
//! ```text
//! args (clap) ──> settings (flags > env > defaults) ──> commands::<name>::run ──> output / diagnostics
//! ```

pub mod args;
pub mod commands;
pub mod diagnostics;
pub mod env;
pub mod names;
pub mod output;
pub mod settings;
pub mod table;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};
use crate::settings::Settings;

/// Parses `std::env::args`, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    main_with(sluice_jobs::Registry::with_builtins())
}

/// Like [`main`], with the Rust transforms in `registry` available to job files (`rust = "name"`).
/// A team's own binary registers its transforms and calls this; see `examples/custom_transform.rs`.
pub fn main_with(registry: sluice_jobs::Registry) -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return diagnostics::report(&anyhow::Error::new(e).context("starting the async runtime")),
    };
    let json_logs = cli.global.log_format == args::LogFormat::Json;
    match runtime.block_on(run(cli, &registry)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => diagnostics::report_as(&e, json_logs),
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli, registry: &sluice_jobs::Registry) -> anyhow::Result<()> {
    let settings = Settings::resolve(&cli.global)?;
    dispatch(cli.command, &settings, registry)
        .await
        .map_err(|e| names::explain(e, &settings.catalog))
}

async fn dispatch(
    command: Command,
    settings: &Settings,
    registry: &sluice_jobs::Registry,
) -> anyhow::Result<()> {
    match command {
        Command::Sql(args) => commands::sql::run(args, settings).await,
        Command::Convert(args) => commands::convert::run(args, settings).await,
        Command::Crawl(args) => commands::catalog::crawl(args, settings).await,
        Command::Tables(args) => commands::catalog::tables(args, settings),
        Command::Table(command) => commands::catalog::table(command, settings).await,
        Command::Catalog(command) => commands::catalog::catalog(command, settings).await,
        Command::Vacuum(args) => commands::vacuum::run(args, settings).await,
        Command::Optimize(args) => commands::vacuum::optimize(args, settings).await,
        Command::Run(args) => commands::jobs::run(args, settings, registry).await,
        Command::Runs(args) => commands::jobs::runs(args, settings),
        Command::Bookmark(command) => commands::jobs::bookmark(command, settings),
        // Rendered into memory first: the generators panic on a closed stdout (`| head`).
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "sluice", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(())
        }
        Command::Doctor(args) => commands::doctor::run(args, settings).await,
        Command::Schedule(args::ScheduleCommand::Print(args)) => commands::schedule::print(args, settings),
        Command::Scheduler(args) => commands::cluster::scheduler(args).await,
        Command::Executor(args) => commands::cluster::executor(args, settings).await,
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page)?;
            std::io::Write::write_all(&mut std::io::stdout(), &page)?;
            Ok(())
        }
    }
}

fn init_logging(verbose: u8, quiet: bool, format: args::LogFormat) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // A run's start, attempts and end reach a log shipper (JSON, or stderr going to a file) even
    // at the default verbosity; a person at a terminal sees the printed summary instead.
    let for_machines =
        format == args::LogFormat::Json || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let runs = if !quiet && verbose == 0 && for_machines {
        format!(",{}=info", sluice_jobs::RUN_LOG_TARGET)
    } else {
        String::new()
    };
    let filter = std::env::var(env::SLUICE_LOG)
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("{default},sluice={default},sluice_engine={default},sluice_jobs={default},sluice_catalog={default}{runs}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        args::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        args::LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
