//! Arrow types as Hive/Glue/Athena type strings.

use arrow::datatypes::DataType;

/// The Glue (Hive) type string for an Arrow type, as Athena and Spark expect it in a table definition.
pub fn glue_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "decimal(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            format!("decimal({p},{s})")
        }
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "binary".into()
        }
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", glue_type(f.data_type()))
        }
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), glue_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!(
                    "map<{},{}>",
                    glue_type(kv[0].data_type()),
                    glue_type(kv[1].data_type())
                )
            }
            _ => "string".into(),
        },
        DataType::Dictionary(_, v) => glue_type(v),
        _ => "string".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Fields, TimeUnit};
    use rstest::rstest;
    use std::sync::Arc;

    #[rstest]
    #[case(DataType::Int64, "bigint")]
    #[case(DataType::Utf8View, "string")]
    #[case(DataType::Float64, "double")]
    #[case(DataType::Date32, "date")]
    #[case(DataType::Timestamp(TimeUnit::Microsecond, None), "timestamp")]
    #[case(DataType::Decimal128(12, 2), "decimal(12,2)")]
    #[case(
        DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
        "array<int>"
    )]
    #[case(DataType::Struct(Fields::from(vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Boolean, true)])), "struct<a:string,b:boolean>")]
    fn arrow_to_glue(#[case] t: DataType, #[case] glue: &str) {
        assert_eq!(glue_type(&t), glue);
    }
}
