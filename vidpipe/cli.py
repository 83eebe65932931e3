"""The `vidpipe` command line (typer).

Every listing command takes `--json` and then prints one JSON document on stdout and
nothing else there. Exit codes (SPEC.md): 0 success, 1 the run failed or was cancelled
(or, for `validate`, a file is invalid), 2 bad input, 3 rejected by a reviewer, 4 refused
by a budget; a run stopped by Ctrl-C exits 130, by SIGTERM 143. A `VidpipeError` becomes
one clear line on stderr, never a traceback (unless `--debug` or `VIDPIPE_DEBUG=1`).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vidpipe.errors import SpecError, VidpipeError
from vidpipe.plan import Plan, build_plan
from vidpipe.spec import format_problems, load_file

__all__ = ["app", "main", "local_server", "prepare_prefect"]

app = typer.Typer(
    name="vidpipe",
    help="AI-generated video pipelines as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Off a terminal (pipes, CI logs) rich would wrap tables at 80 columns and cut node ids.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
RunArg = Annotated[str, typer.Argument(metavar="RUN", help="A run id (or its first characters).")]


#: `--debug` (or VIDPIPE_DEBUG=1): tracebacks for every error, user errors included.
_debug = {"on": False}


def _debugging() -> bool:
    if _debug["on"]:
        return True
    from vidpipe.settings import get_settings

    try:
        return get_settings().debug
    except VidpipeError:
        return False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"vidpipe {version('vidpipe')}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks, also for errors you caused.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    ephemeral: Annotated[
        bool,
        typer.Option(
            "--ephemeral", help="Use a temporary Prefect server, not this home's local one."
        ),
    ] = False,
) -> None:
    """AI-generated video pipelines as Prefect flows."""
    _debug["on"] = debug
    _local["ephemeral"] = ephemeral


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _fail(error: VidpipeError) -> typer.Exit:
    if _debugging():
        traceback.print_exception(error)
    err.print(f"[red]error:[/red] {error}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(error.exit_code)


def _load(file: Path, mode: str | None) -> Any:
    """A file loaded and validated, with what a run in `mode` (default: the file's own)
    would refuse added to its problems (`vidpipe.preflight`)."""
    from vidpipe.preflight import run_problems
    from vidpipe.settings import get_settings

    result = load_file(file)
    if result.valid:
        allowed = get_settings().allow_networks  # asset URLs' private networks allowed
        result.problems.extend(run_problems(result.spec, mode or result.spec.mode, allowed))
    return result


def _load_plan(file: Path, mode: str | None = None) -> Plan:
    result = _load(file, mode)
    if not result.valid:
        err.print(format_problems(result.source, result.problems), highlight=False, markup=False)
        raise typer.Exit(2)
    assert result.spec is not None
    return build_plan(result.spec)


ModeOpt = Annotated[
    str | None,
    typer.Option(help="placeholder (offline, free) or live (real providers); default: the file's."),
]


def _check_mode(mode: str | None) -> None:
    if mode not in (None, "placeholder", "live"):
        raise _fail(SpecError(f"--mode must be placeholder or live, got {mode!r}"))


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Pipeline files (YAML or JSON).")],
    mode: ModeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check pipeline files and report every problem in each, at once: the file's own,
    and what a run in its mode (or --mode) would refuse before paying."""
    _check_mode(mode)
    results = [_load(f, mode) for f in files]
    if as_json:
        _emit_json([r.to_json() for r in results])
    else:
        for r in results:
            style = "green" if r.valid else "red"
            text = format_problems(r.source, r.problems)
            head, _, rest = text.partition("\n")
            out.print(head, style=style, highlight=False, markup=False, soft_wrap=True)
            if rest:
                out.print(rest, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(0 if all(r.valid for r in results) else 1)


def plan_document(plan: Plan) -> dict[str, Any]:
    """The `plan --json` document."""
    spec = plan.spec
    gated: dict[str, list[str]] = {}
    for gate in plan.gates:
        for node_id in plan.gated_by(gate):
            gated.setdefault(node_id, []).append(gate)
    return {
        "pipeline": spec.name,
        "mode": spec.mode,
        "video": spec.video.model_dump(),
        "budget_usd": spec.budget.max_usd if spec.budget else None,
        "order": list(plan.order),
        "groups": [list(g) for g in plan.groups],
        "gates": [{"id": g, "holds": sorted(plan.gated_by(g))} for g in plan.gates],
        "nodes": [
            {
                "id": node_id,
                "type": plan.node(node_id).type,
                "title": plan.node(node_id).title,
                "group": plan.group_of[node_id],
                "depends_on": list(plan.deps[node_id]),
                "waits_for_gates": gated.get(node_id, []),
                "output_kind": plan.node(node_id).output_kind,
            }
            for node_id in plan.order
        ],
    }


def plan_estimate(the_plan: Plan, mode: str | None = None) -> Any:
    """The plan's cost estimate, with the nodes this machine's cache already holds."""
    prepare_prefect(need_server=False)
    from flows.pipeline import estimate_run
    from tasks.runtime import RunInfo
    from vidpipe.settings import get_settings

    spec = the_plan.spec
    run = RunInfo.for_spec(spec, get_settings(), run_id="plan", mode=mode or spec.mode)
    return estimate_run(the_plan, run, _engine())


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="A pipeline file.")],
    mode: Annotated[
        str | None, typer.Option(help="Estimate for placeholder or live (default: the file's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show execution order, parallel groups, approval gates, and the cost estimate."""
    _check_mode(mode)
    the_plan = _load_plan(file, mode)
    doc = plan_document(the_plan)
    try:
        estimate = plan_estimate(the_plan, mode)
    except VidpipeError as exc:
        raise _fail(exc) from None
    doc["costs"] = estimate.to_json()
    for node in doc["nodes"]:
        found = estimate.by_id.get(node["id"])
        node["estimated_usd"] = float(found.usd) if found else 0.0
        node["live_usd"] = float(found.live_usd) if found else 0.0
        node["expected_cached"] = bool(found and found.expected_cached)
    doc["total_usd"] = float(estimate.total_usd)
    doc["marginal_usd"] = float(estimate.marginal_usd)
    if as_json:
        _emit_json(doc)
        return
    spec = the_plan.spec
    out.print(
        f"[bold]{spec.name}[/bold]: {len(spec.nodes)} nodes in {len(the_plan.groups)} groups, "
        f"mode {spec.mode}, video {spec.video.width}x{spec.video.height}@{spec.video.fps}",
        highlight=False,
    )
    table = Table(show_lines=False)
    for col in ("group", "node", "type", "depends on", "waits for", "cost", "cache"):
        table.add_column(col)
    for node in doc["nodes"]:
        table.add_row(
            str(node["group"]),
            node["id"],
            node["type"],
            ", ".join(node["depends_on"]) or "-",
            ", ".join(node["waits_for_gates"]) or "-",
            f"${node['estimated_usd']:.2f}",
            "expected" if node["expected_cached"] else "",
        )
    out.print(table)
    for gate in doc["gates"]:
        out.print(f"approval gate [bold]{gate['id']}[/bold] holds: {', '.join(gate['holds'])}")
    out.print(estimate.to_text(), highlight=False, markup=False)


# --------------------------------------------------------------------------- runs

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "skipped": "yellow",
    "running": "cyan",
    "rejected": "red",
    "awaiting_approval": "magenta",
}


def _engine():
    """This home's database, ready; runs whose process on this host died are ended first
    (`sweeper.reap_dead`), so no command shows a dead run as still going."""
    from vidpipe import db, sweeper

    engine = db.make_engine()
    db.init_db(engine)
    for gone in sweeper.reap_dead(engine):
        err.print(f"run {gone.run_id} ended as failed: {gone.reason}", highlight=False)
    return engine


def _invoice(engine, run_id: str) -> Any:
    from vidpipe import ledger

    return ledger.run_invoice(engine, run_id, title=f"Invoice for run {run_id}")


def show_document(engine, run_id: str) -> dict[str, Any]:
    """The `show --json` document (SPEC.md)."""
    from vidpipe import db

    run = db.get_run(engine, run_id)
    rows = db.node_runs(engine, run_id)
    return {
        "run": {
            "id": run.id,
            "pipeline": run.pipeline_name,
            "status": run.status,
            "mode": run.mode,
            "estimated_usd": run.estimated_usd,
            "actual_usd": run.actual_usd,
            "output": run.output,
            "published": run.published_uri,
            "error": run.error,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        },
        "nodes": [
            {
                "id": r.node_id,
                "type": r.type,
                "status": r.status,
                "cache_hit": r.cache_hit,
                "attempts": r.attempts,
                "cost_usd": r.cost_usd,
                "output": r.output,
                "error": r.error,
            }
            for r in rows
        ],
        "invoice": _invoice(engine, run_id).to_rows(),
        "approvals": [
            {
                "node": a.node_id,
                "round": a.round,
                "decision": a.decision,
                "reviewer": a.reviewer,
                "notes": a.notes,
                "revisions": a.revisions,
                "decided_at": a.decided_at,
            }
            for a in db.approvals(engine, run_id)
        ],
    }


def _location(run_doc: dict[str, Any]) -> str:
    """Where a person finds the run's result: the published copy (a plain path when it is
    a local file), else the stored object."""
    from urllib.parse import unquote, urlparse

    uri = run_doc.get("published") or run_doc["output"]["uri"]
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _nodes_table(doc: dict[str, Any]) -> Table:
    table = Table(title=f"{doc['run']['pipeline']} run {doc['run']['id']}")
    for col in ("node", "type", "status", "cache", "attempts", "output / error"):
        table.add_column(col, overflow="fold")
    for node in doc["nodes"]:
        style = STATUS_STYLE.get(node["status"], "")
        detail = node["error"] or (node["output"] or {}).get("uri", "")
        table.add_row(
            node["id"],
            node["type"],
            f"[{style}]{node['status']}[/{style}]" if style else node["status"],
            "hit" if node["cache_hit"] else "",
            str(node["attempts"]),
            detail,
        )
    return table


class _LiveProgress:
    """A per-node progress display on stderr, read from the database while a run goes."""

    def __init__(self, engine, run_id: str, enabled: bool):
        import threading

        self.engine, self.run_id, self.enabled = engine, run_id, enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.enabled:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        if not err.is_terminal:
            return self._lines()
        from rich.live import Live

        with Live(console=err, refresh_per_second=4, transient=True) as live:
            while not self._stop.wait(0.5):
                live.update(_nodes_table(show_document(self.engine, self.run_id)))

    def _lines(self) -> None:
        """Off a terminal (a log, a pipe): one line per node as it ends, and the waits."""
        from vidpipe import db

        seen: dict[str, str] = {}
        waiting = False
        while not self._stop.wait(1.0):
            rows = db.node_runs(self.engine, self.run_id)
            done = sum(r.status in db.NODE_TERMINAL for r in rows)
            for r in rows:
                if r.status in db.NODE_TERMINAL and seen.get(r.node_id) != r.status:
                    seen[r.node_id] = r.status
                    how = " (cache hit)" if r.cache_hit else ""
                    why = f": {r.error.splitlines()[0][:160]}" if r.error else ""
                    err.print(
                        f"[{done}/{len(rows)}] {r.node_id} {r.status}{how}{why}",
                        highlight=False,
                        markup=False,
                    )
            run = db.get_run(self.engine, self.run_id)
            paused = run is not None and run.status == "awaiting_approval"
            if paused and not waiting:
                err.print("waiting for a reviewer", highlight=False)
            waiting = paused


#: The Prefect server this command uses, when it is this home's local one.
_local: dict[str, Any] = {"server": None, "ephemeral": False}


def prepare_prefect(need_server: bool = True) -> None:
    """Prefect's embedded defaults, and the server to use: PREFECT_API_URL when set, else
    (for commands that run flows) this home's local server, started on first use, unless
    VIDPIPE_SERVER=ephemeral or --ephemeral asks for Prefect's temporary one. Call it
    before Prefect is imported: Prefect reads its settings from the environment then (a
    program running several commands in one process, like `make demo`, calls it first)."""
    from vidpipe.settings import apply_prefect_defaults, get_settings, use_prefect_api

    settings = get_settings()
    apply_prefect_defaults(settings)
    if not need_server or settings.prefect_api_url:
        return
    if settings.server == "ephemeral" or _local["ephemeral"]:
        return
    from vidpipe import localserver

    server, started = localserver.ensure(settings.home, idle_s=settings.server_idle_s)
    use_prefect_api(server.api_url)
    _local["server"] = server
    if started:
        err.print(
            f"Prefect UI: {server.ui_url} (this home's local server; it stops after "
            f"{settings.server_idle_s / 60:g} idle minutes, or with `vidpipe server stop`)",
            highlight=False,
        )


@contextlib.contextmanager
def _keeping_alive() -> Any:
    """While a command uses this home's local server, it counts as activity (the idle
    clock would otherwise run between its start and its first flow run)."""
    import threading

    from vidpipe import localserver
    from vidpipe.settings import get_settings

    if _local["server"] is None:
        yield
        return
    settings = get_settings()
    stop = threading.Event()

    def touch() -> None:
        while not stop.wait(max(0.5, min(60.0, settings.server_idle_s / 4))):
            localserver.touch(settings.home)

    threading.Thread(target=touch, name="vidpipe-keep-alive", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def local_server() -> Any:
    """The local Prefect server this process's commands used, if any (`make demo`)."""
    return _local["server"]


def _ui_page(flow_run_id: str | None) -> str | None:
    """The Prefect UI's page of a flow run, where a lasting server holds it."""
    from vidpipe.settings import get_settings

    if not flow_run_id:
        return None
    server = _local["server"]
    if server is not None:
        return server.run_page(flow_run_id)
    api = (get_settings().prefect_api_url or "").rstrip("/")
    return f"{api.removesuffix('/api')}/runs/flow-run/{flow_run_id}" if api else None


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="A pipeline file.")],
    mode: Annotated[
        str | None, typer.Option(help="placeholder (offline, free) or live (real providers).")
    ] = None,
    budget: Annotated[float | None, typer.Option(help="Cap this run's spending (USD).")] = None,
    refresh: Annotated[
        list[str] | None, typer.Option(help="Run this node (and its dependents) again.")
    ] = None,
    approve: Annotated[
        str | None, typer.Option(help="'auto' approves every approval gate.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline; prints the run id first and the output path at the end."""
    from vidpipe.settings import get_settings

    _check_mode(mode)
    try:
        if approve not in (None, "auto"):
            raise SpecError(f"--approve takes only 'auto', got {approve!r}")
        if budget is not None and not budget >= 0:
            raise SpecError(f"--budget must be a number of USD, 0 or more, got {budget}")
        get_settings()  # bad settings are refused before a run is opened
    except VidpipeError as exc:
        raise _fail(exc) from None
    the_plan = _load_plan(file, mode)
    spec = the_plan.spec
    unknown = [n for n in refresh or [] if n not in spec.by_id]
    if unknown:
        raise _fail(SpecError(f"--refresh names unknown nodes: {', '.join(unknown)}"))
    prepare_prefect()
    from vidpipe.runs import open_run

    engine = _engine()
    run_row = open_run(engine, spec, mode=mode, budget_usd=budget, refresh=refresh or ())
    print(run_row.id, flush=True)
    if not as_json:
        err.print(f"running {spec.name} ({len(spec.nodes)} nodes) as run {run_row.id}")
        if the_plan.gates and approve != "auto":
            err.print(
                f"approval gates ({', '.join(the_plan.gates)}) pause this run: decide from "
                f"another terminal with `vidpipe approve|reject|revise {run_row.id[:8]}` "
                "or in the Prefect UI's resume form"
            )
    code = _run_flow(engine, run_row.id, file, mode, budget, refresh, approve, as_json)
    doc = show_document(engine, run_row.id)
    if as_json:
        sys.stdout.write(json.dumps(doc, default=str) + "\n")
    else:
        out.print(_nodes_table(doc))
        if doc["run"]["output"]:
            out.print(f"output: {_location(doc['run'])}", highlight=False, soft_wrap=True)
        ending = doc["run"]["status"]
        if ending in ("cancelled", "failed") and doc["run"]["error"] and code in (1, 130, 143):
            ending += f" ({doc['run']['error']})"
        out.print(f"run {run_row.id}: {ending}", highlight=False, markup=False)
        from vidpipe import db

        page = _ui_page(db.get_run(engine, run_row.id).flow_run_id)
        if page:
            out.print(f"Prefect UI: {page}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class _Stopped(KeyboardInterrupt):
    """The process was asked to stop (Ctrl-C, SIGTERM): the run ends `cancelled`."""

    def __init__(self, reason: str, exit_code: int):
        super().__init__(reason)
        self.exit_code = exit_code


def _stop_on(signum: int, frame: Any) -> None:
    if signum == signal.SIGTERM:
        raise _Stopped("terminated (SIGTERM)", 143)
    raise _Stopped("interrupted (Ctrl-C)", 130)


def _run_flow(
    engine,
    run_id: str,
    file: Path,
    mode: str | None,
    budget: float | None,
    refresh: list[str] | None,
    approve: str | None,
    as_json: bool,
) -> int:
    """Run the flow in this process; returns the exit code. However it stops (an error,
    a signal, a cancellation in Prefect, a bug), the run is left ended with its reason."""
    from prefect.exceptions import TerminationSignal

    from flows.pipeline import interrupt_on_cancel, mark_cancelled, run_pipeline
    from vidpipe import db
    from vidpipe.logs import quiet_user_errors

    quiet_user_errors(debug=_debugging())
    interrupt_on_cancel.set()
    previous = {sig: signal.signal(sig, _stop_on) for sig in (signal.SIGINT, signal.SIGTERM)}
    code, ending = 0, None
    try:
        with _keeping_alive(), _LiveProgress(engine, run_id, enabled=not as_json):
            run_pipeline(
                pipeline=str(file.resolve()),
                mode=mode,
                budget_usd=budget,
                refresh=list(refresh or []),
                approve=approve,
                run_id=run_id,
            )
    except VidpipeError as exc:
        code, ending = exc.exit_code, ("failed", str(exc))
        if _debugging():
            traceback.print_exception(exc)
        if not as_json:
            err.print(f"[red]{exc}[/red]", highlight=False)
    except (KeyboardInterrupt, TerminationSignal) as exc:
        reason = "terminated (SIGTERM)" if isinstance(exc, TerminationSignal) else str(exc)
        reason = reason or "interrupted"
        code = getattr(exc, "exit_code", 143 if isinstance(exc, TerminationSignal) else 130)
        ending = ("cancelled", reason)
        run = db.get_run(engine, run_id)
        if run is not None and run.status == "cancelled" and run.error:
            reason = run.error
            if "Prefect" in reason and run.flow_run_id:
                code = 1
                mark_cancelled(run.flow_run_id)
        if not as_json:
            err.print(f"[red]run {run_id} cancelled: {reason}[/red]", highlight=False)
    except Exception as exc:  # a bug: the run still ends, then the traceback shows
        db.end_run(engine, run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        interrupt_on_cancel.clear()
    if ending is not None:  # the flow ends its run; this covers a stop before it could
        db.end_run(engine, run_id, *ending)
    return code


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
    if run_doc["output"]:
        out.print(f"output: {_location(run_doc)}", highlight=False, soft_wrap=True)


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
    import datetime as dt

    from vidpipe import costs, db

    try:
        if by not in ("pipeline", "provider", "day"):
            raise SpecError(f"--by must be pipeline, provider or day, got {by!r}")
        start = None
        if since is not None:
            try:
                start = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC)
            except ValueError:
                raise SpecError(f"--since must be a date like 2026-11-01, got {since!r}") from None
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


@app.command()
def serve() -> None:
    """Serve the deployments (run-pipeline, nightly-batch, sweep-stuck-runs) from this
    process: the one-machine default. Stop with Ctrl-C."""
    prepare_prefect()
    from deployments import serve_all

    with _keeping_alive():  # serving is activity: the local server stays up
        serve_all()


server_app = typer.Typer(
    help="This home's local Prefect server (the default when PREFECT_API_URL is not set).",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: Annotated[int | None, typer.Option(help="Its port (default: a free one).")] = None,
    background: Annotated[
        bool, typer.Option("--background", help="Start it and return (it stops when idle).")
    ] = False,
) -> None:
    """Start it (in the foreground until Ctrl-C, or --background)."""
    import time

    from vidpipe import localserver
    from vidpipe.settings import get_settings

    settings = get_settings()
    try:
        server, started = localserver.ensure(
            settings.home, idle_s=settings.server_idle_s, port=port
        )
    except VidpipeError as exc:
        raise _fail(exc) from None
    if port is not None and server.port != port:
        out.print(f"already running on port {server.port}: {server.ui_url}", highlight=False)
        return
    out.print(f"{'started' if started else 'running'}: {server.ui_url}", highlight=False)
    if background:
        return
    out.print("Ctrl-C stops it", highlight=False)
    try:
        while localserver.status(settings.home) is not None:
            localserver.touch(settings.home)
            time.sleep(2)
    except KeyboardInterrupt:
        localserver.stop(settings.home)
        out.print("stopped", highlight=False)


@server_app.command("stop")
def server_stop() -> None:
    """Stop it (exit 0 whether or not one was running)."""
    from vidpipe import localserver
    from vidpipe.settings import get_settings

    home = get_settings().home
    out.print("stopped" if localserver.stop(home) else "no local server was running")


@server_app.command("status")
def server_status(as_json: JsonOpt = False) -> None:
    """Print its URL and exit 0 while it runs; exit 1 when none does."""
    from dataclasses import asdict

    from vidpipe import localserver
    from vidpipe.settings import get_settings

    home = get_settings().home
    server = localserver.status(home)
    if as_json:
        _emit_json(asdict(server) if server else None)
    elif server:
        out.print(f"{server.ui_url} (API {server.api_url})", highlight=False)
    else:
        err.print(f"no local Prefect server for {home}", highlight=False)
    raise typer.Exit(0 if server else 1)


# --------------------------------------------------------------------------- reviews

NotesOpt = Annotated[str, typer.Option(help="Why; kept in the run's history.")]
ReviewerOpt = Annotated[str, typer.Option(help="Your name or e-mail.")]
GateOpt = Annotated[
    str | None, typer.Option("--node", help="The approval gate, when several wait.")
]


def _parse_sets(sets: list[str]) -> dict[str, dict[str, Any]]:
    """`NODE.FIELD=VALUE` items -> revisions; VALUE is read as YAML (numbers, true, text)."""
    import yaml

    revisions: dict[str, dict[str, Any]] = {}
    for item in sets:
        target, sep, raw = item.partition("=")
        node_id, dot, field = target.partition(".")
        if not sep or not dot or not node_id or not field:
            raise SpecError(f"--set {item!r}: expected NODE.FIELD=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        revisions.setdefault(node_id, {})[field] = value
    return revisions


def _waiting_gate(engine, run, node: str | None) -> str:
    from vidpipe import db

    if run.status != "awaiting_approval":
        raise SpecError(f"run {run.id} is not waiting for approval (it is {run.status})")
    waiting = [
        r.node_id
        for r in db.node_runs(engine, run.id)
        if r.type == "approval" and r.status == "running"
    ]
    if node is not None:
        if node not in waiting:
            raise SpecError(f"gate '{node}' is not waiting (waiting: {', '.join(waiting)})")
        return node
    if len(waiting) != 1:
        raise SpecError(f"several gates wait; choose one with --node: {', '.join(waiting)}")
    return waiting[0]


def _resume(run, run_input: dict[str, Any]) -> None:
    """Resume the paused flow run through the Prefect API it runs on (retrying briefly
    while the flow is still between recording the wait and pausing)."""
    import time
    from uuid import UUID

    from prefect.exceptions import FlowPauseTimeout, NotPausedError
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if not run.flow_run_id:
        raise SpecError(f"run {run.id} has no Prefect flow run to resume")
    updates = {PREFECT_API_URL: run.prefect_api_url} if run.prefect_api_url else {}
    deadline = time.monotonic() + 30
    with temporary_settings(updates=updates):
        while True:
            try:
                resume_flow_run(UUID(run.flow_run_id), run_input=run_input)
                return
            except NotPausedError:
                if time.monotonic() > deadline:
                    raise SpecError(f"run {run.id}'s flow run is not paused") from None
                time.sleep(0.5)
            except FlowPauseTimeout:
                raise SpecError(f"run {run.id}: the approval already timed out") from None
            except Exception as exc:  # noqa: BLE001 - connection errors of any kind
                where = run.prefect_api_url or "PREFECT_API_URL"
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if status in (401, 403):
                    raise VidpipeError(
                        f"the Prefect API of run {run.id} ({where}) refused these "
                        "credentials: set PREFECT_API_AUTH_STRING as the server's "
                        "PREFECT_SERVER_API_AUTH_STRING"
                    ) from None
                raise VidpipeError(
                    f"cannot reach the Prefect API of run {run.id} ({where}): {type(exc).__name__}"
                ) from None


def _decide(
    run_id: str,
    decision: str,
    notes: str,
    reviewer: str,
    node: str | None,
    revisions: dict[str, dict[str, Any]] | None = None,
) -> None:
    from vidpipe import db

    try:
        engine = _engine()
        run_row = db.find_run(engine, run_id)
        gate = _waiting_gate(engine, run_row, node)
        if decision == "revise":
            from tasks.approval import apply_revisions
            from vidpipe.spec import load_data

            with db.session_scope(engine) as session:
                spec_data = session.get(db.Pipeline, run_row.pipeline_id).spec
            spec = load_data(spec_data).spec
            apply_revisions(spec, gate, revisions or {})  # refuse a bad one here, clearly
        prepare_prefect(need_server=False)  # the run's own server, recorded with it
        _resume(
            run_row,
            {
                "decision": decision,
                "notes": notes,
                "reviewer": reviewer,
                "revisions": revisions or {},
            },
        )
    except VidpipeError as exc:
        raise _fail(exc) from None
    out.print(f"{decision}: gate {gate} of run {run_row.id}", highlight=False)


@app.command()
def approve(
    run_id: RunArg, notes: NotesOpt = "", reviewer: ReviewerOpt = "", node: GateOpt = None
) -> None:
    """Approve the approval gate a paused run waits at; the run goes on."""
    _decide(run_id, "approve", notes, reviewer, node)


@app.command()
def reject(
    run_id: RunArg, notes: NotesOpt = "", reviewer: ReviewerOpt = "", node: GateOpt = None
) -> None:
    """Reject it: the run ends `rejected`; what was made is kept and cached."""
    _decide(run_id, "reject", notes, reviewer, node)


@app.command()
def revise(
    run_id: RunArg,
    set_: Annotated[
        list[str], typer.Option("--set", help="NODE.FIELD=VALUE to change (repeatable).")
    ],
    notes: NotesOpt = "",
    reviewer: ReviewerOpt = "",
    node: GateOpt = None,
) -> None:
    """Ask for changes: the named nodes run again with new settings, then review again."""
    try:
        revisions = _parse_sets(set_)
    except VidpipeError as exc:
        raise _fail(exc) from None
    _decide(run_id, "revise", notes, reviewer, node, revisions)


def main() -> None:
    """Entry point: a VidpipeError or a bad argument becomes one line and its exit code
    (2 for bad input), Ctrl-C exit 130."""
    try:  # typer vendors its own click (0.26 on); these are the errors it raises
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - an older typer on plain click
        from click import exceptions as click_errors

    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        out.print(exc.ctx.get_help() if exc.ctx else str(exc), highlight=False, markup=False)
        code = 0
    except click_errors.UsageError as exc:  # a bad value, option or missing argument
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        err.print(f"error: {exc.format_message()}{where}", highlight=False, markup=False)
        code = exc.exit_code
    except VidpipeError as exc:
        code = _fail(exc).exit_code
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", highlight=False)
        code = 130
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
