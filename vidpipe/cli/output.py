"""What every command prints through: the consoles (results on stdout, the rest on
stderr), the shared `--json`, RUN and `--since` arguments, `--json` documents, and a
`VidpipeError` as one line on stderr (with its traceback under `--debug`)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import traceback
from typing import Annotated, Any

import typer
from rich.console import Console

from vidpipe.errors import SpecError, VidpipeError

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


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _fail(error: VidpipeError) -> typer.Exit:
    if _debugging():
        traceback.print_exception(error)
    err.print(f"[red]error:[/red] {error}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(error.exit_code)


def serve_until_interrupted(server: Any) -> None:
    """Keep a background endpoint (`.thread`, `.stop()`) serving until Ctrl-C or its
    thread ends, then stop it."""
    try:
        while server.thread.is_alive():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def since_date(since: str | None) -> dt.datetime | None:
    """A `--since DATE` value as the start of that day (UTC); a bad date is a SpecError."""
    if since is None:
        return None
    try:
        return dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC)
    except ValueError:
        raise SpecError(f"--since must be a date like 2026-11-01, got {since!r}") from None
