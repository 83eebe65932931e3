"""`vidpipe run`: a pipeline run in this process, with live progress, and ended with its
reason however it stops (an error, Ctrl-C, SIGTERM, a cancellation in Prefect)."""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from vidpipe.cli.application import app
from vidpipe.cli.documents import (
    _engine,
    _nodes_table,
    duration,
    heading,
    output_lines,
    run_cost,
    run_seconds,
    show_document,
    usd,
)
from vidpipe.cli.loading import _check_mode, _load_plan
from vidpipe.cli.output import JsonOpt, _debugging, _fail, err, out
from vidpipe.cli.prefect_setup import _keeping_alive, local_server, prepare_prefect
from vidpipe.cli.progress import _LiveProgress
from vidpipe.errors import SpecError, VidpipeError


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
        _print_ending(doc, code)
    raise typer.Exit(code)


def _print_ending(doc: dict[str, Any], code: int) -> None:
    """The end of a run, once: the counter and the per-node table, where the result is,
    then one line with how it ended, how long it took, what it cost and its page in the
    Prefect UI (where a lasting server keeps it; a temporary server is gone by now)."""
    from vidpipe.settings import get_settings

    width = out.width
    out.print(heading(doc, width))
    out.print(_nodes_table(doc, width))
    for line in output_lines(doc):
        out.print(line, highlight=False, soft_wrap=True, markup=False)
    run = doc["run"]
    if run["status"] in ("cancelled", "failed") and run["error"] and code in (1, 130, 143):
        why = f"{run['status']}: {run['error'].strip().splitlines()[0]}"  # whole on stderr
        out.print(why, highlight=False, markup=False, no_wrap=True, overflow="ellipsis")
    lasting = local_server() is not None or bool(get_settings().prefect_api_url)
    for line in ending_lines(doc, width, run["ui_url"] if lasting else None):
        out.print(line, highlight=False, soft_wrap=True, markup=False)


def ending_lines(doc: dict[str, Any], width: int, page: str | None) -> list[str]:
    """`run ID: completed in 12.3s, $0.42, Prefect UI: URL` on one line where it fits,
    shortened to fit `width` (the id left out, then the link on a line of its own)."""
    run = doc["run"]
    facts = f"{run['status']} in {duration(run_seconds(run))}, {usd(run_cost(doc))}"
    named = f"run {run['id']}: {facts}"
    if not page:
        return [named if len(named) <= width else facts]
    for line in (f"{named}, Prefect UI: {page}", f"{facts}, Prefect UI: {page}"):
        if len(line) <= width:
            return [line]
    if len(f"{facts}, {page}") <= width:
        return [f"{facts}, {page}"]
    return [named if len(named) <= width else facts, f"Prefect UI: {page}"]


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

    from flows.pipeline import in_process, interrupt_on_cancel, mark_cancelled, run_pipeline
    from vidpipe import db
    from vidpipe.logs import quiet_user_errors
    from vidpipe.runs import for_run

    quiet_user_errors(debug=_debugging())
    interrupt_on_cancel.set()
    previous = {sig: signal.signal(sig, _stop_on) for sig in (signal.SIGINT, signal.SIGTERM)}
    code, ending = 0, None
    try:
        with (
            _keeping_alive(),
            in_process(),
            for_run(run_id),
            _LiveProgress(engine, run_id, enabled=not as_json),
        ):
            run_pipeline(
                pipeline=str(file.resolve()),
                mode=mode,
                budget_usd=budget,
                refresh=list(refresh or []),
                approve=approve,
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
