"""Runs: creating one, moving it through its statuses, ending it (with everything inside
it), and finding runs again."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, update
from sqlmodel import select

from vidpipe.errors import SpecError, VidpipeError
from vidpipe.refs import MediaRef

from .engine import _reader, session_scope
from .tables import (
    RUN_STATUSES,
    RUN_TERMINAL,
    CostEntry,
    NodeRun,
    Pipeline,
    Run,
    _check_status,
    _ref_json,
    new_id,
    utcnow,
)
from .writer import write


def create_run(
    engine: Engine,
    pipeline: Pipeline,
    *,
    mode: str,
    budget_usd: float | None = None,
    refresh: Iterable[str] = (),
    node_ids_and_types: list[tuple[str, str]],
    runner: str | None = None,
) -> Run:
    """A new run, `queued`, with one `pending` NodeRun per node (in the order given);
    `runner` is the process that will carry it out (`vidpipe.liveness`)."""
    run = Run(
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        mode=mode,
        budget_usd=budget_usd,
        refresh=list(refresh),
        runner=runner,
    )
    now = utcnow()
    rows = [  # every column given: one INSERT for all of them, no ORM object per node
        {
            "id": new_id(),
            "run_id": run.id,
            "node_id": node_id,
            "type": node_type,
            "position": position,
            "status": "pending",
            "attempts": 0,
            "cache_hit": False,
            "updated_at": now,
        }
        for position, (node_id, node_type) in enumerate(node_ids_and_types)
    ]
    with session_scope(engine) as session:
        session.add(run)
        session.flush()
        if rows:
            session.execute(insert(NodeRun.__table__), rows)  # type: ignore[attr-defined]
    return run


def _nodes_cost(run_id: str) -> Any:
    """The run's actual cost, as a subquery: the SUM of its node runs' costs."""
    return select(func.sum(NodeRun.cost_usd)).where(NodeRun.run_id == run_id).scalar_subquery()


def set_run_status(
    engine: Engine,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    output: MediaRef | Mapping[str, Any] | None = None,
    flow_run_id: str | None = None,
    estimated_usd: float | None = None,
    actual_usd: float | None = None,
    prefect_api_url: str | None = None,
    published_uri: str | None = None,
    runner: str | None = None,
    variants: list[dict[str, Any]] | None = None,
) -> Run:
    """Move a run to `status` in one UPDATE; returns the updated row.

    `started_at` is set the first time the run is `running`; `finished_at` when it ends.
    On an ending status without an explicit `actual_usd`, the actual cost is the SUM of
    its node runs' costs (queried, in the same statement). Arguments left None keep the
    stored value.
    """
    _check_status(status, RUN_STATUSES, "run status")
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "running":
        values["started_at"] = func.coalesce(Run.started_at, now)
    if status in RUN_TERMINAL:
        values["finished_at"] = now
        values["actual_usd"] = actual_usd if actual_usd is not None else _nodes_cost(run_id)
    elif actual_usd is not None:
        values["actual_usd"] = actual_usd
    optional = {
        "error": error,
        "output": _ref_json(output),
        "flow_run_id": flow_run_id,
        "estimated_usd": estimated_usd,
        "prefect_api_url": prefect_api_url,
        "published_uri": published_uri,
        "runner": runner,
        "variants": variants,
    }
    values.update({key: value for key, value in optional.items() if value is not None})
    with session_scope(engine) as session:
        result = session.execute(update(Run).where(Run.id == run_id).values(**values))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise VidpipeError(f"no run {run_id!r}")
        return session.get_one(Run, run_id, populate_existing=True)


def end_run(engine: Engine, run_id: str, status: str, reason: str) -> bool:
    """End a run that is still live (queued, running, awaiting approval) as `status`, with
    `reason` as its error, leaving nothing inside it unfinished; one transaction.

    Its running nodes become `failed` with the reason under a fresh execution id (so a
    late write from the attempt that was running is ignored), its pending nodes
    `skipped` ("the run ended first"), and its budget reservations are released.
    Returns False, changing nothing, when the run had already ended: the first ending
    wins, so a run recorded `cancelled` is not turned `failed` by the unwinding that
    follows.
    """
    _check_status(status, RUN_TERMINAL, "final run status")
    now = utcnow()

    def end(conn: Connection) -> bool:
        ended = conn.execute(
            update(Run)
            .where(Run.id == run_id, Run.status.notin_(RUN_TERMINAL))  # type: ignore[attr-defined]
            .values(
                status=status,
                error=reason[:2000],
                finished_at=now,
                updated_at=now,
                actual_usd=_nodes_cost(run_id),
            )
        )
        if ended.rowcount == 0:
            return False
        conn.execute(
            update(NodeRun)
            .where(NodeRun.run_id == run_id, NodeRun.status == "running")
            .values(
                status="failed",
                error=reason[:2000],
                execution_id=new_id(),
                finished_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            update(NodeRun)
            .where(NodeRun.run_id == run_id, NodeRun.status == "pending")
            .values(status="skipped", error="the run ended first", finished_at=now, updated_at=now)
        )
        conn.execute(
            delete(CostEntry).where(CostEntry.run_id == run_id, CostEntry.kind == "estimate")
        )
        return True

    # Through the writer: after every node write this process queued before it (a start
    # queued without waiting included), none of which then lands in the ended run.
    return write(engine, end)


def live_runs(engine: Engine) -> list[Run]:
    """Runs that have not ended (queued, running, awaiting approval), oldest first."""
    with session_scope(_reader(engine)) as session:
        query = (
            select(Run)
            .where(Run.status.notin_(RUN_TERMINAL))  # type: ignore[attr-defined]
            .order_by(Run.created_at)
        )
        return list(session.exec(query).all())  # type: ignore[call-overload]


def run_for_flow_run(engine: Engine, flow_run_id: str) -> Run | None:
    """The run a Prefect flow run carried out, if any."""
    with session_scope(_reader(engine)) as session:
        query = select(Run).where(Run.flow_run_id == flow_run_id)
        return session.exec(query).first()  # type: ignore[call-overload]


def get_run(engine: Engine, run_id: str) -> Run | None:
    with session_scope(_reader(engine)) as session:
        return session.get(Run, run_id)


def list_runs(engine: Engine, limit: int = 20, status: str | None = None) -> list[Run]:
    """The most recent runs first, optionally only those in one status."""
    with session_scope(_reader(engine)) as session:
        query = select(Run)
        if status is not None:
            query = query.where(Run.status == status)
        query = query.order_by(Run.created_at.desc(), Run.id).limit(limit)  # type: ignore[attr-defined]
        return list(session.exec(query).all())  # type: ignore[call-overload]


_ID_PREFIX = re.compile(r"^[0-9a-f]{1,32}$")


def find_run(engine: Engine, prefix: str) -> Run:
    """The run whose id is, or starts with, `prefix` (a CLI convenience, like git's).

    Raises SpecError when nothing matches or the prefix is ambiguous.
    """
    prefix = prefix.strip().lower()
    if not _ID_PREFIX.match(prefix):
        raise SpecError(f"{prefix!r} is not a run id (expected hexadecimal characters)")
    with session_scope(_reader(engine)) as session:
        exact = session.get(Run, prefix)
        if exact is not None:
            return exact
        query = select(Run).where(Run.id.startswith(prefix)).limit(2)  # type: ignore[attr-defined]
        matches = list(session.exec(query).all())  # type: ignore[call-overload]
    if not matches:
        raise SpecError(f"no run matches {prefix!r}")
    if len(matches) > 1:
        raise SpecError(f"run id prefix {prefix!r} is ambiguous: give more characters")
    return matches[0]
