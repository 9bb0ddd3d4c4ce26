//! Building the DataFusion session every sluice command runs in.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use datafusion::catalog::{DynamicFileCatalog, TableProvider, UrlTableFactory};
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use parking_lot::RwLock;

use crate::error::{EngineError, Result};
use crate::readers::guard::BadRecords;
use crate::readers::{DeclaredTables, FileFormatKind, ReadOptions, open_table};
use crate::stores::{Location, S3Options, StoreRegistry};
use crate::writer::{CommitReport, PartitionedWriter, Staged, WriteMode, WriteOptions};

/// Share of physical memory the engine may track when no limit is given.
const DEFAULT_MEMORY_FRACTION: f64 = 0.7;

/// A join's build side at most this large (estimated) is hashed once and shared by every probe
/// partition instead of being hash-partitioned with the probe side.
const JOIN_BROADCAST_BYTES: usize = 64 * 1024 * 1024;
/// The same cut-off in rows, used when a side's size in bytes is unknown (text columns).
const JOIN_BROADCAST_ROWS: usize = 2 * 1024 * 1024;

/// Turns the finished DataFusion state into the one queries run in (e.g. one that plans locally
/// and executes on a cluster).
pub type StateUpgrade = Arc<dyn Fn(SessionState) -> datafusion::error::Result<SessionState> + Send + Sync>;

/// Builds a [`SluiceSession`]: parallelism, memory limit with spilling, object stores.
#[derive(Default)]
pub struct SessionBuilder {
    target_partitions: Option<usize>,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
    s3: Option<S3Options>,
    bad_records: Option<Arc<BadRecords>>,
    upgrade: Option<StateUpgrade>,
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBuilder")
            .field("target_partitions", &self.target_partitions)
            .field("memory_limit", &self.memory_limit)
            .field("upgraded", &self.upgrade.is_some())
            .finish()
    }
}

impl SessionBuilder {
    /// Defaults: all cores, 70 % of physical memory, spill to the OS temp folder, S3 from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Partitions each query runs with (default: the number of cores).
    pub fn with_target_partitions(mut self, n: usize) -> Self {
        self.target_partitions = Some(n.max(1));
        self
    }

    /// Bytes of memory operators may track before they spill or fail.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Where operators spill (default: the OS temp folder).
    pub fn with_spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Reads CSV and NDJSON (folders in SQL, catalog tables, `read`) under this bad-records policy.
    pub fn with_bad_records(mut self, bad_records: Arc<BadRecords>) -> Self {
        self.bad_records = Some(bad_records);
        self
    }

    /// S3 settings (default: read from the AWS environment).
    pub fn with_s3(mut self, s3: S3Options) -> Self {
        self.s3 = Some(s3);
        self
    }

    /// Applies `upgrade` to the session's state last, after sluice's stores and tables are in.
    pub fn with_state_upgrade(mut self, upgrade: StateUpgrade) -> Self {
        self.upgrade = Some(upgrade);
        self
    }

    /// Creates the session.
    pub fn build(self) -> Result<SluiceSession> {
        let s3 = match self.s3 {
            Some(s3) => s3,
            None => S3Options::from_env()?,
        };
        let stores = Arc::new(StoreRegistry::new(s3));
        let memory_limit = self.memory_limit.unwrap_or_else(default_memory_limit);
        let disk = match self.spill_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io {
                    path: dir.clone(),
                    source,
                })?;
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![dir]))
            }
            None => DiskManagerBuilder::default(),
        };
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(memory_limit),
            std::num::NonZeroUsize::new(5).expect("5 is not zero"),
        );
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(disk)
            .with_object_store_registry(Arc::clone(&stores) as _)
            .build_arc()?;
        let mut config = SessionConfig::new().with_information_schema(true);
        // Tables carry row estimates, so the planner knows which join side is small. Hashing a build
        // side of up to a few million rows once is cheaper than hash-repartitioning the (bigger)
        // probe side to build it in parallel (DataFusion's default cut-off is 128 Ki rows).
        let optimizer = &mut config.options_mut().optimizer;
        optimizer.hash_join_single_partition_threshold = JOIN_BROADCAST_BYTES;
        optimizer.hash_join_single_partition_threshold_rows = JOIN_BROADCAST_ROWS;
        if let Some(n) = self.target_partitions {
            config = config.with_target_partitions(n);
        }
        if let Some(guard) = self.bad_records {
            config = config.with_extension(guard);
        }
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        ctx.register_udf(crate::functions::ToChar::udf());
        let ctx = with_url_tables(ctx, self.upgrade.as_ref())?;
        Ok(SluiceSession {
            ctx,
            stores,
            memory_limit,
        })
    }
}

