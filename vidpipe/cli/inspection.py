"""The commands that look at past and current runs: `runs`, `show` and `costs` (the
ledger and invoice)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from vidpipe.cli.application import app
from vidpipe.cli.documents import (
    ENDED,
    STATUS_STYLE,
    _engine,
    _nodes_table,
    duration,
    fit_table,
    output_lines,
    run_cost,
    run_seconds,
    show_document,
    usd,
)
from vidpipe.cli.output import JsonOpt, RunArg, _emit_json, _fail, out, since_date
from vidpipe.errors import SpecError, VidpipeError


@app.command()
def runs(
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
    status: Annotated[
        str | None, typer.Option(help="Only runs in this status, e.g. awaiting_approval.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recent runs: id, pipeline, status, started, cost."""
    from vidpipe import db

    if limit < 1:
        raise _fail(SpecError(f"--limit must be 1 or more, got {limit}"))
    if status is not None and status not in db.RUN_STATUSES:
        raise _fail(
            SpecError(f"--status must be one of {', '.join(db.RUN_STATUSES)}, got {status!r}")
        )
    rows = db.list_runs(_engine(), limit=limit, status=status)
    docs = [
        {
            "id": r.id,
            "pipeline": r.pipeline_name,
            "status": r.status,
            "mode": r.mode,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "actual_usd": r.actual_usd,
        }
        for r in rows
    ]
    if as_json:
        _emit_json(docs)
        return
    table = Table()
    for col in ("id", "pipeline", "status", "started", "cost (USD)"):
        table.add_column(col)
    for d in docs:
        style = STATUS_STYLE.get(d["status"], "")
        table.add_row(
            d["id"],
            d["pipeline"],
            f"[{style}]{d['status']}[/{style}]" if style else d["status"],
            f"{d['started_at']:%Y-%m-%d %H:%M:%S}" if d["started_at"] else "",
            f"{d['actual_usd']:.2f}" if d["actual_usd"] is not None else "",
        )
    out.print(table)


@app.command()
def show(
    run_id: RunArg,
    as_json: JsonOpt = False,
) -> None:
    """One run: its status, every node, approvals."""
    from vidpipe import db

    engine = _engine()
    try:
        found = db.find_run(engine, run_id)
    except VidpipeError as exc:
        raise _fail(SpecError(str(exc))) from None
    doc = show_document(engine, found.id)
    if as_json:
        _emit_json(doc)
        return
    width = out.width
    run_doc = doc["run"]
    status = f"{run_doc['status']} (mode {run_doc['mode']})"
    run_id = run_doc["id"]
    if len(run_doc["pipeline"]) + len(run_id) + len(status) + 6 > width:
        run_id = run_id[:8]
    out.print(
        f"[bold]{run_doc['pipeline']}[/bold] run {run_id}: {status}",
        highlight=False,
        no_wrap=True,
        overflow="ellipsis",
    )
    if run_doc["error"]:
        out.print(f"error: {run_doc['error']}", style="red", highlight=False, markup=False)
    took = duration(run_seconds(run_doc))
    timing = f"took {took}" if run_doc["finished_at"] else f"{run_doc['status']} for {took}"
    estimate = run_doc["estimated_usd"]
    cost = f"cost {usd(run_cost(doc))}" + (f" (estimate {usd(estimate)})" if estimate else "")
    done = sum(n["status"] in ENDED for n in doc["nodes"])
    out.print(f"{timing}, {cost}, {done}/{len(doc['nodes'])} nodes done", highlight=False)
    if run_doc["ui_url"]:
        out.print(f"Prefect UI: {run_doc['ui_url']}", highlight=False, soft_wrap=True)
    out.print(_nodes_table(doc, width))
    for a in doc["approvals"]:
        out.print(
            f"gate {a['node']} round {a['round']}: {a['decision']} by {a['reviewer'] or '-'}"
            f" at {a['decided_at']:%Y-%m-%d %H:%M:%S}" + (f" ({a['notes']})" if a["notes"] else ""),
            highlight=False,
        )
    if doc["invoice"]:
        _print_invoice(doc["invoice"], width, "invoice")
    for line in output_lines(doc):
        out.print(line, highlight=False, soft_wrap=True, markup=False)


def invoice_table(rows: list[dict[str, str]], width: int) -> Table:
    """The invoice's display rows (`Invoice.to_rows()`) as a table no wider than `width`:
    billed lines, a rule, subtotal, markup and total, then savings and possibly billed
    lines; the note under possibly billed lines is left to the caller."""
    from vidpipe.costs import POSSIBLY_BILLED_NOTE

    cells, sections = [], []
    for row in rows:
        if row["node"] == POSSIBLY_BILLED_NOTE:
            continue
        summary = not row["provider"] and not row["quantity"]
        if summary and (not cells or not cells[-1]["summary"]):
            sections.append(len(cells))
        style = "bold" if row["node"] == "Total" else ""
        cell = {key: Text(value, style=style) for key, value in row.items()}
        cells.append({**cell, "summary": summary})
    columns = {key: key for key in rows[0] if key != "summary"} if rows else {}
    return fit_table(
        columns,
        cells,
        width,
        flexible=("node", "model"),
        drop=("provider", "unit price"),
        right=("quantity", "unit price", "amount"),
        sections=tuple(sections),
    )


def _print_invoice(rows: list[dict[str, str]], width: int, title: str | None = None) -> None:
    from vidpipe.costs import POSSIBLY_BILLED_NOTE

    if title:
        out.print(title, style="bold", highlight=False, no_wrap=True, overflow="ellipsis")
    out.print(invoice_table(rows, width))
    if any(row["node"] == POSSIBLY_BILLED_NOTE for row in rows):
        out.print(POSSIBLY_BILLED_NOTE.replace("; ", ";\n  "), highlight=False, markup=False)


@app.command("costs")
def costs_command(
    run_id: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="One run's invoice; all runs if left out.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only entries from this date on (YYYY-MM-DD, UTC).")
    ] = None,
    by: Annotated[str, typer.Option(help="Totals by pipeline, provider or day.")] = "provider",
    csv: Annotated[bool, typer.Option("--csv", help="Print the invoice as CSV.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The cost ledger and invoice (with markup): billed lines, savings, totals."""

    from vidpipe import costs, db

    try:
        if by not in ("pipeline", "provider", "day"):
            raise SpecError(f"--by must be pipeline, provider or day, got {by!r}")
        start = since_date(since)
        engine = _engine()
        found = db.find_run(engine, run_id) if run_id else None
    except VidpipeError as exc:
        raise _fail(exc) from None
    entries = db.cost_entries(engine, run_id=found.id if found else None, since=start)
    title = f"Invoice for run {found.id}" if found else "Invoice"
    bill = costs.invoice(entries, title=title)
    totals = costs.group_totals(entries, by=by)
    if csv:
        sys.stdout.write(bill.to_csv())
        return
    if as_json:
        _emit_json(
            {
                "run": found.id if found else None,
                "since": since,
                "lines": bill.to_rows(),
                "subtotal_usd": float(bill.subtotal),
                "markup_usd": float(bill.markup_usd),
                "total_usd": float(bill.total),
                "savings_usd": float(bill.savings_total),
                "by": by,
                "totals": {k: float(v) for k, v in totals.items()},
            }
        )
        return
    _print_invoice(bill.to_rows(), out.width, title)
    out.print(f"billed by {by}", style="bold", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column(by, no_wrap=True, overflow="ellipsis")
    table.add_column("USD", justify="right", no_wrap=True)
    for key, value in sorted(totals.items()):
        table.add_row(key, costs.format_usd(value))
    out.print(table)
