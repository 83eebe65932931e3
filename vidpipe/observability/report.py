"""The success report: vidpipe's success metrics, read from the state, each next to its
target and marked where it is missed.

| metric | how it is counted | target |
|---|---|---|
| completion rate | completed / ended runs | at least 95% |
| API failure rate | failed / all provider calls | under 3% |
| p50, p95 run duration | completed runs, start to end | p95 under 240 s |
| approval rate | gates last approved / gates decided by reviewers (not `--approve auto`) | 70% |
| refinements per approved gate | `revise` decisions at the gates finally approved | (none) |
| cost per completed video | billed to completed runs / completed runs | under $5 |
| cache hit rate | hits / node runs that could hit (`db.statistics.cache_opportunities`) | (none) |
| cache savings | savings lines of the ledger | (none) |

`since` keeps runs that ended, decisions, calls and savings from that moment on;
`pipeline` keeps one pipeline's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from vidpipe import db
from vidpipe.observability.rules import percentile

__all__ = ["Line", "TARGETS", "success_report"]


@dataclass(frozen=True)
class Line:
    """One metric: its value (None: nothing to count yet), the target, whether it meets it."""

    name: str
    value: float | None
    unit: str  # ratio | seconds | usd | count
    target: str | None
    met: bool | None
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "basis": self.basis,
        }


#: name -> (target in words, test of a value)
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "completion_rate": (">= 95%", lambda v: v >= 0.95),
    "api_failure_rate": ("< 3%", lambda v: v < 0.03),
    "p95_run_duration_s": ("< 240 s", lambda v: v < 240),
    "approval_rate": (">= 70%", lambda v: v >= 0.70),
    "cost_per_video_usd": ("< $5.00", lambda v: v < 5.0),
}


def _line(name: str, value: float | None, unit: str, basis: str) -> Line:
    target = TARGETS.get(name)
    met = None if target is None or value is None else target[1](value)
    return Line(name, value, unit, target[0] if target else None, met, basis)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _gates(decisions: list[tuple[str, str, str, str | None]]) -> tuple[int, int, int]:
    """Gates decided, gates approved, and revisions asked at the approved ones."""
    history: dict[tuple[str, str], list[str]] = {}
    for run_id, gate, decision, reviewer in decisions:
        if reviewer == "auto":  # --approve auto: not a review
            continue
        history.setdefault((run_id, gate), []).append(decision)
    decided = approved = revisions = 0
    for steps in history.values():
        final = steps[-1]
        if final == "revise":  # still under review
            continue
        decided += 1
        if final == "approve":
            approved += 1
            revisions += steps.count("revise")
    return decided, approved, revisions


def success_report(
    engine: Engine, *, since: datetime | None = None, pipeline: str | None = None
) -> dict[str, Any]:
    """The report as a document: `since`, `pipeline`, and `metrics` (one per line)."""
    runs = db.statistics.ended_runs(engine, since=since, pipeline=pipeline)
    completed = [d for _, status, d in runs if status == "completed"]
    durations = [d for d in completed if d is not None]
    calls, failed_calls = db.statistics.call_totals(engine, since=since, pipeline=pipeline)
    decided, approved, revisions = _gates(
        db.statistics.decisions(engine, since=since, pipeline=pipeline)
    )
    videos, billed = db.statistics.completed_costs(engine, since=since, pipeline=pipeline)
    could, hits = db.statistics.cache_opportunities(engine, since=since, pipeline=pipeline)
    saved = db.statistics.savings(engine, since=since, pipeline=pipeline)
    p50, p95 = percentile(durations, 50), percentile(durations, 95)
    lines = [
        _line(
            "completion_rate",
            _ratio(len(completed), len(runs)),
            "ratio",
            f"{len(completed)} of {len(runs)} ended runs completed",
        ),
        _line(
            "api_failure_rate",
            _ratio(failed_calls, calls),
            "ratio",
            f"{failed_calls} of {calls} provider calls failed",
        ),
        _line("p50_run_duration_s", p50, "seconds", f"{len(durations)} completed runs"),
        _line("p95_run_duration_s", p95, "seconds", f"{len(durations)} completed runs"),
        _line(
            "approval_rate",
            _ratio(approved, decided),
            "ratio",
            f"{approved} of {decided} gates decided by reviewers were approved",
        ),
        _line(
            "refinements_per_approved_gate",
            round(revisions / approved, 2) if approved else None,
            "count",
            f"{revisions} revision{'' if revisions == 1 else 's'} at {approved} approved gates",
        ),
        _line(
            "cost_per_video_usd",
            round(billed / videos, 4) if videos else None,
            "usd",
            f"${billed:,.2f} billed to {videos} completed runs",
        ),
        _line("total_cost_usd", round(billed, 4), "usd", f"{videos} completed runs"),
        _line(
            "cache_hit_rate",
            _ratio(hits, could),
            "ratio",
            f"{hits} of {could} node runs that could come from cache did",
        ),
        _line("cache_savings_usd", round(saved, 4), "usd", "savings lines of the ledger"),
    ]
    return {
        "since": since.date().isoformat() if since else None,
        "pipeline": pipeline,
        "metrics": [line.as_dict() for line in lines],
        "missed": [line.name for line in lines if line.met is False],
    }
