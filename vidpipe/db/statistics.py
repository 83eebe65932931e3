"""Aggregates over the state for metrics, alerts and the success report: counted by the
database (GROUP BY, and histogram buckets as sums of CASE), never kept in counters, so
every exporter and evaluator sharing the database reads the same truth.

Durations are `finished_at - started_at` in seconds, computed in SQL (SQLite: julianday;
PostgreSQL: EXTRACT(EPOCH ...)). Run durations count completed runs; node durations
count completed node runs that did work (not cache hits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, case, func, literal
from sqlalchemy.orm import aliased
from sqlmodel import select

from .engine import _reader, session_scope
from .tables import (
    RUN_TERMINAL,
    AlertRow,
    Approval,
    CostEntry,
    NodeRun,
    ProviderCalls,
    ProviderErrorRow,
    Run,
)

__all__ = [
    "Histogram",
    "Snapshot",
    "snapshot",
    "duration_seconds",
    "ended_runs",
    "provider_failures_since",
    "cache_opportunities",
    "waiting_since",
    "decisions",
    "completed_costs",
    "savings",
    "call_totals",
]

IN_PROGRESS = ("queued", "running", "awaiting_approval")


def _epoch(dialect: str, column: Any) -> Any:
    if dialect == "sqlite":
        return func.julianday(column) * 86400.0
    return func.extract("epoch", column)


def duration_seconds(dialect: str, started: Any, finished: Any) -> Any:
    """`finished - started` in seconds, as a SQL expression of `dialect`."""
    return _epoch(dialect, finished) - _epoch(dialect, started)


@dataclass
class Histogram:
    """One label set's histogram: cumulative counts per upper bound, count and sum."""

    buckets: list[int]
    count: int
    total: float


@dataclass
class Snapshot:
    """Everything one scrape exposes, read in one transaction."""

    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (pipeline, status)
    in_progress: dict[str, int] = field(default_factory=dict)
    #: (type, provider, status)
    node_runs: dict[tuple[str, str, str], int] = field(default_factory=dict)
    node_durations: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    run_durations: dict[str, Histogram] = field(default_factory=dict)
    provider_errors: dict[tuple[str, str], int] = field(default_factory=dict)
    provider_calls: dict[str, int] = field(default_factory=dict)
    cache_hits: dict[str, int] = field(default_factory=dict)
    savings_usd: float = 0.0
    billed_today_usd: float = 0.0
    approvals_waiting: int = 0
    approval_decisions: dict[str, int] = field(default_factory=dict)
    alerts_firing: dict[str, int] = field(default_factory=dict)


def _histograms(
    session: Any,
    dialect: str,
    labels: Sequence[Any],
    started: Any,
    finished: Any,
    where: Any,
    bounds: Sequence[float],
) -> dict[Any, Histogram]:
    # Each duration is computed once (a materialized CTE: SQLite would otherwise parse
    # both timestamps again for every bucket), then bucketed.
    durations = select(
        *(label.label(f"label_{i}") for i, label in enumerate(labels)),
        duration_seconds(dialect, started, finished).label("seconds"),
    ).where(where)
    table = durations.cte("durations").prefix_with("MATERIALIZED")
    keys = [table.c[f"label_{i}"] for i in range(len(labels))]
    seconds = table.c.seconds
    columns = [func.count(), func.coalesce(func.sum(seconds), 0.0)] + [
        func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds
    ]
    query = select(*keys, *columns).group_by(*keys)
    found: dict[Any, Histogram] = {}
    for row in session.exec(query).all():
        key = tuple(row[: len(labels)])
        count, total, *cumulative = row[len(labels) :]
        found[key if len(key) > 1 else key[0]] = Histogram(
            buckets=[int(c or 0) for c in cumulative], count=int(count), total=float(total or 0)
        )
    return found


