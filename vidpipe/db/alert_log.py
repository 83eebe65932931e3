"""The alert log: one row per episode of an alert (fired, then resolved), and the
delivery of its two notices, each sent once however many processes evaluate at once.

An episode is opened by inserting its `open_key` (unique while it fires), so two
evaluators that see the same condition at the same moment open it once. A notice is sent
by whoever takes it first (`take_notice`: a conditional UPDATE with a lease); a sender that
died lets the lease lapse and the next evaluation sends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from .engine import _reader, session_scope
from .tables import AlertRow, utcnow

__all__ = [
    "ALERT_STATES",
    "open_alert",
    "resolve_alert",
    "open_alerts",
    "list_alerts",
    "pending_notices",
    "take_notice",
    "notice_sent",
    "notice_failed",
]

ALERT_STATES = ("firing", "resolved")
Notice = Literal["fire", "resolve"]

#: How long a sender holds a notice before another may take it (a sender that died).
SEND_LEASE = timedelta(seconds=60)


def open_alert(
    engine: Engine,
    *,
    alert: str,
    key: str,
    severity: str,
    summary: str,
    value: float | None,
    threshold: float | None,
    labels: Mapping[str, Any],
    now: datetime | None = None,
) -> tuple[AlertRow, bool]:
    """Open the episode of `key`, or, when one is open already, note that its condition
    still holds (its value, summary and `last_seen_at`). Returns the row and whether it
    was opened now."""
    now = now or utcnow()
    row = AlertRow(
        alert=alert,
        open_key=key,
        severity=severity,
        summary=summary[:2000],
        value=value,
        threshold=threshold,
        labels=dict(labels),
        fired_at=now,
        last_seen_at=now,
    )
    try:
        with session_scope(engine) as session:
            session.add(row)
        return row, True
    except IntegrityError:
        pass
    with session_scope(engine) as session:
        session.execute(
            update(AlertRow)
            .where(AlertRow.open_key == key)
            .values(value=value, summary=summary[:2000], last_seen_at=now)
        )
        found = session.exec(select(AlertRow).where(AlertRow.open_key == key)).first()
    if found is None:  # resolved between the two statements: open a new episode
        return open_alert(
            engine,
            alert=alert,
            key=key,
            severity=severity,
            summary=summary,
            value=value,
            threshold=threshold,
            labels=labels,
            now=now,
        )
    return found, False


def resolve_alert(
    engine: Engine, alert_id: str, *, value: float | None = None, now: datetime | None = None
) -> bool:
    """End an episode that fires; False when it was resolved already."""
    now = now or utcnow()
    values: dict[str, Any] = {"state": "resolved", "open_key": None, "resolved_at": now}
    if value is not None:
        values["value"] = value
    with session_scope(engine) as session:
        result = session.execute(
            update(AlertRow)
            .where(AlertRow.id == alert_id, AlertRow.state == "firing")
            .values(**values)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def open_alerts(engine: Engine, alerts: Iterable[str] | None = None) -> list[AlertRow]:
    """The episodes firing now (of the named alerts), oldest first."""
    query = select(AlertRow).where(AlertRow.state == "firing")
    if alerts is not None:
        query = query.where(AlertRow.alert.in_(list(alerts)))  # type: ignore[attr-defined]
    with session_scope(_reader(engine)) as session:
        return list(session.exec(query.order_by(AlertRow.fired_at)).all())


def list_alerts(
    engine: Engine, *, limit: int = 50, state: str | None = None, since: datetime | None = None
) -> list[AlertRow]:
    """Episodes, the most recently fired first."""
    query = select(AlertRow)
    if state is not None:
        query = query.where(AlertRow.state == state)
    if since is not None:
        query = query.where(AlertRow.fired_at >= since)
    query = query.order_by(AlertRow.fired_at.desc(), AlertRow.id).limit(limit)  # type: ignore[attr-defined]
    with session_scope(_reader(engine)) as session:
        return list(session.exec(query).all())


def pending_notices(engine: Engine) -> list[tuple[AlertRow, Notice]]:
    """Notices not delivered yet, in the order they are due: an episode's firing notice
    before its resolved one (which waits for it)."""
    query = (
        select(AlertRow)
        .where(
            or_(
                AlertRow.fire_sent_at.is_(None),  # type: ignore[union-attr]
                and_(AlertRow.state == "resolved", AlertRow.resolve_sent_at.is_(None)),  # type: ignore[union-attr]
            )
        )
        .order_by(AlertRow.fired_at, AlertRow.id)
    )
    with session_scope(_reader(engine)) as session:
        rows = list(session.exec(query).all())
    return [(row, "fire" if row.fire_sent_at is None else "resolve") for row in rows]


def take_notice(engine: Engine, alert_id: str, notice: Notice, now: datetime | None = None) -> bool:
    """Take the sending of a notice (True: send it now); False when it was sent, or when
    another sender holds it."""
    now = now or utcnow()
    sent = AlertRow.fire_sent_at if notice == "fire" else AlertRow.resolve_sent_at
    with session_scope(engine) as session:
        result = session.execute(
            update(AlertRow)
            .where(
                AlertRow.id == alert_id,
                sent.is_(None),  # type: ignore[union-attr]
                or_(
                    AlertRow.sending_at.is_(None),  # type: ignore[union-attr]
                    AlertRow.sending_at < now - SEND_LEASE,  # type: ignore[operator]
                ),
            )
            .values(sending_at=now, attempts=AlertRow.attempts + 1)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def notice_sent(
    engine: Engine, alert_id: str, notice: Notice, channel: str, now: datetime | None = None
) -> None:
    """A notice was delivered (or there was nowhere to deliver it: channel `none`)."""
    now = now or utcnow()
    column = "fire_sent_at" if notice == "fire" else "resolve_sent_at"
    with session_scope(engine) as session:
        session.execute(
            update(AlertRow)
            .where(AlertRow.id == alert_id)
            .values({column: now, "sending_at": None, "channel": channel, "delivery_error": None})
        )


def notice_failed(engine: Engine, alert_id: str, error: str, channel: str) -> None:
    """A delivery failed: the notice stays due, for the next evaluation."""
    with session_scope(engine) as session:
        session.execute(
            update(AlertRow)
            .where(AlertRow.id == alert_id)
            .values(sending_at=None, channel=channel, delivery_error=error[:1000])
        )
