"""What a run shows in the Prefect UI: a progress artifact updated as nodes end, a
markdown summary at the end (the published output as a link a browser opens, approval
decisions, each node's seconds, cost, cache hit and savings), the invoice table, and the
line a node answered from cache logs to its task run.

The progress artifact counts what the nodes table says (`vidpipe.db.node_states`): a node
is finished once its node run is `completed`, `failed` or `skipped`, so a gate counts
once it is decided, not while it waits. It is made PROGRESS_EVERY_S after the run starts
(or at its end, if sooner) and updated whenever a node ends, at most once per
PROGRESS_EVERY_S, the last change within that time sent when it is over; the end of the
run, a decided gate and a gate that waits send it at once. An invoice table is made for a
run that billed, saved or risked money.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext

from tasks.runtime import effective_provider, outcome_line, store_for
from vidpipe import db, graphing, media_server
from vidpipe.refs import MediaRef

__all__ = [
    "artifact_key",
    "start_progress",
    "progress",
    "progress_text",
    "summary",
    "final_progress",
    "invoice",
    "log_cache_hit",
]

ENDED = ("completed", "failed", "skipped")


def artifact_key(*parts: str) -> str:
    """An artifact key: Prefect accepts lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return key[:200] or "vidpipe"


#: Least seconds between two progress updates of one run while nodes stream in: each is
#: a server round trip.
PROGRESS_EVERY_S = 1.0


def progress_text(rows: Sequence[Any], planned: int) -> tuple[float, str]:
    """The progress artifact's percent and line, from the run's node runs (or their
    `db.node_states`: `node_id`, `type`, `status`, `cache_hit`)."""
    total = len(rows) or planned
    ended = sum(r.status in ENDED for r in rows)
    cached = sum(bool(r.cache_hit) for r in rows)
    failed = sum(r.status == "failed" for r in rows)
    skipped = sum(r.status == "skipped" for r in rows)
    text = (
        f"{ended}/{total} nodes finished: {cached} from cache, {failed} failed, {skipped} skipped"
    )
    gates = [r.node_id for r in rows if r.type == "approval" and r.status == "running"]
    if gates:
        text += f"; waiting for a reviewer at {', '.join(gates)}"
    return (100.0 * ended / total if total else 100.0), text


def start_progress(tracker: Any) -> None:
    """A run starts: its progress artifact is made PROGRESS_EVERY_S later, or at its end
    if that comes sooner, so a run that ends within that time makes it once."""
    with tracker.progress_lock:
        tracker.context = contextvars.copy_context()
        tracker.progress_at = time.monotonic()
        _update_later(tracker, PROGRESS_EVERY_S)


def _in_flow(tracker: Any, call: Callable[[], Any]) -> Any:
    """`call()` in the flow run's context where this thread has none (a node's done
    callback, a timer): Prefect gives an artifact to the flow run its context names (with
    none, the artifact belongs to no run and Prefect warns), and the flow's client spares
    each update from such a thread a client of its own."""
    if tracker.context is None or FlowRunContext.get() is not None:
        return call()
    return tracker.context.copy().run(call)


def progress(tracker: Any, artifact_id: Any = None, *, throttle: bool = False) -> Any:
    """Create the run's progress artifact, or update it; returns its id (None while a
    throttled creation waits). The id is kept on the tracker (`tracker.progress_id`);
    `artifact_id` names one made elsewhere.

    With `throttle`, a creation or update within PROGRESS_EVERY_S of the previous one (or
    of `start_progress`) is postponed to the end of that time (one then, whatever changed
    meanwhile): at most one artifact request per second per run while nodes stream in.
    A throttled call never waits for a request in flight either (it is a node's thread,
    which would hold up the next node for a server round trip): what it saw is sent once
    that request is over, with whatever else changed meanwhile. An unthrottled call waits
    for it, then sends what is true after it."""
    with tracker.progress_lock:
        if tracker.progress_id is None:
            tracker.progress_id = artifact_id
        waited = time.monotonic() - tracker.progress_at
        if throttle and waited < PROGRESS_EVERY_S:
            _update_later(tracker, PROGRESS_EVERY_S - waited)
            return tracker.progress_id
        if throttle and not tracker.progress_sending.acquire(blocking=False):
            tracker.progress_stale = True  # the request in flight may predate this change
            return tracker.progress_id
    if not throttle:
        tracker.progress_sending.acquire()
    try:
        with tracker.progress_lock:
            if tracker.progress_timer is not None:
                tracker.progress_timer.cancel()
                tracker.progress_timer = None
            tracker.progress_at = time.monotonic()
            tracker.progress_stale = False
        return _send_progress(tracker)
    finally:
        with tracker.progress_lock:
            if tracker.progress_stale:  # changed while it was in flight: once more
                _update_later(tracker, PROGRESS_EVERY_S)
        tracker.progress_sending.release()


