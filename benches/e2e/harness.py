"""End-to-end benchmark harness: sluice against DuckDB, Polars and datafusion-cli on TPC-H data.

    benches/e2e/harness.sh [--sf 1] [--runs 3] [--workloads 1,2,3,4,5,6,7,8]
                           [--engines sluice,duckdb,polars,datafusion] [--json results.json]

(harness.sh sets up the Python venv and runs this file with it.) Data is generated once per scale
factor with tpchgen-cli under $SLUICE_CACHE/bench/sf<SF>/ (CSV; orders also as NDJSON, converted
by DuckDB), datafusion-cli is installed once under $SLUICE_CACHE/datafusion-cli/, and every command
runs under `/usr/bin/time -v` (peak RSS) with its wall time taken around it. Each engine's output is
checked against a reference DuckDB computes from the generated CSV: row count, a key checksum and
the number of partition values for the writes; the whole result set (floats to 1e-9 relative) for
the aggregation and the queries. See benches/e2e/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("SLUICE_CACHE", str(Path.home() / ".cache" / "sluice")))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", str(CACHE / "target")))
DF_VERSION = "55.2.0"
DF_ROOT = CACHE / "datafusion-cli"
DF_BIN = DF_ROOT / "bin" / "datafusion-cli"
PY = sys.executable
ENGINES = ["sluice", "duckdb", "polars", "datafusion"]
LABELS = {"datafusion": "datafusion-cli"}
MEMORY_LIMIT_GIB = 2
STARTUP_TARGET_S = 0.050
RECRAWL_TARGET_S = 1.0
TABLES = ["lineitem", "orders", "customer", "nation"]
# Bump when the reference queries change: references are cached next to the data.
REFERENCE_VERSION = 1

# ---------------------------------------------------------------------------------------------
# Queries shared by the engines that take SQL (and by the reference)
# ---------------------------------------------------------------------------------------------

W4_SQL = """
SELECT nation, year, priority, count(*) AS lines, sum(revenue) AS revenue
FROM (
  SELECT n.n_name AS nation,
         o.o_orderpriority AS priority,
         CAST(date_part('year', o.o_orderdate) AS INT) AS year,
         l.l_extendedprice * (1 - l.l_discount) AS revenue
  FROM {lineitem} l
  JOIN {orders} o ON l.l_orderkey = o.o_orderkey
  JOIN {customer} c ON o.o_custkey = c.c_custkey
  JOIN {nation} n ON c.c_nationkey = n.n_nationkey
) enriched
GROUP BY nation, year, priority
"""

Q1_SQL = """
SELECT l_returnflag, l_linestatus,
       sum(l_quantity) AS sum_qty,
       sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
       avg(l_quantity) AS avg_qty,
       avg(l_extendedprice) AS avg_price,
       avg(l_discount) AS avg_disc,
       count(*) AS count_order
FROM {t}
WHERE l_shipdate <= DATE '1998-09-02'
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus
"""

Q6_SQL = """
SELECT sum(l_extendedprice * l_discount) AS revenue
FROM {t}
WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
  AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24
"""

# Write workloads: what the check reads back from each output with DuckDB (hive_partitioning on).
# The key checksum and the count of distinct partition values come out identical for a correct write.
WRITE_CHECKS = {
    "w1": ("lineitem", "sum(l_orderkey)", "count(DISTINCT (l_returnflag, l_linestatus))"),
    "w2": ("lineitem", "sum(l_orderkey)", "count(DISTINCT ship_ym)"),
    "w3": ("lineitem", "sum(l_orderkey)", "count(DISTINCT l_shipdate)"),
    "w5": ("orders", "sum(o_orderkey)", "count(DISTINCT o_orderpriority)"),
}
WRITE_CHECK_REFERENCE_EXPR = {
    "w1": "count(DISTINCT (l_returnflag, l_linestatus))",
    "w2": "count(DISTINCT strftime(l_shipdate, '%Y-%m'))",
    "w3": "count(DISTINCT l_shipdate)",
    "w5": "count(DISTINCT o_orderpriority)",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sf_label(sf: str) -> str:
    value = float(sf)
    if value <= 0:
        raise SystemExit("--sf must be positive")
    return f"{value:g}"


# ---------------------------------------------------------------------------------------------
# Setup: sluice build, datafusion-cli install, data
# ---------------------------------------------------------------------------------------------


def sluice_binary(no_build: bool) -> Path:
    explicit = os.environ.get("SLUICE_BIN")
    if explicit:
        return Path(explicit)
    if not no_build:
        log("== cargo build --release -p sluice --bin sluice")
        env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "-p", "sluice", "--bin", "sluice"],
            cwd=REPO,
            env=env,
            check=True,
        )
    binary = TARGET / "release" / "sluice"
    if not binary.exists():
        raise SystemExit(f"no sluice binary at {binary}: build it or set SLUICE_BIN")
    return binary


def ensure_datafusion_cli() -> Path | None:
    explicit = os.environ.get("DATAFUSION_CLI")
    if explicit:
        return Path(explicit)
    if DF_BIN.exists():
        return DF_BIN
    log(
        f"== installing datafusion-cli {DF_VERSION} into {DF_ROOT} (once; a long build on 2 cores, "
        "log in datafusion-cli-install.log)"
    )
    env = dict(os.environ, CARGO_TARGET_DIR=str(CACHE / "datafusion-cli-target"))
    started = time.monotonic()
    with open(CACHE / "datafusion-cli-install.log", "a") as out:
        rc = subprocess.run(
            ["nice", "-n", "19", "cargo", "install", "datafusion-cli", "--version", DF_VERSION,
             "--locked", "--root", str(DF_ROOT)],
            cwd=tempfile.gettempdir(),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    if rc != 0 or not DF_BIN.exists():
        log(f"!! datafusion-cli install failed (see {CACHE / 'datafusion-cli-install.log'}); leaving it out")
        return None
    log(f"   installed in {time.monotonic() - started:.0f} s")
    return DF_BIN


def generate_data(sf: str, parts: int) -> Path:
    data = CACHE / "bench" / f"sf{sf}"
    data.mkdir(parents=True, exist_ok=True)
    tpchgen = Path(PY).parent / "tpchgen-cli"
    missing = [t for t in TABLES if not any((data / t).glob("*.csv"))]
    if missing:
        log(f"== tpchgen-cli csv -s {sf} --tables={','.join(missing)} --parts={parts} -> {data}")
        tmp = data / ".generating"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(
            [str(tpchgen), "csv", "-s", sf, f"--tables={','.join(missing)}", f"--parts={parts}",
             f"--output-dir={tmp}", "--no-progress"],
            check=True,
        )
        for t in missing:
            generated = tmp / t
            if not generated.is_dir():  # a single file when tpchgen-cli made one part
                generated.mkdir()
                shutil.move(str(tmp / f"{t}.csv"), generated / f"{t}.csv")
            shutil.rmtree(data / t, ignore_errors=True)
            shutil.move(str(generated), data / t)
        shutil.rmtree(tmp, ignore_errors=True)
    ndjson = data / "orders_ndjson"
    if not (ndjson / ".done").exists():
        log(f"== orders as NDJSON (DuckDB COPY ... (FORMAT json)) -> {ndjson}")
        tmp = data / ".orders_ndjson"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        con = duckdb.connect()
        for src in sorted((data / "orders").glob("*.csv")):
            dst = tmp / (src.stem + ".json")
            con.execute(f"COPY (SELECT * FROM read_csv('{src}')) TO '{dst}' (FORMAT json)")
        (tmp / ".done").touch()
        shutil.rmtree(ndjson, ignore_errors=True)
        shutil.move(str(tmp), ndjson)
    return data


def reference(data: Path) -> dict:
    """What every engine's output must give, computed once by DuckDB from the CSV and cached."""
    path = data / f"reference-v{REFERENCE_VERSION}.json"
    if path.exists():
        return json.loads(path.read_text())
    log("== computing reference results from the CSV (DuckDB)")
    con = duckdb.connect()
    src = {t: f"read_csv('{data}/{t}/*.csv')" for t in TABLES}
    ref: dict = {}
    for w, (table, checksum, _) in WRITE_CHECKS.items():
        row = con.sql(
            f"SELECT count(*), {checksum}, {WRITE_CHECK_REFERENCE_EXPR[w]} FROM {src[table]}"
        ).fetchall()[0]
        ref[w] = [int(v) for v in row]
    ref["w4"] = normalize(con.sql(W4_SQL.format(**src)).fetchall())
    ref["w6-q1"] = normalize(con.sql(Q1_SQL.format(t=src["lineitem"])).fetchall())
    ref["w6-q6"] = normalize(con.sql(Q6_SQL.format(t=src["lineitem"])).fetchall())
    path.write_text(json.dumps(ref))
    return ref


