"""The alert rules: what each one looks at, its threshold (with a default; each is a
setting: environment or the `vidpipe Alerts` block), and the conditions that hold now.

| alert | fires when | severity |
|---|---|---|
| `failure_rate` | failed / ended runs over the last hour (or the last N runs) > 5% | critical |
| `provider_down` | a provider failed every call for over 5 minutes (per provider) | critical |
| `slow_runs` | p95 duration of the runs completed in the last hour > 600 s | warning |
| `cache_hit_rate` | hits / node runs that could hit, over the last day, < 80% | warning |
| `soft_limit` | today's spend (billed + held) is past the daily soft limit | warning |
| `hard_limit` | the daily hard limit refused a run or a node (in the last hour) | critical |
| `approval_waiting` | a run has waited for approval longer than 4 hours (per run) | warning |

A condition holds or not at each evaluation; `vidpipe.observability.alerts` turns a
condition that starts into a firing alert and one that ends into a resolved one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from vidpipe import db, ledger
from vidpipe.settings import Settings, get_settings

__all__ = ["Condition", "AlertRules", "RULES", "percentile", "check"]

#: Every rule's name, in the order they are checked.
RULES = (
    "failure_rate",
    "provider_down",
    "slow_runs",
    "cache_hit_rate",
    "soft_limit",
    "hard_limit",
    "approval_waiting",
)
SEVERITY = {
    "failure_rate": "critical",
    "provider_down": "critical",
    "slow_runs": "warning",
    "cache_hit_rate": "warning",
    "soft_limit": "warning",
    "hard_limit": "critical",
    "approval_waiting": "warning",
}
#: Failures that show a provider answering (a bad request, a failed job), not down.
ANSWERED_KINDS = ("rejected", "job_failed")


@dataclass(frozen=True)
class Condition:
    """An alert's condition holding now: what, how bad, and for which labels."""

    alert: str
    summary: str
    value: float | None
    threshold: float | None
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return SEVERITY[self.alert]


@dataclass(frozen=True)
class AlertRules:
    """The thresholds in force: each field is the setting `alert_<field>` (VIDPIPE_ALERT_*,
    or the saved block), whose default the settings hold."""

    failure_rate: float
    failure_window_s: float
    failure_last_runs: int
    provider_down_s: float
    p95_run_s: float
    p95_window_s: float
    cache_hit_rate: float
    cache_window_s: float
    approval_wait_h: float
    refusal_window_s: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AlertRules:
        s = settings or get_settings()
        return cls(**{rule.name: getattr(s, f"alert_{rule.name}") for rule in fields(cls)})


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _failure_rate(engine: Engine, rules: AlertRules, now: datetime) -> list[Condition]:
    if rules.failure_last_runs:
        runs = db.statistics.ended_runs(engine, until=now, last=rules.failure_last_runs)
        scope = f"the last {len(runs)} runs"
    else:
        since = now - timedelta(seconds=rules.failure_window_s)
        runs = db.statistics.ended_runs(engine, since=since, until=now)
        scope = f"the last {rules.failure_window_s / 60:g} minutes"
    if not runs:
        return []
    failed = sum(1 for _, status, _ in runs if status == "failed")
    rate = failed / len(runs)
    if rate <= rules.failure_rate:
        return []
    return [
        Condition(
            "failure_rate",
            f"{failed} of {len(runs)} runs failed in {scope} ({rate:.0%}, "
            f"over {rules.failure_rate:.0%})",
            round(rate, 4),
            rules.failure_rate,
        )
    ]


def _provider_down(engine: Engine, rules: AlertRules, now: datetime) -> list[Condition]:
    window = timedelta(seconds=rules.provider_down_s)
    recent = db.statistics.provider_failures_since(
        engine, now - window, ignore_kinds=ANSWERED_KINDS
    )
    if not recent:
        return []
    answered = db.last_answered(engine)
    found = []
    for provider in sorted(recent):
        last_ok = answered.get(provider)
        streak = db.statistics.provider_failures_since(
            engine, last_ok or (now - timedelta(days=7)), ignore_kinds=ANSWERED_KINDS
        ).get(provider)
        if streak is None:
            continue
        first, _, count = streak
        if last_ok is not None and first <= last_ok:
            continue
        failing_s = (now - first).total_seconds()
        if failing_s <= rules.provider_down_s:
            continue
        found.append(
            Condition(
                "provider_down",
                f"{provider} has failed every call for {failing_s / 60:.0f} minutes "
                f"({count} failed calls, none answered)",
                round(failing_s, 1),
                rules.provider_down_s,
                {"provider": provider},
            )
        )
    return found


