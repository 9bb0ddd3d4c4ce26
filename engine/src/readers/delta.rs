//! A Delta table as the readers see it: one version's files, partition values, schema and row
//! counts, all from its `_delta_log`. Nothing is listed and no file is sampled, so a table with a
//! thousand commits opens as fast as one with a single commit (the log's checkpoints see to that).

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use datafusion::datasource::file_format::parquet::transform_schema_to_view;
use object_store::{ObjectMeta, ObjectStore};

use super::{DataFile, TableFiles};
use crate::error::Result;
use crate::lake::log::CommitLog;
use crate::lake::{AsOf, DeltaState, LiveFile};
use crate::stores::Location;

/// Describes the Delta table at `location` as of a version, or `None` when the folder has no
/// `_delta_log`.
pub async fn describe_delta(
    store: &Arc<dyn ObjectStore>,
    location: &Location,
    as_of: AsOf,
) -> Result<Option<TableFiles>> {
    let folder = location.as_folder();
    let log = CommitLog::new(Arc::clone(store), &folder);
    let Some(state) = log.load_delta(as_of).await? else {
        return Ok(None);
    };
    let files = state
        .live
        .values()
        .map(|f| data_file(&log, f, &state.partition_columns))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(TableFiles {
        location: folder,
        file_schema: Arc::new(file_schema(&state)),
        partition_cols: partition_cols(&state),
        files,
        csv: Default::default(),
        read_by_name: false,
        json_array: false,
        delta: true,
    }))
}

/// The columns inside the files: the table's, less its partition columns, with strings as views
/// (as DataFusion's Parquet reader gives them).
fn file_schema(state: &DeltaState) -> Schema {
    let fields: Vec<_> = state
        .schema
        .fields()
        .iter()
        .filter(|f| !state.partition_columns.contains(f.name()))
        .cloned()
        .collect();
    transform_schema_to_view(&Schema::new(fields))
}

/// Partition columns with the types the log declares.
fn partition_cols(state: &DeltaState) -> Vec<(String, DataType)> {
    state
        .partition_columns
        .iter()
        .map(|c| {
            let ty = state
                .schema
                .field_with_name(c)
                .map_or(DataType::Utf8, |f| f.data_type().clone());
            (c.clone(), ty)
        })
        .collect()
}

fn data_file(log: &CommitLog, file: &LiveFile, partition_columns: &[String]) -> Result<DataFile> {
    let last_modified = file
        .modified_ms
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_default();
    let meta = ObjectMeta {
        location: log.child(&file.path)?,
        last_modified,
        size: file.size,
        e_tag: None,
        version: None,
    };
    let partition = partition_columns
        .iter()
        .map(|c| (c.clone(), file.partition_values.get(c).cloned().flatten()))
        .collect();
    Ok(DataFile {
        meta,
        partition,
        rows: file.rows,
        detected: None,
    })
}
