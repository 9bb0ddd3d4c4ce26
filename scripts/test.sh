#!/usr/bin/env bash
# The one test command: installs what the tests need, starts an S3-compatible server on 127.0.0.1,
# runs every test, and stops the server by PID.
#
#   scripts/test.sh            # all tests
#   scripts/test.sh convert    # extra arguments go to `cargo test` (a name filter, say)
#
# Reuses a build cache outside the clone: $SLUICE_CACHE (default ~/.cache/sluice) holds the cargo
# target dir, the s3s-fs binary and a Python venv with duckdb and its delta extension, deltalake,
# pyarrow, pyspark (Spark reads sluice's output in one test; it needs the machine's Java 17) and
# moto (a local Glue API).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
if mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
else
  CACHE="$(mktemp -d)"
fi

# s3s-fs 0.14.1 is the newest release that builds on Rust 1.95.
S3S="$CACHE/s3s/bin/s3s-fs"
if [ ! -x "$S3S" ]; then
  echo "== installing s3s-fs (S3-compatible test server) into $CACHE/s3s"
  cargo install s3s-fs@0.14.1 --features binary --locked --root "$CACHE/s3s" --quiet
fi

# Its own venv: the delta extension pins DuckDB 1.5.5, while the benchmarks (benches/e2e, venv
# `$CACHE/venv`) compare against the newest DuckDB.
VENV="$CACHE/venv-test"
# DuckDB's delta extension (delta-kernel-rs) and the deltalake package (delta-rs) read sluice's
# Delta tables independently; the extension ships in a wheel, so no download at run time.
if ! "$VENV/bin/python" -c "import duckdb, duckdb_extension_delta, deltalake, pyarrow, pyspark, moto, boto3" 2>/dev/null || [ ! -x "$VENV/bin/tpchgen-cli" ]; then
  echo "== installing duckdb (+ delta), deltalake, pyarrow, pyspark, moto and tpchgen-cli into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "duckdb==1.5.5" "duckdb-extension-delta==1.5.5" \
    "deltalake>=1.1" "pyarrow>=18" "pyspark>=4" "tpchgen-cli>=2" "moto[server]>=5"
fi
export SLUICE_TEST_PYTHON="$VENV/bin/python"

S3_DIR="$(mktemp -d)"
BUCKET=sluice-test
mkdir -p "$S3_DIR/$BUCKET"
PORT="$("$SLUICE_TEST_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$S3S" --host 127.0.0.1 --port "$PORT" --access-key sluice-test --secret-key sluice-test-secret "$S3_DIR" \
  >"$S3_DIR.log" 2>&1 &
S3_PID=$!
# moto plays the AWS Glue Data Catalog API (catalog sync --glue) on its own port.
GLUE_PORT="$("$SLUICE_TEST_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$GLUE_PORT" >"$S3_DIR.moto.log" 2>&1 &
GLUE_PID=$!
cleanup() {
  kill "$S3_PID" "$GLUE_PID" 2>/dev/null || true
  wait "$S3_PID" "$GLUE_PID" 2>/dev/null || true
  rm -rf "$S3_DIR" "$S3_DIR.log" "$S3_DIR.moto.log"
}
trap cleanup EXIT
for port in "$PORT" "$GLUE_PORT"; do
  for _ in $(seq 1 100); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
done
export SLUICE_TEST_GLUE_ENDPOINT="http://127.0.0.1:$GLUE_PORT"

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=sluice-test
export AWS_SECRET_ACCESS_KEY=sluice-test-secret
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true
export SLUICE_TEST_S3_BUCKET="$BUCKET"
export SLUICE_TEST_S3_DIR="$S3_DIR"

echo "== cargo test (S3 server pid $S3_PID on 127.0.0.1:$PORT, Glue pid $GLUE_PID on 127.0.0.1:$GLUE_PORT)"
LOG="$(mktemp)"
status=0
cargo test --workspace "$@" 2>&1 | tee "$LOG" || status=$?
# cargo prints one result line per test binary, the last often for an empty doc-test run; close
# with the totals over all of them.
passed=$(grep -Eo "test result: [a-zA-Z]+\. [0-9]+ passed" "$LOG" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo "[0-9]+ failed;" "$LOG" | awk '{s += $1} END {print s + 0}')
rm -f "$LOG"
if [ "$status" -ne 0 ]; then
  echo "== last lines of the S3 server log"
  grep -E -A3 "ERROR|WARN" "$S3_DIR.log" | grep -v "^ *at " | tail -24 || true
fi
echo "tests: $passed passed, $failed failed"
exit "$status"
