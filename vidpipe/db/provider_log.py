"""The provider log: each provider call that failed (`provider_errors`), and how many
calls each provider answered or failed per UTC hour and pipeline (`provider_calls`, with
when it last answered), so error rates have a denominator and "down" has evidence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from .engine import _reader, session_scope
from .tables import ProviderCalls, ProviderErrorRow, utcnow

__all__ = [
    "CallCount",
    "record_provider_error",
    "add_provider_calls",
    "provider_errors",
    "hour_of",
    "last_answered",
]


def hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (the key of `provider_calls`)."""
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class CallCount:
    """Calls to add to one (provider, pipeline, hour) row."""

    provider: str
    pipeline: str
    hour: datetime
    calls: int
    failed: int
    last_ok_at: datetime | None = None


def record_provider_error(
    engine: Engine,
    *,
    provider: str,
    kind: str,
    status: int | None = None,
    message: str | None = None,
    run_id: str | None = None,
    node_id: str | None = None,
    at: datetime | None = None,
) -> ProviderErrorRow:
    """Append one failed provider call."""
    row = ProviderErrorRow(
        provider=provider[:64],
        kind=kind[:32],
        status=status,
        message=(message or "")[:2000] or None,
        run_id=run_id,
        node_id=(node_id or None) and node_id[:64],
        at=at or utcnow(),
    )
    with session_scope(engine) as session:
        session.add(row)
    return row


def add_provider_calls(engine: Engine, counts: Iterable[CallCount]) -> None:
    """Add call counts to their hours' rows (created when missing), keeping the latest
    `last_ok_at`; one transaction, safe against other workers adding at the same time."""
    counts = list(counts)
    if not counts:
        return
    table = ProviderCalls.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with session_scope(engine) as session:
        for count in counts:
            statement = insert(table).values(
                provider=count.provider[:64],
                pipeline=count.pipeline[:64],
                hour=count.hour,
                calls=count.calls,
                failed=count.failed,
                last_ok_at=count.last_ok_at,
            )
            new, old = statement.excluded, table.c
            statement = statement.on_conflict_do_update(
                index_elements=["provider", "pipeline", "hour"],
                set_={
                    "calls": old.calls + new.calls,
                    "failed": old.failed + new.failed,
                    "last_ok_at": case(
                        (new.last_ok_at.is_(None), old.last_ok_at),
                        (old.last_ok_at.is_(None), new.last_ok_at),
                        (new.last_ok_at > old.last_ok_at, new.last_ok_at),
                        else_=old.last_ok_at,
                    ),
                },
            )
            session.execute(statement)


def provider_errors(
    engine: Engine,
    *,
    since: datetime | None = None,
    provider: str | None = None,
    limit: int = 100,
) -> list[ProviderErrorRow]:
    """Failed provider calls, the most recent first."""
    query = select(ProviderErrorRow)
    if since is not None:
        query = query.where(ProviderErrorRow.at >= since)
    if provider is not None:
        query = query.where(ProviderErrorRow.provider == provider)
    query = query.order_by(ProviderErrorRow.at.desc()).limit(limit)  # type: ignore[attr-defined]
    with session_scope(_reader(engine)) as session:
        return list(session.exec(query).all())


def last_answered(engine: Engine) -> dict[str, datetime]:
    """When each provider last answered a call."""
    query = select(ProviderCalls.provider, func.max(ProviderCalls.last_ok_at)).group_by(
        ProviderCalls.provider
    )
    with session_scope(_reader(engine)) as session:
        rows = session.exec(query).all()  # type: ignore[call-overload]
    return {provider: at for provider, at in rows if at is not None}
