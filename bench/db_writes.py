"""Node-state writes on SQLite: one writer thread batching them (`vidpipe.db.writer`) vs
each thread writing for itself, measured side by side in one run.

    .venv/bin/python bench/db_writes.py [--nodes 400] [--threads 32] [--repeat 3]

Each side starts and finishes every node of a fresh run from `--threads` threads, as the
engine's node tasks do (`db.start_node`, then `db.finish_node`), on a fresh SQLite file.
Prints ms per node for both and their ratio (lower is better for the writer). Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidpipe import db  # noqa: E402
from vidpipe.db import writer  # noqa: E402


def one_side(nodes: int, threads: int, queued: bool) -> float:
    """Seconds to start and finish every node, with or without the writer thread."""
    engine = db.make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='vidpipe-bench-db-')}/b.db")
    db.init_db(engine)
    pairs = [(f"n{i}", "asset") for i in range(nodes)]
    spec = {"name": "bench", "nodes": [{"id": n, "type": t} for n, t in pairs]}
    pipeline = db.upsert_pipeline(engine, "bench", spec)
    run = db.create_run(engine, pipeline, mode="placeholder", node_ids_and_types=pairs)
    original = writer._queued
    writer._queued = original if queued else (lambda engine: False)

    def node(i: int) -> None:
        execution = db.start_node(engine, run.id, f"n{i}", cache_key="bench")
        db.finish_node(engine, run.id, f"n{i}", execution, status="completed")

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(node, range(nodes)))
        return time.perf_counter() - started
    finally:
        writer._queued = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=400)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per side")
    args = parser.parse_args()
    direct, batched = [], []
    for _ in range(args.repeat):
        direct.append(one_side(args.nodes, args.threads, queued=False))
        batched.append(one_side(args.nodes, args.threads, queued=True))
    best_direct, best_batched = min(direct), min(batched)
    print(
        f"{args.nodes} nodes, {args.threads} threads, best of {args.repeat}: "
        f"each thread writing {1000 * best_direct / args.nodes:.2f} ms/node, "
        f"one writer {1000 * best_batched / args.nodes:.2f} ms/node, "
        f"ratio {best_batched / best_direct:.2f}x"
    )


if __name__ == "__main__":
    main()
