//! Clustering only the streams that need it.
//!
//! A write starts by giving every input stream its own open file per partition value, which costs
//! nothing beyond the Parquet encoding. A stream that meets more partition values than it may keep
//! files open for hands the rest of its rows on, in two steps that each happen only when needed:
//!
//! ```text
//! input stream ──more than max_open_files values──> hash by partition columns (one plan for all)
//!     ──> one writer per hash stream, again one open file per value (each sees 1/n of the values)
//!         ──still more than max_open_files──> sort that stream by the partition columns
//!             (spilling under the session's memory limit) ──> one file open at a time
//! ```
//!
//! Writes to a handful of partitions never pay for either step; writes to a few hundred pay for the
//! hash but not the sort; writes to thousands still have bounded memory and about one file per
//! partition.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use futures::SinkExt;
use futures::channel::mpsc;

use super::{StreamShared, lock, physical_columns, sort_streams, spawn_writer};
use crate::error::{EngineError, Result};

/// Batches a rerouted stream may have in flight before it waits for the clustering plan.
const CHANNEL_BATCHES: usize = 2;

/// What a rerouter does with the rows handed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Hash-partitions the rows of all its inputs by the partition columns.
    Hash,
    /// Sorts the rows of its one input by the partition columns.
    Sort,
}

/// A clustering plan fed by the streams that hand their rows on, started by the first of them that
/// needs it.
pub(super) struct Rerouter {
    step: Step,
    schema: SchemaRef,
    partition_by: Vec<String>,
    task_ctx: Arc<TaskContext>,
    senders: Mutex<Vec<Option<mpsc::Sender<RecordBatch>>>>,
    receivers: Mutex<Option<Vec<mpsc::Receiver<RecordBatch>>>>,
}

impl std::fmt::Debug for Rerouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rerouter")
            .field("step", &self.step)
            .field("partition_by", &self.partition_by)
            .finish()
    }
}

/// Where one stream sends its rows once it meets too many partition values.
pub(super) struct Reroute {
    to: Arc<Rerouter>,
    tx: mpsc::Sender<RecordBatch>,
}

impl Reroute {
    /// Starts the clustering plan (once for all its inputs).
    pub(super) fn start(&self, shared: &Arc<StreamShared>) -> Result<()> {
        self.to.start(shared)
    }

    /// Hands `batch` to the clustering plan; an error means the plan stopped (its writer reports why).
    pub(super) async fn send(&mut self, batch: RecordBatch) -> Result<()> {
        self.tx.send(batch).await.map_err(|_| EngineError::Cancelled)
    }
}

impl Rerouter {
    /// A rerouter doing `step` for `inputs` streams of rows with `schema`.
    pub(super) fn new(
        step: Step,
        schema: SchemaRef,
        partition_by: Vec<String>,
        inputs: usize,
        task_ctx: Arc<TaskContext>,
    ) -> Arc<Self> {
        let (senders, receivers) = (0..inputs)
            .map(|_| {
                let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
                (Some(tx), rx)
            })
            .unzip();
        Arc::new(Self {
            step,
            schema,
            partition_by,
            task_ctx,
            senders: Mutex::new(senders),
            receivers: Mutex::new(Some(receivers)),
        })
    }

    /// The way in for input stream `input`; dropping it (when the stream ends, rerouted or not)
    /// tells the clustering plan that no more rows come from that stream.
    pub(super) fn reroute(self: &Arc<Self>, input: usize) -> Option<Reroute> {
        let tx = lock(&self.senders).get_mut(input).and_then(Option::take)?;
        Some(Reroute {
            to: Arc::clone(self),
            tx,
        })
    }

    /// Drops the ways in no input stream claimed (their streams never started).
    pub(super) fn close_unclaimed(&self) {
        lock(&self.senders).iter_mut().for_each(|s| drop(s.take()));
    }

    /// Starts the clustering plan and its writers, once.
    fn start(&self, shared: &Arc<StreamShared>) -> Result<()> {
        let Some(receivers) = lock(&self.receivers).take() else {
            return Ok(());
        };
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
        match self.step {
            Step::Hash => {
                let keys = physical_columns(&source, &self.partition_by, "partition-by")?;
                let plan = RepartitionExec::try_new(source, Partitioning::Hash(keys, streams))?;
                for i in 0..streams {
                    let stream = plan.execute(i, Arc::clone(&self.task_ctx))?;
                    let sorter = Rerouter::new(
                        Step::Sort,
                        Arc::clone(&self.schema),
                        self.partition_by.clone(),
                        1,
                        Arc::clone(&self.task_ctx),
                    );
                    spawn_writer(shared, stream, false, sorter.reroute(0));
                }
            }
            Step::Sort => {
                let plan = sort_streams(source, &self.partition_by)?;
                for i in 0..streams {
                    let stream = plan.execute(i, Arc::clone(&self.task_ctx))?;
                    spawn_writer(shared, stream, true, None);
                }
            }
        }
        tracing::debug!(step = ?self.step, streams, "rows rerouted to clustering");
        Ok(())
    }
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