def _slow_runs(engine: Engine, rules: AlertRules, now: datetime) -> list[Condition]:
    since = now - timedelta(seconds=rules.p95_window_s)
    runs = db.statistics.ended_runs(engine, since=since, until=now)
    durations = [d for _, status, d in runs if status == "completed" and d is not None]
    p95 = percentile(durations, 95)
    if p95 is None or p95 <= rules.p95_run_s:
        return []
    return [
        Condition(
            "slow_runs",
            f"p95 run duration {p95:.0f} s over the last {rules.p95_window_s / 60:g} minutes "
            f"({len(durations)} completed runs), over {rules.p95_run_s:g} s",
            round(p95, 1),
            rules.p95_run_s,
        )
    ]


def _cache_hit_rate(engine: Engine, rules: AlertRules, now: datetime) -> list[Condition]:
    since = now - timedelta(seconds=rules.cache_window_s)
    could, hits = db.statistics.cache_opportunities(engine, since=since, until=now)
    if not could:
        return []
    rate = hits / could
    if rate >= rules.cache_hit_rate:
        return []
    return [
        Condition(
            "cache_hit_rate",
            f"cache hit rate {rate:.0%} over the last {rules.cache_window_s / 3600:g} hours "
            f"({hits} of {could} node runs that could hit), under {rules.cache_hit_rate:.0%}",
            round(rate, 4),
            rules.cache_hit_rate,
        )
    ]


def _soft_limit(engine: Engine, rules: AlertRules, now: datetime) -> list[Condition]:
    limits = ledger.daily_limits()
    spent, held = ledger.day_totals(engine)
    committed = float(spent + held)
    if committed <= float(limits.soft_usd):
        return []
    return [soft_condition(committed, float(limits.soft_usd), now)]


def soft_condition(committed_usd: float, soft_usd: float, now: datetime) -> Condition:
    """Today's spend past the soft limit (alert only: work goes on)."""
    return Condition(
        "soft_limit",
        f"daily soft limit ${soft_usd:,.2f} passed: ${committed_usd:,.2f} spent or reserved today",
        round(committed_usd, 2),
        soft_usd,
        {"day": now.date().isoformat()},
    )


def hard_condition(
    message: str, committed_usd: float, hard_usd: float, now: datetime, who: str | None = None
) -> Condition:
    """Paid work refused by the daily hard limit."""
    return Condition(
        "hard_limit",
        message if not who else f"{who}: {message}",
        round(committed_usd, 2),
        hard_usd,
        {"day": now.date().isoformat()},
    )


def _hard_limit(engine: Engine, rules: AlertRules, now: datetime) -> list[Condition]:
    """Refusals are events (raised when they happen); the alert keeps firing while the
    last refusal is recent, and resolves once none came for the window."""
    fresh = now - timedelta(seconds=rules.refusal_window_s)
    return [
        Condition("hard_limit", row.summary, row.value, row.threshold, dict(row.labels))
        for row in db.open_alerts(engine, ["hard_limit"])
        if row.last_seen_at >= fresh
    ]


def _approval_waiting(engine: Engine, rules: AlertRules, now: datetime) -> list[Condition]:
    limit = timedelta(hours=rules.approval_wait_h)
    found = []
    for run_id, pipeline, since in db.statistics.waiting_since(engine, now - limit):
        hours = (now - since).total_seconds() / 3600
        found.append(
            Condition(
                "approval_waiting",
                f"run {run_id} of {pipeline} has waited for approval for {hours:.1f} hours "
                f"(over {rules.approval_wait_h:g})",
                round(hours, 2),
                rules.approval_wait_h,
                {"run_id": run_id, "pipeline": pipeline},
            )
        )
    return found


_CHECKS = {
    "failure_rate": _failure_rate,
    "provider_down": _provider_down,
    "slow_runs": _slow_runs,
    "cache_hit_rate": _cache_hit_rate,
    "soft_limit": _soft_limit,
    "hard_limit": _hard_limit,
    "approval_waiting": _approval_waiting,
}


def check(engine: Engine, rules: AlertRules, now: datetime) -> dict[str, list[Condition]]:
    """Every rule's conditions holding at `now`, by rule."""
    return {name: _CHECKS[name](engine, rules, now) for name in RULES}
