"""Money at run time: reservations, billed lines, savings, totals. No Prefect.

`vidpipe.costs` prices things (pure); this module records them in the `cost_entries`
table and enforces budgets against what is already there:

- before a paid node calls its provider it reserves its estimate; the reservation is
  refused (BudgetError) when spent + reserved + this node would pass the run's budget, or
  when the day's spending across runs would pass the hard daily limit;
- after the call the billed line is written from what the provider reported, and the
  reservation dropped; a reservation left by a crashed run expires (`costs.active`);
- a cache hit on paid work writes a savings line (the money not spent);
- a paid create whose outcome is unknown (the node failed with `AmbiguousCreateError`)
  writes a `possibly_billed` line for the node's estimate, with the provider's request id
  where known: not billed (invoices list it apart, outside the total), but held against
  budgets like a reservation that never expires.

The daily limits are also told to the observers (`vidpipe.observers.limit_reached`): the
soft limit crossed and paid work refused by the hard one raise their alerts at that
moment (`vidpipe.observability`). The soft limit's warning, an assumed price and a
refusal go to the `vidpipe.ledger` logger, which reaches the Prefect UI's run logs.

Reservations are taken under a process lock, so the threads of one run cannot overbook;
workers in several processes share a budget only as tightly as their reservations race.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine

from vidpipe import costs, db, estimating, observers
from vidpipe.errors import BudgetError
from vidpipe.refs import Usage
from vidpipe.settings import get_settings
from vidpipe.spec import NodeSpec, VideoSettings

__all__ = [
    "price_book",
    "daily_limits",
    "check_daily",
    "day_totals",
    "reserve",
    "release",
    "bill",
    "record_savings",
    "possibly_billed",
    "spent",
    "run_invoice",
]

_log = logging.getLogger(__name__)
_reserving = threading.Lock()


def price_book() -> costs.PriceBook:
    """The price book with the operator's overrides (`VIDPIPE_PRICE_OVERRIDES`)."""
    return estimating.price_book()


def daily_limits() -> costs.DailyLimits:
    s = get_settings()
    return costs.DailyLimits(soft_usd=s.daily_soft_usd, hard_usd=s.daily_hard_usd)


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def spent(engine: Engine, *, run_id: str | None = None, since: datetime | None = None) -> Decimal:
    """Billed so far (of one run, or since a time)."""
    return costs.billed_total(db.cost_entries(engine, run_id=run_id, since=since, kinds=["billed"]))


def _reserved(
    engine: Engine, *, run_id: str | None = None, since: datetime | None = None
) -> Decimal:
    """Held against budgets: active reservations and possibly billed lines."""
    now = datetime.now(UTC)
    rows = db.cost_entries(engine, run_id=run_id, since=since, kinds=["estimate"])
    held = db.cost_entries(engine, run_id=run_id, since=since, kinds=["possibly_billed"])
    return costs.reserved_total([costs.reservation_from_entry(r) for r in rows], now) + sum(
        (costs.money(r["amount_usd"] or 0) for r in held), Decimal(0)
    )


def day_totals(engine: Engine) -> tuple[Decimal, Decimal]:
    """Today's (UTC) billed total, and what is held against today's limits (active
    reservations and possibly billed lines)."""
    return (
        spent(engine, since=_today()),
        _reserved(engine, since=_today() - costs.DEFAULT_RESERVATION_TTL),
    )


def check_daily(engine: Engine, next_usd: Decimal, *, who: str | None = None) -> None:
    """Refuse paid work that would pass today's hard limit across runs (spent + active
    reservations + `next_usd`); warn in the log past the soft one. Either is told to the
    observers (alerts)."""
    limits = daily_limits()
    day_spent, day_reserved = day_totals(engine)
    state = limits.status(day_spent, day_reserved, next_usd)
    if state == "ok":
        return
    message = limits.message(day_spent, day_reserved, next_usd)
    observers.limit_reached(
        observers.LimitEvent(
            kind=state,
            spent_usd=float(day_spent),
            reserved_usd=float(day_reserved),
            next_usd=float(next_usd),
            limit_usd=float(limits.hard_usd if state == "hard" else limits.soft_usd),
            message=message,
            who=who,
        )
    )
    if state == "hard":
        refusal = f"{who}: {message}" if who else message
        _log.warning("%s", refusal)
        raise BudgetError(refusal)
    _log.warning("%s", message)


