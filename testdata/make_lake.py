"""Regenerates testdata/lake/ deterministically: `python3 testdata/make_lake.py`.

The files are checked in; this script documents exactly how they were made.
"""
import bz2, gzip, json, lzma, os, random, subprocess

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lake")
rng = random.Random(20261122)

customers = [
    {"id": 1, "name": "Ada Lovelace", "region": "north", "signup_date": "2025-01-04"},
    {"id": 2, "name": "Grace Hopper", "region": "south", "signup_date": "2025-02-11"},
    {"id": 3, "name": "Alan Turing", "region": "east/west", "signup_date": "2025-03-19"},
    {"id": 4, "name": "Émilie du Châtelet", "region": "São Paulo", "signup_date": "2025-04-02"},
    {"id": 5, "name": "Katherine Johnson", "region": "a=b%c", "signup_date": "2025-05-23"},
    {"id": 6, "name": "Edsger Dijkstra", "region": None, "signup_date": "2025-06-30"},
    {"id": 7, "name": "Barbara Liskov", "region": "north", "signup_date": "2025-07-07"},
    {"id": 8, "name": "Donald Knuth", "region": "south", "signup_date": "2025-08-15"},
]

def write(path, text, opener=open):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wt" if opener is open else "wt"
    kwargs = {"newline": ""} if opener is open else {}
    if opener is gzip.open:
        # mtime=0 keeps the gzip bytes identical across regenerations.
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(text.encode())
        return
    with opener(path, mode, encoding="utf-8", **kwargs) as f:
        f.write(text)

# customers: NDJSON, one plain file and one bzip2 file.
lines = [json.dumps(c, ensure_ascii=False) for c in customers]
write(os.path.join(root, "customers", "part-0.ndjson"), "\n".join(lines[:5]) + "\n")
write(os.path.join(root, "customers", "part-1.ndjson.bz2"), "\n".join(lines[5:]) + "\n", bz2.open)

# orders: CSV partitioned by order_date; the last day is gzip-compressed.
statuses = ["shipped", "pending", "cancelled", "shipped", "shipped"]
order_id = 1000
for day, compressed in [("2026-11-01", False), ("2026-11-02", False), ("2026-11-03", True)]:
    rows = ["order_id,customer_id,amount,status,note"]
    for _ in range(20):
        order_id += 1
        cust = rng.randint(1, 8)
        amount = round(rng.uniform(5, 500), 2)
        status = rng.choice(statuses)
        note = rng.choice(["", "gift", "\"rush, please\"", "repeat customer"])
        rows.append(f"{order_id},{cust},{amount:.2f},{status},{note}")
    text = "\n".join(rows) + "\n"
    folder = os.path.join(root, "orders", f"order_date={day}")
    if compressed:
        write(os.path.join(folder, "part-0.csv.gz"), text, gzip.open)
    else:
        write(os.path.join(folder, "part-0.csv"), text)

# events: NDJSON in three compressions (zstd via the `zstd` tool, xz via Python's lzma).
events = [{"event_id": i, "kind": ["click", "view", "buy"][i % 3], "ts": f"2026-11-0{1 + i % 3}T10:{i:02d}:00"} for i in range(9)]
ev = [json.dumps(e) for e in events]
folder = os.path.join(root, "events")
write(os.path.join(folder, "events-1.jsonl"), "\n".join(ev[:3]) + "\n")
os.makedirs(folder, exist_ok=True)
with lzma.open(os.path.join(folder, "events-2.jsonl.xz"), "wt") as f:
    f.write("\n".join(ev[3:6]) + "\n")
raw = os.path.join(folder, "events-3.jsonl")
write(raw, "\n".join(ev[6:]) + "\n")
subprocess.run(["zstd", "-q", "-f", "--rm", raw, "-o", raw + ".zst"], check=True)

# a marker file readers must skip, as Spark and Hive leave them.
write(os.path.join(root, "orders", "_SUCCESS"), "")

# dims/regions: a small CSV dimension the sample job joins (kept outside lake/ so crawls of the lake
# see exactly its three tables).
regions = [("north", "North", "Oslo"), ("south", "South", "Seville"), ("east/west", "East and West", "Vienna"),
           ("São Paulo", "Brazil", "São Paulo"), ("a=b%c", "Escaped", "Zürich")]
dims = os.path.join(os.path.dirname(root), "dims")
write(os.path.join(dims, "regions", "regions.csv"),
      "region,region_name,office\n" + "".join(f'"{r}","{n}","{o}"\n' for r, n, o in regions))
