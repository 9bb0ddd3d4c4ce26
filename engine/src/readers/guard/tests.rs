use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::execution::object_store::ObjectStoreUrl;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use super::reader::*;
use super::split::*;
use super::*;

fn split_csv(text: &str, chunk: usize) -> Vec<(String, u64, u64)> {
    let mut s = CsvSplitter::new(b',', b'"', None, None);
    let mut out = Vec::new();
    for c in text.as_bytes().chunks(chunk) {
        s.push(c, false, &mut out);
    }
    s.push(&[], true, &mut out);
    out.into_iter()
        // A CRLF's `\n` may go with the next record's leading blank bytes.
        .map(|r| {
            (
                String::from_utf8(r.bytes).unwrap().trim_end().to_string(),
                r.line,
                r.offset,
            )
        })
        .collect()
}

#[test]
fn csv_records_keep_their_line_offset_and_bytes_across_chunks() {
    let text = "a,b\n1,\"x\ny\"\n\n2,z\r\n3,w";
    for chunk in [1, 3, 100] {
        assert_eq!(
            split_csv(text, chunk),
            [
                ("a,b".to_string(), 1, 0),
                ("1,\"x\ny\"".to_string(), 2, 4),
                ("2,z".to_string(), 5, 13),
                ("3,w".to_string(), 6, 18),
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn arrow_messages_lose_their_batch_relative_lines_and_name_the_column() {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]);
    let e = ArrowError::CsvError("incorrect number of fields for line 1, expected 2 got 3".into());
    assert_eq!(
        reason(&e, &schema),
        "incorrect number of fields, expected 2 got 3"
    );
    let e = ArrowError::CsvError("Encountered invalid UTF-8 data for line 1 and field 2".into());
    assert_eq!(
        reason(&e, &schema),
        "column `name`: Encountered invalid UTF-8 data field 2"
    );
    let e = ArrowError::ParseError(
        "Error while parsing value 'x' as type 'Int64' for column 0 at line 0. Row data: '[x]'".into(),
    );
    assert_eq!(
        reason(&e, &schema),
        "column `id`: Error while parsing value 'x' as type 'Int64' for column 0"
    );
}

/// Reads `data` as one CSV (or NDJSON) file with columns `a BIGINT, b VARCHAR` under `skip`;
/// returns (good rows, bad records, records the splitter saw after the header).
fn read_skipping(data: &[u8], json: bool) -> (u64, u64, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let path = object_store::path::Path::from("t/f");
        store.put(&path, data.to_vec().into()).await.unwrap();
        let meta = store.head(&path).await.unwrap();
        let file_schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let dialect = if json {
            Dialect::Json
        } else {
            Dialect::Csv {
                has_header: true,
                delimiter: b',',
                quote: b'"',
                escape: None,
                comment: None,
            }
        };
        let guard = BadRecords::new(BadRecordPolicy::Skip, None, None).unwrap();
        let shared = Arc::new(Shared {
            store_url: ObjectStoreUrl::parse("memory://").unwrap(),
            schema: Arc::clone(&file_schema),
            file_schema,
            dialect,
            compression: FileCompressionType::UNCOMPRESSED,
            bad_records: Arc::clone(&guard),
        });
        let file = GuardedFile {
            meta,
            partition_values: Vec::new(),
        };
        let reader = FileReader::open(shared, store, file).await.unwrap();
        let batches: Vec<RecordBatch> = reader.into_stream().try_collect().await.unwrap();
        let good: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let mut seen = Vec::new();
        let data = data.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(data);
        if json {
            let mut s = LineSplitter::default();
            s.push(data, true, &mut seen);
        } else {
            let mut s = CsvSplitter::new(b',', b'"', None, None);
            s.push(data, false, &mut seen);
            s.push(&[], true, &mut seen);
        }
        let records = if json {
            seen.len()
        } else {
            seen.len().saturating_sub(1)
        } as u64;
        assert_eq!(guard.counts().good, good);
        (good, guard.bad.load(Ordering::Relaxed), records)
    })
}

fn bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let byte = prop_oneof![
        Just(b','),
        Just(b'"'),
        Just(b'\n'),
        Just(b'\r'),
        Just(b'1'),
        Just(b'7'),
        Just(b'a'),
        Just(b'{'),
        Just(b'}'),
        Just(b':'),
        any::<u8>(),
    ];
    proptest::collection::vec(byte, 0..300)
}

proptest::proptest! {
    /// Whatever the bytes, nothing panics and every record is either a row or a bad record.
    #[test]
    fn arbitrary_csv_bytes_are_rows_or_bad_records(body in bytes()) {
        let mut data = b"a,b\n".to_vec();
        data.extend_from_slice(&body);
        let (good, bad, records) = read_skipping(&data, false);
        proptest::prop_assert_eq!(good + bad, records);
    }

    #[test]
    fn arbitrary_ndjson_bytes_are_rows_or_bad_records(body in bytes()) {
        let (good, bad, records) = read_skipping(&body, true);
        proptest::prop_assert_eq!(good + bad, records);
    }

    /// Chunk boundaries never change what the splitter finds.
    #[test]
    fn csv_splitting_does_not_depend_on_chunks(body in bytes(), chunk in 1usize..17) {
        let whole = split_csv(&String::from_utf8_lossy(&body), 1 << 20);
        let pieces = split_csv(&String::from_utf8_lossy(&body), chunk);
        proptest::prop_assert_eq!(whole, pieces);
    }
}

#[test]
fn an_unclosed_quote_at_the_end_is_one_record_not_lost() {
    let got = split_csv("a,b\n1,x\n2,\"unclosed\n3,y\n", 4);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2].0, "2,\"unclosed\n3,y");
    let (good, bad, records) = read_skipping(b"a,b\n1,x\n2,\"unclosed\n3,y\n", false);
    // As DataFusion's reader has it: the open quote runs to the end of the file.
    assert_eq!((good, bad, records), (2, 0, 2));
}

#[test]
fn max_bad_records_reads_counts_and_shares() {
    assert_eq!("10".parse::<MaxBadRecords>(), Ok(MaxBadRecords::Count(10)));
    assert_eq!("5%".parse::<MaxBadRecords>(), Ok(MaxBadRecords::Fraction(0.05)));
    assert_eq!("0.01".parse::<MaxBadRecords>(), Ok(MaxBadRecords::Fraction(0.01)));
    assert!("1.5".parse::<MaxBadRecords>().is_err());
    assert!("lots".parse::<MaxBadRecords>().is_err());
}
