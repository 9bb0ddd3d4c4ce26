//! CREATE statements other engines accept for a catalog table.

use crate::model::{ColumnDef, DELTA, TableDef};

/// Engines `sluice table ddl` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Amazon Athena (and Hive): `CREATE EXTERNAL TABLE ... PARTITIONED BY ... LOCATION`.
    Athena,
    /// Spark SQL data-source table: `CREATE TABLE ... USING ... PARTITIONED BY ... LOCATION`.
    Spark,
    /// Trino's Hive connector: `CREATE TABLE hive.db.t (...) WITH (...)`.
    Trino,
    /// DuckDB: a view over `read_csv`/`read_json`/`read_parquet` with Hive partitioning.
    Duckdb,
}

fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn dq(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The statement(s) for `table` in `dialect`, ending with a newline.
pub fn ddl(table: &TableDef, dialect: Dialect) -> String {
    if table.classification == DELTA {
        return delta(table, dialect);
    }
    match dialect {
        Dialect::Athena => athena(table),
        Dialect::Spark => spark(table),
        Dialect::Trino => trino(table),
        Dialect::Duckdb => duckdb(table),
    }
}

/// A Delta table is registered by location: each engine reads its schema, partitions and files
/// from `_delta_log/`, so none of them may list the folders itself.
fn delta(t: &TableDef, dialect: Dialect) -> String {
    let location = lit(&t.location);
    match dialect {
        Dialect::Athena => format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{}\nLOCATION {location}\nTBLPROPERTIES ('table_type' = 'DELTA');\n",
            q(&t.database),
            q(&t.name)
        ),
        Dialect::Spark => format!(
            "CREATE TABLE IF NOT EXISTS {}.{}\nUSING DELTA\nLOCATION {location};\n",
            q(&t.database),
            q(&t.name)
        ),
        Dialect::Trino => format!(
            "CALL delta.system.register_table(schema_name => {}, table_name => {}, table_location => {location});\n",
            lit(&t.database),
            lit(&t.name)
        ),
        Dialect::Duckdb => {
            let root = t
                .location
                .strip_prefix("file://")
                .unwrap_or(&t.location)
                .trim_end_matches('/');
            format!(
                "CREATE SCHEMA IF NOT EXISTS {db};\nCREATE OR REPLACE VIEW {db}.{name} AS SELECT * FROM delta_scan({});\n",
                lit(root),
                db = dq(&t.database),
                name = dq(&t.name)
            )
        }
    }
}

fn quote(table: &TableDef) -> String {
    (table.quote.unwrap_or(b'"') as char).to_string()
}

fn delimiter(table: &TableDef) -> String {
    (table.delimiter.unwrap_or(b',') as char).to_string()
}

