"""Who is told when something worth watching happens: the observer registry.

The code where an event happens stays small and knows nothing of databases, metrics or
alert channels: the providers' HTTP layer reports each failed call and each call that
answered (`provider_failed`, `provider_answered`), and the ledger reports the daily
limits (`limit_reached`: the soft limit crossed, paid work refused by the hard one). The
observers that record them (`vidpipe.observability` writes the provider log and raises
alerts; `tasks/observe.py` registers it in every process that runs flows) subscribe with
`subscribe`.

An observer never fails the work that reported the event: its exceptions are logged at
DEBUG and dropped. Standard library only, so any layer may report.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "ProviderFailure",
    "LimitEvent",
    "subscribe",
    "unsubscribe",
    "provider_failed",
    "provider_answered",
    "limit_reached",
    "observers",
    "Observer",
]

_log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ProviderFailure:
    """One provider call that failed (and may be retried): which provider, what kind of
    failure (`rate_limited`, `server_error`, `timeout`, `connection`, `malformed`,
    `unauthorized`, `rejected`, `truncated`, `job_failed`), its HTTP status where there
    was one, and the message (already free of secrets)."""

    provider: str
    kind: str
    status: int | None = None
    message: str = ""
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class LimitEvent:
    """A daily spending limit reached: `soft` (crossed: alert only) or `hard` (paid work
    refused). Amounts in USD; `who` names the refused node, when one was."""

    kind: Literal["soft", "hard"]
    spent_usd: float
    reserved_usd: float
    next_usd: float
    limit_usd: float
    message: str
    who: str | None = None
    at: datetime = field(default_factory=_now)


@dataclass
class Observer:
    """A set of callbacks; any of them may be left out."""

    on_provider_failure: Callable[[ProviderFailure], Any] | None = None
    on_provider_ok: Callable[[str], Any] | None = None
    on_limit: Callable[[LimitEvent], Any] | None = None


_observers: dict[str, Observer] = {}
_lock = threading.Lock()


def subscribe(name: str, observer: Observer) -> None:
    """Register (or replace) the observer called `name`."""
    with _lock:
        _observers[name] = observer


def unsubscribe(name: str) -> None:
    with _lock:
        _observers.pop(name, None)


def observers() -> list[str]:
    """The names of the registered observers."""
    with _lock:
        return sorted(_observers)


def _each(attribute: str, *args: Any) -> None:
    with _lock:
        callbacks = [getattr(o, attribute) for o in _observers.values()]
    for callback in callbacks:
        if callback is None:
            continue
        try:
            callback(*args)
        except Exception:  # an observer never fails the work that reported the event
            _log.debug("observer %s failed", attribute, exc_info=True)


def provider_failed(event: ProviderFailure) -> None:
    """A provider call failed (its error is being raised; it may be retried)."""
    _each("on_provider_failure", event)


def provider_answered(provider: str) -> None:
    """A provider call answered with a success."""
    _each("on_provider_ok", provider)


def limit_reached(event: LimitEvent) -> None:
    """A daily limit was crossed (soft) or refused paid work (hard)."""
    _each("on_limit", event)
