//! The partitioned Parquet writer every sluice write goes through (`convert`, `sql --output`, job sinks).
//!
//! ```text
//! plan ──execute each output partition concurrently──> batches
//!      ──split rows by Hive partition values──> one open Parquet file per partition value
//!           (at most `max_open_files` per stream: the least recently used is closed; files roll at
//!            `target_file_size`; buffered row groups flush when a stream passes its memory share)
//!      ──> files under `<dest>/_sluice_staging/<run_id>/` ──commit──> final `key=value/` folders
//!      ──> `_SUCCESS` manifest ──> CommitReport
//! ```
//!
//! File names carry the run id (`part-<stream>-<seq>-<run_id>.<codec>.parquet`), so files of two runs
//! never collide and a file is written exactly once.

mod commit;
pub mod layout;
mod partition;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::Serialize;
use tokio::task::JoinSet;

pub use commit::{CommitReport, WrittenFile};

use crate::error::{EngineError, Result};
use crate::stores::Location;

/// The prefix under the destination where a run's files wait for their commit.
pub const STAGING_DIR: &str = "_sluice_staging";

/// How a write treats data already at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// Fail when the destination already holds data files.
    #[default]
    ErrorIfExists,
    /// Add files next to the existing ones.
    Append,
    /// Replace everything at the destination once the new files are in place.
    Overwrite,
    /// Replace only the partitions this run writes (Spark's dynamic partition overwrite).
    OverwritePartitions,
}

impl std::str::FromStr for WriteMode {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "error" | "error-if-exists" => Ok(Self::ErrorIfExists),
            "append" => Ok(Self::Append),
            "overwrite" => Ok(Self::Overwrite),
            "overwrite-partitions" => Ok(Self::OverwritePartitions),
            other => Err(EngineError::InvalidOption {
                option: "mode".into(),
                reason: format!(
                    "`{other}` is not one of error-if-exists, append, overwrite, overwrite-partitions"
                ),
            }),
        }
    }
}

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// zstd level 3 (the default): small files, fast to read.
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// gzip level 6.
    Gzip,
    /// LZ4 (raw).
    Lz4,
    /// No compression.
    None,
}

impl Codec {
    fn parquet(self) -> Compression {
        match self {
            Self::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Self::Snappy => Compression::SNAPPY,
            Self::Gzip => Compression::GZIP(GzipLevel::default()),
            Self::Lz4 => Compression::LZ4_RAW,
            Self::None => Compression::UNCOMPRESSED,
        }
    }

    fn file_tag(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Snappy => "snappy",
            Self::Gzip => "gz",
            Self::Lz4 => "lz4",
            Self::None => "uncompressed",
        }
    }
}

impl std::str::FromStr for Codec {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "zstd" => Ok(Self::Zstd),
            "snappy" => Ok(Self::Snappy),
            "gzip" | "gz" => Ok(Self::Gzip),
            "lz4" => Ok(Self::Lz4),
            "none" | "uncompressed" => Ok(Self::None),
            other => Err(EngineError::InvalidOption {
                option: "compression".into(),
                reason: format!("`{other}` is not one of zstd, snappy, gzip, lz4, none"),
            }),
        }
    }
}

/// Settings of one write, set by the user.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    partition_by: Vec<String>,
    mode: WriteMode,
    codec: Codec,
    target_file_size: usize,
    row_group_rows: usize,
    max_open_files: usize,
    buffer_bytes: usize,
    keep_partition_columns: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            partition_by: Vec::new(),
            mode: WriteMode::default(),
            codec: Codec::default(),
            target_file_size: 128 * 1024 * 1024,
            row_group_rows: 1024 * 1024,
            max_open_files: 64,
            buffer_bytes: 512 * 1024 * 1024,
            keep_partition_columns: false,
        }
    }
}

impl WriteOptions {
    /// Defaults: no partitions, `error-if-exists`, zstd, 128 MiB files, 1 Mi-row row groups.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hive partition columns, outermost first.
    pub fn with_partition_by(mut self, columns: Vec<String>) -> Self {
        self.partition_by = columns;
        self
    }

