"""`approval`: a gate that a reviewer decides before the work after it may start.

Only a flow run can pause, so a gate is decided by the flow calling `decide_gate` (not a
task run). For each round it publishes a review artifact (each item with its title, a
thumbnail linking to the media a browser opens, what it was made from, its kind, duration,
size and cost; what approving unlocks, at live prices too in a placeholder run; the
decisions of earlier rounds; the commands), records the run as `awaiting_approval`, and
pauses with `pause_flow_run` until a `ReviewDecision` arrives
(from the Prefect UI's resume form or `vidpipe approve|reject|revise`). Every decision is
recorded. `revise` applies config changes to nodes upstream of the gate, validated like
the file itself; the flow re-runs those nodes and what depends on them up to the gate
(the rest comes from cache) and the gate asks again, at most `max_revisions` times.
`--approve auto` decides `approve` at once (demos, tests, batches that trust their inputs).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from vidpipe import db
from vidpipe.errors import SpecError, VidpipeError
from vidpipe.plan import Plan
from vidpipe.refs import MediaRef
from vidpipe.spec import PipelineSpec, format_problems, load_data

__all__ = [
    "ReviewDecision",
    "GateOutcome",
    "ApprovalTimedOut",
    "decide_gate",
    "apply_revisions",
    "pause_key",
    "PAUSE_POLL_S",
]

#: How often a paused flow asks the server whether it was resumed.
PAUSE_POLL_S = 2


def pause_key(gate: str, pause: int) -> str:
    """The key of a gate's `pause`-th pause (1, 2, ...) in one flow run.

    Prefect stores a pause's input under `paused-{key}-...` and accepts only lowercase
    letters, digits and dashes there, while node ids may also hold `_`. So the key is the
    id made safe (readable in the UI) plus a short digest of the exact id, which keeps two
    ids that differ only in `_` versus `-` apart, plus the pause's number: Prefect refuses
    to pause twice under one key, and each round of a revision is a new pause.
    """
    safe = re.sub(r"[^a-z0-9-]+", "-", gate.lower()).strip("-") or "gate"
    digest = hashlib.sha256(gate.encode()).hexdigest()[:8]
    return f"{safe}-{digest}-{pause}"


class ReviewDecision(RunInput):
    """The form a reviewer fills in to resume a paused run."""

    decision: Literal["approve", "reject", "revise"] = Field(
        title="Decision",
        description="approve: go on. reject: stop the run (what was made is kept). "
        "revise: change settings of the nodes under review and review again.",
    )
    notes: str = Field("", title="Notes", description="Why; kept in the run's history.")
    reviewer: str = Field(
        "", title="Reviewer", description="Your name or e-mail, kept with the decision."
    )
    revisions: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        title="Revisions (for revise)",
        description='Node id -> config fields to change, e.g. {"frame_2": {"prompt": '
        '"a brighter skyline"}}. Only nodes the gate reviews (or their inputs) can change.',
    )


class ApprovalTimedOut(VidpipeError):
    """Nobody decided a gate in time and the gate says `on_timeout: fail`."""

    exit_code = 1


@dataclass(frozen=True)
class GateOutcome:
    decision: Literal["approve", "reject", "fail"]  # fail: revised items could not be made
    plan: Plan  # the plan to go on with: revised when a revision was applied


def apply_revisions(
    spec: PipelineSpec, gate: str, revisions: dict[str, dict[str, Any]]
) -> PipelineSpec:
    """The spec with `revisions` applied, validated like the file itself.

    Only nodes upstream of the gate may change (what the gate reviews); a revision that
    names another node, an unknown field or a bad value raises `SpecError` listing every
    problem, and nothing changes.
    """
    from vidpipe.plan import build_plan

    if not revisions:
        raise SpecError("revise needs at least one revision (node -> fields to change)")
    plan = build_plan(spec)
    upstream = {plan.node(n).source_id for n in plan.upstream(gate)}
    problems = [
        f"{node_id}: not reviewed by gate '{gate}' (revisable: {', '.join(sorted(upstream))})"
        for node_id in revisions
        if node_id not in upstream
    ]
    if problems:
        raise SpecError("; ".join(problems))
    data = dict(spec.data)
    nodes = []
    for raw in data["nodes"]:
        change = revisions.get(raw.get("id"))
        if change:
            if not isinstance(change, dict):
                raise SpecError(f"{raw['id']}: a revision is a mapping of config fields")
            raw = {**raw, "config": {**(raw.get("config") or {}), **change}}
        nodes.append(raw)
    data["nodes"] = nodes
    result = load_data(data, source="revision", base_dir=spec.base_dir)
    if not result.valid:
        raise SpecError(format_problems("revision", result.problems))
    return result.spec


#: How much of a text item, or of a prompt, the review page shows.
TEXT_CHARS = 300

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|!~])")


def _plain(text: str, limit: int = TEXT_CHARS) -> str:
    """User text shown as it is: one paragraph, cut at `limit` characters, with Markdown
    and HTML characters escaped (a prompt never becomes a link, a tag or a table)."""
    one = " ".join(text.split())
    one = one if len(one) <= limit else one[: limit - 1].rstrip() + "…"
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one)


def _size(count: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _source_text(plan: Plan, item: str, outputs: dict[str, MediaRef], store: Any):
    """What an item was made from: its `prompt` or `text` setting, else the text of its
    `prompt` or `script` input. (label, text), or None."""
    node = plan.node(item)
    for name in ("prompt", "text"):
        value = getattr(node.config, name, None)
        if isinstance(value, str) and value.strip():
            return name, value
    for slot in ("prompt", "script"):
        for upstream in node.inputs.get(slot, ()):
            ref = outputs.get(upstream)
            if ref is not None and ref.kind == "text":
                return slot, store.open_text(ref)
    return None


def _item_cost(item: str, row: Any, tracker: Any) -> str:
    """What making the item cost: billed (or from cache), with its live price in a
    placeholder run."""
    from vidpipe import costs

    estimate = tracker.estimate.by_id.get(item) if tracker.estimate is not None else None
    if row is not None and row.cache_hit:
        text = "from cache"
    elif row is not None and row.cost_usd is not None:
        text = f"{costs.format_usd(row.cost_usd)} billed"
    elif estimate is not None:
        text = f"{costs.format_usd(estimate.usd)} estimated"
    else:
        text = costs.format_usd(0)
    if tracker.run.mode == "placeholder" and estimate is not None and estimate.live_usd:
        text += f" ({costs.format_usd(estimate.live_usd)} at live prices)"
    return text


def _item_lines(number: int, plan: Plan, item: str, ref: MediaRef, tracker: Any, row: Any):
    """One item of the review page: its title, a thumbnail linking to the media (images,
    videos), a link, what it is and cost, and the prompt or text it was made from."""
    from tasks.runtime import store_for
    from vidpipe import media_server

    store = store_for(tracker.run)
    node = plan.node(item)
    title = node.title or item
    lines = [f"## {number}. {_plain(title, 120)} (`{item}`)", ""]
    try:
        thumb = media_server.thumbnail_url(store, ref)
        media = media_server.browser_url(store, ref)
    except (VidpipeError, OSError) as exc:  # the page is still worth showing without them
        get_run_logger().warning("no media link for review item %s: %s", item, exc)
        thumb, media = None, None
    if thumb and media:  # an HTML block: Prefect's Markdown shows no image inside a link
        link, src = html.escape(media), html.escape(thumb)
        picture = f'<a href="{link}"><img src="{src}" alt="{item}"></a>'
        lines += [f"<div>{picture}</div>", ""]
    duration = f"{ref.duration_s:.1f} s" if ref.duration_s else ""
    opens = {"image": "open the image", "video": "play the video", "audio": "listen"}
    label = opens.get(ref.kind, "open the text") + (f" ({duration})" if duration else "")
    facts = [
        f"[{label}]({media})" if media else f"`{ref.uri}`",
        f"kind: {ref.kind}",
        f"duration: {duration or '-'}",
        f"size: {_size(ref.bytes)}",
        f"cost: {_item_cost(item, row, tracker)}",
    ]
    lines += [" · ".join(facts), ""]
    try:
        source = _source_text(plan, item, tracker.outputs, store)
        text = store.open_text(ref) if ref.kind == "text" else None
    except (VidpipeError, OSError) as exc:
        get_run_logger().warning("review item %s: its text cannot be read: %s", item, exc)
        source = text = None
    if source is not None:
        lines += [f"**{source[0].capitalize()}:** {_plain(source[1])}", ""]
    if text is not None:
        lines += [f"> {_plain(text)}", ""]
    return lines


def _money_lines(plan: Plan, gate: str, tracker: Any) -> list[str]:
    """The cost so far and what approving unlocks, from the ledger and the run's estimate
    (with live prices in a placeholder run)."""
    from vidpipe import costs, ledger

    spent = ledger.spent(tracker.engine, run_id=tracker.run.run_id)
    held = plan.gated_by(gate)
    nodes = [n for n in tracker.estimate.nodes if n.node_id in held] if tracker.estimate else []
    unlocked = sum((n.marginal_usd for n in nodes), costs.money(0))
    live = sum((n.live_marginal_usd for n in nodes), costs.money(0))
    line = (
        f"Cost so far: {costs.format_usd(spent)}; approving unlocks an estimated "
        f"{costs.format_usd(unlocked)}"
    )
    if tracker.run.mode == "placeholder":
        line += f" in this placeholder run ({costs.format_usd(live)} at live prices)"
    return [line + ".", ""]


def _history_lines(engine: Any, run_id: str, gate: str) -> list[str]:
    """The gate's earlier decisions: who asked for what, and why."""
    earlier = [a for a in db.approvals(engine, run_id) if a.node_id == gate]
    if not earlier:
        return []
    lines = ["## Revision history", ""]
    for a in earlier:
        who = _plain(a.reviewer, 80) if a.reviewer else "a reviewer"
        changes = [
            f"`{node}.{name}` = {_plain(repr(value), 120)}"
            for node, fields in (a.revisions or {}).items()
            if isinstance(fields, dict)
            for name, value in fields.items()
        ]
        text = f"- Round {a.round}: **{a.decision}** by {who}, {a.decided_at:%Y-%m-%d %H:%M} UTC"
        if changes:
            text += f"; changed {', '.join(changes)}"
        if a.notes:
            text += f". Notes: {_plain(a.notes)}"
        lines.append(text)
    return [*lines, ""]


