#!/usr/bin/env bash
# End-to-end comparison: TPC-H lineitem (CSV, scale factor $SF, default 1) to Parquet partitioned by
# l_shipdate (~2,500 partitions) under a 2 GiB memory limit, with sluice, plain DataFusion (its own
# COPY ... PARTITIONED BY writer, in benches/src/bin/df_copy.rs), DuckDB and Polars. Prints wall time,
# peak RSS and the row count each output reads back with (checked by DuckDB).
#
#   benches/e2e/run.sh            # needs a release build: cargo build --release --bin sluice
#
# benches/e2e/harness.sh runs this workload (number 3) and seven others against datafusion-cli too.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
SF="${SF:-1}"
LIMIT_GIB=2
VENV="$CACHE/venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import duckdb, polars, tpchgen_cli" 2>/dev/null \
  || "$VENV/bin/pip" install --quiet duckdb polars tpchgen-cli pyarrow
PY="$VENV/bin/python"

cargo build --release --quiet -p sluice -p sluice-benches --bins
SLUICE="$CARGO_TARGET_DIR/release/sluice"
DF_COPY="$CARGO_TARGET_DIR/release/df_copy"

DATA="$CACHE/bench/sf$SF"
if [ ! -d "$DATA/lineitem" ]; then
  mkdir -p "$DATA"
  "$VENV/bin/tpchgen-cli" csv -s "$SF" --tables=lineitem --parts=4 --output-dir="$DATA"
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

measure() { # name, command...
  local name=$1; shift
  local log="$OUT/$name.time"
  if /usr/bin/time -v "$@" >"$OUT/$name.out" 2>"$log"; then status=ok; else status=FAILED; fi
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$log" | awk '{printf "%.0f", $NF/1024}')
  local rows="-"
  if [ "$status" = ok ]; then
    rows=$("$PY" -c "import duckdb,sys; print(duckdb.sql(f\"SELECT count(*) FROM read_parquet('{sys.argv[1]}/**/*.parquet', hive_partitioning=true)\").fetchall()[0][0])" "$OUT/$name")
  else
    grep -m1 -iE "error|exception" "$log" | cut -c1-300 | sed 's/^/    /' >&2 || true
  fi
  printf "| %-10s | %-6s | %8s | %9s MiB | %9s |\n" "$name" "$status" "$wall" "$rss" "$rows"
}

echo "lineitem SF$SF: $(du -sh "$DATA/lineitem" | cut -f1) of CSV; memory limit ${LIMIT_GIB} GiB; $(nproc) cores"
echo "| engine     | status | wall     | peak RSS      | rows      |"
echo "|------------|--------|----------|---------------|-----------|"
measure sluice "$SLUICE" -q --memory-limit ${LIMIT_GIB}GiB convert "$DATA/lineitem/" "$OUT/sluice" --partition-by l_shipdate
measure datafusion "$DF_COPY" $((LIMIT_GIB * 1024 * 1024 * 1024)) \
  "CREATE EXTERNAL TABLE li STORED AS CSV LOCATION '$DATA/lineitem/' OPTIONS ('format.has_header' 'true');
   COPY (SELECT * FROM li) TO '$OUT/datafusion/' STORED AS PARQUET PARTITIONED BY (l_shipdate)"
measure duckdb "$PY" -c "
import duckdb
con = duckdb.connect()
con.sql(\"SET memory_limit='${LIMIT_GIB}GB'\")
con.sql(\"COPY (SELECT * FROM read_csv('$DATA/lineitem/*.csv')) TO '$OUT/duckdb' (FORMAT parquet, PARTITION_BY (l_shipdate), COMPRESSION zstd)\")"
# Polars has no memory limit setting; it runs unconstrained.
measure polars "$PY" -c "
import polars as pl
lf = pl.scan_csv('$DATA/lineitem/*.csv', try_parse_dates=True)
lf.sink_parquet(pl.PartitionBy('$OUT/polars', key='l_shipdate', include_key=False), mkdir=True)"
