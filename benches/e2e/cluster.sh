#!/usr/bin/env bash
# Two workloads run locally and on a Ballista cluster of 1 and 2 executors started on this machine
# from the same release binary: the join job (workload 4 of the end-to-end harness: TPC-H lineitem
# ⋈ orders ⋈ customer ⋈ nation, revenue by nation, year and priority, written partitioned by year)
# and a write-heavy convert (lineitem CSV to Parquet partitioned by returnflag and linestatus).
# Prints the median wall time of each setup and, for the convert, the CPU seconds of the client
# and of the executors (the client only plans and commits: the executors write).
#
#   benches/e2e/cluster.sh [--sf 1] [--runs 3] [--slots 2]
#
# Needs the SF data the harness generates ($SLUICE_CACHE/bench/sf<SF>; run harness.sh once).
set -euo pipefail
cd "$(dirname "$0")/../.."
SF=1
RUNS=3
SLOTS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --sf) SF="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --slots) SLOTS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
DATA="$CACHE/bench/sf$SF"
[ -d "$DATA/lineitem" ] || { echo "no TPC-H data in $DATA; run benches/e2e/harness.sh --sf $SF first" >&2; exit 2; }
cargo build --release --quiet -p sluice --bin sluice
BIN="$CARGO_TARGET_DIR/release/sluice"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# run_setup NAME [--cluster URL]: RUNS runs of the job, printing each wall time; then the median.
run_setup() {
  local name="$1"; shift
  local times=()
  for i in $(seq 1 "$RUNS"); do
    local start end
    start=$(date +%s.%N)
    "$BIN" -q --catalog "$WORK/runs.db" "$@" run benches/e2e/jobs/revenue_by_nation.toml \
      --param "data=$DATA" --param "out=$WORK/out-$name" >/dev/null
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
    echo "   $name: run $i: ${times[-1]} s"
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v n="$name" '{a[NR]=$1} END {printf "%-12s median %.2f s\n", n, a[int((NR+1)/2)]}' >>"$WORK/summary"
}

# CPU seconds (user + system) a running process has used.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# convert_setup NAME [--cluster URL]: RUNS converts, each with its wall time, the client's CPU
# (from the kernel's accounting of the finished child) and the executors' CPU (from /proc).
convert_setup() {
  local name="$1"; shift
  local times=()
  for i in $(seq 1 "$RUNS"); do
    local before=0 after=0 pid
    for pid in "${EXECUTORS[@]}"; do before=$(echo "$before + $(cpu_of "$pid")" | bc); done
    local out
    out=$(python3 - "$BIN" "$@" <<PY
import resource, subprocess, sys, time
start = time.time()
subprocess.run([sys.argv[1], "-q", *sys.argv[2:], "convert", "$DATA/lineitem/", "$WORK/li-$name/",
                "--partition-by", "l_returnflag,l_linestatus", "--mode", "overwrite"],
               check=True, stdout=subprocess.DEVNULL)
wall = time.time() - start
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.2f} {r.ru_utime + r.ru_stime:.2f}")
PY
)
    for pid in "${EXECUTORS[@]}"; do after=$(echo "$after + $(cpu_of "$pid")" | bc); done
    local wall client executors share
    read -r wall client <<<"$out"
    executors=$(echo "$after - $before" | bc)
    share=$(echo "scale=1; 100 * $client / ($client + $executors)" | bc)
    times+=("$wall")
    echo "   convert $name: run $i: ${wall} s wall, client ${client} s CPU, executors ${executors} s CPU (client ${share} %)"
    echo "convert $name run $i: ${wall} s, client ${client} s CPU, executors ${executors} s CPU, client share ${share} %" >>"$WORK/cpu"
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v n="convert $name" '{a[NR]=$1} END {printf "%-22s median %.2f s\n", n, a[int((NR+1)/2)]}' >>"$WORK/summary"
}

EXECUTORS=()
run_setup local
convert_setup local
SCHED=$(port)
"$BIN" -q scheduler --bind "127.0.0.1:$SCHED" >"$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
wait_port "$SCHED"
for n in 1 2; do
  FLIGHT=$(port); GRPC=$(port)
  "$BIN" -q executor --scheduler "df://127.0.0.1:$SCHED" --bind "127.0.0.1:$FLIGHT" --grpc-port "$GRPC" \
    --slots "$SLOTS" --work-dir "$WORK/executor-$n" >"$WORK/executor-$n.log" 2>&1 &
  PIDS+=($!)
  EXECUTORS+=($!)
  wait_port "$FLIGHT"
  sleep 2
  run_setup "executors=$n" --cluster "df://127.0.0.1:$SCHED"
  convert_setup "executors=$n" --cluster "df://127.0.0.1:$SCHED"
done
echo "== SF$SF, $RUNS runs, $SLOTS slots per executor, $(nproc) cores"
cat "$WORK/summary"
echo "== CPU of the converts"
cat "$WORK/cpu"
