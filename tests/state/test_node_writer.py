"""Node-state writes batched by the SQLite writer keep the stale-execution guard exactly:
in a batch where nothing fails, and in one run again write by write because a write in it
failed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from vidpipe import db
from vidpipe.db import writer

COUNT = 40
#: A write that fails (its batch is then run again write by write).
FAILING = text("INSERT INTO no_such_table VALUES (1)")


def _run(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'guard.db'}"
    engine = db.make_engine(url)
    db.init_db(engine)
    nodes = [(f"n{i}", "asset") for i in range(COUNT)]
    spec = {"name": "guard", "nodes": [{"id": n, "type": t} for n, t in nodes]}
    run = db.create_run(
        engine,
        db.upsert_pipeline(engine, "guard", spec),
        mode="placeholder",
        node_ids_and_types=nodes,
    )
    return engine, run.id


@pytest.mark.parametrize("with_a_failing_write", [False, True])
def test_a_stale_execution_is_ignored_inside_a_batch(tmp_path: Path, with_a_failing_write):
    engine, run_id = _run(tmp_path)
    older = {f"n{i}": db.start_node(engine, run_id, f"n{i}") for i in range(COUNT)}
    newer = {f"n{i}": db.start_node(engine, run_id, f"n{i}") for i in range(COUNT)}
    writers = 2 * COUNT + int(with_a_failing_write)
    barrier = threading.Barrier(writers)
    applied: dict[tuple[str, str], bool] = {}
    failures: list[BaseException] = []

    def finish(node: str, execution: str, status: str) -> None:
        barrier.wait()  # all at once: they share batches
        applied[(node, status)] = db.finish_node(engine, run_id, node, execution, status=status)

    def fail() -> None:
        barrier.wait()
        try:
            writer.write(
                engine, lambda conn: conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
            )
        except Exception as exc:  # noqa: BLE001 - inspected below
            failures.append(exc)

    threads = [threading.Thread(target=finish, args=(n, e, "failed")) for n, e in older.items()]
    threads += [threading.Thread(target=finish, args=(n, e, "completed")) for n, e in newer.items()]
    if with_a_failing_write:
        threads.append(threading.Thread(target=fail))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(applied[(n, "completed")] for n in newer)  # the owning execution's write
    assert not any(applied[(n, "failed")] for n in older)  # the stale one: ignored
    rows = {r.node_id: r for r in db.node_runs(engine, run_id)}
    assert {r.status for r in rows.values()} == {"completed"}
    assert all(rows[n].execution_id == newer[n] for n in newer)
    assert len(failures) == int(with_a_failing_write)
    if with_a_failing_write:
        assert "no_such_table" in str(failures[0])


def test_a_start_after_a_finish_in_the_same_batch_wins(tmp_path: Path):
    """Writes of one thread are applied in the order it made them, batched or not."""
    engine, run_id = _run(tmp_path)
    for i in range(COUNT):
        node = f"n{i}"
        first = db.start_node(engine, run_id, node)
        assert db.finish_node(engine, run_id, node, first, status="failed", error="one")
        second = db.start_node(engine, run_id, node)  # a retry
        assert not db.finish_node(engine, run_id, node, first, status="completed")
        assert db.finish_node(engine, run_id, node, second, status="completed")
    rows = db.node_runs(engine, run_id)
    assert {r.status for r in rows} == {"completed"} and {r.attempts for r in rows} == {2}
