//! Process-wide I/O counters for progress displays: bytes read from stores, rows and bytes written.
//!
//! Every store a session creates is wrapped in [`CountingStore`], which counts the bytes of each
//! streamed read as it is consumed (object stores; local files are handed to the reader whole and
//! are not counted); the
//! partitioned writer counts rows as it writes them and bytes as files close. A command's progress
//! bars read [`io`] on a timer. The counters only grow; a display subtracts what it saw at start.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// Counters of one process.
#[derive(Debug, Default)]
pub struct IoCounters {
    bytes_read: AtomicU64,
    rows_written: AtomicU64,
    bytes_written: AtomicU64,
    files_written: AtomicU64,
    files_planned: AtomicU64,
    files_inspected: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoSnapshot {
    /// Bytes read from any store.
    pub bytes_read: u64,
    /// Rows handed to Parquet writers.
    pub rows_written: u64,
    /// Bytes of finished output files.
    pub bytes_written: u64,
    /// Finished output files.
    pub files_written: u64,
    /// Input files schema inference set out to read.
    pub files_planned: u64,
    /// Of those, files read.
    pub files_inspected: u64,
}

impl IoSnapshot {
    /// What happened since `earlier`.
    pub fn since(self, earlier: IoSnapshot) -> IoSnapshot {
        IoSnapshot {
            bytes_read: self.bytes_read.saturating_sub(earlier.bytes_read),
            rows_written: self.rows_written.saturating_sub(earlier.rows_written),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
            files_written: self.files_written.saturating_sub(earlier.files_written),
            files_planned: self.files_planned.saturating_sub(earlier.files_planned),
            files_inspected: self.files_inspected.saturating_sub(earlier.files_inspected),
        }
    }
}

impl IoCounters {
    /// The current values.
    pub fn snapshot(&self) -> IoSnapshot {
        IoSnapshot {
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            rows_written: self.rows_written.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            files_written: self.files_written.load(Ordering::Relaxed),
            files_planned: self.files_planned.load(Ordering::Relaxed),
            files_inspected: self.files_inspected.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn plan_files(&self, files: u64) {
        self.files_planned.fetch_add(files, Ordering::Relaxed);
    }

    pub(crate) fn inspected(&self) {
        self.files_inspected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn rows(&self, rows: u64) {
        self.rows_written.fetch_add(rows, Ordering::Relaxed);
    }

    pub(crate) fn file(&self, bytes: u64) {
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        self.files_written.fetch_add(1, Ordering::Relaxed);
    }
}

static IO: IoCounters = IoCounters {
    bytes_read: AtomicU64::new(0),
    rows_written: AtomicU64::new(0),
    bytes_written: AtomicU64::new(0),
    files_written: AtomicU64::new(0),
    files_planned: AtomicU64::new(0),
    files_inspected: AtomicU64::new(0),
};

/// The process's counters.
pub fn io() -> &'static IoCounters {
    &IO
}

/// A store that counts the bytes read through it in [`io`].
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
}

impl CountingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let result = self.inner.get_opts(location, options).await?;
        let payload = match result.payload {
            // A local file is read by the caller itself, out of sight: it is not counted (its
            // range would count as read before it is, and again for every sampling pass).
            file @ GetResultPayload::File(..) => file,
            GetResultPayload::Stream(stream) => GetResultPayload::Stream(
                stream
                    .inspect(|chunk| {
                        if let Ok(bytes) = chunk {
                            IO.read(bytes.len() as u64);
                        }
                    })
                    .boxed(),
            ),
        };
        Ok(GetResult { payload, ..result })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let parts = self.inner.get_ranges(location, ranges).await?;
        IO.read(parts.iter().map(|b| b.len() as u64).sum());
        Ok(parts)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn reads_are_counted_as_consumed() {
        let store = CountingStore::new(Arc::new(InMemory::new()));
        let path = Path::from("a");
        store.put(&path, vec![7u8; 1000].into()).await.unwrap();
        let before = io().snapshot();
        let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.len(), 1000);
        store.get_range(&path, 10..110).await.unwrap();
        // Other tests read at the same time: at least what this one read.
        assert!(io().snapshot().since(before).bytes_read >= 1100);
    }
}
