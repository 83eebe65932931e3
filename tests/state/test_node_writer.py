"""Node-state writes batched by the SQLite writer keep the stale-execution guard exactly:
in a batch where nothing fails, and in one run again write by write because a write in it
failed."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from vidpipe import db
from vidpipe.db import writer
from vidpipe.errors import VidpipeError

from .asset_runs import asset_run

COUNT = 40
#: A write that fails (its batch is then run again write by write).
FAILING = text("INSERT INTO no_such_table VALUES (1)")


def _run(tmp_path: Path):
    return asset_run(f"sqlite:///{tmp_path / 'guard.db'}", "guard", COUNT)


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


def test_a_start_not_waited_for_comes_before_the_executions_later_writes(tmp_path: Path):
    """`start_node(wait=False)` returns before its write commits; the execution's own
    writes after it still apply to the row it started, whichever batch they land in."""
    engine, run_id = _run(tmp_path)
    barrier = threading.Barrier(COUNT)
    applied: dict[str, bool] = {}
    executions: list[str] = []

    def node(i: int) -> None:
        node_id = f"n{i}"
        barrier.wait()
        execution = db.start_node(engine, run_id, node_id, cache_key=f"k{i}", wait=False)
        executions.append(execution)
        applied[node_id] = db.finish_node(engine, run_id, node_id, execution, status="completed")

    threads = [threading.Thread(target=node, args=(i,)) for i in range(COUNT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(applied.values()) and len(applied) == COUNT
    rows = db.node_runs(engine, run_id)
    assert {r.status for r in rows} == {"completed"} and {r.attempts for r in rows} == {1}
    assert {r.cache_key for r in rows} == {f"k{i}" for i in range(COUNT)}
    assert not set(executions) & set(db.nodes._unconfirmed_starts)  # none kept once done


def test_a_start_not_waited_for_of_no_such_node_fails_at_its_finish(tmp_path: Path):
    engine, run_id = _run(tmp_path)
    execution = db.start_node(engine, run_id, "not_a_node_7", wait=False)
    with pytest.raises(VidpipeError, match="no node 'not_a_node_7' in run"):
        db.finish_node(engine, run_id, "not_a_node_7", execution, status="completed")
    with pytest.raises(VidpipeError, match="no node 'not_a_node_7' in run"):
        db.start_node(engine, run_id, "not_a_node_7")  # waited for: raised at once


def test_a_run_ended_while_a_start_is_queued_ends_that_node_too(tmp_path: Path):
    """`end_run` is ordered after the starts this process queued before it, so a start
    still in the queue does not land as `running` in the ended run."""
    engine, run_id = _run(tmp_path)
    release = threading.Event()

    def busy(conn) -> bool:  # keeps the writer busy, without SQLite's write lock
        conn.connection.driver_connection.execute("COMMIT")
        return release.wait(10)

    blocker = writer.enqueue(engine, busy)
    db.start_node(engine, run_id, "n1", wait=False)
    ender = threading.Thread(
        target=db.end_run, args=(engine, run_id, "cancelled", "cancelled by test_user_2")
    )
    ender.start()
    ender.join(0.3)  # end_run has been called and is waiting, or has run
    release.set()
    ender.join()
    assert blocker.result()
    rows = {r.node_id: r for r in db.node_runs(engine, run_id)}
    assert rows["n1"].status == "failed" and "test_user_2" in rows["n1"].error
    assert {r.status for r in rows.values() if r.node_id != "n1"} == {"skipped"}


def test_an_end_not_waited_for_is_read_after_a_flush_and_its_start_error_kept(tmp_path: Path):
    """`finish_node(wait=False)` queues the end; reads of node runs in this process wait
    for what it queued (`flush_writes`), so they see it. A start seen to have found no
    node still raises."""
    engine, run_id = _run(tmp_path)
    release = threading.Event()
    blocker = writer.enqueue(engine, lambda conn: release.wait(10))
    execution = db.start_node(engine, run_id, "n0", wait=False)
    assert db.finish_node(engine, run_id, "n0", execution, status="completed", wait=False) is None
    # A plain read of its own (the engine's transactions take the write lock first, which
    # the busy writer holds): both writes are still queued.
    with contextlib.closing(sqlite3.connect(tmp_path / "guard.db")) as conn:
        query = "SELECT status FROM node_runs WHERE node_id = 'n0'"
        assert conn.execute(query).fetchone() == ("pending",)
    threading.Timer(0.2, release.set).start()
    row = db.get_node_run(engine, run_id, "n0")  # waits for the queue
    assert blocker.result()
    assert (row.status, row.attempts, row.execution_id) == ("completed", 1, execution)

    missing = db.start_node(engine, run_id, "n_missing", wait=False)
    db.flush_writes(engine)  # the start is known to have found no row
    with pytest.raises(VidpipeError, match="no node 'n_missing'"):
        db.finish_node(engine, run_id, "n_missing", missing, status="completed", wait=False)
