"""The observer that writes what the providers' HTTP layer and the ledger report into
the database, and raises the alerts that happen at a moment.

- A failed provider call is written at once (`provider_errors`), with the run, node and
  pipeline it served where the log context knows them (`vidpipe.logs.current_context`).
- Every call, failed or answered, is counted per provider, pipeline and UTC hour in
  memory and added to `provider_calls` every `FLUSH_S` seconds, at once when a provider
  answers again after failing (the alert on a provider that is down reads it), and when
  the process exits.
- A daily limit reached raises its alert (`soft_limit`, `hard_limit`) and delivers it in
  the background: the run never waits for, or fails because of, a webhook.

Nothing here raises into the caller: a database that cannot be written loses the record
and logs why at DEBUG (`vidpipe.observers` drops observers' exceptions too).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from vidpipe import db, observers
from vidpipe.logs import current_context
from vidpipe.observability import alerts
from vidpipe.settings import get_settings

__all__ = ["Recorder", "install", "uninstall", "FLUSH_S", "OBSERVER_NAME"]

_log = logging.getLogger(__name__)

#: Seconds between two writes of the call counts.
FLUSH_S = 15.0
OBSERVER_NAME = "vidpipe.observability"


class Recorder:
    """Keeps call counts until they are flushed; writes errors and limit events."""

    def __init__(self, flush_s: float = FLUSH_S, when: Callable[[], bool] | None = None) -> None:
        self.flush_s = flush_s
        #: Record only while this says so (`tasks/observe.py`: inside a flow or task run).
        self.when = when
        self._lock = threading.Lock()
        # (database URL, provider, pipeline, hour) -> [calls, failed, last ok]: the URL is
        # the one in force when the call was made, so a later flush writes where it belongs
        self._counts: dict[tuple[str, str, str, datetime], list] = defaultdict(lambda: [0, 0, None])
        self._failing: set[str] = set()
        self._timer: threading.Timer | None = None
        self._ready: set[str] = set()

    def _engine(self, url: str | None = None) -> Engine:
        url = url or get_settings().resolved_database_url
        engine = db.make_engine(url)
        if url not in self._ready:
            db.init_db(engine)
            self._ready.add(url)
        return engine

    # -- provider calls --------------------------------------------------------------

    def _count(self, provider: str, failed: bool, at: datetime) -> None:
        pipeline = current_context().get("pipeline", "")
        url = get_settings().resolved_database_url
        with self._lock:
            row = self._counts[(url, provider, pipeline, db.hour_of(at))]
            row[0] += 1
            if failed:
                row[1] += 1
            else:
                row[2] = at
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.flush_s, self._flush_quietly)
            self._timer.daemon = True
            self._timer.start()

    def _recording(self) -> bool:
        return self.when is None or self.when()

    def on_failure(self, event: observers.ProviderFailure) -> None:
        if not self._recording():
            return
        known = current_context()
        with self._lock:
            self._failing.add(event.provider)
        self._count(event.provider, True, event.at)
        db.record_provider_error(
            self._engine(),
            provider=event.provider,
            kind=event.kind,
            status=event.status,
            message=event.message,
            run_id=known.get("run_id"),
            node_id=known.get("node_id"),
            at=event.at,
        )

    def on_ok(self, provider: str) -> None:
        if not self._recording():
            return
        self._count(provider, False, db.utcnow())
        with self._lock:
            recovered = provider in self._failing
            self._failing.discard(provider)
        if recovered:  # the alert on a provider that is down must see this now
            self.flush()

    def flush(self) -> int:
        """Write the counts kept so far; returns how many rows were added to."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(lambda: [0, 0, None])
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        by_database: dict[str, list[db.CallCount]] = defaultdict(list)
        for (url, provider, pipeline, hour), (calls, failed, last_ok) in counts.items():
            by_database[url].append(db.CallCount(provider, pipeline, hour, calls, failed, last_ok))
        for url, rows in by_database.items():
            db.add_provider_calls(self._engine(url), rows)
        return len(counts)

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:
            _log.debug("provider call counts not written", exc_info=True)

    # -- limits ----------------------------------------------------------------------

    def on_limit(self, event: observers.LimitEvent) -> None:
        if not self._recording():
            return
        alerts.limit_alert(self._engine(), event, background=True)


_recorder: Recorder | None = None
_install_lock = threading.Lock()


def install(flush_s: float = FLUSH_S, when: Callable[[], bool] | None = None) -> Recorder:
    """Subscribe the recorder to the observers (once per process; `when` says when to
    record, default always); returns it."""
    global _recorder
    with _install_lock:
        if _recorder is None:
            _recorder = Recorder(flush_s, when)
            atexit.register(_recorder._flush_quietly)
        observers.subscribe(
            OBSERVER_NAME,
            observers.Observer(
                on_provider_failure=_recorder.on_failure,
                on_provider_ok=_recorder.on_ok,
                on_limit=_recorder.on_limit,
            ),
        )
        return _recorder


def uninstall() -> None:
    """Stop recording (tests); counts kept so far are written first."""
    global _recorder
    with _install_lock:
        observers.unsubscribe(OBSERVER_NAME)
        if _recorder is not None:
            _recorder._flush_quietly()
            atexit.unregister(_recorder._flush_quietly)
            _recorder = None