    /// What to do with existing data.
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// Compression codec.
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Roll to a new file after about this many bytes.
    pub fn with_target_file_size(mut self, bytes: usize) -> Self {
        self.target_file_size = bytes.max(1024);
        self
    }

    /// Rows per row group.
    pub fn with_row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = rows.max(1);
        self
    }

    /// Open files per writing stream; more partitions than this close and reopen files.
    pub fn with_max_open_files(mut self, files: usize) -> Self {
        self.max_open_files = files.max(1);
        self
    }

    /// Bytes of encoded-but-unwritten row groups all streams together may hold.
    pub fn with_buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes.max(1024 * 1024);
        self
    }

    /// Also store partition columns inside the files (Hive and Spark leave them out).
    pub fn with_keep_partition_columns(mut self, keep: bool) -> Self {
        self.keep_partition_columns = keep;
        self
    }

    /// The write mode.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(self.codec.parquet())
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(format!("sluice {}", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// Writes a plan's output as (optionally Hive-partitioned) Parquet and commits it.
#[derive(Debug)]
pub struct PartitionedWriter {
    store: Arc<dyn ObjectStore>,
    dest: Location,
    options: WriteOptions,
    run_id: String,
}

impl PartitionedWriter {
    /// A writer to `dest` on `store`; `run_id` names the files and the staging folder.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        dest: Location,
        options: WriteOptions,
        run_id: impl Into<String>,
    ) -> Self {
        Self {
            store,
            dest: dest.as_folder(),
            options,
            run_id: run_id.into(),
        }
    }

    /// Runs `plan`, writes its rows and commits them; on failure nothing new is visible.
    pub async fn write(
        self,
        plan: Arc<dyn ExecutionPlan>,
        task_ctx: Arc<TaskContext>,
    ) -> Result<CommitReport> {
        let schema = plan.schema();
        let layout = partition::Layout::try_new(
            &schema,
            &self.options.partition_by,
            self.options.keep_partition_columns,
        )?;
        let committer =
            commit::Committer::new(Arc::clone(&self.store), self.dest.clone(), self.run_id.clone());
        let existing = committer.preflight(self.options.mode).await?;

        let streams = plan.properties().output_partitioning().partition_count().max(1);
        let shared = Arc::new(StreamShared {
            store: Arc::clone(&self.store),
            staging: committer.staging_path(),
            run_id: self.run_id.clone(),
            props: self.options.properties(),
            layout,
            file_schema: Arc::clone(&schema),
            target_file_size: self.options.target_file_size,
            max_open_files: self.options.max_open_files,
            buffer_bytes: (self.options.buffer_bytes / streams).max(1024 * 1024),
            codec_tag: self.options.codec.file_tag(),
        });
        let mut tasks = JoinSet::new();
        for i in 0..streams {
            let stream = plan.execute(i, Arc::clone(&task_ctx))?;
            let shared = Arc::clone(&shared);
            tasks.spawn(async move { write_stream(shared, i, stream).await });
        }
        let mut written = Vec::new();
        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(files)) => written.extend(files),
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                    tasks.abort_all();
                }
                Err(e) if e.is_cancelled() => {}
                Err(e) => {
                    failure.get_or_insert(EngineError::DataFusion(
                        datafusion::error::DataFusionError::ExecutionJoin(Box::new(e)),
                    ));
                    tasks.abort_all();
                }
            }
        }
        if let Some(e) = failure {
            committer.abort().await;
            return Err(e);
        }
        written.sort_by(|a, b| a.path.cmp(&b.path));
        committer
            .commit(self.options.mode, written, existing, &schema)
            .await
    }
}

struct StreamShared {
    store: Arc<dyn ObjectStore>,
    staging: Path,
    run_id: String,
    props: WriterProperties,
    layout: partition::Layout,
    file_schema: SchemaRef,
    target_file_size: usize,
    max_open_files: usize,
    buffer_bytes: usize,
    codec_tag: &'static str,
}

struct OpenFile {
    writer: AsyncArrowWriter<BufWriter>,
    relative: String,
    partition_values: Vec<Option<String>>,
    rows: u64,
    last_used: u64,
}

