"""Approvals: the log of reviewers' decisions at a run's approval gates."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from .engine import session_scope
from .tables import Approval, _canonical_json, _check_status

APPROVAL_DECISIONS = ("approve", "reject", "revise", "timeout")


def record_approval(
    engine: Engine,
    run_id: str,
    node_id: str,
    *,
    round: int = 1,
    decision: str,
    reviewer: str | None = None,
    notes: str | None = None,
    revisions: Mapping[str, Any] | list[Any] | None = None,
) -> Approval:
    """Append a reviewer's decision at a gate (approvals are a log: never updated)."""
    _check_status(decision, APPROVAL_DECISIONS, "approval decision")
    approval = Approval(
        run_id=run_id,
        node_id=node_id,
        round=round,
        decision=decision,
        reviewer=reviewer,
        notes=notes,
        revisions=json.loads(_canonical_json(revisions)) if revisions is not None else None,
    )
    with session_scope(engine) as session:
        session.add(approval)
    return approval


def approvals(engine: Engine, run_id: str) -> list[Approval]:
    """A run's approval decisions, oldest first."""
    with session_scope(engine) as session:
        query = select(Approval).where(Approval.run_id == run_id)
        return list(session.exec(query.order_by(Approval.decided_at, Approval.id)))
