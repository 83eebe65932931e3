"""Budget arithmetic: a run's budget check, a node's reservation under it, the daily
limits, and reservations that expire."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from vidpipe.costs.amounts import Number, format_usd, money
from vidpipe.costs.entries import _get
from vidpipe.costs.estimates import NodeEstimate
from vidpipe.costs.plan_estimates import PlanEstimate
from vidpipe.errors import BudgetError


def _amount(value: Number | NodeEstimate) -> Decimal:
    return value.usd if isinstance(value, NodeEstimate) else money(value)


@dataclass(frozen=True)
class BudgetDecision:
    """Whether a run may start under its budget, and the sentence that says why not."""

    allowed: bool
    max_usd: Decimal | None
    marginal_usd: Decimal
    total_usd: Decimal
    message: str

    def raise_for_refusal(self) -> None:
        """Raise `BudgetError` (exit code 4) if the run is refused."""
        if not self.allowed:
            raise BudgetError(self.message)


def check_run_budget(
    estimate: PlanEstimate, max_usd: Number | None, *, live: bool = False
) -> BudgetDecision:
    """Refuse a run whose marginal estimate exceeds `max_usd` (None: no budget).

    A placeholder run bills nothing and so always fits; `live=True` checks the live
    prices instead (a rehearsal: would this budget hold for the live run?)."""
    marginal = estimate.live_marginal_usd if live else estimate.marginal_usd
    total = estimate.live_total_usd if live else estimate.total_usd
    if max_usd is None:
        return BudgetDecision(True, None, marginal, total, "no budget set")
    limit = money(max_usd)
    if marginal <= limit:
        msg = f"estimate {format_usd(marginal)} is within the budget of {format_usd(limit)}"
        return BudgetDecision(True, limit, marginal, total, msg)
    top = estimate.most_expensive(3)
    named = ", ".join(n.describe() for n in top)
    cached = (
        f" (full cost {format_usd(total)}; nodes expected from cache excluded)"
        if total != marginal
        else ""
    )
    prices = " at live prices" if live and estimate.mode != "live" else ""
    msg = (
        f"budget refused: pipeline '{estimate.pipeline}' is estimated at "
        f"{format_usd(marginal)}{prices}{cached}, over its budget of {format_usd(limit)}; "
        f"most expensive: {named}"
    )
    return BudgetDecision(False, limit, marginal, total, msg)


def can_reserve(
    spent: Number, reserved: Number, node_estimate: Number | NodeEstimate, max_usd: Number | None
) -> bool:
    """May a node reserve its estimate? Only if spent + reserved + its estimate stays
    within the budget (reaching it exactly is allowed; None: no budget)."""
    if max_usd is None:
        return True
    return money(spent) + money(reserved) + _amount(node_estimate) <= money(max_usd)


def reservation_refusal(
    spent: Number,
    reserved: Number,
    node_estimate: Number | NodeEstimate,
    max_usd: Number,
    *,
    node_id: str | None = None,
) -> str:
    """The budget error's message for a node `can_reserve` refused."""
    if node_id is None and isinstance(node_estimate, NodeEstimate):
        node_id = node_estimate.node_id
    amount = _amount(node_estimate)
    total = money(spent) + money(reserved) + amount
    who = f"node '{node_id}'" if node_id else "node"
    return (
        f"{who}: budget exhausted: spent {format_usd(spent)} + reserved {format_usd(reserved)}"
        f" + this node's estimate {format_usd(amount)} = {format_usd(total)} would pass the "
        f"run budget of {format_usd(max_usd)}; nothing was paid for this node"
    )


DailyState = Literal["ok", "soft", "hard"]


