//! Command-line arguments (clap types only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// sluice: batch ETL over a data lake. Crawl folders and S3 prefixes into a catalog, query them with
/// SQL, and write Hive-partitioned Parquet that commits safely.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command (listed after a command's own in its help).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The catalog file (SQLite): created by `crawl` and `run`, read by `sql` when it exists.
    #[arg(long, global = true, env = env::SLUICE_CATALOG, default_value = "sluice-catalog.db", value_name = "PATH")]
    pub catalog: PathBuf,
    /// How rows and records are printed (default: `table` on a terminal, `csv` otherwise).
    #[arg(long, global = true, value_enum, env = env::SLUICE_FORMAT)]
    pub format: Option<OutputFormat>,
    /// More logging (`-v` info, `-vv` debug, `-vvv` trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors; no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log lines on stderr: `text` for people, `json` (one object per line, with the job, run id
    /// and step of job runs) for log shippers.
    #[arg(long, global = true, value_enum, default_value = "text", env = env::SLUICE_LOG_FORMAT)]
    pub log_format: LogFormat,
    /// Memory operators may track before spilling to disk, e.g. `4GiB` (default: 70% of RAM).
    #[arg(long, global = true, env = env::SLUICE_MEMORY_LIMIT, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Folder for spill files (default: the system temp folder).
    #[arg(long, global = true, env = env::SLUICE_SPILL_DIR, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Partitions each query runs with (default: number of cores).
    #[arg(long, global = true, env = env::SLUICE_TARGET_PARTITIONS, value_name = "N")]
    pub target_partitions: Option<usize>,
    /// CSV/NDJSON records that do not parse: `fail` at the first (naming file, line and column),
    /// `skip` them, or `quarantine` them to `--quarantine` (default: fail, with DataFusion's reader).
    #[arg(long, global = true, env = env::SLUICE_ON_BAD_RECORDS, value_name = "POLICY")]
    pub on_bad_records: Option<String>,
    /// With skip or quarantine: fail anyway beyond this many bad records (`100`) or this share of
    /// all records (`1%`).
    #[arg(long, global = true, env = env::SLUICE_MAX_BAD_RECORDS, value_name = "N|P%")]
    pub max_bad_records: Option<String>,
    /// Folder or S3 prefix where quarantined records go, as NDJSON (file, line, offset, reason,
    /// raw); implies `--on-bad-records quarantine`.
    #[arg(long, global = true, env = env::SLUICE_QUARANTINE, value_name = "URL")]
    pub quarantine: Option<String>,
    /// Run queries and jobs on the Ballista cluster whose scheduler is at this address
    /// (`df://HOST:PORT`); planning, the catalog and commits stay in this process.
    #[arg(long, global = true, env = env::SLUICE_CLUSTER, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output formats for rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// sluice's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL over folders, S3 prefixes and files; with no query on a terminal, open a shell.
    #[command(
        after_help = "Examples:\n  sluice sql \"SELECT order_date, count(*) FROM 'testdata/lake/orders/' GROUP BY 1\"\n  sluice sql --format json \"SELECT * FROM raw.orders LIMIT 5\"\n  sluice sql -f report.sql --output report.parquet\n  sluice sql        # an interactive shell on a terminal"
    )]
    Sql(SqlArgs),
    /// Convert CSV or NDJSON (plain or compressed) into Parquet, optionally Hive-partitioned.
    #[command(
        after_help = "Examples:\n  sluice convert testdata/lake/orders/ out/orders --partition-by order_date\n  sluice convert s3://lake/raw/events/ s3://lake/curated/events/ --partition-by dt --mode overwrite-partitions\n  sluice convert raw/ out/ --mode merge --merge-keys id --compression 'zstd(6)'"
    )]
    Convert(ConvertArgs),
    /// Find tables and Hive partitions under a folder or S3 prefix, infer schemas and record them in
    /// the catalog.
    #[command(
        after_help = "Examples:\n  sluice crawl testdata/lake/ --database raw\n  sluice crawl s3://lake/raw/ --database raw --exclude 'logs/**' --sync-glue\n  sluice crawl testdata/lake/ --database raw --dry-run --explain"
    )]
    Crawl(CrawlArgs),
    /// List the catalog's tables.
    #[command(after_help = "Examples:\n  sluice tables\n  sluice tables --database raw --format csv")]
    Tables(TablesArgs),
    /// Inspect or drop one catalog table.
    #[command(
        subcommand,
        after_help = "Examples:\n  sluice table show raw.orders\n  sluice table partitions raw.orders\n  sluice table ddl raw.orders --dialect athena"
    )]
    Table(TableCommand),
    /// Move the catalog to and from AWS Glue's JSON shapes.
    #[command(
        subcommand,
        after_help = "Examples:\n  sluice catalog export --glue -o glue.json\n  sluice catalog sync --glue --dry-run"
    )]
    Catalog(CatalogCommand),
    /// Delete files that no commit made part of a table: leftovers of failed or killed writes and
    /// files an overwrite replaced.
    #[command(
        after_help = "Examples:\n  sluice vacuum out/orders --dry-run\n  sluice vacuum s3://lake/curated/events/ --retain 7d"
    )]
    Vacuum(VacuumArgs),
    /// Compact a Delta table's small files (what nightly appends leave) into fewer large ones, in
    /// one version that changes no rows.
    #[command(
        after_help = "Examples:\n  sluice optimize out/orders\n  sluice optimize out/orders --where \"order_date >= '2026-11-01'\" --dry-run"
    )]
    Optimize(OptimizeArgs),
    /// Run a job file: read sources, run SQL and Rust steps, check quality rules, write sinks and
    /// commit them together; retries transient faults and records the run.
    #[command(
        after_help = "Examples:\n  sluice run jobs/examples/daily_revenue.toml --dry-run\n  sluice run jobs/examples/daily_revenue.toml --param run_date=2026-11-20\n  sluice --log-format json run JOB.toml --metrics-file daily.prom"
    )]
    Run(RunArgs),
    /// Show the run history of one job or of all.
    #[command(
        after_help = "Examples:\n  sluice runs\n  sluice runs daily_revenue --limit 5\n  sluice runs --run RUN_ID"
    )]
    Runs(RunsArgs),
    /// Show, reset or rewind what a job's bookmarked sources have processed.
    #[command(
        subcommand,
        after_help = "Examples:\n  sluice bookmark show daily_revenue\n  sluice bookmark rewind daily_revenue --to-run RUN_ID"
    )]
    Bookmark(BookmarkCommand),
    /// Print a shell completion script (e.g. `sluice completions bash > /etc/bash_completion.d/sluice`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `sluice man > /usr/local/share/man/man1/sluice.1`.
    Man,
    /// Check the catalog file, store access (list each URL given), memory and spill space.
    #[command(after_help = "Examples:\n  sluice doctor\n  sluice doctor s3://lake/raw/")]
    Doctor(DoctorArgs),
    /// Print a crontab line or systemd units that run a job or workflow on a schedule.
    #[command(
        subcommand,
        after_help = "Examples:\n  sluice schedule print --cron \"0 2 * * *\" jobs/examples/daily_revenue.toml\n  sluice schedule print --cron @daily --systemd jobs/examples/nightly.toml"
    )]
    Schedule(ScheduleCommand),
    /// Run a Ballista scheduler: executors register with it and `--cluster` clients send it queries.
    #[command(after_help = "Examples:\n  sluice scheduler --bind 0.0.0.0:50050")]
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor that takes tasks from a scheduler; reads the lake with this
    /// machine's own AWS credentials.
    #[command(
        after_help = "Examples:\n  sluice executor --scheduler df://sched.internal:50050 --bind 0.0.0.0:50051 --slots 8"
    )]
    Executor(ExecutorArgs),
}