def _review_markdown(plan: Plan, gate: str, round_: int, tracker: Any, note: str | None) -> str:
    outputs: dict[str, MediaRef] = tracker.outputs
    node = plan.node(gate)
    run_id = tracker.run.run_id
    lines = [f"# Review: {_plain(node.title or gate, 120)} (round {round_})", ""]
    if node.config.instructions:
        lines += [f"> {_plain(node.config.instructions, 2000)}", ""]
    if note:
        lines += [f"**{_plain(note, 2000)}**", ""]
    items = [i for i in plan.deps[gate] if outputs.get(i) is not None]
    rows = {r.node_id: r for r in db.node_runs(tracker.engine, run_id)}
    lines += ["| item | kind | duration | size | cost |", "|---|---|---|---|---|"]
    for item in items:
        ref = outputs[item]
        duration = f"{ref.duration_s:.1f} s" if ref.duration_s else ""
        cost = _item_cost(item, rows.get(item), tracker)
        lines.append(f"| {item} | {ref.kind} | {duration} | {_size(ref.bytes)} | {cost} |")
    lines.append("")
    for number, item in enumerate(items, 1):
        lines += _item_lines(number, plan, item, outputs[item], tracker, rows.get(item))
    held = sorted(plan.gated_by(gate))
    lines += ["## Deciding", "", *_money_lines(plan, gate, tracker)]
    lines += [f"Approving starts: {', '.join(held) or 'nothing more'}.", ""]
    lines += _history_lines(tracker.engine, run_id, gate)
    revisable = sorted({plan.node(n).source_id for n in plan.upstream(gate)})
    lines += [
        "Decide in the resume form (Resume, at the top of the run's page), or from a terminal:",
        "",
        f"- approve: `vidpipe approve {run_id} --reviewer NAME`",
        f'- reject: `vidpipe reject {run_id} --notes "what is wrong"`',
        f"- revise: `vidpipe revise {run_id} --set NODE.FIELD=VALUE --reviewer NAME` "
        f"(NODE: {', '.join(revisable)})",
    ]
    return "\n".join(lines)