/// Lets SQL name folders and URLs as tables: `SELECT * FROM 's3://lake/raw/orders/'`.
fn with_url_tables(ctx: SessionContext, upgrade: Option<&StateUpgrade>) -> Result<SessionContext> {
    let factory = Arc::new(LocationTables::default());
    let catalogs = Arc::clone(ctx.state().catalog_list());
    let catalogs = Arc::new(DynamicFileCatalog::new(
        catalogs,
        Arc::clone(&factory) as Arc<dyn UrlTableFactory>,
    ));
    let session_id = ctx.session_id();
    let state = ctx
        .into_state_builder()
        .with_session_id(session_id)
        .with_catalog_list(catalogs)
        .build();
    let mut state = match upgrade {
        Some(upgrade) => upgrade(state)?,
        None => state,
    };
    // CREATE EXTERNAL TABLE makes sluice's tables; DataFusion's own stay for what they cannot take.
    let defaults = state.table_factories().clone();
    let factories = state.table_factories_mut();
    for (name, format) in [
        ("PARQUET", FileFormatKind::Parquet),
        ("CSV", FileFormatKind::Csv),
        ("JSON", FileFormatKind::Json),
    ] {
        let declared = DeclaredTables::new(Some(format), defaults.get(name).cloned());
        factories.insert(name.into(), Arc::new(declared));
    }
    factories.insert("DELTA".into(), Arc::new(DeclaredTables::new(None, None)));
    let ctx: SessionContext = state.into();
    let _ = factory.state.set(ctx.state_weak_ref());
    Ok(ctx)
}

/// Opens a quoted path or URL in SQL as a table through [`open_table`].
#[derive(Debug, Default)]
struct LocationTables {
    state: OnceLock<Weak<RwLock<SessionState>>>,
}

#[async_trait]
impl UrlTableFactory for LocationTables {
    async fn try_new(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        // A bare identifier is an ordinary (missing) table, not a path.
        if !name.contains(['/', '.', '\\']) {
            return Ok(None);
        }
        let state = self
            .state
            .get()
            .and_then(Weak::upgrade)
            .map(|s| s.read().clone())
            .ok_or_else(|| DataFusionError::Internal("the session is gone".into()))?;
        let location = Location::parse(name)?;
        let options = ReadOptions {
            bad_records: state.config().get_extension::<BadRecords>(),
            ..ReadOptions::default()
        };
        Ok(Some(open_table(&state, &location, &options).await?))
    }
}

/// A DataFusion session with sluice's stores, limits and readers.
#[derive(Clone)]
pub struct SluiceSession {
    ctx: SessionContext,
    stores: Arc<StoreRegistry>,
    memory_limit: usize,
}

impl std::fmt::Debug for SluiceSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SluiceSession")
            .field("session_id", &self.ctx.session_id())
            .field("memory_limit", &self.memory_limit)
            .finish()
    }
}

impl SluiceSession {
    /// The session's bad-records policy and counts, if one was set.
    pub fn bad_records(&self) -> Option<Arc<BadRecords>> {
        self.ctx.state().config().get_extension::<BadRecords>()
    }

    /// The DataFusion context, for SQL and DataFrames.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// The tracked memory limit in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// The object store for a location, created on first use.
    pub fn store_for(&self, location: &Location) -> Result<Arc<dyn object_store::ObjectStore>> {
        self.stores.store_for(location.url())
    }

    /// Opens a folder, prefix or file as a DataFrame.
    pub async fn read(&self, location: &Location, options: &ReadOptions) -> Result<DataFrame> {
        let options = ReadOptions {
            bad_records: options.bad_records.clone().or_else(|| self.bad_records()),
            ..options.clone()
        };
        let table = open_table(&self.ctx.state(), location, &options).await?;
        Ok(self.ctx.read_table(table)?)
    }

    /// Writes a DataFrame as Parquet at `dest` and commits it; returns what was written.
    pub async fn write_parquet(
        &self,
        df: DataFrame,
        dest: &Location,
        options: WriteOptions,
        run_id: &str,
    ) -> Result<CommitReport> {
        match self.stage_parquet(df, dest, options, run_id).await? {
            Staged::Committed(report) => Ok(report),
            Staged::Pending(pending) => pending.commit().await,
        }
    }
}

impl SluiceSession {
    /// Writes a DataFrame as Parquet at `dest` without committing it (see
    /// [`PartitionedWriter::stage`]).
    pub async fn stage_parquet(
        &self,
        df: DataFrame,
        dest: &Location,
        options: WriteOptions,
        run_id: &str,
    ) -> Result<Staged> {
        let df = delta_compatible(df)?;
        crate::writer::check_delta_schema(df.schema().as_arrow(), dest.original())?;
        let store = self.store_for(dest)?;
        let on_cluster = self
            .ctx
            .state()
            .config()
            .options()
            .extensions
            .get::<crate::writer::DistributedWrites>()
            .is_some();
        if on_cluster && options.mode() != WriteMode::Merge {
            return crate::writer::stage_distributed(&self.ctx, store, dest, df, options, run_id).await;
        }
        let plan = df.create_physical_plan().await?;
        if options.mode() == WriteMode::Merge {
            return crate::writer::stage_merge(&self.ctx, store, dest, plan, options, run_id).await;
        }
        PartitionedWriter::new(store, dest.clone(), options, run_id)
            .stage(plan, self.ctx.task_ctx())
            .await
    }