/// `sluice scheduler`
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on; use 0.0.0.0:50050 to accept executors and clients from other machines.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// Host name others reach this scheduler by, when not the bind address (e.g. behind NAT).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// An executor silent this long is dead and its tasks run again elsewhere, e.g. `30s`.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub executor_timeout: String,
}

/// `sluice executor`
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with: `df://HOST:PORT` or `HOST:PORT`.
    #[arg(long, value_name = "ADDR")]
    pub scheduler: String,
    /// Address the data (Arrow Flight) service listens on; scheduler, other executors and clients
    /// fetch results and shuffle data from it.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub bind: std::net::SocketAddr,
    /// Port of the executor's control (gRPC) service.
    #[arg(long, value_name = "PORT", default_value_t = 50052)]
    pub grpc_port: u16,
    /// Host name others reach this executor by, when not the bind address.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Tasks run at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub slots: Option<usize>,
    /// Folder for shuffle, result and spill files (default: `sluice-executor-PORT` in the temp folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

/// `sluice schedule`
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Print a crontab line (or with `--systemd`, a service and a timer) that runs the job with
    /// JSON logs, a metrics file and absolute paths, from the current folder.
    Print(SchedulePrintArgs),
}

/// `sluice schedule print`
#[derive(Debug, Args)]
pub struct SchedulePrintArgs {
    /// When: five cron fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * *", or
    /// @hourly, @daily, @weekly, @monthly, @yearly.
    #[arg(long, value_name = "EXPR")]
    pub cron: String,
    /// The job or workflow file.
    pub job: PathBuf,
    /// Print a systemd service and timer instead of a crontab line.
    #[arg(long)]
    pub systemd: bool,
    /// Folder of the metrics file (`sluice_JOB.prom`), e.g. node_exporter's textfile directory.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/node_exporter/textfile_collector"
    )]
    pub metrics_dir: PathBuf,
    /// Folder of the log file (`JOB.log`; crontab only: systemd keeps logs in the journal).
    #[arg(long, value_name = "DIR", default_value = "/var/log/sluice")]
    pub log_dir: PathBuf,
    /// A param for every run (`--param name=value`); repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

