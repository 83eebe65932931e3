"""`approval`: a gate that a reviewer decides before the work after it may start.

Only a flow run can pause, so a gate is decided by the flow calling `decide_gate` (not a
task run). For each round it publishes a review artifact, records the run as
`awaiting_approval`, and pauses with `pause_flow_run` until a `ReviewDecision` arrives
(from the Prefect UI's resume form or `vidpipe approve|reject|revise`). Every decision is
recorded. `revise` applies config changes to nodes upstream of the gate, validated like
the file itself; the flow re-runs those nodes and what depends on them up to the gate
(the rest comes from cache) and the gate asks again, at most `max_revisions` times.
`--approve auto` decides `approve` at once (demos, tests, batches that trust their inputs).
"""

from __future__ import annotations

import hashlib
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


def _view_link(store: Any, ref: MediaRef) -> str:
    """Where a reviewer can see an item: a presigned link (with a thumbnail for images)
    where the store can serve one (S3), else its location."""
    presign = getattr(store, "presigned_url", None)
    if presign is None:
        return f"`{ref.uri}`"
    url = presign(ref)
    return f"![{ref.kind}]({url})" if ref.kind == "image" else f"[open]({url})"


def _money_lines(plan: Plan, gate: str, tracker: Any) -> list[str]:
    """The cost so far and what approving unlocks, from the ledger and the run's estimate."""
    from vidpipe import costs, ledger

    spent = ledger.spent(tracker.engine, run_id=tracker.run.run_id)
    held = plan.gated_by(gate)
    unlocked = (
        sum(
            (n.marginal_usd for n in tracker.estimate.nodes if n.node_id in held),
            costs.money(0),
        )
        if tracker.estimate is not None
        else costs.money(0)
    )
    return [
        f"Cost so far: {costs.format_usd(spent)}; approving unlocks an estimated "
        f"{costs.format_usd(unlocked)}.",
        "",
    ]


def _review_markdown(plan: Plan, gate: str, round_: int, tracker: Any, note: str | None) -> str:
    from tasks.runtime import store_for

    outputs: dict[str, MediaRef] = tracker.outputs
    store = store_for(tracker.run)
    node = plan.node(gate)
    lines = [f"# Review: {node.title or gate} (round {round_})", ""]
    if node.config.instructions:
        lines += [f"> {node.config.instructions}", ""]
    if note:
        lines += [f"**{note}**", ""]
    lines += ["| item | kind | duration | where |", "|---|---|---|---|"]
    for item in plan.deps[gate]:
        ref = outputs.get(item)
        if ref is None:
            continue
        duration = f"{ref.duration_s:.1f} s" if ref.duration_s else ""
        lines.append(f"| {item} | {ref.kind} | {duration} | {_view_link(store, ref)} |")
    held = sorted(plan.gated_by(gate))
    run_id = tracker.run.run_id
    lines += ["", *_money_lines(plan, gate, tracker)]
    lines += [
        f"Approving starts: {', '.join(held) or 'nothing more'}.",
        "",
        "Decide in the resume form (approve, reject, or revise with revisions), or from a "
        f"terminal: `vidpipe approve {run_id}`, `vidpipe reject {run_id} --notes ...`, "
        f"`vidpipe revise {run_id} --set NODE.FIELD=VALUE`.",
    ]
    return "\n".join(lines)


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
    from flows.report import artifact_key
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
