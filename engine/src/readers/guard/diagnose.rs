//! Naming the record a plain DataFusion scan failed on.

use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;

use super::*;

/// Runs its input; when the input fails to parse a record (DataFusion's readers do not say which),
/// reads the same files with the record-level reader under `fail` and returns the bad record it
/// finds, naming file, line and byte. Costs nothing until an error.
#[derive(Debug)]
pub struct DiagnoseExec {
    input: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    diagnosis: Arc<GuardedPartition>,
}

impl DiagnoseExec {
    /// Wraps `input`, a scan of the files `diagnosis` reads.
    pub fn new(
        input: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        diagnosis: Arc<GuardedPartition>,
    ) -> Self {
        Self { input, diagnosis }
    }
}

/// True for errors a bad record causes in DataFusion's CSV and JSON readers.
fn is_parse_error(e: &DataFusionError) -> bool {
    let text = e.to_string();
    [
        "Parser error",
        "Csv error",
        "Json error",
        "Cast error",
        "incorrect number of fields",
        "parse",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

async fn diagnose(
    diagnosis: Arc<GuardedPartition>,
    ctx: Arc<TaskContext>,
    original: DataFusionError,
) -> DataFusionError {
    if !is_parse_error(&original) {
        return original;
    }
    let mut stream = diagnosis.execute(ctx);
    while let Some(item) = stream.next().await {
        if let Err(found) = item {
            return found;
        }
    }
    original
}

impl datafusion::physical_plan::DisplayAs for DiagnoseExec {
    fn fmt_as(
        &self,
        _t: datafusion::physical_plan::DisplayFormatType,
        f: &mut std::fmt::Formatter<'_>,
    ) -> std::fmt::Result {
        write!(f, "DiagnoseExec")
    }
}

impl datafusion::physical_plan::ExecutionPlan for DiagnoseExec {
    fn name(&self) -> &str {
        "DiagnoseExec"
    }

    crate::readers::wire::pass_through_plan!();

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let input = crate::readers::only_child(&mut children, "DiagnoseExec")?;
        Ok(Arc::new(Self::new(input, Arc::clone(&self.diagnosis))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, Arc::clone(&context))?;
        let schema = stream.schema();
        let diagnosis = Arc::clone(&self.diagnosis);
        let checked = stream.then(move |item| {
            let diagnosis = Arc::clone(&diagnosis);
            let context = Arc::clone(&context);
            async move {
                match item {
                    Ok(batch) => Ok(batch),
                    Err(e) => Err(diagnose(diagnosis, context, e).await),
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, checked)))
    }
}
