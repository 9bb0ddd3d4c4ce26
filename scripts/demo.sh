#!/usr/bin/env bash
# The sample job on the shipped lake: convert raw CSV and NDJSON into Hive-partitioned Parquet, then
# report revenue per region and day from the Parquet copy. Output goes to ./demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
if mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
fi
cargo build --quiet --bin sluice
SLUICE="${CARGO_TARGET_DIR:-target}/debug/sluice"

"$SLUICE" convert testdata/lake/orders/ demo-output/orders --partition-by order_date
"$SLUICE" convert testdata/lake/customers/ demo-output/customers --partition-by region
"$SLUICE" sql --format table "
  SELECT coalesce(c.region, '(none)') AS region, o.order_date,
         count(*) AS orders, round(sum(o.amount), 2) AS revenue
  FROM 'demo-output/orders/' o JOIN 'demo-output/customers/' c ON o.customer_id = c.id
  WHERE o.status <> 'cancelled'
  GROUP BY 1, 2 ORDER BY 1, 2"
