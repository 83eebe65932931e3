"""What a run shows in the Prefect UI: a progress artifact updated as nodes finish, and a
markdown summary at the end (nodes, cache hits, durations, where the output is)."""

from __future__ import annotations

import re
import time
from typing import Any

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from vidpipe import db
from vidpipe.refs import MediaRef

__all__ = ["artifact_key", "progress", "summary", "invoice"]


def artifact_key(*parts: str) -> str:
    """An artifact key: Prefect accepts lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return key[:200] or "vidpipe"


#: Least seconds between two progress updates of one run while nodes stream in: each is
#: a server round trip on the flow's thread.
PROGRESS_EVERY_S = 1.0


def progress(tracker: Any, artifact_id: Any, *, throttle: bool = False) -> Any:
    """Create the progress artifact (artifact_id None) or update it; returns its id.

    With `throttle`, an update within PROGRESS_EVERY_S of the previous one is skipped
    (the caller sends an unthrottled one when a batch of nodes is done)."""
    now = time.monotonic()
    if throttle and artifact_id is not None and now - tracker.progress_at < PROGRESS_EVERY_S:
        return artifact_id
    total = len(tracker.plan.order)
    done = len(tracker.done)
    percent = 100.0 * done / total if total else 100.0
    text = (
        f"{done}/{total} nodes finished: {len(tracker.cached)} from cache, "
        f"{len(tracker.failed)} failed, {len(tracker.skipped)} skipped"
    )
    if artifact_id is None:
        artifact_id = create_progress_artifact(
            percent, key=artifact_key(tracker.run.pipeline, "progress"), description=text
        )
    else:
        update_progress_artifact(artifact_id, percent, description=text)
    tracker.progress_at = now
    return artifact_id


def invoice(tracker: Any, bill: Any) -> None:
    """The run's invoice (line items, subtotal, markup, total) as a table artifact."""
    run = tracker.run
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


def _cost_lines(tracker: Any) -> list[str]:
    from vidpipe import costs

    found = db.get_run(tracker.engine, tracker.run.run_id)
    estimated, actual = found.estimated_usd or 0.0, found.actual_usd or 0.0
    line = f"**Cost:** estimated {costs.format_usd(estimated)}, billed {costs.format_usd(actual)}"
    if costs.flag_overrun(estimated, actual):
        line += " — **over the estimate by more than 20%**"
    return [line, ""]


def summary(
    tracker: Any,
    status: str,
    output: MediaRef | None,
    error: str | None,
    variants: list[dict[str, Any]] | None = None,
) -> None:
    """The end-of-run markdown artifact."""
    run = tracker.run
    rows = db.node_runs(tracker.engine, run.run_id)
    lines = [
        f"# {run.pipeline}: {status}",
        "",
        f"Run `{run.run_id}`, mode `{run.mode}`, {len(rows)} nodes, "
        f"{sum(r.cache_hit for r in rows)} from cache.",
        "",
    ]
    if output is not None:
        lines += [
            f"**Output:** `{output.uri}` ({output.kind}, "
            f"{output.duration_s or 0:.1f} s, {output.bytes:,} bytes)",
            "",
        ]
    if variants and len(variants) > 1:
        lines += ["| variant | published | duration | bytes |", "|---|---|---|---|"]
        for v in variants:
            ref = v["output"] or {}
            lines.append(
                f"| {v['name']} | {v['published'] or 'not made'} "
                f"| {ref.get('duration_s') or 0:.1f} s | {ref.get('bytes', 0):,} |"
            )
        lines.append("")
    if error:
        lines += [f"**Error:** {error}", ""]
    lines += _cost_lines(tracker)
    lines += [
        "| node | type | status | cache hit | attempts | seconds | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        err = (row.error or "").replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(
            f"| {row.node_id} | {row.type} | {row.status} | {'yes' if row.cache_hit else ''} "
            f"| {row.attempts} | {_seconds(row)} | {err} |"
        )
    create_markdown_artifact(
        "\n".join(lines),
        key=artifact_key(run.pipeline, "summary"),
        description=f"{run.pipeline} run {run.run_id}: {status}",
    )
