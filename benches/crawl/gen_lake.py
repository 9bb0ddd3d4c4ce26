"""The crawl benchmark's lake: 10 tables x 1,000 Hive-partitioned CSV files of 10 rows (10,000 files),
each table with one column of its own so the crawler keeps them as ten tables.

    python3 benches/crawl/gen_lake.py DIR     # writes DIR/table0..table9/dt=.../part-NNNN.csv, then DIR/.done
    python3 benches/crawl/gen_lake.py DIR --tables 1 --files 60000 --own-partitions
                                              # one table, each file in its own partition (k=N)

Used by benches/crawl/run.sh and workload 7 of benches/e2e/harness.py; does nothing when DIR/.done exists.
"""

import os
import random
import sys


def generate(root: str, tables: int = 10, files: int = 1000, own_partitions: bool = False) -> None:
    if os.path.exists(os.path.join(root, ".done")):
        return
    rng = random.Random(7)
    for t in range(tables):
        for f in range(files):
            day = 1 + f % 28
            folder = f"k={f}" if own_partitions else f"dt=2026-02-{day:02d}"
            d = os.path.join(root, f"table{t}", folder)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"part-{f:04d}.csv"), "w") as out:
                out.write(f"id,name_{t},amount,ts\n")  # a column per table: ten tables, not one
                for i in range(10):
                    out.write(
                        f"{f * 10 + i},n{rng.randint(0, 999)},{rng.uniform(0, 100):.2f},2026-02-{day:02d}T10:00:{i:02d}\n"
                    )
    open(os.path.join(root, ".done"), "w").close()


if __name__ == "__main__":
    args = sys.argv[1:]
    number = lambda flag, default: int(args[args.index(flag) + 1]) if flag in args else default
    generate(args[0], number("--tables", 10), number("--files", 1000), "--own-partitions" in args)