def reserve(
    engine: Engine,
    *,
    run_id: str,
    pipeline: str,
    node: NodeSpec,
    estimate: costs.NodeEstimate,
    budget_usd: float | None,
) -> str | None:
    """Hold a paid node's estimate before its provider call; returns the reservation id
    (None for free work). Raises BudgetError naming the node when the budget would pass."""
    if estimate.usd <= 0:
        return None
    assumed = [note for note in estimate.notes if "assumed" in note]
    if assumed:
        _log.warning(
            "node %r: estimate %s %s", node.id, costs.format_usd(estimate.usd), "; ".join(assumed)
        )
    with _reserving:
        if budget_usd is not None:
            run_spent, run_reserved = spent(engine, run_id=run_id), _reserved(engine, run_id=run_id)
            if not costs.can_reserve(run_spent, run_reserved, estimate, budget_usd):
                raise BudgetError(
                    costs.reservation_refusal(run_spent, run_reserved, estimate, budget_usd)
                )
        check_daily(engine, estimate.usd, who=f"node '{node.id}'")
        usage = Usage(
            provider=estimate.provider,
            model=estimate.model or "",
            unit=estimate.unit or "units",
            quantity=estimate.quantity,
        )
        entry = costs.ledger_entry(
            usage,
            book=price_book(),
            run_id=run_id,
            node_id=node.id,
            estimate=True,
            pipeline=pipeline,
        )
        return db.add_cost_entry(engine, **costs.cost_entry_fields(entry)).id


def release(engine: Engine, reservation_id: str | None) -> None:
    if reservation_id:
        db.delete_cost_entry(engine, reservation_id)


def bill(
    engine: Engine,
    *,
    run_id: str,
    pipeline: str,
    node: NodeSpec,
    usage: Usage,
    video: VideoSettings,
    node_run_id: str | None = None,
) -> Decimal:
    """Write the billed line for a provider call (priced from its reported usage)."""
    entry = costs.ledger_entry(
        usage,
        book=price_book(),
        run_id=run_id,
        node_id=node.id,
        node_run_id=node_run_id,
        pipeline=pipeline,
        live=costs.node_pricing(node, video),
    )
    db.add_cost_entry(engine, **costs.cost_entry_fields(entry))
    return costs.money(entry["amount_usd"])


def record_savings(
    engine: Engine,
    *,
    run_id: str,
    pipeline: str,
    node: NodeSpec,
    estimate: costs.NodeEstimate,
    video: VideoSettings,
) -> None:
    """A cache hit on paid work: record the money it did not spend."""
    entry = costs.savings_entry(
        estimate,
        book=price_book(),
        run_id=run_id,
        node_id=node.id,
        pipeline=pipeline,
        live=costs.node_pricing(node, video),
    )
    if entry is not None:
        db.add_cost_entry(engine, **costs.cost_entry_fields(entry))


def possibly_billed(
    engine: Engine,
    *,
    run_id: str,
    node: NodeSpec,
    estimate: costs.NodeEstimate,
    request_id: str | None = None,
) -> None:
    """A paid create that may have made a job (the node failed without knowing): record
    the node's estimate as `possibly_billed`, with the provider's request id if known."""
    db.add_cost_entry(
        engine,
        run_id=run_id,
        node_id=node.id,
        provider=estimate.provider,
        model=estimate.model,
        unit=estimate.unit or "units",
        quantity=float(estimate.quantity),
        unit_price_usd=float(estimate.unit_price_usd),
        amount_usd=float(estimate.usd),
        request_id=request_id,
        kind="possibly_billed",
    )


def run_invoice(engine: Engine, run_id: str, *, title: str = "Invoice") -> costs.Invoice:
    return costs.invoice(db.cost_entries(engine, run_id=run_id), title=title)
