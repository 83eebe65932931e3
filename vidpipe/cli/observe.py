"""The commands that watch vidpipe in operation: `metrics` (Prometheus exposition at
`/metrics`, read from the state at each scrape), `alerts` (the alert log, and an
evaluation now) and `report` (the success metrics against their targets)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from vidpipe import logs
from vidpipe.cli.application import app
from vidpipe.cli.output import (
    JsonOpt,
    _emit_json,
    _fail,
    err,
    out,
    serve_until_interrupted,
    since_date,
)
from vidpipe.errors import SpecError, VidpipeError

#: The port `vidpipe metrics` listens on by default.
METRICS_PORT = 9464

# Every command's log lines follow VIDPIPE_LOG_FORMAT (json: one object per line, and
# then the commands' own messages on stderr are log lines too); the processes that run
# flows apply it again once Prefect has set up its logging.
if logs.configure() == "json":
    err.file = logs.LogLines("vidpipe.cli")


def _database():
    """This home's database, ready (no sweeping: watching changes nothing)."""
    from vidpipe import db

    engine = db.make_engine()
    db.init_db(engine)
    return engine


def start_metrics(host: str, port: int, option: str = "--port") -> Any:
    """Serve `/metrics` in a background thread; SpecError (one line) for a bad port or
    an address that cannot be bound."""
    from vidpipe import observability

    if not 0 <= port <= 65535:
        raise SpecError(f"{option} must be 0..65535, got {port}")
    engine = _database()
    try:
        return observability.serve_metrics(engine, host=host, port=port)
    except OSError as exc:
        raise SpecError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None


@app.command()
def metrics(
    port: Annotated[int, typer.Option(help="The port to listen on.")] = METRICS_PORT,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics at http://HOST:PORT/metrics until Ctrl-C."""
    from vidpipe.settings import get_settings

    try:
        get_settings()
        server = start_metrics(host, port)
    except VidpipeError as exc:
        raise _fail(exc) from None
    err.print(
        f"serving Prometheus metrics at http://{host}:{server.port}/metrics (Ctrl-C stops)",
        highlight=False,
    )
    serve_until_interrupted(server)


def _alert_doc(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "alert": row.alert,
        "state": row.state,
        "severity": row.severity,
        "summary": row.summary,
        "value": row.value,
        "threshold": row.threshold,
        "labels": row.labels,
        "fired_at": row.fired_at,
        "resolved_at": row.resolved_at,
        "fire_sent_at": row.fire_sent_at,
        "resolve_sent_at": row.resolve_sent_at,
        "channel": row.channel,
        "delivery_error": row.delivery_error,
    }


def _evaluate(engine: Any) -> Any:
    """One evaluation now, delivering through the configured channel."""
    from vidpipe import observability
    from vidpipe.settings import get_settings

    if get_settings().alert_block:  # loading a Prefect block needs Prefect
        from vidpipe.cli.prefect_setup import prepare_prefect

        prepare_prefect()
        from tasks.observe import load_notifier

        observability.set_block_loader(load_notifier)
    return observability.evaluate(engine)


@app.command()
def alerts(
    limit: Annotated[int, typer.Option(help="How many recent alerts.")] = 50,
    state: Annotated[str | None, typer.Option(help="Only firing or resolved ones.")] = None,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Check the rules now and deliver what is due.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Alerts fired and resolved, the most recent first."""
    from vidpipe import db

    try:
        if limit < 1:
            raise SpecError(f"--limit must be 1 or more, got {limit}")
        if state is not None and state not in db.ALERT_STATES:
            raise SpecError(f"--state must be firing or resolved, got {state!r}")
        engine = _database()
        if evaluate:
            done = _evaluate(engine)
            err.print(
                f"evaluated: {len(done.fired)} fired, {len(done.resolved)} resolved, "
                f"{len(done.firing)} firing; {done.delivered} delivered by "
                f"{done.channel}" + (f", {len(done.failed)} not delivered" if done.failed else ""),
                highlight=False,
            )
    except VidpipeError as exc:
        raise _fail(exc) from None
    docs = [_alert_doc(row) for row in db.list_alerts(engine, limit=limit, state=state)]
    if as_json:
        _emit_json(docs)
        return
    table = Table()
    for column in ("fired", "alert", "state", "severity", "summary", "delivered"):
        table.add_column(column)
    for doc in docs:
        sent = doc["resolve_sent_at"] if doc["state"] == "resolved" else doc["fire_sent_at"]
        delivered = (doc["channel"] or "") if sent else f"pending {doc['delivery_error'] or ''}"
        table.add_row(
            f"{doc['fired_at']:%Y-%m-%d %H:%M}",
            doc["alert"],
            doc["state"],
            doc["severity"],
            doc["summary"],
            delivered.strip(),
        )
    out.print(table if docs else "no alerts")


def _shown(line: dict[str, Any]) -> str:
    value, unit = line["value"], line["unit"]
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "seconds":
        return f"{value:.1f} s"
    if unit == "usd":
        return f"${value:,.2f}"
    return f"{value:g}"


@app.command()
def report(
    since: Annotated[
        str | None, typer.Option(help="Only from this date on (YYYY-MM-DD, UTC).")
    ] = None,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline's runs.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Success metrics next to their targets, each marked where it is missed."""
    from vidpipe import observability

    try:
        start = since_date(since)
        doc = observability.success_report(_database(), since=start, pipeline=pipeline)
    except VidpipeError as exc:
        raise _fail(exc) from None
    if as_json:
        _emit_json(doc)
        return
    scope = ", ".join(
        part for part in (f"since {doc['since']}" if since else "", pipeline or "") if part
    )
    table = Table(title=f"success report ({scope})" if scope else "success report")
    for column in ("metric", "value", "target", "", "from"):
        table.add_column(column)
    for line in doc["metrics"]:
        mark = {True: "[green]ok[/green]", False: "[red]MISSED[/red]", None: ""}[line["met"]]
        table.add_row(line["name"], _shown(line), line["target"] or "", mark, line["basis"])
    out.print(table)