def snapshot(
    engine: Engine,
    *,
    today: datetime,
    node_bounds: Sequence[float],
    run_bounds: Sequence[float],
) -> Snapshot:
    """The numbers a scrape exposes (`today`: the start of the UTC day, for spend)."""
    dialect = engine.dialect.name
    found = Snapshot()
    with session_scope(_reader(engine)) as session:
        ended = Run.status.in_(sorted(RUN_TERMINAL))  # type: ignore[attr-defined]
        rows = session.exec(
            select(Run.pipeline_name, Run.status, func.count())
            .where(ended)
            .group_by(Run.pipeline_name, Run.status)
        ).all()
        found.runs = {(p, s): int(n) for p, s, n in rows}
        rows = session.exec(
            select(Run.status, func.count())
            .where(Run.status.in_(IN_PROGRESS))  # type: ignore[attr-defined]
            .group_by(Run.status)
        ).all()
        found.in_progress = {status: 0 for status in IN_PROGRESS} | {s: int(n) for s, n in rows}
        provider = func.coalesce(NodeRun.provider, literal("none"))
        rows = session.exec(
            select(NodeRun.type, provider, NodeRun.status, func.count())
            .where(NodeRun.status.in_(("completed", "failed", "skipped")))  # type: ignore[attr-defined]
            .group_by(NodeRun.type, provider, NodeRun.status)
        ).all()
        found.node_runs = {(t, p, s): int(n) for t, p, s, n in rows}
        found.node_durations = _histograms(
            session,
            dialect,
            [NodeRun.type, provider],
            NodeRun.started_at,
            NodeRun.finished_at,
            and_(
                NodeRun.status == "completed",
                NodeRun.cache_hit.is_(False),  # type: ignore[attr-defined]
                NodeRun.started_at.is_not(None),  # type: ignore[union-attr]
                NodeRun.finished_at.is_not(None),  # type: ignore[union-attr]
            ),
            node_bounds,
        )
        found.run_durations = _histograms(
            session,
            dialect,
            [Run.pipeline_name],
            Run.started_at,
            Run.finished_at,
            and_(
                Run.status == "completed",
                Run.started_at.is_not(None),  # type: ignore[union-attr]
                Run.finished_at.is_not(None),  # type: ignore[union-attr]
            ),
            run_bounds,
        )
        rows = session.exec(
            select(NodeRun.type, func.count())
            .where(NodeRun.cache_hit.is_(True))  # type: ignore[attr-defined]
            .group_by(NodeRun.type)
        ).all()
        found.cache_hits = {t: int(n) for t, n in rows}
        rows = session.exec(
            select(ProviderErrorRow.provider, ProviderErrorRow.kind, func.count()).group_by(
                ProviderErrorRow.provider, ProviderErrorRow.kind
            )
        ).all()
        found.provider_errors = {(p, k): int(n) for p, k, n in rows}
        rows = session.exec(
            select(ProviderCalls.provider, func.sum(ProviderCalls.calls)).group_by(
                ProviderCalls.provider
            )
        ).all()
        found.provider_calls = {p: int(n or 0) for p, n in rows}
        amounts = session.exec(
            select(
                func.sum(case((CostEntry.kind == "savings", CostEntry.amount_usd), else_=0.0)),
                func.sum(
                    case(
                        (
                            and_(CostEntry.kind == "billed", CostEntry.created_at >= today),
                            CostEntry.amount_usd,
                        ),
                        else_=0.0,
                    )
                ),
            ).where(CostEntry.kind.in_(("savings", "billed")))  # type: ignore[attr-defined]
        ).one()
        found.savings_usd, found.billed_today_usd = (float(a or 0) for a in amounts)
        found.approvals_waiting = found.in_progress.get("awaiting_approval", 0)
        rows = session.exec(
            select(Approval.decision, func.count()).group_by(Approval.decision)
        ).all()
        found.approval_decisions = {d: int(n) for d, n in rows}
        rows = session.exec(
            select(AlertRow.alert, func.count())
            .where(AlertRow.state == "firing")
            .group_by(AlertRow.alert)
        ).all()
        found.alerts_firing = {a: int(n) for a, n in rows}
    return found


# -- windows: what alerts and the report look at ---------------------------------------


def ended_runs(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    pipeline: str | None = None,
    last: int | None = None,
) -> list[tuple[str, str, float | None]]:
    """Runs that ended (by end time, or the `last` ones), as (id, status, seconds from
    start to end; None when the run never started)."""
    dialect = engine.dialect.name
    seconds = duration_seconds(dialect, Run.started_at, Run.finished_at)
    query = select(Run.id, Run.status, seconds).where(
        Run.status.in_(sorted(RUN_TERMINAL)),  # type: ignore[attr-defined]
        Run.finished_at.is_not(None),  # type: ignore[union-attr]
    )
    if since is not None:
        query = query.where(Run.finished_at >= since)  # type: ignore[operator]
    if until is not None:
        query = query.where(Run.finished_at <= until)  # type: ignore[operator]
    if pipeline is not None:
        query = query.where(Run.pipeline_name == pipeline)
    if last is not None:
        query = query.order_by(Run.finished_at.desc()).limit(last)  # type: ignore[union-attr]
    with session_scope(_reader(engine)) as session:
        rows = session.exec(query).all()  # type: ignore[call-overload]
    return [(i, s, float(d) if d is not None else None) for i, s, d in rows]


def provider_failures_since(
    engine: Engine, since: datetime, *, ignore_kinds: Sequence[str] = ()
) -> dict[str, tuple[datetime, datetime, int]]:
    """Per provider, its failed calls since `since` (kinds left out as given): the first,
    the last, and how many."""
    query = select(
        ProviderErrorRow.provider,
        func.min(ProviderErrorRow.at),
        func.max(ProviderErrorRow.at),
        func.count(),
    ).where(ProviderErrorRow.at >= since)
    if ignore_kinds:
        query = query.where(ProviderErrorRow.kind.notin_(list(ignore_kinds)))  # type: ignore[attr-defined]
    with session_scope(_reader(engine)) as session:
        rows = session.exec(query.group_by(ProviderErrorRow.provider)).all()  # type: ignore[call-overload]
    return {p: (first, last, int(n)) for p, first, last, n in rows}


