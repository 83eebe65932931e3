"""Pipeline files as the commands load them: validated, with what a run in a mode would
refuse added (`vidpipe.preflight`), and the `--mode` option that names the mode."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vidpipe.cli.output import _fail, err
from vidpipe.errors import SpecError
from vidpipe.plan import Plan, build_plan
from vidpipe.spec import format_problems, load_file


def _load(file: Path, mode: str | None) -> Any:
    """A file loaded and validated, with what a run in `mode` (default: the file's own)
    would refuse added to its problems (`vidpipe.preflight`)."""
    from vidpipe.preflight import run_problems
    from vidpipe.settings import get_settings
    from vidpipe.variants import variant_problems

    result = load_file(file)
    if result.valid:
        allowed = get_settings().allow_networks  # asset URLs' private networks allowed
        mode = mode or result.spec.mode
        result.problems.extend(run_problems(result.spec, mode, allowed))
        result.problems.extend(variant_problems(result.spec, mode))
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