fn athena(t: &TableDef) -> String {
    let cols = |cs: &[ColumnDef]| {
        cs.iter()
            .map(|c| format!("  {} {}", q(&c.name), c.glue_type))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    let mut out = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{} (\n{}\n)\n",
        q(&t.database),
        q(&t.name),
        cols(&t.columns)
    );
    if !t.partition_keys.is_empty() {
        out.push_str(&format!(
            "PARTITIONED BY ({})\n",
            t.partition_keys
                .iter()
                .map(|c| format!("{} {}", q(&c.name), c.glue_type))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match t.classification.as_str() {
        "parquet" => out.push_str("STORED AS PARQUET\n"),
        "json" => out.push_str(
            "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nSTORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'\nOUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n",
        ),
        _ => out.push_str(&format!(
            "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'\nWITH SERDEPROPERTIES ('separatorChar' = {}, 'quoteChar' = {})\nSTORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'\nOUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n",
            lit(&delimiter(t)),
            lit(&quote(t))
        )),
    }
    out.push_str(&format!("LOCATION {}\n", lit(&t.location)));
    let mut props = vec![format!("'classification' = {}", lit(&t.classification))];
    if t.classification == "csv" && t.has_header {
        props.push("'skip.header.line.count' = '1'".into());
    }
    out.push_str(&format!("TBLPROPERTIES ({});\n", props.join(", ")));
    if !t.partition_keys.is_empty() {
        out.push_str(&format!("MSCK REPAIR TABLE {}.{};\n", q(&t.database), q(&t.name)));
    }
    out
}

fn spark_type(glue: &str) -> String {
    glue.to_uppercase()
}

fn spark(t: &TableDef) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .chain(&t.partition_keys)
        .map(|c| format!("  {} {}", q(&c.name), spark_type(&c.glue_type)))
        .collect();
    let mut out = format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n)\nUSING {}\n",
        q(&t.database),
        q(&t.name),
        cols.join(",\n"),
        t.classification
    );
    if t.classification == "csv" {
        out.push_str(&format!(
            "OPTIONS (header {}, delimiter {}, quote {})\n",
            lit(&t.has_header.to_string()),
            lit(&delimiter(t)),
            lit(&quote(t))
        ));
    }
    if !t.partition_keys.is_empty() {
        out.push_str(&format!(
            "PARTITIONED BY ({})\n",
            t.partition_keys
                .iter()
                .map(|c| q(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&format!("LOCATION {};\n", lit(&t.location)));
    if !t.partition_keys.is_empty() {
        out.push_str(&format!("MSCK REPAIR TABLE {}.{};\n", q(&t.database), q(&t.name)));
    }
    out
}

fn trino_type(glue: &str, csv: bool) -> String {
    if csv {
        return "varchar".into();
    }
    match glue {
        "string" => "varchar".into(),
        "int" => "integer".into(),
        "float" => "real".into(),
        "binary" => "varbinary".into(),
        "timestamp" => "timestamp(3)".into(),
        other if other.starts_with("array<") || other.starts_with("struct<") || other.starts_with("map<") => {
            "varchar".into()
        }
        other => other.into(),
    }
}

fn trino(t: &TableDef) -> String {
    let csv = t.classification == "csv";
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("  {} {}", dq(&c.name), trino_type(&c.glue_type, csv)))
        .chain(
            t.partition_keys
                .iter()
                .map(|c| format!("  {} {}", dq(&c.name), trino_type(&c.glue_type, false))),
        )
        .collect();
    let mut with = vec![
        format!("  format = {}", lit(&t.classification.to_uppercase())),
        format!("  external_location = {}", lit(&t.location)),
    ];
    if !t.partition_keys.is_empty() {
        with.push(format!(
            "  partitioned_by = ARRAY[{}]",
            t.partition_keys
                .iter()
                .map(|c| lit(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if csv {
        with.push(format!("  csv_separator = {}", lit(&delimiter(t))));
        if t.has_header {
            with.push("  skip_header_line_count = 1".into());
        }
    }
    let mut out = format!(
        "CREATE TABLE IF NOT EXISTS hive.{}.{} (\n{}\n) WITH (\n{}\n);\n",
        dq(&t.database),
        dq(&t.name),
        cols.join(",\n"),
        with.join(",\n")
    );
    if !t.partition_keys.is_empty() {
        out.push_str(&format!(
            "CALL hive.system.sync_partition_metadata({}, {}, 'ADD');\n",
            lit(&t.database),
            lit(&t.name)
        ));
    }
    out
}

fn duckdb(t: &TableDef) -> String {
    let root = t
        .location
        .strip_prefix("file://")
        .unwrap_or(&t.location)
        .trim_end_matches('/');
    let reader = match t.classification.as_str() {
        "parquet" => format!(
            "read_parquet({}, hive_partitioning = true)",
            lit(&format!("{root}/**/*.parquet"))
        ),
        "json" => format!(
            "read_json({}, hive_partitioning = true)",
            lit(&format!("{root}/**/*.*json*"))
        ),
        _ => format!(
            "read_csv({}, hive_partitioning = true, header = {}, delim = {}, quote = {})",
            lit(&format!("{root}/**/*.csv*")),
            t.has_header,
            lit(&delimiter(t)),
            lit(&quote(t))
        ),
    };
    format!(
        "CREATE SCHEMA IF NOT EXISTS {db};\nCREATE OR REPLACE VIEW {db}.{name} AS SELECT * FROM {reader};\n",
        db = dq(&t.database),
        name = dq(&t.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_table_is_registered_by_its_location() {
        let mut t = orders();
        t.classification = DELTA.into();
        t.location = "s3://lake/curated/orders/".into();
        let athena = ddl(&t, Dialect::Athena);
        assert!(
            athena.contains("TBLPROPERTIES ('table_type' = 'DELTA')"),
            "{athena}"
        );
        assert!(
            !athena.contains("PARTITIONED BY"),
            "Athena reads partitions from the log: {athena}"
        );
        assert!(ddl(&t, Dialect::Spark).contains("USING DELTA\nLOCATION 's3://lake/curated/orders/'"));
        assert!(ddl(&t, Dialect::Trino).contains("delta.system.register_table("));
        assert!(ddl(&t, Dialect::Duckdb).contains("delta_scan('s3://lake/curated/orders')"));
    }

    fn orders() -> TableDef {
        let col = |n: &str, a: &str, g: &str| ColumnDef {
            name: n.into(),
            data_type: a.into(),
            glue_type: g.into(),
        };
        TableDef {
            database: "raw".into(),
            name: "orders".into(),
            location: "s3://lake/raw/orders/".into(),
            classification: "csv".into(),
            has_header: true,
            delimiter: None,
            read_by_name: false,
            json_array: false,
            quote: None,
            columns: vec![col("order_id", "Int64", "bigint"), col("note", "Utf8", "string")],
            partition_keys: vec![col("order_date", "Date32", "date")],
            files: vec![],
        }
    }

    #[test]
    fn athena_csv_table() {
        let ddl = ddl(&orders(), Dialect::Athena);
        assert!(ddl.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `raw`.`orders` (\n  `order_id` bigint,\n  `note` string\n)"), "{ddl}");
        assert!(ddl.contains("PARTITIONED BY (`order_date` date)"), "{ddl}");
        assert!(ddl.contains("'skip.header.line.count' = '1'"), "{ddl}");
        assert!(ddl.contains("LOCATION 's3://lake/raw/orders/'"), "{ddl}");
        assert!(ddl.ends_with("MSCK REPAIR TABLE `raw`.`orders`;\n"), "{ddl}");
    }

    #[test]
    fn spark_lists_partition_columns_last() {
        let ddl = ddl(&orders(), Dialect::Spark);
        assert!(
            ddl.contains("`note` STRING,\n  `order_date` DATE\n)\nUSING csv"),
            "{ddl}"
        );
        assert!(ddl.contains("PARTITIONED BY (`order_date`)"), "{ddl}");
    }

    #[test]
    fn trino_csv_columns_are_varchar() {
        let ddl = ddl(&orders(), Dialect::Trino);
        assert!(ddl.contains("\"order_id\" varchar"), "{ddl}");
        assert!(ddl.contains("\"order_date\" date"), "{ddl}");
        assert!(ddl.contains("partitioned_by = ARRAY['order_date']"), "{ddl}");
    }
}
