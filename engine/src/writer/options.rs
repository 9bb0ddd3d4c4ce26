//! What a write is asked for: the Parquet codec, partition and sort columns, mode, file and row
//! group sizes, and how they become Parquet writer properties.

use arrow::datatypes::Schema;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use super::WriteMode;
use crate::error::{EngineError, Result};

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Codec {
    /// zstd at a level from 1 to 22; 3 by default (as DuckDB, Polars and Spark write): small
    /// files, fast to read.
    Zstd(u8),
    /// Snappy.
    Snappy,
    /// gzip at a level from 0 to 9; 6 by default.
    Gzip(u8),
    /// LZ4 (raw).
    Lz4,
    /// No compression.
    None,
}

impl Default for Codec {
    fn default() -> Self {
        Self::Zstd(ZSTD_DEFAULT_LEVEL)
    }
}

pub(super) const ZSTD_DEFAULT_LEVEL: u8 = 3;
pub(super) const GZIP_DEFAULT_LEVEL: u8 = 6;

impl Codec {
    pub(super) fn parquet(self) -> Compression {
        // Levels are checked when parsed.
        match self {
            Self::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(i32::from(level)).unwrap_or_default()),
            Self::Snappy => Compression::SNAPPY,
            Self::Gzip(level) => Compression::GZIP(GzipLevel::try_new(u32::from(level)).unwrap_or_default()),
            Self::Lz4 => Compression::LZ4_RAW,
            Self::None => Compression::UNCOMPRESSED,
        }
    }

    pub(super) fn file_tag(self) -> &'static str {
        match self {
            Self::Zstd(_) => "zstd",
            Self::Snappy => "snappy",
            Self::Gzip(_) => "gz",
            Self::Lz4 => "lz4",
            Self::None => "uncompressed",
        }
    }
}

impl std::str::FromStr for Codec {
    type Err = EngineError;

    /// `zstd`, `zstd(9)`, `snappy`, `gzip`, `gzip(9)`, `lz4`, `lz4_raw`, `none`, `uncompressed`.
    fn from_str(s: &str) -> Result<Self> {
        let text = s.trim().to_ascii_lowercase();
        let (name, level) = match text.split_once('(') {
            Some((name, rest)) => (name.trim(), Some(rest.trim_end_matches(')').trim())),
            None => (text.as_str(), None),
        };
        let bad = |reason: String| EngineError::InvalidOption {
            option: "compression".into(),
            reason,
        };
        let level_in = |range: std::ops::RangeInclusive<u8>, default: u8| match level {
            None => Ok(default),
            Some(l) => l.parse::<u8>().ok().filter(|l| range.contains(l)).ok_or_else(|| {
                bad(format!(
                    "`{s}`: the {name} level must be {}..={}",
                    range.start(),
                    range.end()
                ))
            }),
        };
        match name {
            "zstd" => Ok(Self::Zstd(level_in(1..=22, ZSTD_DEFAULT_LEVEL)?)),
            "gzip" | "gz" => Ok(Self::Gzip(level_in(0..=9, GZIP_DEFAULT_LEVEL)?)),
            "snappy" if level.is_none() => Ok(Self::Snappy),
            "lz4" | "lz4_raw" if level.is_none() => Ok(Self::Lz4),
            "none" | "uncompressed" if level.is_none() => Ok(Self::None),
            _ => Err(bad(format!(
                "`{s}` is not one of zstd, zstd(1..22), snappy, gzip, gzip(0..9), lz4, none"
            ))),
        }
    }
}

/// Settings of one write, set by the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteOptions {
    pub(super) partition_by: Vec<String>,
    pub(super) mode: WriteMode,
    pub(super) codec: Codec,
    pub(super) target_file_size: usize,
    pub(super) row_group_rows: usize,
    pub(super) max_open_files: usize,
    pub(super) buffer_bytes: usize,
    pub(super) keep_partition_columns: bool,
    pub(super) cluster: bool,
    pub(super) sort_by: Vec<String>,
    pub(super) bloom_filter_columns: Vec<String>,
    pub(super) merge_keys: Vec<String>,
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
            cluster: true,
            sort_by: Vec::new(),
            bloom_filter_columns: Vec::new(),
            merge_keys: Vec::new(),
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

    /// Hash-partition and sort rows by the partition columns before writing (default on). Off, each
    /// stream keeps up to `max_open_files` files open and rolls files more often on many partitions.
    pub fn with_cluster_by_partition(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// Sort rows within each file by these columns (ascending, nulls first), recorded in the files'
    /// metadata so readers can rely on it.
    pub fn with_sort_by(mut self, columns: Vec<String>) -> Self {
        self.sort_by = columns;
        self
    }

    /// Write Parquet bloom filters for these columns (fast point lookups on high-cardinality keys).
    pub fn with_bloom_filters(mut self, columns: Vec<String>) -> Self {
        self.bloom_filter_columns = columns;
        self
    }

    /// The columns that identify a row for mode merge.
    pub fn with_merge_keys(mut self, columns: Vec<String>) -> Self {
        self.merge_keys = columns;
        self
    }

    /// The write mode.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    pub(super) fn properties(&self, data_schema: &Schema) -> Result<WriterProperties> {
        let index = |option: &str, name: &String| {
            data_schema
                .index_of(name)
                .map_err(|_| EngineError::unknown_column(option, name, data_schema))
        };
        let mut builder = WriterProperties::builder()
            .set_compression(self.codec.parquet())
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(format!("sluice {}", env!("CARGO_PKG_VERSION")));
        for name in &self.bloom_filter_columns {
            index("bloom-filter", name)?;
            builder = builder.set_column_bloom_filter_enabled(ColumnPath::from(name.as_str()), true);
        }
        if !self.sort_by.is_empty() {
            let sorting = self
                .sort_by
                .iter()
                .map(|name| {
                    Ok(SortingColumn {
                        column_idx: index("sort-by", name)? as i32,
                        descending: false,
                        nulls_first: true,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            builder = builder.set_sorting_columns(Some(sorting));
        }
        Ok(builder.build())
    }
}
