"""How a run ends when it does not reach its last node: the status and reason of an
exception or interrupt (`ending`), a cancellation in Prefect seen while the flow runs or
waits at a gate (`CancelWatch`), and the flow hooks a runner or worker calls when it
cancels or loses a flow run (`on_cancellation`, `on_crashed`).

Each of them ends the vidpipe run through `db.end_run`, so the first ending wins and
nothing is left `running`.
"""

from __future__ import annotations

import contextlib
import contextvars
import signal
import threading
from typing import Any

from prefect import get_client
from prefect.exceptions import TerminationSignal

from vidpipe import db
from vidpipe.errors import VidpipeError
from vidpipe.settings import get_settings

__all__ = [
    "CANCEL_POLL_S",
    "CancelWatch",
    "CancelledInPrefect",
    "cancel_requested",
    "ending",
    "interrupt_on_cancel",
    "mark_cancelled",
    "on_cancellation",
    "on_crashed",
]


#: How often a running flow asks Prefect whether its flow run was cancelled.
CANCEL_POLL_S = 3.0

#: Set by the CLI, which runs the flow in its own main thread: on a cancellation seen in
#: Prefect, interrupt that thread (as Ctrl-C would) so the process stops. A flow run
#: started by a runner or worker is stopped by that runner, which kills its process.
interrupt_on_cancel = threading.Event()


def _termination_reason() -> str:
    """Why the flow got SIGTERM: a cancellation its runner or worker carried out (Prefect
    says so before the signal), or a plain `kill`."""
    try:
        from prefect._internal.control_listener import get_intent
    except ImportError:  # a Prefect without the control channel
        return "terminated (SIGTERM)"
    return "cancelled in Prefect" if get_intent() == "cancel" else "terminated (SIGTERM)"


def ending(exc: BaseException) -> tuple[str, str]:
    """How a run that stopped with `exc` ends: its status and its reason."""
    if isinstance(exc, TerminationSignal):
        return "cancelled", _termination_reason()
    if isinstance(exc, KeyboardInterrupt):
        return "cancelled", str(exc) or "interrupted"
    if isinstance(exc, VidpipeError):
        return "failed", str(exc).strip() or type(exc).__name__
    return "failed", f"{type(exc).__name__}: {exc}".strip().rstrip(":")


class CancelledInPrefect(KeyboardInterrupt):
    """The flow run was cancelled in Prefect at a moment the flow could only learn it from
    Prefect refusing its next step (a gate's pause asked for just after the Cancel): it
    stops as an interrupt does, as `CancelWatch` would have stopped it."""

    def __init__(self) -> None:
        super().__init__("cancelled in Prefect")


def cancel_requested(flow_run_id: Any) -> bool:
    """Whether Prefect says the flow run is cancelling or cancelled (False if it cannot
    be asked)."""
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run_id).state
    except Exception:  # noqa: BLE001 - unknown counts as not cancelled
        return False
    return state is not None and (state.is_cancelling() or state.is_cancelled())


class CancelWatch:
    """Watches the flow run's Prefect state from a daemon thread: a flow run cancelled in
    the UI (or API) ends the vidpipe run `cancelled` within `CANCEL_POLL_S`, whether the
    flow is running nodes or paused at a gate (a paused flow only notices a resume)."""

    def __init__(self, engine: Any, run_id: str, flow_run_id: Any):
        self.engine, self.run_id, self.flow_run_id = engine, run_id, flow_run_id
        self.main = threading.main_thread().ident
        self._stop = threading.Event()
        # the flow's context: its Prefect settings and client (no new client per look)
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._loop,), name="vidpipe-cancel", daemon=True
        )

    def __enter__(self) -> CancelWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(CANCEL_POLL_S):
            if not cancel_requested(self.flow_run_id):  # the API may be away: ask again
                continue
            db.end_run(self.engine, self.run_id, "cancelled", "cancelled in Prefect")
            if interrupt_on_cancel.is_set() and self.main is not None:
                signal.pthread_kill(self.main, signal.SIGINT)
            return


def mark_cancelled(flow_run_id: Any) -> None:
    """Move an in-process flow run to Cancelled. No runner does it for a flow run that
    `vidpipe run` runs itself, and the engine reports the interrupt that stops it as a
    crash: the CLI calls this once the flow has unwound, so the Prefect UI shows the same
    ending as vidpipe."""
    from prefect.states import Cancelled

    with contextlib.suppress(Exception), get_client(sync_client=True) as client:
        client.set_flow_run_state(
            flow_run_id, Cancelled(message="cancelled in Prefect"), force=True
        )


def _hook_end(flow_run: Any, status: str, reason: str) -> None:
    engine = db.make_engine(get_settings().resolved_database_url)
    found = db.run_for_flow_run(engine, str(flow_run.id))
    if found is not None:
        db.end_run(engine, found.id, status, reason)


def on_cancellation(flow: Any, flow_run: Any, state: Any) -> None:
    """Runs in the runner or worker that kills a cancelled flow run's process."""
    _hook_end(flow_run, "cancelled", "cancelled in Prefect")


def on_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    message = (getattr(state, "message", None) or "").strip()
    _hook_end(flow_run, "failed", "the flow run crashed" + (f": {message}" if message else ""))
