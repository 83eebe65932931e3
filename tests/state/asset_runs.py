"""A run of `count` asset nodes `n0`, `n1`, ... in a fresh SQLite file, for the writer
tests."""

from __future__ import annotations

from sqlalchemy import Engine

from vidpipe import db


def asset_run(url: str, name: str, count: int) -> tuple[Engine, str]:
    """The engine of `url` (its schema made) and the id of a new run of `count` nodes."""
    engine = db.make_engine(url)
    db.init_db(engine)
    nodes = [(f"n{i}", "asset") for i in range(count)]
    spec = {"name": name, "nodes": [{"id": n, "type": t} for n, t in nodes]}
    run = db.create_run(
        engine,
        db.upsert_pipeline(engine, name, spec),
        mode="placeholder",
        node_ids_and_types=nodes,
    )
    return engine, run.id
