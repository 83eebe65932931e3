"""Invoices: the cost-plus invoice of ledger entries, its table, Markdown and CSV forms,
totals per group, and the overrun flag."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from vidpipe.costs.amounts import Number, _format_unit_price, _num, cents, format_usd, money
from vidpipe.costs.budgets import _utc
from vidpipe.costs.entries import EntryKind, _get, entry_kind

#: Said under an invoice's possibly billed lines (their amounts are the nodes' estimates).
POSSIBLY_BILLED_NOTE = (
    "Possibly billed (not in the total): a paid create's outcome was unknown; "
    "check the provider by request id before re-running"
)

_CSV_COLUMNS = (
    "kind",
    "run_id",
    "node_id",
    "provider",
    "model",
    "unit",
    "quantity",
    "unit_price_usd",
    "amount_usd",
    "request_id",
)


@dataclass(frozen=True)
class InvoiceLine:
    """One billed call (or one saving), its amount rounded to the cent."""

    kind: str
    run_id: str
    node_id: str
    provider: str
    model: str
    unit: str
    quantity: Decimal
    unit_price_usd: Decimal
    amount_usd: Decimal
    request_id: str

    def to_csv_row(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "run_id": self.run_id,
            "node_id": self.node_id,
            "provider": self.provider,
            "model": self.model,
            "unit": self.unit,
            "quantity": format(self.quantity.normalize(), "f"),
            "unit_price_usd": format(self.unit_price_usd.normalize(), "f"),
            "amount_usd": str(self.amount_usd),
            "request_id": self.request_id,
        }


def _line(entry: Any) -> InvoiceLine:
    def text(name: str) -> str:
        value = _get(entry, name)
        return "" if value is None else str(value)

    node = _get(entry, "node_id") or _get(entry, "node_run_id") or ""
    return InvoiceLine(
        kind=entry_kind(entry),
        run_id=text("run_id"),
        node_id=str(node),
        provider=text("provider"),
        model=text("model"),
        unit=text("unit"),
        quantity=Decimal(str(_get(entry, "quantity") or 0)),
        unit_price_usd=Decimal(str(_get(entry, "unit_price_usd") or 0)),
        amount_usd=cents(_get(entry, "amount_usd") or 0),
        request_id=text("request_id"),
    )


@dataclass(frozen=True)
class Invoice:
    """Cost-plus invoice: billed lines, subtotal, markup, total; savings listed apart."""

    lines: tuple[InvoiceLine, ...]
    savings: tuple[InvoiceLine, ...] = ()
    markup_rate: Decimal = Decimal("0.20")
    title: str = "Invoice"
    #: Paid creates whose outcome is unknown (the node's estimate): not in the totals.
    possibly_billed: tuple[InvoiceLine, ...] = ()

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount_usd for line in self.lines), Decimal("0.00"))

    @property
    def markup_usd(self) -> Decimal:
        return cents(self.subtotal * self.markup_rate)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.markup_usd

    @property
    def savings_total(self) -> Decimal:
        return sum((line.amount_usd for line in self.savings), Decimal("0.00"))

    @property
    def markup_percent(self) -> str:
        return f"{_num(self.markup_rate * 100)}%"

    def to_rows(self) -> list[dict[str, str]]:
        """Rows of one shape for a Prefect table artifact: lines, totals, savings."""

        def row(node="", provider="", model="", quantity="", unit_price="", amount=""):
            return {
                "node": node,
                "provider": provider,
                "model": model,
                "quantity": quantity,
                "unit price": unit_price,
                "amount": amount,
            }

        rows = [
            row(
                line.node_id,
                line.provider,
                line.model,
                f"{_num(line.quantity)} {line.unit}",
                _format_unit_price(line.unit_price_usd),
                format_usd(line.amount_usd),
            )
            for line in self.lines
        ]
        rows.append(row(node="Subtotal", amount=format_usd(self.subtotal)))
        rows.append(row(node=f"Markup {self.markup_percent}", amount=format_usd(self.markup_usd)))
        rows.append(row(node="Total", amount=format_usd(self.total)))
        for line in self.savings:
            rows.append(
                row(
                    f"{line.node_id} (cache hit)",
                    line.provider,
                    line.model,
                    f"{_num(line.quantity)} {line.unit}",
                    _format_unit_price(line.unit_price_usd),
                    f"saved {format_usd(line.amount_usd)}",
                )
            )
        if self.savings:
            rows.append(row(node="Saved by cache", amount=format_usd(self.savings_total)))
        for line in self.possibly_billed:
            rows.append(
                row(
                    f"{line.node_id} (possibly billed; request {line.request_id or 'unknown'})",
                    line.provider,
                    line.model,
                    f"{_num(line.quantity)} {line.unit}",
                    _format_unit_price(line.unit_price_usd),
                    f"possibly {format_usd(line.amount_usd)}",
                )
            )
        if self.possibly_billed:
            rows.append(row(node=POSSIBLY_BILLED_NOTE))
        return rows

    def to_markdown(self) -> str:
        out = [f"## {self.title}", ""]
        out += [
            "| node | provider | model | quantity | unit price | amount | request |",
            "|---|---|---|---:|---:|---:|---|",
        ]
        for line in self.lines:
            out.append(
                f"| {line.node_id} | {line.provider} | {line.model} | "
                f"{_num(line.quantity)} {line.unit} | {_format_unit_price(line.unit_price_usd)}"
                f" | {format_usd(line.amount_usd)} | {line.request_id} |"
            )
        out += [
            "",
            f"| | |\n|---|---:|\n| Subtotal | {format_usd(self.subtotal)} |",
            f"| Markup {self.markup_percent} | {format_usd(self.markup_usd)} |",
            f"| **Total** | **{format_usd(self.total)}** |",
        ]
        if self.savings:
            out += ["", f"Saved by cache hits: {format_usd(self.savings_total)}", ""]
            out += ["| node | provider | model | quantity | saved |", "|---|---|---|---:|---:|"]
            for line in self.savings:
                out.append(
                    f"| {line.node_id} | {line.provider} | {line.model} | "
                    f"{_num(line.quantity)} {line.unit} | {format_usd(line.amount_usd)} |"
                )
        if self.possibly_billed:
            out += ["", POSSIBLY_BILLED_NOTE, "", "| node | provider | request | estimate |"]
            out.append("|---|---|---|---:|")
            for line in self.possibly_billed:
                out.append(
                    f"| {line.node_id} | {line.provider} | {line.request_id or '-'} | "
                    f"{format_usd(line.amount_usd)} |"
                )
        return "\n".join(out) + "\n"

    def to_csv(self) -> str:
        """Lines and savings, then summary rows (subtotal, markup with its rate in the
        quantity column, total, savings total); :meth:`from_csv` reads it back."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for line in (*self.lines, *self.savings, *self.possibly_billed):
            writer.writerow(line.to_csv_row())
        summary = [
            ("subtotal", "", self.subtotal),
            ("markup", str(self.markup_rate), self.markup_usd),
            ("total", "", self.total),
            ("savings_total", "", self.savings_total),
        ]
        for kind, quantity, amount in summary:
            writer.writerow({"kind": kind, "quantity": quantity, "amount_usd": str(amount)})
        return buffer.getvalue()

    @classmethod
    def from_csv(cls, text: str, *, title: str = "Invoice") -> Invoice:
        """An invoice read back from :meth:`to_csv`; its totals are recomputed and must
        match the file's."""
        lines, savings, possibly, rate, stated = [], [], [], Decimal("0.20"), {}
        for row in csv.DictReader(io.StringIO(text)):
            kind = row["kind"]
            if kind in ("billed", "savings", "possibly_billed"):
                line = InvoiceLine(
                    kind=kind,
                    run_id=row["run_id"],
                    node_id=row["node_id"],
                    provider=row["provider"],
                    model=row["model"],
                    unit=row["unit"],
                    quantity=Decimal(row["quantity"]),
                    unit_price_usd=Decimal(row["unit_price_usd"]),
                    amount_usd=cents(row["amount_usd"]),
                    request_id=row["request_id"],
                )
                {"billed": lines, "savings": savings}.get(kind, possibly).append(line)
            else:
                stated[kind] = cents(row["amount_usd"])
                if kind == "markup":
                    rate = Decimal(row["quantity"])
        result = cls(tuple(lines), tuple(savings), rate, title, tuple(possibly))
        if "total" in stated and stated["total"] != result.total:
            raise ValueError(
                f"invoice CSV total {stated['total']} does not match its lines ({result.total})"
            )
        return result


