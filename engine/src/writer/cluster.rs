//! Clustering only the streams that need it.
//!
//! A write starts by giving every input stream its own open file per partition value, which costs
//! nothing beyond the Parquet encoding. A stream that meets more partition values than it may keep
//! files open for hands the rest of its rows to a shared clustering plan instead: rows are
//! hash-partitioned by the partition columns and sorted (spilling under the session's memory
//! limit), so each partition value of the rerouted rows gets files from one writer only. Writes to
//! a handful of partitions never pay for the sort; writes to thousands still have bounded memory
//! and about one file per partition.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::SinkExt;
use futures::channel::mpsc;
use tokio::task::JoinSet;

use super::{StreamOutcome, StreamShared, cluster_by_partition, write_stream};
use crate::error::{EngineError, Result};

/// Batches a rerouted stream may have in flight before it waits for the clustering plan.
const CHANNEL_BATCHES: usize = 2;

/// The clustering plan shared by all input streams of one write, started by the first stream that
/// needs it.
pub(super) struct Rerouter {
    schema: SchemaRef,
    partition_by: Vec<String>,
    task_ctx: Arc<TaskContext>,
    senders: Mutex<Vec<Option<mpsc::Sender<RecordBatch>>>>,
    receivers: Mutex<Option<Vec<mpsc::Receiver<RecordBatch>>>>,
    writers: Mutex<JoinSet<StreamOutcome>>,
}

impl std::fmt::Debug for Rerouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rerouter")
            .field("partition_by", &self.partition_by)
            .finish()
    }
}

impl Rerouter {
    /// A rerouter for `streams` input streams of rows with `schema`.
    pub(super) fn new(
        schema: SchemaRef,
        partition_by: Vec<String>,
        streams: usize,
        task_ctx: Arc<TaskContext>,
    ) -> Self {
        let (senders, receivers) = (0..streams)
            .map(|_| {
                let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
                (Some(tx), rx)
            })
            .unzip();
        Self {
            schema,
            partition_by,
            task_ctx,
            senders: Mutex::new(senders),
            receivers: Mutex::new(Some(receivers)),
            writers: Mutex::new(JoinSet::new()),
        }
    }

    /// The sending end for input stream `stream_no`; dropping it (when the stream ends, rerouted or
    /// not) tells the clustering plan that no more rows come from that stream.
    pub(super) fn sender(&self, stream_no: usize) -> Option<mpsc::Sender<RecordBatch>> {
        lock(&self.senders).get_mut(stream_no).and_then(Option::take)
    }

    /// Drops the sending ends no input stream claimed (their streams never started).
    pub(super) fn close_unclaimed(&self) {
        lock(&self.senders).iter_mut().for_each(|s| drop(s.take()));
    }

    /// Starts the clustering plan and its writers, once.
    pub(super) fn start(&self, shared: &Arc<StreamShared>) -> Result<()> {
        let Some(receivers) = lock(&self.receivers).take() else {
            return Ok(());
        };
        let first_stream_no = receivers.len();
        let partitions: Vec<Arc<dyn PartitionStream>> = receivers
            .into_iter()
            .map(|rx| {
                Arc::new(Channel {
                    schema: Arc::clone(&self.schema),
                    rx: Mutex::new(Some(rx)),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let streams = partitions.len();
        let source: Arc<dyn ExecutionPlan> = Arc::new(StreamingTableExec::try_new(
            Arc::clone(&self.schema),
            partitions,
            None,
            Vec::new(),
            false,
            None,
        )?);
        let plan = cluster_by_partition(source, &self.partition_by, &[], streams)?;
        let mut writers = lock(&self.writers);
        for i in 0..streams {
            let stream = plan.execute(i, Arc::clone(&self.task_ctx))?;
            let shared = Arc::clone(shared);
            writers.spawn(async move { write_stream(shared, first_stream_no + i, stream, true, None).await });
        }
        tracing::debug!(streams, "rows rerouted to clustering");
        Ok(())
    }

    /// The writers of the clustering plan, to be joined once every input stream has ended.
    pub(super) fn take_writers(&self) -> JoinSet<StreamOutcome> {
        std::mem::take(&mut *lock(&self.writers))
    }
}

/// Hands `batch` to the clustering plan; an error means the plan stopped (its writer reports why).
pub(super) async fn send(tx: &mut mpsc::Sender<RecordBatch>, batch: RecordBatch) -> Result<()> {
    tx.send(batch).await.map_err(|_| EngineError::Cancelled)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One input of the clustering plan: the rows one input stream rerouted.
struct Channel {
    schema: SchemaRef,
    rx: Mutex<Option<mpsc::Receiver<RecordBatch>>>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channel")
    }
}

impl PartitionStream for Channel {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        use futures::StreamExt;
        let schema = Arc::clone(&self.schema);
        match lock(&self.rx).take() {
            Some(rx) => Box::pin(RecordBatchStreamAdapter::new(schema, rx.map(Ok))),
            None => Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::once(async {
                    Err(DataFusionError::Internal(
                        "a rerouted stream was read twice".into(),
                    ))
                }),
            )),
        }
    }
}