/// `sluice doctor`
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Folders or S3 prefixes to list, e.g. `s3://lake/raw/`.
    pub urls: Vec<String>,
}

/// `sluice run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file or workflow file (TOML; a workflow has `[nodes.*]` tables).
    pub job: PathBuf,
    /// Set a param used as `${name}` in the job file (overrides its [params]); repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Check the job and print what it would read and write, without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the run's metrics in Prometheus text format to this file (replaced atomically; for
    /// node_exporter's textfile collector), whether the run succeeds or fails.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Also PUT the metrics to a Prometheus Pushgateway at this base URL (as
    /// `URL/metrics/job/JOB`), whether the run succeeds or fails.
    #[arg(long, value_name = "URL")]
    pub metrics_push: Option<String>,
    /// After a successful run, sync the databases of the catalog tables its sinks updated to the
    /// AWS Glue Data Catalog (as `catalog sync --glue --database DB` does), so Athena sees the new
    /// partitions at once.
    #[arg(long, conflicts_with = "dry_run")]
    pub sync_glue: bool,
}

/// `sluice runs`
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// A job name (or job file); all jobs when left out.
    pub job: Option<String>,
    /// Show at most this many runs, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print the full record of this run as JSON.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "job")]
    pub run: Option<String>,
    /// List the job runs this workflow run started.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["job", "run"])]
    pub workflow_run: Option<String>,
}

/// `sluice bookmark`
#[derive(Debug, Subcommand)]
pub enum BookmarkCommand {
    /// What each bookmarked source of a job has processed.
    Show {
        /// The job name (or job file).
        job: String,
    },
    /// Forget what a job processed, so its next run reads everything (written output stays).
    Reset {
        /// The job name (or job file).
        job: String,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// Forget what runs after RUN_ID processed, so the next run reads those files again.
    Rewind {
        /// The job name (or job file).
        job: String,
        /// The last run whose files stay processed.
        #[arg(long, value_name = "RUN_ID")]
        to_run: String,
    },
}

/// `sluice crawl`
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// The folder or URL to crawl: a table folder, or a folder of table folders.
    pub url: String,
    /// The database the tables go into.
    #[arg(long, default_value = "default")]
    pub database: String,
    /// Leave out paths matching this Glue-style glob, relative to URL (`**.tmp`, `logs/**`); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Infer each table's schema from at most N files per format.
    #[arg(long, value_name = "N")]
    pub sample_files: Option<usize>,
    /// When a table's columns or partition keys changed: record it, only report it, or fail.
    #[arg(long, value_enum, default_value = "update")]
    pub on_schema_change: SchemaChangeArg,
    /// Catalog tables under URL whose data is gone: keep them marked deprecated, delete them, or
    /// only report them.
    #[arg(long, value_enum, default_value = "deprecate")]
    pub on_delete: DeleteArg,
    /// Fail, changing nothing, when the crawl would create more than N new tables (a guard against
    /// crawling the wrong folder level).
    #[arg(long, value_name = "N")]
    pub max_new_tables: Option<usize>,
    /// Report what the crawl would change without changing the catalog.
    #[arg(long)]
    pub dry_run: bool,
    /// Add each table's inference decisions (sniffed dialect, widened columns and the file that
    /// widened them, typed strings) to the output.
    #[arg(long)]
    pub explain: bool,
    /// After the crawl, sync the crawled database to the AWS Glue Data Catalog (as `catalog sync
    /// --glue --database DB` does), so Athena sees new tables and partitions at once.
    #[arg(long, conflicts_with = "dry_run")]
    pub sync_glue: bool,
}