    /// True when `run_id` committed to `dest` (its Delta app transaction is in the log).
    pub async fn is_committed(&self, dest: &Location, run_id: &str) -> Result<bool> {
        let dest = dest.as_folder();
        let store = self.store_for(&dest)?;
        let log = crate::lake::log::CommitLog::new(store, &dest);
        log.load().await?.committed(run_id, dest.original()).await
    }

    /// The newest `limit` versions of the Delta table at `dest`, newest first (empty when it has
    /// no Delta log).
    pub async fn table_history(
        &self,
        dest: &Location,
        limit: usize,
    ) -> Result<Vec<crate::writer::TableVersion>> {
        let dest = dest.as_folder();
        let store = self.store_for(&dest)?;
        let log = crate::lake::log::CommitLog::new(store, &dest);
        match log.load().await?.delta {
            Some(delta) => crate::lake::delta::history(&delta, limit, dest.original()).await,
            None => Ok(Vec::new()),
        }
    }

    /// Compacts the small files of the Delta table at `dest` (in the partitions `filter` keeps) into
    /// files of about `target_size` bytes, in one version that changes no rows.
    pub async fn optimize(
        &self,
        dest: &Location,
        filter: Option<&str>,
        target_size: usize,
        dry_run: bool,
    ) -> Result<crate::writer::OptimizeReport> {
        let store = self.store_for(dest)?;
        crate::writer::optimize(
            &self.ctx,
            store,
            dest,
            filter,
            target_size,
            dry_run,
            &new_run_id(),
        )
        .await
    }

    /// Deletes files at `dest` that no reader needs: files of failed or killed runs, and files a
    /// commit removed more than `retain` ago. Returns their relative paths.
    pub async fn vacuum(
        &self,
        dest: &Location,
        retain: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>> {
        let store = self.store_for(dest)?;
        crate::writer::vacuum(store, &dest.as_folder(), retain, dry_run).await
    }
}

/// `df` with every column Delta Lake cannot name cast to one it can (timestamps to microseconds,
/// unsigned integers to wider signed ones), so every destination can be a Delta table.
fn delta_compatible(df: DataFrame) -> Result<DataFrame> {
    let fields = df.schema().as_arrow().fields().clone();
    if !fields
        .iter()
        .any(|f| crate::writer::delta_type(f.data_type()).is_some())
    {
        return Ok(df);
    }
    let exprs: Vec<datafusion::prelude::Expr> = fields
        .iter()
        .map(|f| {
            let column = datafusion::prelude::ident(f.name());
            match crate::writer::delta_type(f.data_type()) {
                Some(to) => datafusion::prelude::cast(column, to).alias(f.name()),
                None => column,
            }
        })
        .collect();
    Ok(df.select(exprs)?)
}

/// A new run id: UTC time plus random bits, sortable and safe in paths.
pub fn new_run_id() -> String {
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &random[random.len() - 8..]
    )
}

/// Parses sizes such as `4GiB`, `512MB`, `2g`, `1073741824`.
pub fn parse_size(text: &str) -> Result<usize> {
    let invalid = || EngineError::InvalidOption {
        option: "size".into(),
        reason: format!("`{text}` is not a size; write e.g. `4GiB`, `512MiB` or `2000000000`"),
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| invalid())?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0_f64.powi(4),
        _ => return Err(invalid()),
    };
    let bytes = num * mult;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(invalid());
    }
    Ok(bytes as usize)
}

fn default_memory_limit() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .map(|kb| kb * 1024)
    });
    let total = total.unwrap_or(8 * 1024 * 1024 * 1024);
    (total as f64 * DEFAULT_MEMORY_FRACTION) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("4GiB", 4 * 1024 * 1024 * 1024)]
    #[case("512MiB", 512 * 1024 * 1024)]
    #[case("2g", 2_000_000_000)]
    #[case("1.5 GB", 1_500_000_000)]
    #[case("1024", 1024)]
    fn sizes(#[case] text: &str, #[case] bytes: usize) {
        assert_eq!(parse_size(text).unwrap(), bytes);
    }

    #[rstest]
    #[case("lots")]
    #[case("4XB")]
    #[case("")]
    #[case("0")]
    fn bad_sizes(#[case] text: &str) {
        assert!(parse_size(text).unwrap_err().is_bad_input());
    }

    #[test]
    fn run_ids_are_unique_and_path_safe() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{a}");
    }

    #[tokio::test]
    async fn information_schema_is_on() {
        let session = SessionBuilder::new()
            .with_s3(S3Options::default())
            .build()
            .unwrap();
        let n = session
            .ctx()
            .sql("SELECT count(*) FROM information_schema.tables")
            .await
            .unwrap()
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
