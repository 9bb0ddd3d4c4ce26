#!/usr/bin/env bash
# Crawl benchmark (workload 7 of the performance issue): a lake of 10 tables x 1,000 Hive-partitioned
# CSV files (10,000 files), crawled into a fresh catalog, then crawled again with nothing changed;
# on local disk and through the S3-compatible test server (s3s-fs on 127.0.0.1).
#
#   benches/crawl/run.sh            # needs the release build: cargo build --release --bin sluice
#
# The lake is generated once under $SLUICE_CACHE/bench/crawl10k.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
SLUICE="$CARGO_TARGET_DIR/release/sluice"
[ -x "$SLUICE" ] || { echo "build first: cargo build --release --bin sluice" >&2; exit 2; }
S3S="$CACHE/s3s/bin/s3s-fs"
LAKE="$CACHE/bench/crawl10k-v2"
if [ ! -f "$LAKE/.done" ]; then
  echo "== generating $LAKE (10 tables x 1,000 files)"
  python3 benches/crawl/gen_lake.py "$LAKE"
fi
WORK="$(mktemp -d)"
S3_PID=""
cleanup() {
  [ -n "$S3_PID" ] && kill "$S3_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

timed() { # label, command...
  local label="$1"; shift
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  printf '%-40s %6.2f s\n' "$label" "$(echo "$end - $start" | bc)"
}

echo "== local disk"
timed "crawl 10,000 files (fresh catalog)" "$SLUICE" -q --catalog "$WORK/local.db" crawl "$LAKE/" --database bench
timed "re-crawl, nothing changed" "$SLUICE" -q --catalog "$WORK/local.db" crawl "$LAKE/" --database bench
timed "sluice sql over the catalog (count)" "$SLUICE" -q --catalog "$WORK/local.db" sql "SELECT count(*) FROM bench.table3"

if [ -x "$S3S" ]; then
  echo "== S3-compatible server (s3s-fs, 127.0.0.1)"
  mkdir -p "$WORK/s3/bench"
  cp -r "$LAKE" "$WORK/s3/bench/crawl10k"
  rm -f "$WORK/s3/bench/crawl10k/.done"
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$S3S" --host 127.0.0.1 --port "$PORT" --access-key bench --secret-key bench-secret "$WORK/s3" >"$WORK/s3.log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret \
    AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
  timed "crawl 10,000 objects (fresh catalog)" "$SLUICE" -q --catalog "$WORK/s3.db" crawl s3://bench/crawl10k/ --database bench
  timed "re-crawl, nothing changed" "$SLUICE" -q --catalog "$WORK/s3.db" crawl s3://bench/crawl10k/ --database bench
fi