/// `--on-delete` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeleteArg {
    /// Keep the table, marked deprecated.
    Deprecate,
    /// Remove the table from the catalog.
    Delete,
    /// Only report it.
    Log,
}

/// `--on-schema-change` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaChangeArg {
    /// Record the new schema as a new table version.
    Update,
    /// Keep the table as it was and report the change.
    Log,
    /// Stop with an error (exit 1).
    Fail,
}

/// `sluice tables`
#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Only this database.
    #[arg(long)]
    pub database: Option<String>,
}

/// `sluice table ...`
#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Columns (Arrow and Glue types), partition keys, location and statistics.
    Show(TableName),
    /// One row per partition: values, files, bytes.
    Partitions(TableName),
    /// Every version of the table with what changed.
    History(TableName),
    /// Remove the table from the catalog (its files are not touched).
    Drop(TableName),
    /// Print a CREATE statement for another engine.
    Ddl(DdlArgs),
    /// Keep a column's type whatever later crawls infer (SQL or Arrow type names).
    Pin {
        /// `db.table`.
        name: String,
        /// The column.
        column: String,
        /// Its type: BIGINT, DOUBLE, DECIMAL(12,2), DATE, TIMESTAMP, VARCHAR, BOOLEAN, or an Arrow type.
        #[arg(value_name = "TYPE")]
        data_type: String,
    },
    /// Let crawls infer a pinned column's type again.
    Unpin {
        /// `db.table`.
        name: String,
        /// The column.
        column: String,
    },
}

/// `sluice catalog ...`
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Write every table as Glue `TableInput` and `PartitionInput` JSON.
    Export(ExportArgs),
    /// Read tables from Glue JSON (as `export` writes it) into the catalog.
    Import(ImportArgs),
    /// Create or update databases, tables and partitions in the AWS Glue Data Catalog, so Athena
    /// sees them; partitions no longer in sluice's catalog are deleted there.
    #[command(
        after_help = "Examples:\n  sluice catalog sync --glue --dry-run\n  sluice catalog sync --glue --database raw\n\n\
Account, region and credentials come from the AWS environment; AWS_ENDPOINT_URL_GLUE points at another endpoint."
    )]
    Sync(SyncArgs),
}

/// `sluice catalog sync`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sync to the AWS Glue Data Catalog (the only target so far).
    #[arg(long, required = true)]
    pub glue: bool,
    /// Only this database (repeatable; default: every database).
    #[arg(long, value_name = "DB")]
    pub database: Vec<String>,
    /// Print what would change without calling Glue's write APIs.
    #[arg(long)]
    pub dry_run: bool,
}

/// `sluice catalog export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Glue's `CreateTable` / `BatchCreatePartition` shapes (the only format so far).
    #[arg(long, required = true)]
    pub glue: bool,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// `sluice catalog import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Glue JSON file (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub glue: PathBuf,
}

/// `sluice table ddl`
#[derive(Debug, Args)]
pub struct DdlArgs {
    /// `database.table`
    pub name: String,
    /// The engine to write for.
    #[arg(long, value_enum, default_value = "athena")]
    pub dialect: DialectArg,
}

/// Engines `table ddl` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// Amazon Athena / Hive.
    Athena,
    /// Spark SQL.
    Spark,
    /// Trino (Hive connector).
    Trino,
    /// DuckDB.
    Duckdb,
}

/// A catalog table.
#[derive(Debug, Args)]
pub struct TableName {
    /// `database.table`
    pub name: String,
}

