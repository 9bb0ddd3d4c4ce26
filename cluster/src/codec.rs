//! Carrying sluice's tables inside Ballista plans.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use sluice_engine::readers::{ConformExec, GuardedScanExec, LakeTable, LazyTable, TextScanExec};
use sluice_engine::writer::{WriteExec, WriteNode, WriteSpec};

/// Marks a table encoded by sluice (Ballista's own encodings never start with it).
const TAG: &[u8] = b"sluice:lake-table\0";

/// Ballista's logical codec plus sluice's [`LakeTable`] (a catalog table travels as its exact file
/// list, so the scheduler plans over the committed files without a catalog or a listing) and
/// [`WriteNode`] (a write the executors run).
#[derive(Debug, Default)]
pub struct SluiceCodec {
    inner: BallistaLogicalExtensionCodec,
}

fn external(e: sluice_engine::EngineError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Marks a [`ConformExec`] (Ballista's encodings never start with it).
const CONFORM_TAG: &[u8] = b"sluice:conform\0";

/// Marks a [`GuardedScanExec`] (Ballista's encodings never start with it).
const GUARDED_TAG: &[u8] = b"sluice:guarded-scan\0";

/// Marks a sluice write node or plan (Ballista's encodings never start with it).
const WRITE_TAG: &[u8] = b"sluice:write\0";

fn one_input<T: Clone>(inputs: &[T]) -> Result<T> {
    match inputs {
        [input] => Ok(input.clone()),
        _ => Err(DataFusionError::Internal(
            "a sluice write arrived without exactly one input".into(),
        )),
    }
}

impl LogicalExtensionCodec for SluiceCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        let Some(spec) = buf.strip_prefix(WRITE_TAG) else {
            return self.inner.try_decode(buf, inputs, ctx);
        };
        let node = WriteNode::new(one_input(inputs)?, WriteSpec::decode(spec)?)?;
        Ok(Extension { node: Arc::new(node) })
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        match node.node.as_any().downcast_ref::<WriteNode>() {
            Some(write) => {
                buf.extend_from_slice(WRITE_TAG);
                buf.extend_from_slice(&write.spec().encode());
                Ok(())
            }
            None => self.inner.try_encode(node, buf),
        }
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: datafusion::arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(TAG) {
            Some(bytes) => Ok(Arc::new(LakeTable::decode(bytes).map_err(external)?)),
            None => self.inner.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        // A table whose files are chosen per scan goes with all of them: the scheduler cannot ask
        // the catalog, and prunes the partitions itself.
        let whole = match node.downcast_ref::<LazyTable>() {
            Some(lazy) => Some(lazy.whole()?),
            None => None,
        };
        match whole.as_ref().or_else(|| node.downcast_ref::<LakeTable>()) {
            Some(table) => {
                let bytes = table.encode().map_err(|e| {
                    DataFusionError::Plan(format!("table `{table_ref}` cannot run on the cluster: {e}"))
                })?;
                buf.extend_from_slice(TAG);
                buf.extend_from_slice(&bytes);
                Ok(())
            }
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

/// Marks a [`TextScanExec`] (Ballista's encodings never start with it).
const SCAN_TAG: &[u8] = b"sluice:text-scan\0";

/// Ballista's physical codec plus [`TextScanExec`], which carries the compression and JSON array
/// layout of text scans that DataFusion 55's own encoding drops, and [`WriteExec`], sluice's writer as a task. The
/// scheduler and every executor use it.
#[derive(Debug, Default)]
pub struct SluicePhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for SluicePhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if buf == CONFORM_TAG {
            return Ok(Arc::new(ConformExec::new(one_input(inputs)?)));
        }
        if let Some(scan) = buf.strip_prefix(GUARDED_TAG) {
            return Ok(Arc::new(GuardedScanExec::decode(scan, one_input(inputs)?)?));
        }
        if let Some(spec) = buf.strip_prefix(WRITE_TAG) {
            let spec = WriteSpec::decode(spec)?;
            tracing::debug!(dest = %spec.dest, "received a write");
            return Ok(Arc::new(WriteExec::new(one_input(inputs)?, spec)));
        }
        let Some(name) = buf.strip_prefix(SCAN_TAG) else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        let settings = std::str::from_utf8(name)
            .map_err(|e| DataFusionError::Internal(format!("a text scan's settings: {e}")))?;
        tracing::debug!(settings, "received a text scan");
        match inputs {
            [scan] => TextScanExec::restore(scan, settings),
            _ => Err(DataFusionError::Internal(
                "a text scan arrived without exactly one input".into(),
            )),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if node.downcast_ref::<ConformExec>().is_some() {
            buf.extend_from_slice(CONFORM_TAG);
            return Ok(());
        }
        if let Some(scan) = node.downcast_ref::<GuardedScanExec>() {
            buf.extend_from_slice(GUARDED_TAG);
            buf.extend_from_slice(&scan.encode()?);
            return Ok(());
        }
        if let Some(write) = node.downcast_ref::<WriteExec>() {
            buf.extend_from_slice(WRITE_TAG);
            buf.extend_from_slice(&write.spec().encode());
            return Ok(());
        }
        match node.downcast_ref::<TextScanExec>() {
            Some(scan) => {
                tracing::debug!(settings = %scan.settings(), "sending a text scan");
                buf.extend_from_slice(SCAN_TAG);
                buf.extend_from_slice(scan.settings().as_bytes());
                Ok(())
            }
            None => self.inner.try_encode(node, buf, proto_converter),
        }
    }
}
