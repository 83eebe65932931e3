"""A run's nodes as they end: the `Tracker` the flow keeps (outputs, failures, skips,
cache hits, for the progress artifact and the summary), and how each node's outcome is
recorded the moment its task run ends (`record`), including what its task body could not
record itself: a cache hit with its savings, a skip after an upstream failure."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

from prefect.futures import PrefectFuture, as_completed

from flows import report
from tasks.runtime import RunInfo, effective_provider
from vidpipe import costs, db, ledger
from vidpipe.plan import Plan
from vidpipe.refs import MediaRef

__all__ = ["Tracker", "collect", "record"]


@dataclass
class Tracker:
    """The run's nodes as they finish: statuses for the progress artifact and summary."""

    plan: Plan
    run: RunInfo
    engine: Any
    progress_id: Any = None
    outputs: dict[str, MediaRef] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    cached: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    node_of: dict[Any, str] = field(default_factory=dict)  # task run id -> node id
    #: Set once a node's outcome is recorded; whoever records it first made the event.
    recorded: dict[str, threading.Event] = field(default_factory=dict)
    #: The node types' tasks with this run's options, made once each (`flows.pipeline._submit`).
    tasks: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    estimate: costs.PlanEstimate | None = None
    progress_at: float = 0.0  # when the progress artifact was last updated (monotonic)
    progress_lock: threading.Lock = field(default_factory=threading.Lock)
    progress_timer: threading.Timer | None = None  # a postponed update (`report.progress`)
    #: Held while a progress request is in flight: one at a time, and a node's thread
    #: that finds it held does not wait but marks the progress stale (`report.progress`).
    progress_sending: threading.Lock = field(default_factory=threading.Lock)
    progress_stale: bool = False
    #: The flow run's context (its run, client, settings), for artifacts sent from other
    #: threads (`report.progress`).
    context: Any = None

    def finished(self, node_id: str) -> None:
        self.done.add(node_id)
        report.progress(self)

    def forget(self, node_id: str) -> None:
        """A node about to run again (a revision): its earlier outcome no longer counts."""
        with self.lock:
            self._forget(node_id)

    def _forget(self, node_id: str) -> None:
        for seen in (self.done, self.cached, self.skipped):
            seen.discard(node_id)
        self.recorded.pop(node_id, None)
        self.outputs.pop(node_id, None)
        self.failed.pop(node_id, None)


def collect(futures: list[PrefectFuture[MediaRef]], tracker: Tracker) -> None:
    """Wait for futures (already recorded by `record` as each finished) and update the
    progress artifact as they come in."""
    for future in as_completed(futures):
        record(future, tracker)
        report.progress(tracker, throttle=True)
    report.progress(tracker, throttle=True)  # the run's end or a gate sends it at once


def record(future: PrefectFuture[MediaRef], tracker: Tracker) -> None:
    """Record a node's outcome that its task body could not: a cache hit, a skip.

    Called from the future's done callback, in the worker thread, as soon as the node ends
    (so a cache hit shows even while the flow waits at a gate), and again by `collect`;
    the first caller records it (outside the lock, so nodes ending together do not queue)
    and later ones wait until it has.
    """
    with tracker.lock:
        node_id = tracker.node_of[future.task_run_id]
        event = tracker.recorded.get(node_id)
        if event is None:
            event = tracker.recorded[node_id] = threading.Event()
            mine = True
        else:
            mine = False
    if not mine:  # another thread records it: wait until it has (callers read the outcome)
        event.wait()
        return
    try:
        _record_outcome(future, tracker, node_id)  # outside the lock: nodes end in parallel
    finally:
        with tracker.lock:
            tracker.done.add(node_id)
        event.set()
    with contextlib.suppress(Exception):  # shown as it happens, also while a gate waits
        report.progress(tracker, throttle=True)


def _record_outcome(future: PrefectFuture[MediaRef], tracker: Tracker, node_id: str) -> None:
    future.wait()  # sets the future's final state locally (the API's copy may lag)
    state = future.state
    run_id = tracker.run.run_id
    if state.is_completed():
        ref = future.result()
        tracker.outputs[node_id] = ref
        if state.name == "Cached":
            tracker.cached.add(node_id)
            db.record_cache_hit(tracker.engine, run_id, node_id, output=ref)
            report.log_cache_hit(tracker, node_id, state, _record_savings(tracker, node_id))
    elif state.is_failed() or state.is_crashed():
        tracker.failed[node_id] = _state_error(future)
    else:  # NotReady: an upstream node failed
        tracker.skipped.add(node_id)
        db.skip_nodes(tracker.engine, run_id, [node_id], "an upstream node failed")


def _record_savings(tracker: Tracker, node_id: str) -> Any:
    """A cache hit on work this run would have paid for: record the money not spent (and
    return it; None when nothing would have been paid)."""
    node = tracker.plan.node(node_id)
    if tracker.estimate is None or effective_provider(node, tracker.run.mode) in (
        None,
        "placeholder",
    ):
        return None
    estimate = tracker.estimate.by_id.get(node_id)
    if estimate is not None:
        ledger.record_savings(
            tracker.engine,
            run_id=tracker.run.run_id,
            pipeline=tracker.run.pipeline,
            node=node,
            estimate=estimate,
            video=tracker.run.video_for(node),
        )
        return estimate.usd
    return None


def _state_error(future: PrefectFuture[MediaRef]) -> str:
    try:
        future.result(raise_on_failure=True)
    except BaseException as exc:  # noqa: BLE001 - we only describe it
        text = str(exc).strip() or type(exc).__name__
        return text.splitlines()[0][:500]
    return future.state.message or "failed"