/// `sluice vacuum`
#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// The folder or URL sluice writes to.
    pub dest: String,
    /// Keep files removed by a commit for this long (Delta readers of older versions and time
    /// travel need them): `7d`, `12h`, `0s`.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub retain: std::time::Duration,
    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

/// `sluice optimize`
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// The folder or URL of the Delta table.
    pub dest: String,
    /// Compact only the partitions this SQL condition keeps (partition columns only):
    /// `--where "order_date >= '2026-11-01'"`.
    #[arg(long = "where", value_name = "SQL")]
    pub filter: Option<String>,
    /// Files smaller than this are compacted into files of about this size.
    #[arg(long, default_value = "128MiB", value_name = "SIZE")]
    pub target_file_size: String,
    /// Only report what would be compacted.
    #[arg(long)]
    pub dry_run: bool,
}

/// `sluice sql`
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// SQL to run; several statements may be separated by `;`. Tables can be quoted paths or URLs:
    /// `SELECT * FROM 's3://lake/raw/orders/'`.
    pub query: Option<String>,
    /// Read the SQL from a file (`-` for stdin).
    #[arg(short, long, value_name = "FILE", conflicts_with = "query")]
    pub file: Option<PathBuf>,
    /// Write the last statement's result to a file or URL instead of printing it; the format comes
    /// from the extension (.parquet, .csv, .json, .ndjson). A path ending in `/` is a folder: the
    /// result replaces its content as one Delta Lake commit.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<String>,
}

/// `sluice convert`
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A file, folder or URL of CSV/NDJSON files (`.gz`, `.bz2`, `.xz`, `.zst` are decompressed).
    pub src: String,
    /// The Parquet destination folder or URL.
    pub dst: String,
    /// Input format when file extensions do not tell it.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// Hive partition columns, outermost first: `--partition-by year,month`.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub partition_by: Vec<String>,
    /// Parquet compression: zstd (level 3), zstd(1..22), snappy, gzip, gzip(0..9), lz4, none.
    #[arg(long, default_value = "zstd", value_parser = parse_codec)]
    pub compression: sluice_engine::Codec,
    /// What to do when the destination already holds data: error-if-exists, append, overwrite,
    /// overwrite-partitions, or merge (upsert on `--merge-keys`).
    #[arg(long, default_value = "overwrite", value_parser = parse_mode, value_name = "MODE")]
    pub mode: sluice_engine::WriteMode,
    /// Key columns for `--mode merge`: input rows replace the table's rows with the same key.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub merge_keys: Vec<String>,
    /// Roll to a new file after about this size.
    #[arg(long, default_value = "128MiB", value_name = "SIZE")]
    pub target_file_size: String,
    /// Sort rows within each file by these columns (recorded in the Parquet metadata).
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub sort_by: Vec<String>,
    /// Write Parquet bloom filters for these columns.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub bloom_filter: Vec<String>,
    /// Rows per Parquet row group.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "N")]
    pub row_group_rows: usize,
    /// Also store the partition columns inside the files (Hive and Spark leave them out).
    #[arg(long)]
    pub keep_partition_columns: bool,
    /// CSV field delimiter (a single character; `\t` for tab).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// CSV files have no header line (columns are named column_1, column_2, ...).
    #[arg(long)]
    pub no_header: bool,
    /// CSV quote character (default `"`).
    #[arg(long, value_name = "CHAR")]
    pub quote: Option<String>,
    /// CSV escape character inside quoted fields, e.g. `\` (default: quotes are doubled).
    #[arg(long, value_name = "CHAR")]
    pub escape: Option<String>,
    /// CSV lines starting with this character are comments, e.g. `#`.
    #[arg(long, value_name = "CHAR")]
    pub comment: Option<String>,
}

/// Input formats `convert` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// CSV (or TSV with `--delimiter '\t'`).
    Csv,
    /// Newline-delimited JSON.
    Json,
}

fn parse_mode(text: &str) -> Result<sluice_engine::WriteMode, String> {
    text.parse()
        .map_err(|e: sluice_engine::EngineError| e.to_string())
}

fn parse_codec(text: &str) -> Result<sluice_engine::Codec, String> {
    text.parse()
        .map_err(|e: sluice_engine::EngineError| e.to_string())
}
