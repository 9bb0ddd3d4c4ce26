#!/usr/bin/env bash
# The sample nightly job on the shipped lake (jobs/examples/daily_revenue.toml): raw CSV orders joined
# with NDJSON customers and a CSV regions dimension, checked by quality rules, written as
# Hive-partitioned Parquet to ./demo-output/ and registered in ./demo-output/catalog.db; then the
# revenue table is queried through the catalog. Run it again: the bookmark finds no new orders.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
if mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
fi
cargo build --quiet --bin sluice
SLUICE="${CARGO_TARGET_DIR:-target}/debug/sluice"
export SLUICE_CATALOG=demo-output/catalog.db
mkdir -p demo-output

"$SLUICE" run jobs/examples/daily_revenue.toml --format table
"$SLUICE" sql --format table "
  SELECT order_date, region_name, orders, revenue
  FROM curated.daily_revenue ORDER BY order_date, revenue DESC"
"$SLUICE" runs daily_revenue --limit 5 --format table
echo >&2
echo "This used a debug build: $SLUICE (slow on real data)." >&2
echo "scripts/install.sh puts a release sluice on your PATH (~/.local/bin) for the README's tour." >&2
