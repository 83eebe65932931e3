"""Ledger entries: the cost entry of a provider call or of a cache hit's savings, their
kinds, the `CostEntry` columns, and what a set of entries billed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from vidpipe.costs.amounts import money
from vidpipe.costs.estimates import NodeEstimate, PricingKey
from vidpipe.costs.prices import FREE_PROVIDERS, Price, PriceBook, PriceBookError
from vidpipe.refs import Usage

EntryKind = Literal["billed", "estimate", "savings", "possibly_billed"]

#: The `CostEntry` columns a ledger entry fills (the table adds `id`).
COST_ENTRY_COLUMNS: tuple[str, ...] = (
    "run_id",
    "node_run_id",
    "provider",
    "model",
    "unit",
    "quantity",
    "unit_price_usd",
    "amount_usd",
    "request_id",
    "created_at",
    "estimate",
    "kind",
    "node_id",
)

#: A savings entry's `request_id` starts with this, so it survives a round trip through
#: `cost_entries` (which has no kind column) and is never summed as billed.
SAVINGS_REQUEST_PREFIX = "cache-hit:"


def _get(entry: Any, name: str, default: Any = None) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name, default)
    return getattr(entry, name, default)


def entry_kind(entry: Any) -> EntryKind:
    """The kind of an entry: "billed", "estimate" (a reservation) or "savings".

    Works on a ledger dict or a `CostEntry` row: its `kind` if it has one, else its
    `estimate` flag, else its request id's prefix."""
    kind = _get(entry, "kind")
    if kind in ("billed", "estimate", "savings", "possibly_billed"):
        return kind
    if _get(entry, "estimate"):
        return "estimate"
    if str(_get(entry, "request_id") or "").startswith(SAVINGS_REQUEST_PREFIX):
        return "savings"
    return "billed"


def ledger_entry(
    usage: Usage,
    *,
    book: PriceBook,
    run_id: str | None,
    node_id: str,
    estimate: bool = False,
    node_run_id: str | None = None,
    pipeline: str | None = None,
    at: datetime | None = None,
    live: PricingKey | None = None,
) -> dict[str, Any]:
    """A cost entry for one provider call, priced from what the provider reported.

    The keys are the `CostEntry` columns plus `node_id`, `pipeline`, `kind`, and, not
    for the table, `live_usd` (for a placeholder: the price of what it stands in for,
    given the node's `live` pricing key from :func:`node_pricing`), `stands_in_for` and
    `price_source`. `estimate=True` makes a reservation entry instead of a billed one.

    Never raises for a missing price: the call has been paid for and must be recorded,
    so an unpriced usage (say Replicate `predictions` of a model the book does not know)
    gets amount 0, `unpriced` True and the reason in `price_source`.
    """
    resolution = live.resolution if live else None
    stands_in = usage.stands_in_for
    unpriced = False
    try:
        price = book.price(usage.provider, usage.model, usage.unit, resolution=resolution)
    except PriceBookError as exc:
        price = Price(usage.provider, usage.model, usage.unit, Decimal(0), f"unpriced: {exc}", "")
        unpriced = True
    amount = price.cost(usage.quantity)
    live_usd = amount
    if price.free and stands_in and stands_in not in FREE_PROVIDERS:
        model = live.model if live is not None and live.provider == stands_in else None
        try:
            live_price = book.price(stands_in, model, usage.unit, resolution=resolution)
            live_usd = live_price.cost(usage.quantity)
        except PriceBookError:
            live_usd = Decimal(0)
    return {
        "run_id": run_id,
        "node_run_id": node_run_id,
        "node_id": node_id,
        "pipeline": pipeline,
        "provider": usage.provider,
        "model": usage.model,
        "unit": usage.unit,
        "quantity": float(usage.quantity),
        "unit_price_usd": float(price.usd_per_unit),
        "amount_usd": float(amount),
        "request_id": usage.request_id,
        "created_at": at,
        "estimate": estimate,
        "kind": "estimate" if estimate else "billed",
        "live_usd": float(live_usd),
        "stands_in_for": stands_in,
        "price_source": price.source if not price.fallback else f"{price.label}: {price.source}",
        "unpriced": unpriced,
    }


def savings_entry(
    work: Usage | NodeEstimate,
    *,
    book: PriceBook,
    run_id: str | None,
    node_id: str,
    source_run_id: str | None = None,
    node_run_id: str | None = None,
    pipeline: str | None = None,
    at: datetime | None = None,
    live: PricingKey | None = None,
) -> dict[str, Any] | None:
    """The money a cache hit did not spend: the price of the cached result's usage (or
    of the node's estimate when its usage is not known). None for work that was never
    paid (placeholder or local), because nothing was saved."""
    if isinstance(work, NodeEstimate):
        if work.usd <= 0 or work.unit is None:
            return None
        provider, model, unit, quantity = work.provider, work.model, work.unit, work.quantity
        unit_price, amount = work.unit_price_usd, work.usd
    else:
        price = book.price(
            work.provider, work.model, work.unit, resolution=live.resolution if live else None
        )
        if price.free:
            return None
        provider, model, unit, quantity = work.provider, work.model, work.unit, work.quantity
        unit_price, amount = price.usd_per_unit, price.cost(work.quantity)
    return {
        "run_id": run_id,
        "node_run_id": node_run_id,
        "node_id": node_id,
        "pipeline": pipeline,
        "provider": provider,
        "model": model,
        "unit": unit,
        "quantity": float(quantity),
        "unit_price_usd": float(unit_price),
        "amount_usd": float(amount),
        "request_id": SAVINGS_REQUEST_PREFIX + (source_run_id or "earlier run"),
        "created_at": at,
        "estimate": False,
        "kind": "savings",
    }


def cost_entry_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Only the `CostEntry` columns of a ledger dict (`CostEntry(**fields)`); a missing
    `created_at` is left out so the table's default (now) applies."""
    fields = {k: entry[k] for k in COST_ENTRY_COLUMNS if k in entry}
    if fields.get("created_at") is None:
        fields.pop("created_at", None)
    return fields


def billed_total(entries: Iterable[Any]) -> Decimal:
    """What a set of entries billed, to the micro-dollar (estimates and savings excluded):
    a run's `actual_usd`."""
    return sum(
        (money(_get(e, "amount_usd") or 0) for e in entries if entry_kind(e) == "billed"),
        Decimal(0),
    )