def invoice(
    entries: Iterable[Any], *, markup: Number = Decimal("0.20"), title: str = "Invoice"
) -> Invoice:
    """The cost-plus invoice of ledger entries (dicts or `CostEntry` rows): billed entries
    become lines, savings and possibly billed entries are listed apart (not in the totals),
    estimates (reservations) are left out. The default markup is 20%."""
    lines, savings, possibly = [], [], []
    for entry in entries:
        kind = entry_kind(entry)
        if kind == "billed":
            lines.append(_line(entry))
        elif kind == "savings":
            savings.append(_line(entry))
        elif kind == "possibly_billed":
            possibly.append(_line(entry))
    rate = Decimal(str(markup)) if isinstance(markup, float) else Decimal(markup)
    return Invoice(tuple(lines), tuple(savings), rate, title, tuple(possibly))


def group_totals(
    entries: Iterable[Any],
    by: Literal["pipeline", "provider", "day", "run"] = "provider",
    *,
    kind: EntryKind = "billed",
) -> dict[str, Decimal]:
    """Totals to the cent per pipeline, provider, UTC day or run, of entries of one
    `kind` (billed by default). Entries need `pipeline` (join the run) or `created_at`
    for those groupings; missing values are grouped under "(unknown)"."""
    if by not in ("pipeline", "provider", "day", "run"):
        raise ValueError(f"group_totals: by must be pipeline, provider, day or run, not {by!r}")
    sums: dict[str, Decimal] = {}
    for entry in entries:
        if entry_kind(entry) != kind:
            continue
        if by == "day":
            created = _get(entry, "created_at")
            key = _utc(created).date().isoformat() if created else "(unknown)"
        else:
            key = _get(entry, "run_id" if by == "run" else by) or "(unknown)"
        sums[key] = sums.get(key, Decimal(0)) + money(_get(entry, "amount_usd") or 0)
    return {key: cents(sums[key]) for key in sorted(sums)}


def flag_overrun(
    estimated: Number | None, actual: Number | None, tolerance: Number = Decimal("0.20")
) -> bool:
    """True when `actual` exceeds `estimated` by more than `tolerance` (20%): the run's
    artifact says so. An unknown estimate flags nothing; a zero estimate flags any cost."""
    if estimated is None or actual is None:
        return False
    limit = money(estimated) * (1 + Decimal(str(tolerance)))
    return money(actual) > limit
