//! What a few bytes of a file tell: its format by its magic numbers, its CSV types beyond the
//! head, and its rows estimated from the head's line density (or read from a Parquet footer).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::file_format::FileFormat;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::{HEAD_BYTES, INFER_CONCURRENCY};
use crate::error::{EngineError, Result};
use crate::readers::{Compression, CsvReadOptions, FileFormatKind, FileKind, infer};

/// Reads a file's first bytes to tell its format when its name does not: Parquet's `PAR1`, the
/// gzip, bzip2, xz and zstd magic numbers, then `{` for NDJSON or delimited lines for CSV.
pub(super) async fn detect_kind(store: &Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Result<Option<String>> {
    if meta.size < 4 {
        return Ok(None);
    }
    let magic = store
        .get_range(&meta.location, 0..meta.size.min(8))
        .await
        .map_err(|e| EngineError::store(meta.location.to_string(), e))?;
    if magic.starts_with(b"PAR1") {
        return Ok(Some("parquet".into()));
    }
    let compression = if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(b"BZh") {
        Compression::Bzip2
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let head = infer::head(store, meta, compression.file_type(), HEAD_BYTES).await?;
    let text = head.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(&head);
    let Ok(text) = std::str::from_utf8(text) else {
        return Ok(None);
    };
    let trimmed = text.trim_start();
    let format = if trimmed.starts_with('{') {
        "json"
    } else if trimmed.lines().count() >= 1 && infer::sniff_csv(text.as_bytes(), None, b'"').delimiter != 0 {
        let first = trimmed.lines().next().unwrap_or("");
        if first.chars().any(|c| c.is_control() && c != '\t') {
            return Ok(None);
        }
        "csv"
    } else {
        return Ok(None);
    };
    let suffix = match compression {
        Compression::None => "",
        Compression::Gzip => ".gz",
        Compression::Bzip2 => ".bz2",
        Compression::Xz => ".xz",
        Compression::Zstd => ".zst",
    };
    Ok(Some(format!("{format}{suffix}")))
}

/// What a file that should be plain text holds instead, from its first bytes.
pub(super) fn binary_magic(head: &[u8]) -> Option<&'static str> {
    [
        (b"PAR1".as_slice(), "Parquet data"),
        (&[0x1f, 0x8b], "gzip-compressed data"),
        (b"BZh", "bzip2-compressed data"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz-compressed data"),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed data"),
        (b"PK\x03\x04", "a zip archive"),
    ]
    .into_iter()
    .find(|(magic, _)| head.starts_with(magic))
    .map(|(_, what)| what)
}

/// Types from the middle and the end of larger uncompressed CSV files, whose heads alone may hide a
/// later decimal or text value.
pub(super) async fn sample_further(
    store: &Arc<dyn ObjectStore>,
    sample: &[ObjectMeta],
    inferred: &[(String, SchemaRef)],
    csv: &CsvReadOptions,
    tab_separated: bool,
) -> Result<Vec<(String, SchemaRef)>> {
    let delimiter = csv.delimiter.unwrap_or(if tab_separated { b'\t' } else { b',' });
    let names: HashMap<&str, Vec<String>> = inferred
        .iter()
        .map(|(p, s)| (p.as_str(), s.fields().iter().map(|f| f.name().clone()).collect()))
        .collect();
    let mut ranges: Vec<(ObjectMeta, String, std::ops::Range<u64>)> = Vec::new();
    for meta in sample.iter().filter(|m| m.size > 4 * HEAD_BYTES as u64) {
        let chunk = HEAD_BYTES as u64;
        for (place, start) in [("middle", meta.size / 2), ("end", meta.size - chunk)] {
            ranges.push((
                meta.clone(),
                place.to_string(),
                start..(start + chunk).min(meta.size),
            ));
        }
    }
    let parts: Vec<Option<(String, SchemaRef)>> = futures::stream::iter(ranges)
        .map(|(meta, place, range)| {
            let store = Arc::clone(store);
            let names = names.get(meta.location.as_ref()).cloned();
            async move {
                let Some(names) = names else { return Ok(None) };
                let bytes = store
                    .get_range(&meta.location, range)
                    .await
                    .map_err(|e| EngineError::store(meta.location.to_string(), e))?;
                let schema = infer::infer_csv_lines(infer::whole_lines(&bytes), &names, delimiter, csv.quote);
                Ok::<_, EngineError>(schema.map(|s| (format!("{} ({place})", meta.location), Arc::new(s))))
            }
        })
        .buffered(INFER_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(parts.into_iter().flatten().collect())
}

/// Rows per fresh file (by store path): exact from Parquet footers; for text, the lines per stored
/// byte of the sniffed heads times each file's size (minus its header line).
pub(super) async fn count_rows(
    state: &dyn Session,
    store: &Arc<dyn ObjectStore>,
    kind: &FileKind,
    format: &Arc<dyn FileFormat>,
    fresh: &[ObjectMeta],
    heads: &[(String, Vec<u8>)],
    has_header: bool,
) -> Result<HashMap<String, u64>> {
    let mut rows = HashMap::new();
    if kind.format == FileFormatKind::Parquet {
        let schema = Arc::new(Schema::empty());
        let counted: Vec<(String, Option<usize>)> = futures::stream::iter(fresh.iter().cloned())
            .map(|meta| {
                let (format, store, schema) = (Arc::clone(format), Arc::clone(store), Arc::clone(&schema));
                async move {
                    let stats = format.infer_stats(state, &store, schema, &meta).await?;
                    Ok::<_, EngineError>((meta.location.to_string(), stats.num_rows.get_value().copied()))
                }
            })
            .buffered(INFER_CONCURRENCY)
            .try_collect()
            .await?;
        rows.extend(counted.into_iter().filter_map(|(p, n)| n.map(|n| (p, n as u64))));
        return Ok(rows);
    }
    let sizes: HashMap<&str, u64> = fresh.iter().map(|m| (m.location.as_ref(), m.size)).collect();
    let (mut lines, mut bytes) = (0u64, 0u64);
    for (path, head) in heads {
        let Some(size) = sizes.get(path.as_str()) else {
            continue;
        };
        lines += head.iter().filter(|b| **b == b'\n').count() as u64;
        bytes += if kind.compression == Compression::None {
            head.len() as u64
        } else {
            (*size).min(HEAD_BYTES as u64)
        };
    }
    if bytes == 0 {
        return Ok(rows);
    }
    let header = u64::from(has_header && kind.format == FileFormatKind::Csv);
    for meta in fresh {
        let estimate = (meta.size as f64 * lines as f64 / bytes as f64).round() as u64;
        // A file with bytes but no line break in the sampled head (one JSON array on one line) is
        // not known to be empty: at least one row, never a certain zero for the planner.
        let floor = u64::from(meta.size > 0);
        rows.insert(
            meta.location.to_string(),
            estimate.saturating_sub(header).max(floor),
        );
    }
    Ok(rows)
}
