"""The `vidpipe` typer app every command registers on, its global options (--debug,
--version, --ephemeral), and main(): the entry point that gives every error one line and
its exit code."""

from __future__ import annotations

from typing import Annotated

import typer

from vidpipe.cli.output import _debug, _fail, err, out
from vidpipe.cli.prefect_setup import _local
from vidpipe.errors import VidpipeError

app = typer.Typer(
    name="vidpipe",
    help="AI-generated video pipelines as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def main() -> None:
    """Entry point: a VidpipeError or a bad argument becomes one line and its exit code
    (2 for bad input), Ctrl-C exit 130."""
    try:  # typer vendors its own click (0.26 on); these are the errors it raises
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - an older typer on plain click
        from click import exceptions as click_errors

    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError:  # typer has printed the help already
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
