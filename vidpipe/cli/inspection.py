"""The commands that look at past and current runs: `runs`, `show` and `costs` (the
ledger and invoice)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from vidpipe.cli.application import app
from vidpipe.cli.documents import (
    STATUS_STYLE,
    _engine,
    _invoice,
    _nodes_table,
    output_lines,
    show_document,
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
    run_doc = doc["run"]
    out.print(
        f"[bold]{run_doc['pipeline']}[/bold] run {run_doc['id']}: {run_doc['status']} "
        f"(mode {run_doc['mode']})",
        highlight=False,
    )
    if run_doc["error"]:
        out.print(f"error: {run_doc['error']}", style="red", highlight=False, markup=False)
    out.print(_nodes_table(doc))
    for a in doc["approvals"]:
        out.print(
            f"gate {a['node']} round {a['round']}: {a['decision']} by {a['reviewer'] or '-'}"
            f" at {a['decided_at']:%Y-%m-%d %H:%M:%S}" + (f" ({a['notes']})" if a["notes"] else ""),
            highlight=False,
        )
    if doc["invoice"]:
        out.print(_invoice(engine, found.id).to_markdown(), highlight=False, markup=False)
    for line in output_lines(doc):
        out.print(line, highlight=False, soft_wrap=True, markup=False)


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
    out.print(bill.to_markdown(), highlight=False, markup=False)
    table = Table(title=f"billed by {by}")
    table.add_column(by)
    table.add_column("USD", justify="right")
    for key, value in sorted(totals.items()):
        table.add_row(key, costs.format_usd(value))
    out.print(table)
