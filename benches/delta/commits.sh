#!/usr/bin/env bash
# Reading a Delta table after many commits: a count over a destination with 1 commit, then after
# N small appends (checkpoints every 100 versions keep the log replay short), against the same data
# files committed in one version (so only the log differs), then a write into each.
#
#   benches/delta/commits.sh [N]    # default N = 1000; needs: cargo build --release --bin sluice
#
# Prints the median of 5 runs of each query, in milliseconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
SLUICE="$CARGO_TARGET_DIR/release/sluice"
[ -x "$SLUICE" ] || { echo "build first: cargo build --release --bin sluice" >&2; exit 2; }
N="${1:-1000}"
WORK="${KEEP_WORK:-$(mktemp -d)}"
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$WORK"' EXIT
printf 'id,day,amount\n1,2026-11-01,10.5\n2,2026-11-02,20.25\n' > "$WORK/in.csv"

median_ms() { # command...: median wall time of 5 runs
  local times=()
  for _ in 1 2 3 4 5; do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

count() { "$SLUICE" -q sql --format csv "SELECT count(*) FROM '$1'"; }
append() { "$SLUICE" -q convert "$WORK/in.csv" "$1" --partition-by day --mode append >/dev/null; }

append "$WORK/one"
echo "count, 1 commit:            $(median_ms count "$WORK/one") ms"
append "$WORK/many"
for _ in $(seq 2 "$N"); do append "$WORK/many"; done
echo "count, $N commits:        $(median_ms count "$WORK/many") ms ($(ls "$WORK/many/_delta_log" | grep -c checkpoint) checkpoints)"
# The same files in one version: copied under names sluice does not own, so the first write to the
# folder carries them into version 0.
mkdir -p "$WORK/flat"
i=0
for f in $(cd "$WORK/many" && find . -name '*.parquet' -not -path './_delta_log/*'); do
  i=$((i + 1))
  mkdir -p "$WORK/flat/$(dirname "$f")"
  cp "$WORK/many/$f" "$WORK/flat/$(dirname "$f")/copy-$i.parquet"
done
append "$WORK/flat"
echo "count, same files, 1 commit: $(median_ms count "$WORK/flat") ms"
echo "append to 1 commit:         $(median_ms append "$WORK/one") ms"
echo "append to $N commits:     $(median_ms append "$WORK/many") ms"
[ "$(count "$WORK/many" | tail -1)" = "$(( 2 * (N + 5) ))" ] || { echo "wrong row count" >&2; exit 1; }
