"""The cache lookup every node task makes, in a home with a long history: through its own
index (schema 9) vs through the single-column indexes alone, measured side by side in one
run on the same SQLite file.

    .venv/bin/python bench/cache_lookup.py [--history 50000] [--lookups 200]

The file gets `--history` completed node runs with distinct cache keys; each side asks
`db.completed_output` for `--lookups` keys that are not there (the usual answer for new
work). The second side drops the index first, as a schema 8 database had it. Prints ms
per lookup for both and their ratio. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from vidpipe import db  # noqa: E402
from vidpipe.db.tables import CACHE_LOOKUP_INDEX  # noqa: E402

OUTPUT = json.dumps({"uri": "file:///x.txt", "kind": "text", "sha256": "0" * 64, "bytes": 1})


def fill(engine, history: int) -> None:
    """`history` completed node runs of one run, each with a cache key of its own."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")  # node rows only: no run, no pipeline
        cursor.executemany(
            "INSERT INTO node_runs (id, run_id, node_id, type, position, status, attempts,"
            " cache_hit, updated_at, output, cache_key) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (f"id{i}", "run", f"n{i}", "asset", i, "completed", 1, 0,
                 "2026-01-01 00:00:00.000000", OUTPUT, f"vidpipe-{i:064d}")
                for i in range(history)
            ],
        )  # fmt: skip
        raw.commit()
    finally:
        raw.close()


def ms_per_lookup(engine, lookups: int) -> float:
    started = time.perf_counter()
    for i in range(lookups):
        if db.completed_output(engine, f"vidpipe-new-{i}") is not None:
            raise SystemExit("a new key was found: the bench's data is wrong")
    return 1000 * (time.perf_counter() - started) / lookups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=50_000, help="completed node runs")
    parser.add_argument("--lookups", type=int, default=200, help="lookups per side")
    args = parser.parse_args()
    engine = db.make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='vidpipe-bench-')}/c.db")
    db.init_db(engine)
    fill(engine, args.history)
    ms_per_lookup(engine, 10)  # warm: the file in the page cache, the statement compiled
    indexed = ms_per_lookup(engine, args.lookups)
    with engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {CACHE_LOOKUP_INDEX[0]}"))
    ms_per_lookup(engine, 10)
    without = ms_per_lookup(engine, args.lookups)
    print(f"cache lookup with {args.history:,} completed node runs in the home")
    print(f"  through its index (schema 9)      {indexed:.3f} ms")
    print(f"  through the status index (before) {without:.3f} ms")
    print(f"  ratio {without / indexed:.0f}x faster with the index")


if __name__ == "__main__":
    main()