# ---------------------------------------------------------------------------------------------
# Measuring one command
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    ok: bool
    wall: float
    rss_mib: float | None
    stdout: str
    error: str
    inproc: float | None = None


def measure(cmd: list[str], cwd: Path, timeout: float, env: dict | None = None) -> Run:
    timefile = cwd / ".time"
    inproc_file = cwd / ".inproc"
    inproc_file.unlink(missing_ok=True)
    full_env = dict(os.environ, BENCH_INPROC=str(inproc_file), **(env or {}))
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", "-o", str(timefile), *cmd],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        wall = time.perf_counter() - started
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Run(False, time.perf_counter() - started, None, out, f"timed out after {timeout:.0f} s")
    rss = None
    try:
        for line in timefile.read_text().splitlines():
            if "Maximum resident set size" in line:
                rss = int(line.rsplit(":", 1)[1]) / 1024
    except OSError:
        pass
    inproc = None
    if inproc_file.exists():
        inproc = json.loads(inproc_file.read_text())["seconds"]
    error = ""
    if proc.returncode != 0:
        lines = [l for l in err.splitlines() if l.strip()]
        hits = [l for l in lines if any(k in l.lower() for k in ("error", "exception", "failed", "panic"))]
        error = (hits or lines or [f"exit status {proc.returncode}"])[0][:400]
        error = f"exit {proc.returncode}: {error}"
    return Run(proc.returncode == 0, wall, rss, out, error, inproc)


