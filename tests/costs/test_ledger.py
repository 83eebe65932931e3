"""Ledger entries, savings, invoices (to the cent, 20% markup), CSV, group totals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from vidpipe.costs import (
    COST_ENTRY_COLUMNS,
    Invoice,
    billed_total,
    cost_entry_fields,
    entry_kind,
    estimate_plan,
    flag_overrun,
    group_totals,
    invoice,
    ledger_entry,
    node_pricing,
    savings_entry,
)
from vidpipe.db import CostEntry
from vidpipe.refs import Usage

DAY1 = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
DAY2 = datetime(2026, 11, 21, 0, 1, tzinfo=UTC)


def _usage(provider, model, unit, quantity, request_id=None, stands_in_for=None) -> Usage:
    return Usage(
        provider=provider,
        model=model,
        unit=unit,
        quantity=quantity,
        request_id=request_id,
        stands_in_for=stands_in_for,
    )


@pytest.fixture
def entries(book):
    """A mixed run with a cache hit, and a second run of another pipeline the next day."""
    return [
        ledger_entry(
            _usage("elevenlabs", "eleven_multilingual_v2", "characters", 5378, "req-1"),
            book=book,
            run_id="run1",
            node_id="voice",
            pipeline="explainer",
            at=DAY1,
        ),
        ledger_entry(
            _usage("heygen", "avatar-iv-photo", "seconds", 31.25, "vid-2"),
            book=book,
            run_id="run1",
            node_id="host",
            pipeline="explainer",
            at=DAY1,
        ),
        ledger_entry(
            _usage("replicate", "hardware/t4", "gpu_seconds", 3.804328, "pred-3"),
            book=book,
            run_id="run1",
            node_id="upscale",
            pipeline="explainer",
            at=DAY1,
        ),
        savings_entry(
            _usage("veo3", "veo-3.1-generate-001", "seconds", 8, "op-0"),
            book=book,
            run_id="run1",
            node_id="broll",
            source_run_id="run0",
            pipeline="explainer",
            at=DAY1,
        ),
        ledger_entry(
            _usage("veo3", "veo-3.1-fast-generate-001", "seconds", 6, "op-4"),
            book=book,
            run_id="run2",
            node_id="broll",
            pipeline="social",
            at=DAY2,
        ),
        ledger_entry(  # a reservation: never on an invoice
            _usage("veo3", "veo-3.1-fast-generate-001", "seconds", 6),
            book=book,
            run_id="run2",
            node_id="broll",
            pipeline="social",
            at=DAY2,
            estimate=True,
        ),
    ]


def test_ledger_entry_has_the_cost_entry_columns(book) -> None:
    entry = ledger_entry(
        _usage("elevenlabs", "eleven_multilingual_v2", "characters", 142, "req-9"),
        book=book,
        run_id="r",
        node_id="voice",
        node_run_id="nr",
    )
    assert set(COST_ENTRY_COLUMNS) <= set(entry)
    assert entry["unit_price_usd"] == 0.0001 and entry["amount_usd"] == 0.0142
    assert entry["request_id"] == "req-9" and entry["kind"] == "billed"
    row = CostEntry(**cost_entry_fields(entry))  # maps onto the table as is
    assert row.amount_usd == 0.0142 and row.node_run_id == "nr" and row.estimate is False
    reservation = ledger_entry(
        _usage("heygen", "tier-x", "seconds", 10), book=book, run_id="r", node_id="h", estimate=True
    )
    assert reservation["estimate"] is True and entry_kind(reservation) == "estimate"
    assert reservation["unit_price_usd"] == 0.0667  # unknown tier: the default, flagged
    assert "fallback for 'tier-x'" in reservation["price_source"]


def test_an_unpriced_call_is_still_recorded(book) -> None:
    usage = _usage("replicate", "someone/model", "predictions", 1, "pred-1")
    entry = ledger_entry(usage, book=book, run_id="r", node_id="n")
    assert entry["unpriced"] and entry["amount_usd"] == 0 and entry["request_id"] == "pred-1"
    assert "no default replicate model priced per predictions" in entry["price_source"]
    assert not ledger_entry(
        _usage("heygen", "avatar_iv", "seconds", 2), book=book, run_id="r", node_id="h"
    )["unpriced"]


def test_placeholder_entry_is_free_and_shows_the_live_price(book, mixed_plan) -> None:
    usage = _usage("placeholder", "placeholder", "seconds", 8, stands_in_for="veo3")
    entry = ledger_entry(
        usage,
        book=book,
        run_id="r",
        node_id="clip",
        live=node_pricing(mixed_plan.node("clip"), mixed_plan.spec.video),
    )
    assert entry["amount_usd"] == 0 and entry["unit_price_usd"] == 0
    assert entry["live_usd"] == 0.8 and entry["stands_in_for"] == "veo3"
    est = estimate_plan(mixed_plan, mode="placeholder", book=book).node("clip")
    assert Decimal(str(entry["live_usd"])) == est.live_usd


def test_savings_only_for_paid_work(book, mixed_plan) -> None:
    free = _usage("placeholder", "placeholder", "images", 1, stands_in_for="replicate")
    assert savings_entry(free, book=book, run_id="r", node_id="n") is None
    paid = _usage("replicate", "black-forest-labs/flux-1.1-pro", "images", 1)
    saved = savings_entry(paid, book=book, run_id="r", node_id="n", source_run_id="r0")
    assert saved["amount_usd"] == 0.04 and saved["request_id"] == "cache-hit:r0"
    assert entry_kind(saved) == "savings"
    # the kind survives the table, which has no kind column
    row = CostEntry(**cost_entry_fields(saved))
    assert entry_kind(row) == "savings"
    # from an estimate when the cached usage is not at hand
    live = estimate_plan(mixed_plan, mode="live", book=book).node("clip")
    assert savings_entry(live, book=book, run_id="r", node_id="clip")["amount_usd"] == 0.8
    offline = estimate_plan(mixed_plan, mode="placeholder", book=book).node("clip")
    assert savings_entry(offline, book=book, run_id="r", node_id="clip") is None


def test_invoice_to_the_cent_with_20_percent_markup(entries) -> None:
    run1 = [e for e in entries if e["run_id"] == "run1"]
    inv = invoice(run1, title="Invoice run1")
    # 5378 chars x $0.0001 = $0.5378 -> $0.54; 31.25 s x $0.05 = $1.5625 -> $1.56;
    # 3.804328 s x $0.000225 = $0.000856 -> $0.00
    assert [line.amount_usd for line in inv.lines] == [
        Decimal("0.54"),
        Decimal("1.56"),
        Decimal("0.00"),
    ]
    assert inv.subtotal == Decimal("2.10")
    assert inv.markup_usd == Decimal("0.42")
    assert inv.total == Decimal("2.52")
    assert [s.node_id for s in inv.savings] == ["broll"]
    assert inv.savings_total == Decimal("3.20")  # 8 s of Veo 3.1 at $0.40 not paid again
    md = inv.to_markdown()
    assert "| Subtotal | $2.10 |" in md and "| Markup 20% | $0.42 |" in md
    assert "**$2.52**" in md and "Saved by cache hits: $3.20" in md
    assert "req-1" in md


def test_markup_rounds_half_up_and_is_configurable() -> None:
    lines = [{"provider": "p", "amount_usd": 0.125, "node_id": "a"}]  # -> $0.13
    inv = invoice(lines, markup=0.5)
    assert inv.subtotal == Decimal("0.13") and inv.markup_usd == Decimal("0.07")  # 0.065 up
    assert inv.total == Decimal("0.20")
    assert invoice(lines, markup=0).total == Decimal("0.13")
    assert invoice([]).total == 0


def test_invoice_rows_for_a_table_artifact(entries) -> None:
    rows = invoice(entries).to_rows()
    assert len({tuple(r) for r in rows}) == 1  # one shape for every row
    labels = [r["node"] for r in rows]
    assert labels[-5:] == ["Subtotal", "Markup 20%", "Total", "broll (cache hit)", "Saved by cache"]
    assert rows[0]["amount"] == "$0.54" and rows[0]["unit price"] == "$0.0001"


def test_csv_round_trip(entries) -> None:
    inv = invoice(entries, title="All")
    text = inv.to_csv()
    assert text.splitlines()[0].startswith("kind,run_id,node_id,provider")
    back = Invoice.from_csv(text, title="All")
    assert back == inv
    assert back.total == inv.total and back.savings_total == inv.savings_total
    assert back.markup_rate == Decimal("0.20")
    tampered = text.replace(f"total,,,,,,,,{inv.total}", "total,,,,,,,,999.00")
    with pytest.raises(ValueError, match="does not match"):
        Invoice.from_csv(tampered)


def test_invoice_reads_cost_entry_rows(entries) -> None:
    rows = [CostEntry(**cost_entry_fields(e)) for e in entries]
    from_rows = invoice(rows)
    from_dicts = invoice(entries)
    assert from_rows.total == from_dicts.total
    assert from_rows.savings_total == from_dicts.savings_total
    assert billed_total(rows) == billed_total(entries)


def test_group_totals(entries) -> None:
    assert group_totals(entries, by="provider") == {
        "elevenlabs": Decimal("0.54"),
        "heygen": Decimal("1.56"),
        "replicate": Decimal("0.00"),
        "veo3": Decimal("0.60"),
    }
    assert group_totals(entries, by="pipeline") == {
        "explainer": Decimal("2.10"),
        "social": Decimal("0.60"),
    }
    assert group_totals(entries, by="day") == {
        "2026-11-20": Decimal("2.10"),
        "2026-11-21": Decimal("0.60"),
    }
    assert group_totals(entries, by="run") == {"run1": Decimal("2.10"), "run2": Decimal("0.60")}
    assert group_totals(entries, by="provider", kind="savings") == {"veo3": Decimal("3.20")}
    assert group_totals([SimpleNamespace(provider="x", amount_usd=1)], by="pipeline") == {
        "(unknown)": Decimal("1.00")
    }
    with pytest.raises(ValueError):
        group_totals(entries, by="colour")  # type: ignore[arg-type]


def test_billed_total_is_the_run_s_actual(entries) -> None:
    run1 = [e for e in entries if e["run_id"] == "run1"]
    assert billed_total(run1) == Decimal("0.5378") + Decimal("1.5625") + Decimal("0.000856")


@pytest.mark.parametrize(
    ("estimated", "actual", "flagged"),
    [
        (10, 12, False),  # exactly 20% over: not flagged
        (10, "12.01", True),
        (10, 5, False),
        (0, 0, False),
        (0, "0.01", True),
        (None, 100, False),
        (1.1, 1.32, False),  # floats do not drift past the edge
    ],
)
def test_flag_overrun(estimated, actual, flagged) -> None:
    assert flag_overrun(estimated, actual) is flagged


def test_flag_overrun_tolerance() -> None:
    assert flag_overrun(10, 11, tolerance=0.05)
    assert not flag_overrun(10, 11, tolerance=0.10)
