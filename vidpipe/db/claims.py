"""Work claims: which execution is doing a piece of paid work right now, across workers.

A claim is one row per cache key. The execution that inserts it does the work; another
execution that wants the same work at the same moment (another run, on this worker or
another one sharing the database) finds the row taken and waits for the result instead of
paying for it again. The primary key makes the insert atomic on SQLite and PostgreSQL
alike. A claim whose holder no longer runs under the claiming execution id (it finished,
failed, was retried or its run ended, or its process on this host is gone) is stale and
may be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from vidpipe import liveness

from .engine import _reader, session_scope
from .tables import NodeRun, Run, WorkClaim, utcnow

__all__ = ["Holder", "claim_work", "release_work", "work_holder"]

#: A claim older than this is stale whatever its holder's record says (a holder whose
#: process vanished without its run being ended must not block the work for ever).
CLAIM_MAX_AGE = timedelta(hours=6)


@dataclass(frozen=True)
class Holder:
    """The execution that holds a claim."""

    run_id: str
    node_id: str
    execution_id: str


def claim_work(
    engine: Engine, cache_key: str, *, run_id: str, node_id: str, execution_id: str
) -> Holder | None:
    """Claim the work of `cache_key` for this execution: None when the claim is ours (now
    or already), else the live execution that holds it. A stale claim is taken over."""
    for _ in range(3):  # a stale claim removed, or a holder releasing between two reads
        try:
            with session_scope(engine) as session:
                session.add(
                    WorkClaim(
                        cache_key=cache_key,
                        run_id=run_id,
                        node_id=node_id,
                        execution_id=execution_id,
                    )
                )
            return None
        except IntegrityError:
            pass
        holder = work_holder(engine, cache_key)
        if holder is None:
            continue  # released in between: try again
        if holder.execution_id == execution_id:
            return None
        if _holder_is_live(engine, cache_key, holder):
            return holder
        _drop(engine, cache_key, holder.execution_id)
    return work_holder(engine, cache_key)


def release_work(engine: Engine, cache_key: str, execution_id: str) -> None:
    """Give up a claim this execution holds (after its work completed or failed)."""
    _drop(engine, cache_key, execution_id)


def work_holder(engine: Engine, cache_key: str) -> Holder | None:
    """Who holds the claim on `cache_key`, if anyone."""
    with session_scope(_reader(engine)) as session:
        claim = session.get(WorkClaim, cache_key)
    if claim is None:
        return None
    return Holder(claim.run_id, claim.node_id, claim.execution_id)


def _holder_is_live(engine: Engine, cache_key: str, holder: Holder) -> bool:
    """Whether the holder still runs the claimed work under the claiming execution id."""
    with session_scope(_reader(engine)) as session:
        claim = session.get(WorkClaim, cache_key)
        if claim is None or claim.execution_id != holder.execution_id:
            return False
        if utcnow() - claim.claimed_at > CLAIM_MAX_AGE:
            return False
        running = session.exec(
            select(NodeRun.id).where(
                NodeRun.run_id == holder.run_id,
                NodeRun.node_id == holder.node_id,
                NodeRun.execution_id == holder.execution_id,
                NodeRun.status == "running",
            )
        ).first()
        runner = session.exec(select(Run.runner).where(Run.id == holder.run_id)).first()
    if running is None:
        return False
    # A holder killed outright on this host is known dead at once; one on another host
    # stays live until its run is ended there (the sweeper) or the claim grows old.
    return not (runner and liveness.same_host(runner) and not liveness.is_alive(runner))


def _drop(engine: Engine, cache_key: str, execution_id: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            delete(WorkClaim).where(
                WorkClaim.cache_key == cache_key,  # type: ignore[arg-type]
                WorkClaim.execution_id == execution_id,  # type: ignore[arg-type]
            )
        )
