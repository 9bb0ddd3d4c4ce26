#!/usr/bin/env bash
# The end-to-end benchmark in one command: sluice against DuckDB, Polars and datafusion-cli on TPC-H
# data (workloads 1-8 of the performance issue; benches/e2e/README.md describes them).
#
#   benches/e2e/harness.sh                                   # SF1, 3 runs, every workload and engine
#   benches/e2e/harness.sh --sf 0.1 --runs 1 --workloads 1,4 --engines sluice,duckdb --json out.json
#
# Installs once into $SLUICE_CACHE (default ~/.cache/sluice): a Python venv with duckdb, polars,
# pyarrow and tpchgen-cli, and datafusion-cli 55.2.0 (cargo install, a long build). Builds sluice
# (release) unless --no-build; SLUICE_BIN and DATAFUSION_CLI point at other binaries.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
export SLUICE_CACHE="$CACHE"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
VENV="$CACHE/venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
{ "$VENV/bin/python" -c "import duckdb, polars, pyarrow" 2>/dev/null && [ -x "$VENV/bin/tpchgen-cli" ]; } \
  || "$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb polars pyarrow tpchgen-cli
command -v /usr/bin/time >/dev/null || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
exec "$VENV/bin/python" benches/e2e/harness.py "$@"