@dataclass(frozen=True)
class DailyLimits:
    """Spending limits per day across runs (by default: soft $100 warns, hard $150
    refuses new paid work)."""

    soft_usd: Decimal = Decimal(100)
    hard_usd: Decimal = Decimal(150)

    def __post_init__(self) -> None:
        object.__setattr__(self, "soft_usd", money(self.soft_usd))
        object.__setattr__(self, "hard_usd", money(self.hard_usd))
        if not (0 < self.soft_usd <= self.hard_usd):
            raise ValueError(f"daily limits need 0 < soft <= hard, got {self}")

    def status(self, spent_today: Number, reserved_today: Number, next_usd: Number) -> DailyState:
        """Returns "hard" when paying `next_usd` would pass the hard limit (refuse it), "soft"
        when the day is or would go past the soft limit (warn), else "ok". Free work
        (`next_usd` 0) is never refused: at worst it is "soft"."""
        committed = money(spent_today) + money(reserved_today)
        projected = committed + money(next_usd)
        if money(next_usd) > 0 and projected > self.hard_usd:
            return "hard"
        if projected > self.soft_usd:
            return "soft"
        return "ok"

    def message(self, spent_today: Number, reserved_today: Number, next_usd: Number) -> str:
        state = self.status(spent_today, reserved_today, next_usd)
        today = format_usd(money(spent_today) + money(reserved_today))
        if state == "hard":
            return (
                f"daily hard limit {format_usd(self.hard_usd)}: {today} spent or reserved "
                f"today, {format_usd(next_usd)} more would pass it; new paid work is refused"
            )
        if state == "soft":
            return (
                f"daily soft limit {format_usd(self.soft_usd)} passed: {today} spent or "
                f"reserved today (+{format_usd(next_usd)})"
            )
        return f"{today} spent or reserved today, within the daily limits"


DEFAULT_DAILY_LIMITS = DailyLimits()


def daily_status(
    spent_today: Number,
    reserved_today: Number,
    next_usd: Number,
    limits: DailyLimits = DEFAULT_DAILY_LIMITS,
) -> DailyState:
    """`limits.status(...)`: "ok", "soft" (warn) or "hard" (refuse new paid work)."""
    return limits.status(spent_today, reserved_today, next_usd)


#: How long a reservation holds unless renewed: a crashed run's reservation stops
#: counting after this (a live node renews it while it polls).
DEFAULT_RESERVATION_TTL = timedelta(hours=2)


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC (what the database stores)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Reservation:
    """Money set aside for a paid node before it calls its provider, until `expires_at`."""

    run_id: str
    node_id: str
    usd: Decimal
    expires_at: datetime

    def is_active(self, now: datetime) -> bool:
        return _utc(self.expires_at) > _utc(now)

    def renewed(self, now: datetime, ttl: timedelta = DEFAULT_RESERVATION_TTL) -> Reservation:
        return replace(self, expires_at=_utc(now) + ttl)


def reserve(
    run_id: str,
    node_id: str,
    usd: Number | NodeEstimate,
    *,
    now: datetime,
    ttl: timedelta = DEFAULT_RESERVATION_TTL,
) -> Reservation:
    """A reservation of a node's estimate, expiring `ttl` after `now`."""
    return Reservation(run_id, node_id, _amount(usd), _utc(now) + ttl)


def active(reservations: Iterable[Reservation], now: datetime) -> list[Reservation]:
    """The reservations that still hold at `now` (expired ones block nothing)."""
    return [r for r in reservations if r.is_active(now)]


def reserved_total(
    reservations: Iterable[Reservation], now: datetime, *, run_id: str | None = None
) -> Decimal:
    """The money held by active reservations (of one run, if `run_id`)."""
    held = [r for r in active(reservations, now) if run_id is None or r.run_id == run_id]
    return sum((r.usd for r in held), Decimal(0))


def reservation_from_entry(entry: Any, *, ttl: timedelta = DEFAULT_RESERVATION_TTL) -> Reservation:
    """A reservation stored as an estimate cost entry (`estimate=True`): it expires `ttl`
    after its `created_at`. Lets reservations live in `cost_entries` with no new table."""
    created = _get(entry, "created_at")
    if created is None:
        raise ValueError("a reservation entry needs created_at")
    return Reservation(
        run_id=_get(entry, "run_id") or "",
        node_id=_get(entry, "node_id") or _get(entry, "node_run_id") or "",
        usd=money(_get(entry, "amount_usd") or 0),
        expires_at=_utc(created) + ttl,
    )
