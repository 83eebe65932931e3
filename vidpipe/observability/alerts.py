"""Alerts: conditions (`rules`) become episodes in the alert log, each notice delivered
once (`delivery`).

- `evaluate` (the `evaluate-alerts` maintenance flow, `vidpipe alerts --evaluate`) checks
  every rule: a condition that holds and has no open episode fires (one notice); an open
  episode whose condition no longer holds resolves (one more notice); one that still
  holds only has its value and `last_seen_at` updated. Then every notice still due is
  delivered: one a webhook did not take is tried again at the next evaluation.
- `limit_alert` fires `soft_limit` or `hard_limit` at the moment the ledger reaches
  them, delivering in a background thread so the run neither waits nor fails.

An alert's identity is its name and labels (`key`): `provider_down` per provider,
`approval_waiting` per run, the daily limits per UTC day.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from vidpipe import db, observers
from vidpipe.observability import delivery
from vidpipe.observability.rules import (
    RULES,
    AlertRules,
    Condition,
    check,
    hard_condition,
    soft_condition,
)

__all__ = ["Evaluation", "key", "evaluate", "limit_alert", "deliver_pending", "raise_condition"]

_log = logging.getLogger(__name__)


def key(alert: str, labels: dict[str, Any]) -> str:
    """An alert's identity: its name and its labels."""
    return f"{alert}{json.dumps(labels, sort_keys=True, separators=(',', ':'))}"[:512]


@dataclass
class Evaluation:
    """What one evaluation did."""

    at: datetime
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    firing: list[str] = field(default_factory=list)
    delivered: int = 0
    failed: list[str] = field(default_factory=list)
    channel: str = "none"

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "fired": self.fired,
            "resolved": self.resolved,
            "firing": self.firing,
            "delivered": self.delivered,
            "failed": self.failed,
            "channel": self.channel,
        }


def raise_condition(engine: Engine, condition: Condition, now: datetime) -> tuple[Any, bool]:
    """Open the condition's episode (or note it still holds); returns (row, opened)."""
    return db.open_alert(
        engine,
        alert=condition.alert,
        key=key(condition.alert, condition.labels),
        severity=condition.severity,
        summary=condition.summary,
        value=condition.value,
        threshold=condition.threshold,
        labels=condition.labels,
        now=now,
    )


def evaluate(
    engine: Engine,
    *,
    rules: AlertRules | None = None,
    now: datetime | None = None,
    channel: delivery.Channel | None = None,
) -> Evaluation:
    """Check every rule at `now`, fire and resolve episodes, deliver what is due."""
    now = now or db.utcnow()
    rules = rules or AlertRules.from_settings()
    result = Evaluation(at=now)
    holding = check(engine, rules, now)
    for conditions in holding.values():
        for condition in conditions:
            row, opened = raise_condition(engine, condition, now)
            if opened:
                result.fired.append(row.open_key or condition.alert)
                _log.warning("alert %s fired: %s", condition.alert, condition.summary)
    current = {key(c.alert, c.labels) for cs in holding.values() for c in cs}
    for row in db.open_alerts(engine, RULES):
        if row.open_key in current:
            result.firing.append(row.open_key or row.alert)
            continue
        if db.resolve_alert(engine, row.id, now=now):
            result.resolved.append(row.open_key or row.alert)
            _log.warning("alert %s resolved: %s", row.alert, row.summary)
    channel = channel or delivery.channel()
    result.channel = channel.name
    result.delivered, result.failed = deliver_pending(engine, channel, now=now)
    return result


def deliver_pending(
    engine: Engine, channel: delivery.Channel | None = None, *, now: datetime | None = None
) -> tuple[int, list[str]]:
    """Deliver every notice due, each once; returns how many were delivered and the
    errors of those that were not (they stay due)."""
    channel = channel or delivery.channel()
    sent, failed = 0, []
    blocked: set[str] = set()  # an episode whose firing notice failed: its resolve waits
    for row, notice in db.pending_notices(engine):
        if row.id in blocked or not db.take_notice(engine, row.id, notice, now=db.utcnow()):
            continue
        if channel.send is None:
            db.notice_sent(engine, row.id, notice, channel.name)
            continue
        body = delivery.payload(
            alert=row.alert,
            severity=row.severity,
            summary=row.summary,
            value=row.value,
            threshold=row.threshold,
            labels=row.labels,
            fired_at=row.fired_at,
            resolved=notice == "resolve",
        )
        try:
            channel.send(body)
        except Exception as exc:  # a channel that is down never fails the caller
            error = str(exc) if isinstance(exc, delivery.DeliveryError) else type(exc).__name__
            db.notice_failed(engine, row.id, error, channel.name)
            failed.append(error)
            blocked.add(row.id)
            _log.warning("alert %s not delivered (retried later): %s", row.alert, error)
            continue
        db.notice_sent(engine, row.id, notice, channel.name)
        sent += 1
    return sent, failed


def limit_alert(
    engine: Engine,
    event: observers.LimitEvent,
    *,
    background: bool = False,
    channel: delivery.Channel | None = None,
) -> bool:
    """Fire the alert of a daily limit reached at this moment (or note that its episode
    still holds); returns whether it fired now. Its notice is delivered at once, in a
    background thread when `background`."""
    now = event.at
    committed = event.spent_usd + event.reserved_usd + event.next_usd
    if event.kind == "soft":
        condition = soft_condition(committed, event.limit_usd, now)
    else:
        condition = hard_condition(event.message, committed, event.limit_usd, now, event.who)
    _, opened = raise_condition(engine, condition, now)
    if not opened:
        return False
    _log.warning("alert %s fired: %s", condition.alert, condition.summary)

    def send() -> None:
        try:
            deliver_pending(engine, channel)
        except Exception:  # the next evaluation delivers it
            _log.debug("alert delivery failed", exc_info=True)

    if background:
        threading.Thread(target=send, name="vidpipe-alert", daemon=True).start()
    else:
        send()
    return True
