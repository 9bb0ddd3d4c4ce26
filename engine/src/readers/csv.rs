//! CSV source options mapped onto DataFusion's CSV format.

use std::sync::Arc;

use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;

/// CSV dialect settings for reading.
#[derive(Debug, Clone)]
pub struct CsvReadOptions {
    /// The first line holds column names (default true).
    pub has_header: bool,
    /// Field delimiter; `None` means `,` (or tab for `.tsv`).
    pub delimiter: Option<u8>,
    /// Quote character (default `"`).
    pub quote: u8,
    /// Escape character inside quoted fields (default none: a quote is doubled).
    pub escape: Option<u8>,
    /// Lines starting with this character are comments (default none).
    pub comment: Option<u8>,
    /// Rows sampled for type inference.
    pub infer_rows: usize,
    /// Sniff the delimiter (when not given) and the header from the files when describing a
    /// location (default true; a dialect recorded in the catalog is not sniffed again).
    pub sniff: bool,
}

impl Default for CsvReadOptions {
    fn default() -> Self {
        Self {
            has_header: true,
            delimiter: None,
            quote: b'"',
            escape: None,
            comment: None,
            infer_rows: 1000,
            sniff: true,
        }
    }
}

/// A delimiter as users write it: one byte, or `\t` / `tab` for a tab; `None` otherwise.
pub fn parse_delimiter(text: &str) -> Option<u8> {
    match text {
        "\\t" | "tab" | "\t" => Some(b'\t'),
        t if t.len() == 1 => Some(t.as_bytes()[0]),
        _ => None,
    }
}

pub(super) fn format(
    options: &CsvReadOptions,
    tab_separated: bool,
    compression: FileCompressionType,
) -> Arc<dyn FileFormat> {
    let delimiter = options
        .delimiter
        .unwrap_or(if tab_separated { b'\t' } else { b',' });
    Arc::new(
        CsvFormat::default()
            .with_escape(options.escape)
            .with_comment(options.comment)
            .with_has_header(options.has_header)
            .with_delimiter(delimiter)
            .with_quote(options.quote)
            .with_schema_infer_max_rec(options.infer_rows)
            // Files that lack the table's trailing columns (written before a column was added) read
            // them as NULL; the crawler checks that every file's header is a prefix of the table's.
            .with_truncated_rows(true)
            .with_file_compression_type(compression),
    )
}