def _stop_if_cancelled() -> None:
    """Prefect refused to pause the flow run: if that is because it was cancelled (the
    Cancel came between the gate's announcement and its pause), the run ends `cancelled`,
    as a cancellation seen while it waits does."""
    from prefect.runtime import flow_run

    from flows.endings import CancelledInPrefect, cancel_requested

    if flow_run.id and cancel_requested(flow_run.id):
        raise CancelledInPrefect from None


def decide_gate(
    plan: Plan,
    run: Any,
    gate: str,
    approve: str | None,
    tracker: Any,
    rerun: Callable[[Plan, set[str]], bool],
) -> GateOutcome:
    """Decide a gate, round after round of revisions; see the module docstring.

    `rerun(plan, nodes)` runs the given nodes of a revised plan again, waits for them, and
    says whether all of them completed.
    """
    from flows.report import artifact_key, progress
    from vidpipe.plan import build_plan

    logger = get_run_logger()
    engine = tracker.engine
    config = plan.node(gate).config
    execution_id = db.start_node(engine, run.run_id, gate)
    round_, pauses, note = 1, 0, None
    while True:
        if approve == "auto":
            decision = ReviewDecision(decision="approve", reviewer="auto", notes="--approve auto")
        else:
            create_markdown_artifact(
                _review_markdown(plan, gate, round_, tracker, note),
                key=artifact_key(run.pipeline, gate, "review"),
                description=f"Review {gate} (round {round_}) of run {run.run_id}",
            )
            db.set_run_status(engine, run.run_id, "awaiting_approval")
            tracker.progress_id = progress(tracker, tracker.progress_id)  # the gate waits
            logger.info("gate %s waits for a reviewer (timeout %s s)", gate, config.timeout_s)
            pauses += 1
            try:
                decision = pause_flow_run(
                    wait_for_input=ReviewDecision,
                    timeout=config.timeout_s,
                    poll_interval=PAUSE_POLL_S,
                    key=pause_key(gate, pauses),
                )
            except FlowPauseTimeout:
                decision = _on_timeout(engine, run, gate, round_, execution_id, config)
            except RuntimeError:  # "cannot be paused": cancelled just before the pause?
                _stop_if_cancelled()
                raise
            db.set_run_status(engine, run.run_id, "running")
        db.record_approval(
            engine,
            run.run_id,
            gate,
            round=round_,
            decision=decision.decision,
            reviewer=decision.reviewer,
            notes=decision.notes,
            revisions=decision.revisions or None,
        )
        if decision.decision == "approve":
            db.finish_node(engine, run.run_id, gate, execution_id, status="completed")
            return GateOutcome("approve", plan)
        if decision.decision == "revise" and round_ > config.max_revisions:
            note = f"no revisions left after {config.max_revisions}: rejected"
            decision = ReviewDecision(decision="reject", reviewer=decision.reviewer, notes=note)
        if decision.decision == "reject":
            who = decision.reviewer or "a reviewer"
            db.finish_node(
                engine,
                run.run_id,
                gate,
                execution_id,
                status="failed",
                error=f"rejected by {who}" + (f": {decision.notes}" if decision.notes else ""),
            )
            return GateOutcome("reject", plan)
        try:
            revised = build_plan(apply_revisions(plan.spec, gate, decision.revisions))
        except SpecError as exc:
            note = f"revision refused, nothing changed: {exc}"
            logger.warning("gate %s: %s", gate, note)
            continue  # the gate stays open; the same round asks again
        changed = set(decision.revisions)
        if not rerun(revised, revised.invalidated_by(changed) & revised.upstream(gate)):
            error = "revised items failed; nothing to review"
            db.finish_node(engine, run.run_id, gate, execution_id, status="failed", error=error)
            return GateOutcome("fail", revised)
        plan, round_, note = revised, round_ + 1, None


def _on_timeout(engine, run, gate: str, round_: int, execution_id: str, config) -> ReviewDecision:
    if config.on_timeout == "approve":
        return ReviewDecision(
            decision="approve",
            reviewer="timeout",
            notes=f"no decision in {config.timeout_s} s: approved",
        )
    message = f"approval timed out after {config.timeout_s} s"
    db.record_approval(engine, run.run_id, gate, round=round_, decision="timeout", notes=message)
    db.finish_node(engine, run.run_id, gate, execution_id, status="failed", error=message)
    raise ApprovalTimedOut(f"gate '{gate}': {message}")
