"""A run's cost estimate as the run and `vidpipe plan` both make it: the plan priced by
the price book (with the operator's overrides), with the nodes this machine's cache
already holds costing nothing.

No Prefect here, and no SQLAlchemy unless the cache is asked through an engine:
`vidpipe plan` estimates without importing either, and the flow (`flows/pipeline.py`)
checks its budgets against the same numbers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from vidpipe import costs
from vidpipe.cache_keys import predict_cached
from vidpipe.plan import Plan
from vidpipe.run_info import RunInfo
from vidpipe.settings import get_settings

__all__ = ["estimate_run", "price_book"]


@lru_cache(maxsize=4)
def _book(overrides: str | None) -> costs.PriceBook:
    return costs.PriceBook.load(overrides=overrides)


def price_book() -> costs.PriceBook:
    """The price book with the operator's overrides (`VIDPIPE_PRICE_OVERRIDES`): the same
    book as `vidpipe.ledger.price_book`, loaded without the ledger's database layer."""
    path = get_settings().price_overrides
    return _book(str(path) if path else None)


def estimate_run(
    plan: Plan, run: RunInfo, engine: Any, refresh: list[str] | tuple[str, ...] = ()
) -> costs.PlanEstimate:
    """The run's cost estimate, with the nodes expected from cache costing nothing.
    `engine`: vidpipe's database, as an SQLAlchemy engine or a `CacheIndex`."""
    refreshed = plan.invalidated_by(refresh)
    return costs.estimate_plan(
        plan,
        mode=run.mode,
        book=price_book(),
        cached=predict_cached(plan, run, engine, refreshed),
        known=costs.read_asset_texts(plan.spec),
    )
