//! JSON source options (one object per line, or one array of objects per file) mapped onto
//! DataFusion's JSON format.

use std::sync::Arc;

use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;

pub(super) fn format(compression: FileCompressionType, newline_delimited: bool) -> Arc<dyn FileFormat> {
    Arc::new(
        JsonFormat::default()
            .with_file_compression_type(compression)
            .with_newline_delimited(newline_delimited),
    )
}