def _send_progress(tracker: Any) -> Any:
    """The progress request itself (one at a time: `tracker.progress_sending`)."""
    rows = db.node_states(tracker.engine, tracker.run.run_id)
    percent, text = progress_text(rows, len(tracker.plan.order))
    if tracker.progress_id is None:
        key = artifact_key(tracker.run.pipeline, "progress")
        tracker.progress_id = _in_flow(
            tracker, lambda: create_progress_artifact(percent, key=key, description=text)
        )
    else:
        _in_flow(
            tracker,
            lambda: update_progress_artifact(tracker.progress_id, percent, description=text),
        )
    return tracker.progress_id


def _update_later(tracker: Any, delay: float) -> None:
    """Send the progress after `delay` seconds, unless an update is already due then."""
    if tracker.progress_timer is not None:
        return
    timer = threading.Timer(delay, _update_now, args=(tracker,))
    timer.daemon = True
    tracker.progress_timer = timer
    timer.start()


def _update_now(tracker: Any) -> None:
    with tracker.progress_lock:
        if tracker.progress_timer is not threading.current_thread():
            return  # cancelled, or replaced by an update sent meanwhile
        tracker.progress_timer = None
    with contextlib.suppress(Exception):  # progress is shown, never a reason to fail
        progress(tracker)


def log_cache_hit(tracker: Any, node_id: str, state: Any, saved: Any = None) -> None:
    """The one line of a node Prefect answered from cache (its task body never ran),
    logged to its task run from wherever its outcome is recorded."""
    from prefect.logging import get_logger

    node = tracker.plan.node(node_id)
    provider = effective_provider(node, tracker.run.mode)
    line = outcome_line(node, provider, None, saved=saved, cache_hit=True)
    details = state.state_details
    extra = {
        "task_run_id": details.task_run_id,
        "flow_run_id": details.flow_run_id,
        "task_run_name": node_id,
    }
    with contextlib.suppress(Exception):  # a log line never fails a run
        get_logger("prefect.task_runs").info(line, extra=extra)


def invoice(tracker: Any, bill: Any) -> None:
    """The run's invoice (line items, subtotal, markup, total) as a table artifact."""
    run = tracker.run
    if not (bill.lines or bill.savings or bill.possibly_billed):
        return  # nothing billed, saved or at risk: no table of zeros
    rows = bill.to_rows()
    if rows:
        create_table_artifact(
            rows,
            key=artifact_key(run.pipeline, "invoice"),
            description=f"{run.pipeline} run {run.run_id}: invoice",
        )


def _seconds(row: db.NodeRun) -> str:
    if row.started_at and row.finished_at:
        return f"{(row.finished_at - row.started_at).total_seconds():.1f}"
    return ""


def _cell(text: Any, limit: int = 200) -> str:
    """Text for a table cell: one line, pipes escaped, cut at `limit` characters."""
    one = " ".join(str(text or "").split())
    one = one if len(one) <= limit else one[: limit - 1] + "…"
    return one.replace("|", "\\|")


def _usd(value: float | None) -> str:
    from vidpipe import costs

    return costs.format_usd(value) if value is not None else ""


def _cost_lines(found: Any, saved: float) -> list[str]:
    from vidpipe import costs

    estimated, actual = found.estimated_usd or 0.0, found.actual_usd or 0.0
    line = f"**Cost:** estimated {costs.format_usd(estimated)}, billed {costs.format_usd(actual)}"
    if saved:
        line += f", saved {costs.format_usd(saved)} by cache hits"
    if costs.flag_overrun(estimated, actual):
        line += " — **over the estimate by more than 20%**"
    return [line, ""]


def _revisions_text(revisions: Any) -> str:
    if not isinstance(revisions, dict):
        return _cell(revisions) if revisions else ""
    return "; ".join(
        f"{node}.{field} = {value!r}"
        for node, fields in revisions.items()
        for field, value in (fields.items() if isinstance(fields, dict) else [("", fields)])
    )


