"""Money: the price book, estimates, budget arithmetic, ledger entries and invoices.

Files: ``amounts`` (Decimal rounding and formatting), ``prices`` (the price book and its
overrides), ``estimates`` (one node's estimate), ``plan_estimates`` (a run's estimate),
``budgets`` (budget checks, daily limits, reservations), ``entries`` (ledger entries),
``invoices`` (invoices, CSV, totals per group).

Everything here is a pure function of its arguments (no Prefect, no database, no
environment): the flow, the CLI and the database layer call these and store or print what
they return. The one exception is :func:`read_asset_texts`, which reads text assets from
disk so an estimate can count the characters of a script kept in a file.

The straight line is ``spec -> plan -> estimate``::

    book = PriceBook.load(overrides=path_or_mapping_or_None)
    est = estimate_plan(plan, mode="live", book=book, cached={"narration"})
    check_run_budget(est, spec.budget.max_usd).raise_for_refusal()   # BudgetError, exit 4

Money is :class:`~decimal.Decimal`, never float arithmetic:

* unit prices are kept exactly as the price book writes them (strings in the JSON file);
* an amount is ``quantity x unit price`` rounded half-up to the micro-dollar (6 places),
  so estimates, reservations and ledger amounts add up without float drift;
* an invoice rounds each line to the cent (half-up), its subtotal is the sum of the
  rounded lines, the markup is the subtotal times the rate rounded to the cent, and the
  total is subtotal + markup: the invoice adds up exactly on paper.

Ledger entries are plain dicts whose keys include the `CostEntry` columns; those columns
are floats, so the dict carries floats made from the Decimal amounts, and readers here
turn them back with ``Decimal(str(x))`` (exact for 6 decimal places). Three kinds of
entry share the table: billed calls, reservations (`estimate=True`; they expire
`DEFAULT_RESERVATION_TTL` after `created_at`, so a crashed run stops blocking budgets) and
savings from cache hits (`request_id` starting with `cache-hit:`); :func:`entry_kind`
tells them apart, with or without a `kind` column.
"""

from vidpipe.costs.amounts import CENT, MICRO, Number, cents, format_usd, money
from vidpipe.costs.budgets import (
    DEFAULT_DAILY_LIMITS,
    DEFAULT_RESERVATION_TTL,
    BudgetDecision,
    DailyLimits,
    DailyState,
    Reservation,
    active,
    can_reserve,
    check_run_budget,
    daily_status,
    reservation_from_entry,
    reservation_refusal,
    reserve,
    reserved_total,
)
from vidpipe.costs.entries import (
    COST_ENTRY_COLUMNS,
    SAVINGS_REQUEST_PREFIX,
    EntryKind,
    billed_total,
    cost_entry_fields,
    entry_kind,
    ledger_entry,
    savings_entry,
)
from vidpipe.costs.estimates import (
    ASSUMED_SCRIPT_CHARS,
    ASSUMED_SPEECH_S,
    InputInfo,
    Mode,
    NodeEstimate,
    PricingKey,
    estimate_node,
    node_pricing,
)
from vidpipe.costs.invoices import (
    POSSIBLY_BILLED_NOTE,
    Invoice,
    InvoiceLine,
    flag_overrun,
    group_totals,
    invoice,
)
from vidpipe.costs.plan_estimates import PlanEstimate, estimate_plan, read_asset_texts
from vidpipe.costs.prices import (
    FREE_PROVIDERS,
    UNITS,
    Price,
    PriceBook,
    PriceBookError,
    PriceEntry,
    Unit,
    resolution_of,
)

__all__ = [
    # money
    "CENT",
    "MICRO",
    "Number",
    "money",
    "cents",
    "format_usd",
    # price book
    "FREE_PROVIDERS",
    "UNITS",
    "Unit",
    "PriceBookError",
    "PriceEntry",
    "Price",
    "PriceBook",
    "resolution_of",
    # estimates
    "ASSUMED_SCRIPT_CHARS",
    "ASSUMED_SPEECH_S",
    "Mode",
    "InputInfo",
    "PricingKey",
    "NodeEstimate",
    "PlanEstimate",
    "node_pricing",
    "estimate_node",
    "estimate_plan",
    "read_asset_texts",
    # budgets
    "BudgetDecision",
    "check_run_budget",
    "can_reserve",
    "reservation_refusal",
    "DailyLimits",
    "DailyState",
    "DEFAULT_DAILY_LIMITS",
    "daily_status",
    "Reservation",
    "DEFAULT_RESERVATION_TTL",
    "reserve",
    "active",
    "reserved_total",
    "reservation_from_entry",
    # ledger and invoice
    "COST_ENTRY_COLUMNS",
    "SAVINGS_REQUEST_PREFIX",
    "EntryKind",
    "ledger_entry",
    "savings_entry",
    "entry_kind",
    "cost_entry_fields",
    "billed_total",
    "POSSIBLY_BILLED_NOTE",
    "InvoiceLine",
    "Invoice",
    "invoice",
    "group_totals",
    "flag_overrun",
]
