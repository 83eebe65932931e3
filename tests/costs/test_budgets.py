"""Budget arithmetic: the run check, reservations (with expiry), daily limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from vidpipe.costs import (
    DEFAULT_RESERVATION_TTL,
    DailyLimits,
    Reservation,
    active,
    can_reserve,
    check_run_budget,
    daily_status,
    estimate_plan,
    reservation_from_entry,
    reservation_refusal,
    reserve,
    reserved_total,
)
from vidpipe.errors import BudgetError

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_budget_below_the_marginal_estimate_is_refused(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book)  # live: voice, host, still, clip
    decision = check_run_budget(est, 0.5)
    assert not decision.allowed
    assert decision.marginal_usd == est.marginal_usd
    msg = decision.message
    assert f"${est.marginal_usd.quantize(Decimal('0.01'))}" in msg
    assert "$0.50" in msg
    assert "most expensive: clip $0.80 (8 seconds of video of veo-3.1-fast-generate-001)" in msg
    assert msg.index("clip") < msg.index("host")
    with pytest.raises(BudgetError) as info:
        decision.raise_for_refusal()
    assert info.value.exit_code == 4


def test_budget_that_covers_the_estimate_is_allowed(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book)
    assert check_run_budget(est, est.marginal_usd).allowed  # exactly the estimate
    assert check_run_budget(est, None).allowed
    check_run_budget(est, 5).raise_for_refusal()


def test_cached_nodes_do_not_count_against_the_budget(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book, cached={"clip", "host"})
    decision = check_run_budget(est, 0.5)
    assert decision.allowed, decision.message
    refused = check_run_budget(est, 0.01)
    assert "full cost" in refused.message and "clip" not in refused.message


def test_placeholder_runs_fit_any_budget_unless_rehearsing_live(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, mode="placeholder", book=book)
    assert check_run_budget(est, 0.01).allowed
    rehearsal = check_run_budget(est, 0.01, live=True)
    assert not rehearsal.allowed and "at live prices" in rehearsal.message


def test_can_reserve_arithmetic(mixed_plan, book) -> None:
    clip = estimate_plan(mixed_plan, book=book).node("clip")  # $0.80
    assert can_reserve(0, 0, clip, 1)
    assert can_reserve("0.10", "0.10", clip, 1)  # exactly the budget: allowed
    assert not can_reserve("0.10", "0.100001", clip, 1)
    assert not can_reserve(0.3, 0, clip, 1)
    assert can_reserve(100, 100, clip, None)
    # float inputs do not drift: 0.1 + 0.2 + 0.7 is exactly 1
    assert can_reserve(0.1, 0.2, 0.7, 1.0)
    msg = reservation_refusal(0.3, 0, clip, 1)
    assert msg.startswith("node 'clip': budget exhausted")
    assert "spent $0.30 + reserved $0.00 + this node's estimate $0.80 = $1.10" in msg
    assert "run budget of $1.00" in msg


def test_reservations_expire() -> None:
    fresh = reserve("r1", "clip", "0.80", now=NOW)
    assert fresh.expires_at == NOW + DEFAULT_RESERVATION_TTL
    crashed = Reservation("r0", "host", Decimal("5"), NOW - timedelta(seconds=1))
    assert active([fresh, crashed], NOW) == [fresh]
    assert reserved_total([fresh, crashed], NOW) == Decimal("0.80")
    assert reserved_total([fresh, crashed], NOW - timedelta(hours=1)) == Decimal("5.80")
    assert reserved_total([fresh, crashed], NOW, run_id="r0") == 0
    # a crashed run's reservation stops blocking once expired
    assert not can_reserve(0, reserved_total([fresh, crashed], NOW - timedelta(hours=1)), 1, 6)
    assert can_reserve(0, reserved_total([fresh, crashed], NOW), 1, 6)
    # renewing while polling keeps it alive
    later = NOW + DEFAULT_RESERVATION_TTL
    assert not fresh.is_active(later)
    assert fresh.renewed(NOW + timedelta(hours=1)).is_active(later)


def test_naive_datetimes_are_utc() -> None:
    r = reserve("r", "n", 1, now=NOW.replace(tzinfo=None), ttl=timedelta(minutes=5))
    assert r.is_active(NOW) and not r.is_active(NOW + timedelta(minutes=5))


def test_reservation_from_an_estimate_cost_entry() -> None:
    entry = {"run_id": "r", "node_id": "clip", "amount_usd": 0.8, "estimate": True}
    with pytest.raises(ValueError):
        reservation_from_entry(entry)
    r = reservation_from_entry({**entry, "created_at": NOW}, ttl=timedelta(minutes=30))
    assert r == Reservation("r", "clip", Decimal("0.800000"), NOW + timedelta(minutes=30))


@pytest.mark.parametrize(
    ("spent", "reserved", "next_usd", "expected"),
    [
        (0, 0, 10, "ok"),
        (90, 0, 10, "ok"),  # reaching the soft limit exactly is fine
        (90, 5, 10, "soft"),
        (120, 20, 10, "soft"),  # exactly the hard limit: allowed, warned
        (120, 20, "10.01", "hard"),
        (100, 49, 2, "hard"),  # reservations count
        (200, 0, 0, "soft"),  # free work is never refused
        (0, 0, 151, "hard"),
    ],
)
def test_daily_limits(spent, reserved, next_usd, expected) -> None:
    assert daily_status(spent, reserved, next_usd) == expected


def test_daily_limits_are_configurable_and_validated() -> None:
    limits = DailyLimits(soft_usd=Decimal(10), hard_usd=20.0)
    assert limits.hard_usd == Decimal("20")
    assert daily_status(15, 0, 1, limits) == "soft"
    assert daily_status(15, 0, 6, limits) == "hard"
    assert "new paid work is refused" in limits.message(15, 0, 6)
    assert "soft limit $10.00 passed" in limits.message(15, 0, 1)
    with pytest.raises(ValueError):
        DailyLimits(soft_usd=Decimal(200), hard_usd=Decimal(100))