def cache_opportunities(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    pipeline: str | None = None,
) -> tuple[int, int]:
    """Completed node runs that could have come from cache, and how many did: a node
    counts when it was a hit, or when its work (cache key) had been completed by an
    earlier node run before it started. Runs that asked to `--refresh` are left out
    (their misses are on purpose), and so are approvals."""
    earlier = aliased(NodeRun)
    done_before = (
        select(earlier.id)
        .where(
            earlier.cache_key == NodeRun.cache_key,
            earlier.status == "completed",
            earlier.id != NodeRun.id,
            earlier.finished_at < NodeRun.started_at,  # type: ignore[operator]
        )
        .exists()
    )
    query = (
        select(NodeRun.cache_hit, Run.refresh)
        .join(Run, Run.id == NodeRun.run_id)
        .where(
            NodeRun.status == "completed",
            NodeRun.type != "approval",
            NodeRun.cache_hit.is_(True) | done_before,  # type: ignore[attr-defined]
        )
    )
    if since is not None:
        query = query.where(NodeRun.finished_at >= since)  # type: ignore[operator]
    if until is not None:
        query = query.where(NodeRun.finished_at <= until)  # type: ignore[operator]
    if pipeline is not None:
        query = query.where(Run.pipeline_name == pipeline)
    with session_scope(_reader(engine)) as session:
        rows = session.exec(query).all()  # type: ignore[call-overload]
    could = hits = 0
    for hit, refresh in rows:
        if refresh and not hit:
            continue
        could += 1
        hits += bool(hit)
    return could, hits


def waiting_since(engine: Engine, before: datetime) -> list[tuple[str, str, datetime]]:
    """Runs waiting for approval since before `before`: (id, pipeline, since when)."""
    query = select(Run.id, Run.pipeline_name, Run.updated_at).where(
        Run.status == "awaiting_approval",
        Run.updated_at <= before,  # type: ignore[operator]
    )
    with session_scope(_reader(engine)) as session:
        return [tuple(row) for row in session.exec(query.order_by(Run.updated_at)).all()]  # type: ignore[misc]


def decisions(
    engine: Engine, *, since: datetime | None = None, pipeline: str | None = None
) -> list[tuple[str, str, str, str | None]]:
    """Approval decisions, oldest first, as (run id, gate, decision, reviewer)."""
    query = select(Approval.run_id, Approval.node_id, Approval.decision, Approval.reviewer).join(
        Run, Run.id == Approval.run_id
    )
    if since is not None:
        query = query.where(Approval.decided_at >= since)
    if pipeline is not None:
        query = query.where(Run.pipeline_name == pipeline)
    query = query.order_by(Approval.decided_at, Approval.round, Approval.id)
    with session_scope(_reader(engine)) as session:
        return [tuple(row) for row in session.exec(query).all()]  # type: ignore[misc]


def completed_costs(
    engine: Engine, *, since: datetime | None = None, pipeline: str | None = None
) -> tuple[int, float]:
    """Completed runs (ended since `since`) and what they were billed in all."""
    billed = (
        select(func.coalesce(func.sum(CostEntry.amount_usd), 0.0))
        .where(CostEntry.run_id == Run.id, CostEntry.kind == "billed")
        .scalar_subquery()
    )
    query = select(func.count(), func.coalesce(func.sum(billed), 0.0)).where(
        Run.status == "completed"
    )
    if since is not None:
        query = query.where(Run.finished_at >= since)  # type: ignore[operator]
    if pipeline is not None:
        query = query.where(Run.pipeline_name == pipeline)
    with session_scope(_reader(engine)) as session:
        count, total = session.exec(query).one()  # type: ignore[call-overload]
    return int(count), float(total or 0)


def savings(engine: Engine, *, since: datetime | None = None, pipeline: str | None = None) -> float:
    """What cache hits on paid work saved."""
    query = (
        select(func.coalesce(func.sum(CostEntry.amount_usd), 0.0))
        .join(Run, Run.id == CostEntry.run_id, isouter=True)
        .where(CostEntry.kind == "savings")
    )
    if since is not None:
        query = query.where(CostEntry.created_at >= since)
    if pipeline is not None:
        query = query.where(Run.pipeline_name == pipeline)
    with session_scope(_reader(engine)) as session:
        return float(session.exec(query).one() or 0)  # type: ignore[call-overload]


def call_totals(
    engine: Engine, *, since: datetime | None = None, pipeline: str | None = None
) -> tuple[int, int]:
    """Provider calls and failed ones (from the hour `since` falls in)."""
    query = select(
        func.coalesce(func.sum(ProviderCalls.calls), 0),
        func.coalesce(func.sum(ProviderCalls.failed), 0),
    )
    if since is not None:
        query = query.where(ProviderCalls.hour >= since.replace(minute=0, second=0, microsecond=0))
    if pipeline is not None:
        query = query.where(ProviderCalls.pipeline == pipeline)
    with session_scope(_reader(engine)) as session:
        calls, failed = session.exec(query).one()  # type: ignore[call-overload]
    return int(calls or 0), int(failed or 0)