def drop_output(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def warm(paths: list[Path]) -> None:
    """Reads the inputs once so no engine pays for a cold page cache the others do not."""
    for p in paths:
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                with open(f, "rb") as fh:
                    while fh.read(1 << 22):
                        pass


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def parse_value(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if v is None:
        return None
    s = str(v)
    try:
        return float(s)
    except ValueError:
        return s


def normalize(rows) -> list:
    out = [[parse_value(v) for v in r] for r in rows]
    out.sort(key=lambda r: [(0, x) if isinstance(x, str) else (1, x if x is not None else -math.inf) for x in r])
    return out


def parse_csv(text: str) -> list:
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    return normalize(rows[1:])  # without the header line


def same_rows(expected: list, actual: list) -> str | None:
    """None when equal (numbers to 1e-9 relative); otherwise what differs."""
    if len(expected) != len(actual):
        return f"{len(actual)} rows, expected {len(expected)}"
    for i, (e, a) in enumerate(zip(expected, actual)):
        if len(e) != len(a):
            return f"row {i}: {len(a)} columns, expected {len(e)}"
        for x, y in zip(e, a):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
                    return f"row {i}: {a}, expected {e}"
            elif x != y:
                return f"row {i}: {a}, expected {e}"
    return None


def parquet_glob(out: Path) -> str:
    return f"read_parquet('{out}/**/*.parquet', hive_partitioning=true, union_by_name=true)"


def count_partitions(out: Path) -> int:
    return len({p.parent for p in out.rglob("*.parquet")})


def check_write(workload: str, out: Path, ref: dict) -> tuple[str, str]:
    """(rows shown, mismatch or '') for a partitioned write."""
    table, checksum, distinct = WRITE_CHECKS[workload]
    try:
        got = duckdb.sql(f"SELECT count(*), {checksum}, {distinct} FROM {parquet_glob(out)}").fetchall()[0]
    except duckdb.Error as e:
        return "-", f"output unreadable: {str(e).splitlines()[0][:200]}"
    got = [int(v) if v is not None else None for v in got]
    want = ref[workload]
    rows = f"{got[0]:,}"
    if got != want:
        return rows, f"rows/checksum/partition values {got}, expected {want}"
    return rows, ""


def check_w4(out: Path, ref: dict) -> tuple[str, str]:
    try:
        got = duckdb.sql(
            f"SELECT nation, CAST(year AS INT), priority, lines, revenue FROM {parquet_glob(out)}"
        ).fetchall()
    except duckdb.Error as e:
        return "-", f"output unreadable: {str(e).splitlines()[0][:200]}"
    diff = same_rows(ref["w4"], normalize(got))
    return f"{len(got):,}", diff or ""


def check_query(key: str, stdout: str, ref: dict) -> tuple[str, str]:
    try:
        got = parse_csv(stdout)
    except csv.Error as e:
        return "-", f"unparseable output: {e}"
    diff = same_rows(ref[key], got)
    return f"{len(got):,}", diff or ""


# ---------------------------------------------------------------------------------------------
# Engine commands
# ---------------------------------------------------------------------------------------------


def py_snippet(body: str, imports: str) -> list[str]:
    """A Python engine run: imports (not timed in-process), then `body`, whose time is written to
    $BENCH_INPROC so the table can show it apart from interpreter start-up."""
    code = (
        f"import json, os, sys, time, datetime\n{imports}\n"
        "_t0 = time.perf_counter()\n"
        f"{body}\n"
        "json.dump({'seconds': time.perf_counter() - _t0}, open(os.environ['BENCH_INPROC'], 'w'))\n"
    )
    return [PY, "-c", code]


def duckdb_cmd(statements: list[str], query: str | None = None) -> list[str]:
    body = "con = duckdb.connect()\n"
    for s in statements:
        body += f"con.execute({s!r})\n"
    if query is not None:
        body += (
            f"rel = con.sql({query!r})\n"
            "import csv as _csv\n"
            "_w = _csv.writer(sys.stdout)\n_w.writerow(rel.columns)\n_w.writerows(rel.fetchall())\n"
        )
    return py_snippet(body, "import duckdb")


def polars_cmd(body: str) -> list[str]:
    return py_snippet(body, "import polars as pl")


def datafusion_cmd(df_bin: Path, statements: list[str], memory_limit: str | None = None) -> list[str]:
    cmd = [str(df_bin), "-q", "--format", "csv"]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    for s in statements:
        cmd += ["-c", s]
    return cmd


def df_csv_table(name: str, folder: Path) -> str:
    return (
        f"CREATE EXTERNAL TABLE {name} STORED AS CSV LOCATION '{folder}/' "
        "OPTIONS ('format.has_header' 'true')"
    )


@dataclass
class Ctx:
    sluice: Path
    df_bin: Path | None
    data: Path
    work: Path
    catalog: Path  # for sluice run records


def sluice_base(ctx: Ctx, memory_limit: str | None = None) -> list[str]:
    cmd = [str(ctx.sluice), "-q", "--catalog", str(ctx.catalog)]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    return cmd


def partitioned_copy(ctx: Ctx, engine: str, out: Path, src: str, keys: list[str], memory_limit: bool = False,
                     derived: dict[str, str] | None = None) -> list[str]:
    """lineitem/orders to Parquet partitioned by `keys`; `derived` adds a column, per engine:
    `datafusion` and `duckdb` a SQL select item, `polars` a method call on the LazyFrame."""
    derived = derived or {}
    data = ctx.data
    gib = MEMORY_LIMIT_GIB
    folder = data / src
    ext = "json" if src.endswith("ndjson") else "csv"
    if engine == "duckdb":
        reader = (
            f"read_json('{folder}/*.json', format='newline_delimited')" if ext == "json"
            else f"read_csv('{folder}/*.csv')"
        )
        pre = [f"SET memory_limit='{gib}GiB'"] if memory_limit else []
        return duckdb_cmd(pre + [
            f"COPY (SELECT *{derived.get('duckdb', '')} FROM {reader}) TO '{out}' "
            f"(FORMAT parquet, PARTITION_BY ({', '.join(keys)}), COMPRESSION zstd)"
        ])
    if engine == "polars":
        scan = (
            f"pl.scan_ndjson('{folder}/*.json')" if ext == "json"
            else f"pl.scan_csv('{folder}/*.csv', try_parse_dates=True)"
        )
        return polars_cmd(
            f"lf = {scan}{derived.get('polars', '')}\n"
            f"lf.sink_parquet(pl.PartitionBy({str(out)!r}, key={keys!r}, include_key=False), mkdir=True)"
        )
    if engine == "datafusion":
        create = (
            f"CREATE EXTERNAL TABLE src STORED AS JSON LOCATION '{folder}/'" if ext == "json"
            else df_csv_table("src", folder)
        )
        return datafusion_cmd(ctx.df_bin, [
            create,
            f"COPY (SELECT *{derived.get('datafusion', '')} FROM src) TO '{out}/' STORED AS PARQUET "
            f"PARTITIONED BY ({', '.join(keys)})",
        ], f"{gib}g" if memory_limit else None)
    raise ValueError(engine)


# ---------------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    engine: str
    label: str = ""
    status: str = "ok"
    walls: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    inproc: list[float] = field(default_factory=list)
    rows: str = "-"
    partitions: str = "-"
    error: str = ""
    command: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or LABELS.get(self.engine, self.engine)

    @property
    def median(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None

    @property
    def peak_rss(self) -> float | None:
        return max(self.rss) if self.rss else None

    @property
    def good(self) -> bool:
        return self.status == "ok"


@dataclass
class Workload:
    key: str
    number: int
    title: str
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    target: str = ""


def shell_quote(cmd: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(c) for c in cmd)


def repeat(ctx: Ctx, engine: str, cmd: list[str], runs: int, timeout: float, out: Path | None,
           check: Callable[[Run, Path | None], tuple[str, str]], label: str = "",
           keep_last: Path | None = None) -> Result:
    # Python engines: the command is the snippet the interpreter runs.
    command = cmd[-1] if engine in ("duckdb", "polars") else shell_quote(cmd)
    res = Result(engine=engine, label=label, command=command)
    for i in range(runs):
        if out is not None:
            drop_output(out)
        run = measure(cmd, ctx.work, timeout)
        if not run.ok:
            res.status = "FAILED"
            res.error = run.error
            res.walls.append(run.wall)
            if run.rss_mib is not None:
                res.rss.append(run.rss_mib)
            log(f"   {res.label}: run {i + 1} FAILED ({run.wall:.2f} s): {run.error}")
            break
        res.walls.append(run.wall)
        if run.rss_mib is not None:
            res.rss.append(run.rss_mib)
        if run.inproc is not None:
            res.inproc.append(run.inproc)
        rows, mismatch = check(run, out)
        res.rows = rows
        if out is not None:
            res.partitions = f"{count_partitions(out):,}"
        log(f"   {res.label}: run {i + 1}: {run.wall:.3f} s, {run.rss_mib or 0:.0f} MiB, rows {rows}"
            + (f"  WRONG: {mismatch}" if mismatch else ""))
        if mismatch:
            res.status = "WRONG"
            res.error = mismatch
            log(f"!! {res.label}: OUTPUT MISMATCH: {mismatch}")
            break
    if out is not None:
        if keep_last is not None and res.good and out.exists() and not keep_last.exists():
            keep_last.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(out), keep_last)
        drop_output(out)
    return res


def target_line(w: Workload) -> None:
    by = {r.engine: r for r in w.results}
    s = by.get("sluice")
    if s is None:
        return
    if not s.good:
        w.target = f"sluice target: **not met** (sluice {s.status})"
        return
    fastest_df = [by[e] for e in ("duckdb", "polars") if e in by and by[e].good]
    parts = []
    met = True
    if fastest_df:
        best = min(fastest_df, key=lambda r: r.median)
        ok = s.median <= best.median
        met &= ok
        parts.append(f"{'≤' if ok else '>'} fastest of DuckDB/Polars ({best.engine}, {fmt_time(best.median)})")
    if "datafusion" in by and by["datafusion"].good:
        ok = s.median <= by["datafusion"].median
        met &= ok
        parts.append(f"{'≤' if ok else '>'} datafusion-cli ({fmt_time(by['datafusion'].median)})")
    excluded = [r.engine for r in w.results if r.engine != "sluice" and not r.good]
    text = f"sluice target: **{'met' if met else 'not met'}**: {fmt_time(s.median)} " + ", ".join(parts)
    if not parts:
        text = f"sluice target: no peer finished correctly to compare with ({fmt_time(s.median)})"
    if excluded:
        text += f" ({', '.join(excluded)} left out: failed or wrong)"
    w.target = text


def run_write(ctx: Ctx, key: str, number: int, title: str, engines: list[str], runs: int,
              timeout: float, ref: dict, cmds: dict[str, list[str]], inputs: list[Path],
              keep: dict[str, Path] | None = None, checked_as: str | None = None) -> Workload:
    w = Workload(key, number, title)
    log(f"== workload {number}: {title}")
    warm(inputs)
    check_key = checked_as or key
    for engine in engines:
        if engine not in cmds:
            continue
        out = ctx.work / f"{key}-{engine}"
        checker = (
            (lambda run, o: check_w4(o, ref)) if check_key == "w4"
            else (lambda run, o: check_write(check_key, o, ref))
        )
        w.results.append(repeat(ctx, engine, cmds[engine], runs, timeout, out, checker,
                                keep_last=(keep or {}).get(engine)))
    target_line(w)
    return w


def workload_1(ctx, engines, runs, timeout, ref):
    keys = ["l_returnflag", "l_linestatus"]
    cmds = {}
    for e in engines:
        out = ctx.work / f"w1-{e}"
        if e == "sluice":
            cmds[e] = sluice_base(ctx) + ["convert", f"{ctx.data}/lineitem/", str(out),
                                          "--partition-by", ",".join(keys)]
        elif e != "datafusion" or ctx.df_bin:
            cmds[e] = partitioned_copy(ctx, e, out, "lineitem", keys)
    return run_write(ctx, "w1", 1, "lineitem CSV → Parquet partitioned by (l_returnflag, l_linestatus)",
                     engines, runs, timeout, ref, cmds, [ctx.data / "lineitem"])


def workload_2(ctx, engines, runs, timeout, ref):
    cmds = {}
    for e in engines:
        out = ctx.work / f"w2-{e}"
        if e == "sluice":
            cmds[e] = sluice_base(ctx) + ["run", str(HERE / "jobs" / "lineitem_by_month.toml"),
                                          "--param", f"data={ctx.data}", "--param", f"out={out}"]
        elif e != "datafusion" or ctx.df_bin:
            cmds[e] = partitioned_copy(
                ctx, e, out, "lineitem", ["ship_ym"],
                derived={
                    "datafusion": ", to_char(l_shipdate, '%Y-%m') AS ship_ym",
                    "duckdb": ", strftime(l_shipdate, '%Y-%m') AS ship_ym",
                    "polars": ".with_columns(pl.col('l_shipdate').dt.strftime('%Y-%m').alias('ship_ym'))",
                },
            )
    # sluice's output is kept for workload 6 (which crawls it).
    return run_write(ctx, "w2", 2, "lineitem CSV → Parquet partitioned by year-month of l_shipdate (job)",
                     engines, runs, timeout, ref, cmds, [ctx.data / "lineitem"],
                     keep={"sluice": w6_lake(ctx)})


def workload_3(ctx, engines, runs, timeout, ref):
    cmds = {}
    for e in engines:
        out = ctx.work / f"w3-{e}"
        if e == "sluice":
            cmds[e] = sluice_base(ctx, f"{MEMORY_LIMIT_GIB}GiB") + [
                "convert", f"{ctx.data}/lineitem/", str(out), "--partition-by", "l_shipdate"]
        elif e != "datafusion" or ctx.df_bin:
            cmds[e] = partitioned_copy(ctx, e, out, "lineitem", ["l_shipdate"], memory_limit=True)
    w = run_write(ctx, "w3", 3,
                  f"lineitem CSV → Parquet partitioned by l_shipdate, {MEMORY_LIMIT_GIB} GiB memory limit",
                  engines, runs, timeout, ref, cmds, [ctx.data / "lineitem"])
    if "polars" in engines:
        w.notes.append("Polars has no memory limit setting: it runs unconstrained.")
    return w


# The declared-schema variant (#19): the same writes as workloads 1 and 2, with lineitem declared
# the way many users write it (explicit DECIMAL/DATE columns) and zstd level 3 asked for
# explicitly; sluice and datafusion-cli through `CREATE EXTERNAL TABLE` and `COPY ... OPTIONS`.
LINEITEM_DECLARED = [
    ("l_orderkey", "BIGINT", "pl.Int64"), ("l_partkey", "BIGINT", "pl.Int64"),
    ("l_suppkey", "BIGINT", "pl.Int64"), ("l_linenumber", "INT", "pl.Int32"),
    ("l_quantity", "DECIMAL(15,2)", "pl.Decimal(15, 2)"),
    ("l_extendedprice", "DECIMAL(15,2)", "pl.Decimal(15, 2)"),
    ("l_discount", "DECIMAL(15,2)", "pl.Decimal(15, 2)"), ("l_tax", "DECIMAL(15,2)", "pl.Decimal(15, 2)"),
    ("l_returnflag", "VARCHAR", "pl.String"), ("l_linestatus", "VARCHAR", "pl.String"),
    ("l_shipdate", "DATE", "pl.Date"), ("l_commitdate", "DATE", "pl.Date"),
    ("l_receiptdate", "DATE", "pl.Date"), ("l_shipinstruct", "VARCHAR", "pl.String"),
    ("l_shipmode", "VARCHAR", "pl.String"), ("l_comment", "VARCHAR", "pl.String"),
]


def declared_copy(ctx: Ctx, engine: str, out: Path, keys: list[str], derived: dict[str, str]) -> list[str]:
    folder = ctx.data / "lineitem"
    if engine in ("sluice", "datafusion"):
        columns = ", ".join(f"{c} {t}" for c, t, _ in LINEITEM_DECLARED)
        statements = [
            f"CREATE EXTERNAL TABLE lineitem ({columns}) STORED AS CSV LOCATION '{folder}/' "
            "OPTIONS ('format.has_header' 'true')",
            f"COPY (SELECT *{derived.get('datafusion', '')} FROM lineitem) TO '{out}/' STORED AS PARQUET "
            f"PARTITIONED BY ({', '.join(keys)}) OPTIONS ('format.compression' 'zstd(3)')",
        ]
        if engine == "sluice":
            return sluice_base(ctx) + ["sql", ";\n".join(statements)]
        return datafusion_cmd(ctx.df_bin, statements)
    if engine == "duckdb":
        columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t, _ in LINEITEM_DECLARED) + "}"
        reader = f"read_csv('{folder}/*.csv', header=true, columns={columns})"
        return duckdb_cmd([
            f"COPY (SELECT *{derived.get('duckdb', '')} FROM {reader}) TO '{out}' "
            f"(FORMAT parquet, PARTITION_BY ({', '.join(keys)}), COMPRESSION zstd, COMPRESSION_LEVEL 3)"
        ])
    if engine == "polars":
        schema = "{" + ", ".join(f"{c!r}: {p}" for c, _, p in LINEITEM_DECLARED) + "}"
        return polars_cmd(
            f"lf = pl.scan_csv('{folder}/*.csv', schema={schema}){derived.get('polars', '')}\n"
            f"lf.sink_parquet(pl.PartitionBy({str(out)!r}, key={keys!r}, include_key=False), "
            "compression='zstd', compression_level=3, mkdir=True)"
        )
    raise ValueError(engine)


def workload_9(ctx, engines, runs, timeout, ref):
    keys = ["l_returnflag", "l_linestatus"]
    cmds = {e: declared_copy(ctx, e, ctx.work / f"w9-{e}", keys, {})
            for e in engines if e != "datafusion" or ctx.df_bin}
    return run_write(ctx, "w9", 9, "workload 1 declared: lineitem with explicit types → Parquet (zstd 3) by "
                     "(l_returnflag, l_linestatus)", engines, runs, timeout, ref, cmds,
                     [ctx.data / "lineitem"], checked_as="w1")


def workload_10(ctx, engines, runs, timeout, ref):
    derived = {
        "datafusion": ", to_char(l_shipdate, '%Y-%m') AS ship_ym",
        "duckdb": ", strftime(l_shipdate, '%Y-%m') AS ship_ym",
        "polars": ".with_columns(pl.col('l_shipdate').dt.strftime('%Y-%m').alias('ship_ym'))",
    }
    cmds = {e: declared_copy(ctx, e, ctx.work / f"w10-{e}", ["ship_ym"], derived)
            for e in engines if e != "datafusion" or ctx.df_bin}
    return run_write(ctx, "w10", 10, "workload 2 declared: lineitem with explicit types → Parquet (zstd 3) by "
                     "ship year-month (COPY)", engines, runs, timeout, ref, cmds,
                     [ctx.data / "lineitem"], checked_as="w2")


def workload_4(ctx, engines, runs, timeout, ref):
    cmds = {}
    d = ctx.data
    for e in engines:
        out = ctx.work / f"w4-{e}"
        if e == "sluice":
            cmds[e] = sluice_base(ctx) + ["run", str(HERE / "jobs" / "revenue_by_nation.toml"),
                                          "--param", f"data={d}", "--param", f"out={out}"]
        elif e == "duckdb":
            sql = W4_SQL.format(**{t: f"read_csv('{d}/{t}/*.csv')" for t in TABLES})
            cmds[e] = duckdb_cmd([f"COPY ({sql}) TO '{out}' (FORMAT parquet, PARTITION_BY (year), COMPRESSION zstd)"])
        elif e == "polars":
            cmds[e] = polars_cmd(
                "scan = lambda t: pl.scan_csv(f'" + str(d) + "/{t}/*.csv', try_parse_dates=True)\n"
                "q = (scan('lineitem')\n"
                "     .join(scan('orders'), left_on='l_orderkey', right_on='o_orderkey')\n"
                "     .join(scan('customer'), left_on='o_custkey', right_on='c_custkey')\n"
                "     .join(scan('nation'), left_on='c_nationkey', right_on='n_nationkey')\n"
                "     .select(pl.col('n_name').alias('nation'),\n"
                "             pl.col('o_orderdate').dt.year().cast(pl.Int32).alias('year'),\n"
                "             pl.col('o_orderpriority').alias('priority'),\n"
                "             (pl.col('l_extendedprice') * (1 - pl.col('l_discount'))).alias('revenue'))\n"
                "     .group_by('nation', 'year', 'priority')\n"
                "     .agg(pl.len().alias('lines'), pl.col('revenue').sum()))\n"
                f"q.sink_parquet(pl.PartitionBy({str(out)!r}, key='year', include_key=False), mkdir=True)"
            )
        elif e == "datafusion" and ctx.df_bin:
            sql = W4_SQL.format(**{t: t for t in TABLES})
            cmds[e] = datafusion_cmd(ctx.df_bin, [df_csv_table(t, d / t) for t in TABLES] + [
                f"COPY ({sql}) TO '{out}/' STORED AS PARQUET PARTITIONED BY (year)"])
    return run_write(ctx, "w4", 4,
                     "lineitem ⋈ orders ⋈ customer ⋈ nation: revenue by nation, year, priority, partitioned by year",
                     engines, runs, timeout, ref, cmds, [d / t for t in TABLES])


def workload_5(ctx, engines, runs, timeout, ref):
    cmds = {}
    for e in engines:
        out = ctx.work / f"w5-{e}"
        if e == "sluice":
            cmds[e] = sluice_base(ctx) + ["convert", f"{ctx.data}/orders_ndjson/", str(out),
                                          "--partition-by", "o_orderpriority"]
        elif e != "datafusion" or ctx.df_bin:
            cmds[e] = partitioned_copy(ctx, e, out, "orders_ndjson", ["o_orderpriority"])
    return run_write(ctx, "w5", 5, "orders NDJSON → Parquet partitioned by o_orderpriority",
                     engines, runs, timeout, ref, cmds, [ctx.data / "orders_ndjson"])


def w6_lake(ctx: Ctx) -> Path:
    return ctx.work / "w6" / "lineitem"


POLARS_Q1 = """lf = pl.scan_parquet({glob!r}, hive_partitioning=True)
ep = pl.col('l_extendedprice')
disc = ep * (1 - pl.col('l_discount'))
df = (lf.filter(pl.col('l_shipdate') <= datetime.date(1998, 9, 2))
        .group_by('l_returnflag', 'l_linestatus')
        .agg(pl.col('l_quantity').sum().alias('sum_qty'), ep.sum().alias('sum_base_price'),
             disc.sum().alias('sum_disc_price'), (disc * (1 + pl.col('l_tax'))).sum().alias('sum_charge'),
             pl.col('l_quantity').mean().alias('avg_qty'), ep.mean().alias('avg_price'),
             pl.col('l_discount').mean().alias('avg_disc'), pl.len().alias('count_order'))
        .sort('l_returnflag', 'l_linestatus').collect())
sys.stdout.write(df.write_csv())"""

POLARS_Q6 = """lf = pl.scan_parquet({glob!r}, hive_partitioning=True)
df = (lf.filter((pl.col('l_shipdate') >= datetime.date(1994, 1, 1))
                & (pl.col('l_shipdate') < datetime.date(1995, 1, 1))
                & pl.col('l_discount').is_between(0.05, 0.07) & (pl.col('l_quantity') < 24))
        .select((pl.col('l_extendedprice') * pl.col('l_discount')).sum().alias('revenue')).collect())
sys.stdout.write(df.write_csv())"""


def workload_6(ctx, engines, runs, timeout, ref) -> list[Workload]:
    lake = w6_lake(ctx)
    if not lake.exists():
        log("== workload 6: writing lineitem by month with sluice (workload 2's job, not timed)")
        r = measure(sluice_base(ctx) + ["run", str(HERE / "jobs" / "lineitem_by_month.toml"),
                                        "--param", f"data={ctx.data}", "--param", f"out={lake}"],
                    ctx.work, timeout)
        if not r.ok:
            w = Workload("w6", 6, "TPC-H Q1 and Q6 over workload 2's Parquet")
            w.notes.append(f"could not write the input with sluice: {r.error}")
            return [w]
    catalog = ctx.work / "w6" / "catalog.db"
    catalog.unlink(missing_ok=True)
    crawl = measure([str(ctx.sluice), "-q", "--catalog", str(catalog), "crawl", f"{lake}/", "--database", "tpch"],
                    ctx.work, timeout)
    crawl_note = (f"sluice reads the catalog table `tpch.lineitem`, crawled once before the runs "
                  f"(`sluice crawl`: {fmt_time(crawl.wall)}, {crawl.rss_mib or 0:.0f} MiB; not in the times); "
                  "the peers read the same Parquet files directly. Input: sluice's workload 2 output, "
                  f"{count_partitions(lake)} partitions.")
    glob = f"{lake}/**/*.parquet"
    out = []
    for key, name, sql, polars in (("w6-q1", "Q1", Q1_SQL, POLARS_Q1), ("w6-q6", "Q6", Q6_SQL, POLARS_Q6)):
        w = Workload(key, 6, f"TPC-H {name} over workload 2's Parquet (sluice through the catalog)")
        log(f"== workload 6: {name}")
        if not crawl.ok:
            w.notes.append(f"sluice crawl failed: {crawl.error}")
        w.notes.append(crawl_note)
        warm([lake])
        cmds = {}
        for e in engines:
            if e == "sluice" and crawl.ok:
                cmds[e] = [str(ctx.sluice), "-q", "--catalog", str(catalog), "--format", "csv", "sql",
                           sql.format(t="tpch.lineitem")]
            elif e == "duckdb":
                cmds[e] = duckdb_cmd([], sql.format(t=f"read_parquet('{glob}', hive_partitioning=true)"))
            elif e == "polars":
                cmds[e] = polars_cmd(polars.format(glob=glob))
            elif e == "datafusion" and ctx.df_bin:
                cmds[e] = datafusion_cmd(ctx.df_bin, [
                    f"CREATE EXTERNAL TABLE lineitem STORED AS PARQUET LOCATION '{lake}/'",
                    sql.format(t="lineitem")])
        if "sluice" in engines and not crawl.ok:
            w.results.append(Result("sluice", status="FAILED", error=f"sluice crawl: {crawl.error}"))
        for e in engines:
            if e in cmds:
                w.results.append(repeat(ctx, e, cmds[e], runs, timeout, None,
                                        lambda run, o, key=key: check_query(key, run.stdout, ref)))
        target_line(w)
        out.append(w)
    return out


def workload_7(ctx, engines, runs, timeout, ref) -> list[Workload]:
    w = Workload("w7", 7, "crawl of a 10,000-file lake (10 tables × 1,000 CSV files), then a re-crawl with nothing changed")
    if "sluice" not in engines:
        return []
    lake = CACHE / "bench" / "crawl10k-v2"  # the lake benches/crawl/run.sh uses
    if not (lake / ".done").exists():
        log(f"== generating {lake} (10 tables x 1,000 files)")
        subprocess.run([PY, str(REPO / "benches" / "crawl" / "gen_lake.py"), str(lake)], check=True)
    log(f"== workload 7: {w.title}")
    warm([lake])
    catalog = ctx.work / "w7.db"
    fresh = Result("sluice", label="sluice crawl (fresh catalog)")
    again = Result("sluice", label="sluice re-crawl (nothing changed)")
    crawl = [str(ctx.sluice), "-q", "--catalog", str(catalog), "crawl", f"{lake}/", "--database", "bench"]
    fresh.command = again.command = shell_quote(crawl)
    for i in range(runs):
        catalog.unlink(missing_ok=True)
        for res in (fresh, again):
            run = measure(crawl, ctx.work, timeout)
            res.walls.append(run.wall)
            if run.rss_mib is not None:
                res.rss.append(run.rss_mib)
            if not run.ok:
                res.status, res.error = "FAILED", run.error
            log(f"   {res.label}: run {i + 1}: {run.wall:.3f} s, {run.rss_mib or 0:.0f} MiB {res.status}")
        # What the crawl found: ten tables of 1,000 files and 10,000 rows each.
        tables = subprocess.run([str(ctx.sluice), "-q", "--catalog", str(catalog), "--format", "csv", "tables"],
                                capture_output=True, text=True, cwd=ctx.work)
        count = subprocess.run([str(ctx.sluice), "-q", "--catalog", str(catalog), "--format", "csv", "sql",
                                "SELECT count(*) FROM bench.table3"], capture_output=True, text=True, cwd=ctx.work)
        n_tables = len([l for l in tables.stdout.splitlines()[1:] if l.strip()])
        rows = count.stdout.strip().splitlines()[-1] if count.returncode == 0 and count.stdout.strip() else "?"
        for res in (fresh, again):
            res.rows = f"{n_tables} tables; table3: {rows} rows"
        if n_tables != 10 or rows != "10000":
            for res in (fresh, again):
                if res.good:
                    res.status, res.error = "WRONG", f"{n_tables} tables, table3 {rows} rows; expected 10 and 10000"
            log(f"!! crawl: OUTPUT MISMATCH: {fresh.error}")
    w.results = [fresh, again]
    ok = again.good and again.median < RECRAWL_TARGET_S
    w.target = (f"re-crawl target (< {RECRAWL_TARGET_S:g} s): **{'met' if ok else 'not met'}** "
                f"({fmt_time(again.median)}); sluice only, no peer has a crawler")
    return [w]


def workload_8(ctx, engines, runs, timeout, ref) -> list[Workload]:
    w = Workload("w8", 8, "start-up: `select 1`")
    runs = max(runs, 10)
    log(f"== workload 8: start-up ({runs} runs)")
    empty = ctx.work / "w8"
    empty.mkdir(exist_ok=True)
    cmds = {}
    if "sluice" in engines:
        cmds["sluice"] = [str(ctx.sluice), "-q", "--catalog", str(empty / "none.db"), "sql", "select 1"]
    if "datafusion" in engines and ctx.df_bin:
        cmds["datafusion"] = [str(ctx.df_bin), "-q", "--format", "csv", "-c", "select 1"]
    for e, cmd in cmds.items():
        measure(cmd, ctx.work, timeout)  # one warm-up: binaries in the page cache

        def check(run, _o):
            last = run.stdout.strip().splitlines()[-1:] or [""]
            return last[0], "" if last[0].strip() == "1" else f"printed {run.stdout.strip()[:80]!r}"

        w.results.append(repeat(ctx, e, cmd, runs, timeout, None, check))
    by = {r.engine: r for r in w.results}
    s = by.get("sluice")
    if s is not None and s.good:
        met = s.median < STARTUP_TARGET_S
        w.target = (f"start-up target (< {STARTUP_TARGET_S * 1000:.0f} ms): **{'met' if met else 'not met'}** "
                    f"({fmt_time(s.median)})")
        d = by.get("datafusion")
        if d is not None and d.good:
            w.target += f"; {'≤' if s.median <= d.median else '>'} datafusion-cli ({fmt_time(d.median)})"
    elif s is not None:
        w.target = f"start-up target: **not met** (sluice {s.status})"
    w.notes.append(f"{runs} runs each after one warm-up run; DuckDB and Polars are left out (their start-up "
                   "is Python's).")
    return [w]


CATALOG_SCALE_FILES = 60_000
CATALOG_SCALE_TARGET = 1.5  # a command against the big catalog, over start-up with an empty one


def workload_11(ctx, engines, runs, timeout, ref) -> list[Workload]:
    w = Workload("w11", 11, f"catalog scale: `select 1` and a one-partition query with a crawled catalog of "
                            f"{CATALOG_SCALE_FILES:,} partitions, against start-up with an empty catalog")
    if "sluice" not in engines:
        return []
    lake = CACHE / "bench" / "crawl60k"  # one table, each file in its own partition k=N
    if not (lake / ".done").exists():
        log(f"== generating {lake} (1 table x {CATALOG_SCALE_FILES:,} partitions)")
        subprocess.run([PY, str(REPO / "benches" / "crawl" / "gen_lake.py"), str(lake), "--tables", "1",
                        "--files", str(CATALOG_SCALE_FILES), "--own-partitions"], check=True)
    log(f"== workload 11: {w.title}")
    warm([lake])
    big, empty = ctx.work / "w11.db", ctx.work / "w11-empty.db"
    crawl = [str(ctx.sluice), "-q", "--catalog", str(big), "crawl", f"{lake}/", "--database", "big"]
    crawled = measure(crawl, ctx.work, timeout)
    w.notes.append(f"the crawl of the {CATALOG_SCALE_FILES:,} files into a fresh catalog took {crawled.wall:.2f} s"
                   if crawled.ok else f"the crawl failed: {crawled.error}")
    if not crawled.ok:
        w.results.append(Result("sluice", status="FAILED", error=f"crawl: {crawled.error}"))
        return [w]
    runs = max(runs, 10)
    one = "SELECT count(*) FROM big.table0 WHERE k = 4242"
    cases = [("empty catalog: select 1", empty, "select 1", "1"),
             (f"{CATALOG_SCALE_FILES:,}-partition catalog: select 1", big, "select 1", "1"),
             ("one partition of them: " + one, big, one, "10")]
    for label, catalog, sql, expected in cases:
        cmd = [str(ctx.sluice), "-q", "--catalog", str(catalog), "--format", "csv", "sql", sql]
        measure(cmd, ctx.work, timeout)  # one warm-up: binary and catalog in the page cache

        def check(run, _o, expected=expected):
            last = (run.stdout.strip().splitlines() or [""])[-1].strip()
            return last, "" if last == expected else f"printed {run.stdout.strip()[:80]!r}, expected {expected}"

        w.results.append(repeat(ctx, "sluice", cmd, runs, timeout, None, check, label=label))
    base = w.results[0]
    if all(r.good for r in w.results):
        ratios = [r.median / base.median for r in w.results[1:]]
        met = all(x <= CATALOG_SCALE_TARGET for x in ratios)
        w.target = (f"catalog-scale target (≤ {CATALOG_SCALE_TARGET:g}x the empty catalog's start-up): "
                    f"**{'met' if met else 'not met'}** (select 1 {ratios[0]:.2f}x, one partition {ratios[1]:.2f}x)")
    else:
        w.target = "catalog-scale target: **not met** (a run failed)"
    w.notes.append(f"{runs} runs each after one warm-up run; sluice only (no peer keeps a catalog).")
    return [w]


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def markdown(w: Workload) -> str:
    lines = [f"### {w.number}. {w.title}", ""]
    lines.append("| engine | status | median wall | runs (s) | peak RSS | in-process | rows | partitions | ratio to sluice |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    base = next((r for r in w.results if r.label == "sluice" and r.good), None)
    for r in w.results:
        ratio = "–"
        if base is not None and r.median is not None and r.good:
            ratio = f"{r.median / base.median:.2f}"
        runs = ", ".join(f"{t:.2f}" if t >= 1 else f"{t:.3f}" for t in r.walls)
        rss = f"{r.peak_rss:,.0f} MiB" if r.peak_rss is not None else "–"
        inproc = fmt_time(statistics.median(r.inproc)) if r.inproc else "–"
        status = r.status if r.good else f"**{r.status}**"
        lines.append(f"| {r.label} | {status} | {fmt_time(r.median) if r.good else '–'} | {runs} | {rss} | "
                     f"{inproc} | {r.rows} | {r.partitions} | {ratio} |")
    lines.append("")
    for r in w.results:
        if not r.good:
            lines.append(f"- **{r.label} {r.status}**: {r.error}")
    for n in w.notes:
        lines.append(f"- {n}")
    if w.target:
        lines.append(f"- {w.target}")
    return "\n".join(lines) + "\n"


def versions(ctx: Ctx) -> dict:
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    import polars

    v = {
        "sluice": out([str(ctx.sluice), "--version"]).removeprefix("sluice "),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
    }
    if ctx.df_bin:
        v["datafusion-cli"] = out([str(ctx.df_bin), "--version"]).removeprefix("datafusion-cli ")
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        v["commit"] = commit + ("-dirty" if dirty else "")
    except OSError:
        pass
    return v


WORKLOADS = {
    1: workload_1, 2: workload_2, 3: workload_3, 4: workload_4, 5: workload_5,
    6: workload_6, 7: workload_7, 8: workload_8, 9: workload_9, 10: workload_10, 11: workload_11,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sf", default="1", help="TPC-H scale factor (default 1)")
    p.add_argument("--runs", type=int, default=3, help="runs per engine and workload; the median is shown (default 3)")
    p.add_argument("--workloads", default="1,2,3,4,5,6,7,8,9,10,11",
                   help="comma-separated workload numbers (default all)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines (default all)")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument("--parts", type=int, default=4, help="files per generated table (default 4)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed (default 1800)")
    p.add_argument("--work", type=Path, help="folder for outputs (default: a new temporary folder, removed at the end)")
    p.add_argument("--no-build", action="store_true", help="use the existing release build of sluice")
    args = p.parse_args()

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINES:
            p.error(f"unknown engine {e!r}: one of {', '.join(ENGINES)}")
    if "sluice" not in engines:
        engines.insert(0, "sluice")  # ratios are to sluice
    engines.sort(key=ENGINES.index)
    numbers = sorted({int(x) for x in args.workloads.split(",") if x.strip()})
    for n in numbers:
        if n not in WORKLOADS:
            p.error(f"unknown workload {n}: 1 to {max(WORKLOADS)}")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    sf = sf_label(args.sf)

    sluice = sluice_binary(args.no_build)
    df_bin = ensure_datafusion_cli() if "datafusion" in engines else None
    if df_bin is None and "datafusion" in engines:
        engines.remove("datafusion")
    needs_tpch = any(n <= 6 or n >= 9 for n in numbers)
    data = generate_data(sf, args.parts) if needs_tpch else CACHE / "bench" / f"sf{sf}"
    ref = reference(data) if needs_tpch else {}

    own_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="sluice-e2e-")) if own_work else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(sluice=sluice, df_bin=df_bin, data=data, work=work, catalog=work / "runs.db")
    ver = versions(ctx)
    started = datetime.datetime.now(datetime.timezone.utc)
    sizes = {t: sum(f.stat().st_size for f in (data / t).glob("*")) for t in TABLES + ["orders_ndjson"]
             if (data / t).exists()}
    header = (
        f"## sluice end-to-end benchmark: TPC-H SF{sf}, {args.runs} run(s), {os.cpu_count()} cores\n\n"
        f"{started:%Y-%m-%d %H:%M} UTC on {platform.node()}; "
        + ", ".join(f"{k} {v}" for k, v in ver.items())
        + f"\n\nData: {data} ("
        + ", ".join(f"{t} {s / 2**20:,.0f} MiB" for t, s in sizes.items())
        + "). Wall: median of the runs, process start to exit; peak RSS: `/usr/bin/time -v`; in-process: "
        "time inside the Python process after imports (DuckDB, Polars). Ratio: engine median / sluice median.\n"
    )
    try:
        results: list[Workload] = []
        print(header, flush=True)
        for n in numbers:
            got = WORKLOADS[n](ctx, engines, args.runs, args.timeout, ref)
            for w in got if isinstance(got, list) else [got]:
                results.append(w)
                print(markdown(w), flush=True)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)

    wrong = [(w.key, r.label, r.status) for w in results for r in w.results if not r.good]
    if args.json:
        doc = {
            "started": started.isoformat(),
            "scale_factor": sf,
            "runs": args.runs,
            "cores": os.cpu_count(),
            "host": platform.node(),
            "versions": ver,
            "data": str(data),
            "input_bytes": sizes,
            "workloads": [
                {
                    "key": w.key,
                    "number": w.number,
                    "title": w.title,
                    "target": w.target,
                    "notes": w.notes,
                    "results": [
                        {
                            "engine": r.engine,
                            "label": r.label,
                            "status": r.status,
                            "median_s": r.median,
                            "walls_s": r.walls,
                            "peak_rss_mib": r.peak_rss,
                            "in_process_median_s": statistics.median(r.inproc) if r.inproc else None,
                            "rows": r.rows,
                            "partitions": r.partitions,
                            "ratio_to_sluice": ratio_of(w, r),
                            "error": r.error,
                            "command": r.command,
                        }
                        for r in w.results
                    ],
                }
                for w in results
            ],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"== results written to {args.json}")
    if wrong:
        log("!! not ok: " + "; ".join(f"{k} {label}: {s}" for k, label, s in wrong))
    # Exit 1 only when sluice itself failed or gave wrong output; a peer's failure is a result.
    return 1 if any(label.startswith("sluice") for _, label, _ in wrong) else 0


def ratio_of(w: Workload, r: Result) -> float | None:
    base = next((x for x in w.results if x.label == "sluice" and x.good), None)
    if base is None or not r.good or r.median is None:
        return None
    return r.median / base.median


if __name__ == "__main__":
    sys.exit(main())
