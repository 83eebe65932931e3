"""Repairing runs left behind: a worker killed mid-node, a flow run that crashed or was
cancelled.

Runs still `queued` or `running` with no progress for longer than a threshold (by default
15 minutes), or whose Prefect flow run ended without vidpipe recording it, are ended:
`cancelled` when Prefect says the flow run was cancelled, else `failed`, with the reason;
their running nodes fail, their pending nodes are skipped and their budget reservations
are released (`db.end_run`). A run waiting for approval is only ended when its flow run
ended: waiting is not being stuck. `reap_dead` ends the runs whose process on this host
died, at once, without Prefect. Nothing already produced is touched: a re-run of the same
file takes every completed node from cache. No Prefect here: the maintenance flow passes
in the Prefect states it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from vidpipe import db, liveness

__all__ = ["Swept", "sweep", "reap_dead", "DEFAULT_THRESHOLD", "ENDED_STATES"]

DEFAULT_THRESHOLD = timedelta(minutes=15)
#: Prefect flow-run states after which a vidpipe run cannot still be going.
ENDED_STATES = frozenset({"CRASHED", "FAILED", "CANCELLED", "CANCELLING", "COMPLETED"})


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
            .where(db.Run.status.notin_(db.RUN_TERMINAL))  # type: ignore[attr-defined]
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
        status = "failed"
        if state in ("CANCELLED", "CANCELLING"):
            status, reason = "cancelled", "its Prefect flow run was cancelled"
        elif state in ENDED_STATES:
            reason = f"its Prefect flow run ended {state} without finishing the run"
        elif run.status != "awaiting_approval" and now - at > threshold:
            minutes = (now - at).total_seconds() / 60
            reason = f"no progress for {minutes:.0f} minutes (worker lost?)"
        else:
            continue
        if db.end_run(engine, run_id, status, f"swept: {reason}"):
            swept.append(Swept(run_id, reason))
    return swept


def reap_dead(engine: Engine) -> list[Swept]:
    """End the live runs whose process on this host is gone (killed outright); returns
    them. Runs of other hosts, or with no recorded process, are left to `sweep`."""
    reaped = []
    for run in db.live_runs(engine):
        token = run.runner
        if not token or not liveness.same_host(token) or liveness.is_alive(token):
            continue
        pid = liveness.pid_of(token)
        reason = f"its process (pid {pid}) ended without finishing the run (killed?)"
        if db.end_run(engine, run.id, "failed", reason):
            reaped.append(Swept(run.id, reason))
    return reaped
