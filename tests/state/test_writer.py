"""The SQLite writer (`vidpipe.db.writer`): node-state writes of many threads, batched on
one thread. A write that returned is committed, even if the process is killed right after;
a write that fails, fails alone; the stale-execution guard holds inside a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from vidpipe import db
from vidpipe.db import writer

from .asset_runs import asset_run

ROOT = Path(__file__).resolve().parents[2]


def test_a_failing_write_fails_alone_and_the_others_in_its_batch_commit(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    barrier = threading.Barrier(16)
    errors: dict[int, BaseException] = {}

    def insert(n: int) -> None:
        barrier.wait()
        value = 3 if n == 7 else n  # 7 collides with 3
        try:
            writer.write(engine, lambda conn: conn.execute(text(f"INSERT INTO t VALUES ({value})")))
        except Exception as exc:  # noqa: BLE001 - inspected below
            errors[n] = exc

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        rows = sorted(r[0] for r in conn.execute(text("SELECT n FROM t")))
    assert rows == sorted(set(range(16)) - {7})
    assert len(errors) == 1 and "UNIQUE" in str(next(iter(errors.values())))


CHILD = textwrap.dedent(
    """
    import sys, threading, time
    from vidpipe import db

    url, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    wait = sys.argv[4] == "wait"
    engine = db.make_engine(url)
    lock = threading.Lock()

    def work(i):
        time.sleep(0.01 * i)  # spread over 2 s, so the kill lands mid-run
        node = f"n{i}"
        execution = db.start_node(engine, run_id, node, wait=wait)
        db.finish_node(engine, run_id, node, execution, status="completed")
        with lock:
            print(node, flush=True)  # acknowledged: finish_node returned

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    """
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("start", ["wait", "queued"])
def test_every_acknowledged_write_survives_a_sigkill(tmp_path: Path, start: str) -> None:
    """Whether the node's start was waited for or only queued (`start_node(wait=False)`)."""
    count = 200
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    _, run_id = asset_run(url, "killed", count)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, run_id, str(count), start],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acknowledged = []
    for line in child.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == count // 4:
            child.send_signal(signal.SIGKILL)  # mid-run, between and during batches
            break
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    db.reset_engines()
    statuses = {row.node_id: row.status for row in db.node_runs(db.make_engine(url), run_id)}
    lost = [node for node in acknowledged if statuses[node] != "completed"]
    assert lost == [], f"acknowledged but not in the database: {lost}"
    assert sum(s == "completed" for s in statuses.values()) < count, "the kill came too late"


EXITING = textwrap.dedent(
    """
    import sys
    from vidpipe import db

    url, run_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = db.make_engine(url)
    for i in range(count):
        node = f"n{i}"
        execution = db.start_node(engine, run_id, node, wait=False)
        db.finish_node(engine, run_id, node, execution, status="completed", wait=False)
    # no flush: the process just ends
    """
)


@pytest.mark.timeout(120)
def test_writes_queued_without_waiting_are_committed_before_the_process_exits(
    tmp_path: Path,
) -> None:
    count = 300
    url = f"sqlite:///{tmp_path / 'exit dir' / 'exiting.db'}"
    (tmp_path / "exit dir").mkdir()
    engine, run_id = asset_run(url, "exiting", count)
    subprocess.run(
        [sys.executable, "-c", EXITING, url, run_id, str(count)],
        check=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    rows = db.node_runs(engine, run_id)
    assert [r.status for r in rows] == ["completed"] * count
