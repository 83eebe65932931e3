"""The cost ledger: billed lines, reservations (estimates) and savings, per run and node."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import select

from .engine import _reader, session_scope
from .tables import CostEntry, Run


def add_cost_entry(engine: Engine, **fields: Any) -> CostEntry:
    """Append one ledger line (the columns of `CostEntry`)."""
    entry = CostEntry(**fields)
    with session_scope(engine) as session:
        session.add(entry)
    return entry


def delete_cost_entry(engine: Engine, entry_id: str) -> None:
    """Drop a line: only reservations are ever dropped, once their billed line is written."""
    with session_scope(engine) as session:
        session.execute(
            delete(CostEntry).where(CostEntry.id == entry_id, CostEntry.kind == "estimate")
        )


def cost_entries(
    engine: Engine,
    *,
    run_id: str | None = None,
    since: datetime | None = None,
    kinds: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Ledger lines, oldest first, each with its run's pipeline name joined in."""
    query = select(CostEntry, Run.pipeline_name).join(Run, CostEntry.run_id == Run.id, isouter=True)
    if run_id is not None:
        query = query.where(CostEntry.run_id == run_id)
    if since is not None:
        query = query.where(CostEntry.created_at >= since)
    if kinds is not None:
        query = query.where(CostEntry.kind.in_(list(kinds)))  # type: ignore[attr-defined]
    query = query.order_by(CostEntry.created_at, CostEntry.id)
    with session_scope(_reader(engine)) as session:
        rows = session.exec(query).all()  # type: ignore[call-overload]
    return [{**entry.model_dump(), "pipeline": pipeline} for entry, pipeline in rows]
