"""`approval`: a gate that a reviewer decides before the work after it may start.

Only a flow run can pause, so a gate is decided by the flow calling `decide_gate` (not a
task run): it records the run as `awaiting_approval`, pauses with `pause_flow_run`
waiting for a `ReviewDecision`, and records the decision. `--approve auto` decides
`approve` at once (demos, tests, unattended batches that trust their inputs).
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from vidpipe import db
from vidpipe.plan import Plan

__all__ = ["ReviewDecision", "decide_gate"]


class ReviewDecision(RunInput):
    """The form a reviewer fills in to resume a paused run."""

    decision: Literal["approve", "reject", "revise"] = Field(
        title="Decision",
        description="approve: go on. reject: stop the run; what was made is kept. "
        "revise: change the named nodes' settings and review again.",
    )
    notes: str = Field("", title="Notes", description="Why; shown in the run's history.")
    reviewer: str = Field("", title="Reviewer", description="Your name or e-mail.")
    revisions: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        title="Revisions",
        description="For revise: node id -> config fields to change, e.g. "
        '{"frame_2": {"prompt": "a brighter skyline"}}.',
    )


def decide_gate(plan: Plan, run: Any, gate: str, approve: str | None, tracker: Any) -> str:
    """Decide an approval gate; returns the decision ("approve" or "reject")."""
    logger = get_run_logger()
    engine = tracker.engine
    config = plan.node(gate).config
    execution_id = db.start_node(engine, run.run_id, gate)
    if approve == "auto":
        decision = ReviewDecision(decision="approve", reviewer="auto", notes="--approve auto")
    else:
        db.set_run_status(engine, run.run_id, "awaiting_approval")
        logger.info("gate %s waits for a reviewer (timeout %s s)", gate, config.timeout_s)
        decision = pause_flow_run(
            wait_for_input=ReviewDecision, timeout=config.timeout_s, key=f"gate-{gate}"
        )
        db.set_run_status(engine, run.run_id, "running")
    db.record_approval(
        engine,
        run.run_id,
        gate,
        round=1,
        decision=decision.decision,
        reviewer=decision.reviewer,
        notes=decision.notes,
        revisions=decision.revisions,
    )
    status = "completed" if decision.decision == "approve" else "failed"
    error = None if status == "completed" else f"rejected by {decision.reviewer or 'a reviewer'}"
    db.finish_node(engine, run.run_id, gate, execution_id, status=status, error=error)
    return "approve" if decision.decision == "approve" else "reject"
