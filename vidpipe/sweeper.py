"""Repairing runs left behind: a worker killed mid-node, a flow run that crashed.

Runs and node runs still `running` with no progress for longer than a threshold (the
seeds' 15 minutes), or whose Prefect flow run ended without vidpipe recording it, are
marked `failed` with the reason; their pending nodes are skipped and their budget
reservations released. Nothing already produced is touched: a re-run of the same file
takes every completed node from cache. No Prefect here: the maintenance flow passes in the
Prefect states it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, select, update

from vidpipe import db

__all__ = ["Swept", "sweep", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = timedelta(minutes=15)
#: Prefect flow-run states after which a vidpipe run cannot still be going.
ENDED_STATES = frozenset({"CRASHED", "FAILED", "CANCELLED", "COMPLETED"})


@dataclass(frozen=True)
class Swept:
    run_id: str
    reason: str


def _last_progress(engine: Engine) -> dict[str, tuple[db.Run, datetime]]:
    """Each live run (queued or running) with the time it last changed (itself or a node)."""
    with db.session_scope(engine) as session:
        latest = (
            select(db.NodeRun.run_id, func.max(db.NodeRun.updated_at).label("at"))
            .group_by(db.NodeRun.run_id)
            .subquery()
        )
        rows = session.execute(
            select(db.Run, latest.c.at)
            .join(latest, latest.c.run_id == db.Run.id, isouter=True)
            .where(db.Run.status.in_(("queued", "running")))  # type: ignore[attr-defined]
        ).all()
    found = {}
    for run, node_at in rows:
        at = max(t for t in (run.updated_at, node_at) if t is not None)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        found[run.id] = (run, at)
    return found


def sweep(
    engine: Engine,
    *,
    threshold: timedelta = DEFAULT_THRESHOLD,
    flow_run_states: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[Swept]:
    """Mark stuck runs failed (see the module docstring); returns what was swept."""
    now = now or datetime.now(UTC)
    states = flow_run_states or {}
    swept: list[Swept] = []
    for run_id, (run, at) in _last_progress(engine).items():
        state = states.get(run.flow_run_id or "")
        if state in ENDED_STATES:
            reason = f"its Prefect flow run ended {state} without finishing the run"
        elif now - at > threshold:
            minutes = (now - at).total_seconds() / 60
            reason = f"no progress for {minutes:.0f} minutes (worker lost?)"
        else:
            continue
        _fail_run(engine, run_id, reason)
        swept.append(Swept(run_id, reason))
    return swept


def _fail_run(engine: Engine, run_id: str, reason: str) -> None:
    message = f"swept: {reason}"
    with db.session_scope(engine) as session:
        session.execute(
            update(db.NodeRun)
            .where(db.NodeRun.run_id == run_id, db.NodeRun.status == "running")
            .values(
                status="failed",
                error=message,
                execution_id=db.new_id(),
                finished_at=db.utcnow(),
                updated_at=db.utcnow(),
            )
        )
        session.execute(
            delete(db.CostEntry).where(
                db.CostEntry.run_id == run_id, db.CostEntry.kind == "estimate"
            )
        )
    pending = [r.node_id for r in db.node_runs(engine, run_id) if r.status == "pending"]
    db.skip_nodes(engine, run_id, pending, "the run was swept")
    db.set_run_status(engine, run_id, "failed", error=message)
