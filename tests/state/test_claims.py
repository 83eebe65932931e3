"""Work claims (`vidpipe.db.claims`): of several executions that want the same paid work
at once, exactly one gets it; a claim whose holder no longer does the work is taken over.
On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid

import pytest
from sqlalchemy import Engine, update

from state.test_db import new_run
from vidpipe import db


@pytest.fixture
def key() -> str:
    """A cache key of its own per test: the PostgreSQL database is shared by the session."""
    return f"vidpipe-{uuid.uuid4().hex}"


def started(engine: Engine, key: str, **run_kwargs: object) -> tuple[str, str]:
    """A new run whose voice node is running: (run id, execution id)."""
    run = new_run(engine, **run_kwargs)
    return run.id, db.start_node(engine, run.id, "voice", provider="elevenlabs", cache_key=key)


def claim(engine: Engine, key: str, run_id: str, execution_id: str) -> db.Holder | None:
    return db.claim_work(engine, key, run_id=run_id, node_id="voice", execution_id=execution_id)


def test_of_eight_executions_claiming_at_once_exactly_one_gets_the_work(
    engine: Engine, key: str
) -> None:
    executions = [started(engine, key) for _ in range(8)]
    barrier = threading.Barrier(len(executions))
    results: dict[str, db.Holder | None] = {}

    def contend(run_id: str, execution_id: str) -> None:
        barrier.wait()
        results[execution_id] = claim(engine, key, run_id, execution_id)

    threads = [threading.Thread(target=contend, args=pair) for pair in executions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [execution for execution, holder in results.items() if holder is None]
    assert len(winners) == 1, results
    assert {holder.execution_id for holder in results.values() if holder} == set(winners)
    assert db.work_holder(engine, key).execution_id == winners[0]
    db.release_work(engine, key, winners[0])


def test_a_claim_is_held_while_its_holder_runs_and_taken_over_after(
    engine: Engine, key: str
) -> None:
    first_run, first = started(engine, key)
    second_run, second = started(engine, key)
    assert claim(engine, key, first_run, first) is None
    assert claim(engine, key, first_run, first) is None, "a holder may claim again"
    assert claim(engine, key, second_run, second) == db.Holder(first_run, "voice", first)

    db.finish_node(engine, first_run, "voice", first, status="failed", error="HTTP 500")
    assert claim(engine, key, second_run, second) is None, "a failed holder's claim is stale"
    assert db.work_holder(engine, key).execution_id == second

    db.release_work(engine, key, first)  # the old holder's late release changes nothing
    assert db.work_holder(engine, key).execution_id == second
    db.release_work(engine, key, second)
    assert db.work_holder(engine, key) is None


def test_a_holder_whose_process_is_gone_from_this_host_loses_its_claim(
    engine: Engine, key: str
) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}:1"
    first_run, first = started(engine, key, runner=dead)
    second_run, second = started(engine, key)
    assert claim(engine, key, first_run, first) is None
    assert claim(engine, key, second_run, second) is None, (
        "its node run says running; its process is gone"
    )


def test_a_holder_on_another_host_keeps_its_claim_until_its_run_is_ended(
    engine: Engine, key: str
) -> None:
    first_run, first = started(engine, key, runner="another-host:4242:1")
    second_run, second = started(engine, key)
    assert claim(engine, key, first_run, first) is None
    assert claim(engine, key, second_run, second) is not None
    assert db.end_run(engine, first_run, "failed", "swept: its worker was lost")
    assert claim(engine, key, second_run, second) is None


def test_a_claim_older_than_the_limit_is_stale(engine: Engine, key: str) -> None:
    from vidpipe.db import claims

    first_run, first = started(engine, key, runner="another-host:4242:1")
    second_run, second = started(engine, key)
    assert claim(engine, key, first_run, first) is None
    with db.session_scope(engine) as session:
        session.execute(
            update(db.WorkClaim).values(claimed_at=db.utcnow() - claims.CLAIM_MAX_AGE * 2)
        )
    assert claim(engine, key, second_run, second) is None