def _approval_lines(engine: Any, run_id: str) -> list[str]:
    decisions = db.approvals(engine, run_id)
    if not decisions:
        return []
    lines = [
        "**Approval decisions**",
        "",
        "| gate | round | decision | reviewer | notes | revisions |",
        "|---|---|---|---|---|---|",
    ]
    for a in decisions:
        lines.append(
            f"| {a.node_id} | {a.round} | {a.decision} | {_cell(a.reviewer)} "
            f"| {_cell(a.notes)} | {_cell(_revisions_text(a.revisions))} |"
        )
    return [*lines, ""]


def _output_line(store: Any, output: MediaRef, published: str | None) -> str:
    where = output.model_copy(update={"uri": published}) if published else output
    return (
        f"**Output:** {media_server.markdown_link(store, where)} ({output.kind}, "
        f"{output.duration_s or 0:.1f} s, {output.bytes:,} bytes)"
    )


def _variant_lines(store: Any, variants: list[dict[str, Any]]) -> list[str]:
    lines = ["| variant | published | duration | bytes |", "|---|---|---|---|"]
    for v in variants:
        ref = v["output"] or {}
        published = "not made"
        if v["published"] and ref:
            where = MediaRef(**{**ref, "uri": v["published"]})
            published = media_server.markdown_link(store, where)
        lines.append(
            f"| {v['name']} | {published} "
            f"| {ref.get('duration_s') or 0:.1f} s | {ref.get('bytes', 0):,} |"
        )
    return [*lines, ""]


@contextlib.contextmanager
def final_progress(tracker: Any) -> Iterator[None]:
    """The progress artifact's last update, sent in a thread of its own while the block
    records the run's end and makes its summary: the server is busiest at a run's end,
    and the summary's request then follows one already under way instead of waiting for
    it. Every node's outcome must be recorded before (nodes skipped at the end count)."""
    context = contextvars.copy_context()  # this thread's flow run and Prefect settings
    last = threading.Thread(target=context.run, args=(_final_progress, tracker), daemon=True)
    last.start()
    try:
        yield
    finally:
        last.join()


def _final_progress(tracker: Any) -> None:
    with contextlib.suppress(Exception):  # progress is shown, never a reason to fail
        progress(tracker)


def summary(
    tracker: Any,
    status: str,
    output: MediaRef | None,
    error: str | None,
    variants: list[dict[str, Any]] | None = None,
) -> None:
    """The end-of-run markdown artifact: output, costs, approvals, each node's row, and the
    pipeline's graph as it ended."""
    run, engine = tracker.run, tracker.engine
    rows = db.node_runs(engine, run.run_id)
    found = db.get_run(engine, run.run_id)
    store = store_for(run)
    saved: dict[str, float] = {}
    for entry in db.cost_entries(engine, run_id=run.run_id, kinds=["savings"]):
        node = entry["node_id"] or ""
        saved[node] = saved.get(node, 0.0) + float(entry["amount_usd"] or 0)
    lines = [
        f"# {run.pipeline}: {status}",
        "",
        f"Run `{run.run_id}`, mode `{run.mode}`, {len(rows)} nodes, "
        f"{sum(r.cache_hit for r in rows)} from cache.",
        "",
    ]
    if output is not None:
        lines += [_output_line(store, output, found.published_uri), ""]
    if variants and len(variants) > 1:
        lines += _variant_lines(store, variants)
    if error:
        lines += [f"**Error:** {error}", ""]
    lines += _cost_lines(found, sum(saved.values()))
    lines += _approval_lines(engine, run.run_id)
    lines += [
        "| node | type | status | cache hit | attempts | seconds | cost | saved | error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.node_id} | {row.type} | {row.status} | {'yes' if row.cache_hit else ''} "
            f"| {row.attempts} | {_seconds(row)} | {_usd(row.cost_usd)} "
            f"| {_usd(saved.get(row.node_id))} | {_cell(row.error)} |"
        )
    statuses = {row.node_id: row.status for row in rows}
    graph = graphing.mermaid(tracker.plan, estimate=tracker.estimate, statuses=statuses)
    lines += ["", "## The pipeline, as it ended", "", "```mermaid", graph, "```"]
    create_markdown_artifact(
        "\n".join(lines),
        key=artifact_key(run.pipeline, "summary"),
        description=f"{run.pipeline} run {run.run_id}: {status}",
    )
