//! NDJSON source options mapped onto DataFusion's JSON format.

use std::sync::Arc;

use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;

pub(super) fn format(compression: FileCompressionType) -> Arc<dyn FileFormat> {
    Arc::new(JsonFormat::default().with_file_compression_type(compression))
}
