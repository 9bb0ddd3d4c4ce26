"""The crawl benchmark's lake: 10 tables x 1,000 Hive-partitioned CSV files of 10 rows (10,000 files),
each table with one column of its own so the crawler keeps them as ten tables.

    python3 benches/crawl/gen_lake.py DIR     # writes DIR/table0..table9/dt=.../part-NNNN.csv, then DIR/.done

Used by benches/crawl/run.sh and workload 7 of benches/e2e/harness.py; does nothing when DIR/.done exists.
"""

import os
import random
import sys


def generate(root: str) -> None:
    if os.path.exists(os.path.join(root, ".done")):
        return
    rng = random.Random(7)
    for t in range(10):
        for f in range(1000):
            day = 1 + f % 28
            d = os.path.join(root, f"table{t}", f"dt=2026-02-{day:02d}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"part-{f:04d}.csv"), "w") as out:
                out.write(f"id,name_{t},amount,ts\n")  # a column per table: ten tables, not one
                for i in range(10):
                    out.write(
                        f"{f * 10 + i},n{rng.randint(0, 999)},{rng.uniform(0, 100):.2f},2026-02-{day:02d}T10:00:{i:02d}\n"
                    )
    open(os.path.join(root, ".done"), "w").close()


if __name__ == "__main__":
    generate(sys.argv[1])