/// Writes one input stream into its own set of files.
async fn write_stream(
    shared: Arc<StreamShared>,
    stream_no: usize,
    mut stream: datafusion::execution::SendableRecordBatchStream,
) -> Result<Vec<WrittenFile>> {
    let data_schema: SchemaRef = shared.layout.data_schema(&shared.file_schema);
    let mut open: HashMap<String, OpenFile> = HashMap::new();
    let mut done = Vec::new();
    let mut seq = 0usize;
    let mut tick = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        for partition::PartitionSlice { dir, values, rows } in shared.layout.split(&batch)? {
            tick += 1;
            if !open.contains_key(&dir) {
                if open.len() >= shared.max_open_files {
                    close_least_recent(&mut open, &mut done).await?;
                }
                let relative = if dir.is_empty() {
                    format!(
                        "part-{stream_no:05}-{seq:05}-{}.{}.parquet",
                        shared.run_id, shared.codec_tag
                    )
                } else {
                    format!(
                        "{dir}/part-{stream_no:05}-{seq:05}-{}.{}.parquet",
                        shared.run_id, shared.codec_tag
                    )
                };
                seq += 1;
                let path = Path::parse(format!("{}/{relative}", shared.staging)).map_err(|e| {
                    EngineError::InvalidLocation {
                        location: relative.clone(),
                        reason: e.to_string(),
                    }
                })?;
                let sink = BufWriter::new(Arc::clone(&shared.store), path);
                let writer =
                    AsyncArrowWriter::try_new(sink, Arc::clone(&data_schema), Some(shared.props.clone()))
                        .map_err(|source| EngineError::Parquet {
                            path: relative.clone(),
                            source,
                        })?;
                open.insert(
                    dir.clone(),
                    OpenFile {
                        writer,
                        relative,
                        partition_values: values,
                        rows: 0,
                        last_used: tick,
                    },
                );
            }
            let file = open.get_mut(&dir).expect("inserted above");
            file.last_used = tick;
            file.rows += rows.num_rows() as u64;
            file.writer
                .write(&rows)
                .await
                .map_err(|source| EngineError::Parquet {
                    path: file.relative.clone(),
                    source,
                })?;
            if file.writer.bytes_written() + file.writer.in_progress_size() >= shared.target_file_size {
                let file = open.remove(&dir).expect("present");
                done.push(finish(file).await?);
            }
        }
        flush_over_budget(&mut open, shared.buffer_bytes).await?;
    }
    for (_, file) in open.drain() {
        done.push(finish(file).await?);
    }
    Ok(done)
}

/// Flushes the largest buffered row groups until the stream is within its memory share.
async fn flush_over_budget(open: &mut HashMap<String, OpenFile>, budget: usize) -> Result<()> {
    let mut buffered: usize = open.values().map(|f| f.writer.in_progress_size()).sum();
    while buffered > budget {
        let Some(biggest) = open.values_mut().max_by_key(|f| f.writer.in_progress_size()) else {
            break;
        };
        let size = biggest.writer.in_progress_size();
        if size == 0 {
            break;
        }
        biggest
            .writer
            .flush()
            .await
            .map_err(|source| EngineError::Parquet {
                path: biggest.relative.clone(),
                source,
            })?;
        buffered -= size;
    }
    Ok(())
}

async fn close_least_recent(open: &mut HashMap<String, OpenFile>, done: &mut Vec<WrittenFile>) -> Result<()> {
    let Some(key) = open
        .iter()
        .min_by_key(|(_, f)| f.last_used)
        .map(|(k, _)| k.clone())
    else {
        return Ok(());
    };
    let file = open.remove(&key).expect("key taken from the map");
    done.push(finish(file).await?);
    Ok(())
}

async fn finish(file: OpenFile) -> Result<WrittenFile> {
    let OpenFile {
        mut writer,
        relative,
        partition_values,
        rows,
        ..
    } = file;
    writer.finish().await.map_err(|source| EngineError::Parquet {
        path: relative.clone(),
        source,
    })?;
    let bytes = writer.bytes_written() as u64;
    Ok(WrittenFile {
        path: relative,
        partition_values,
        rows,
        bytes,
    })
}
