"""Pipeline files as the commands load them: validated, with what a run in a mode would
refuse added (`vidpipe.preflight`), and the `--mode` option that names the mode.

The spec, the planner and the checks are imported when a file is loaded, not with the
command line: `vidpipe --version`, `--help` and commands reading no file skip them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidpipe.cli.output import _fail, err
from vidpipe.errors import SpecError

if TYPE_CHECKING:
    from vidpipe.plan import Plan


def _load(file: Path, mode: str | None) -> Any:
    """A file loaded and validated, with what a run in `mode` (default: the file's own)
    would refuse added to its problems (`vidpipe.preflight`)."""
    from vidpipe.preflight import run_problems
    from vidpipe.settings import get_settings
    from vidpipe.spec import load_file
    from vidpipe.variants import variant_problems

    result = load_file(file)
    if result.valid:
        allowed = get_settings().allow_networks  # asset URLs' private networks allowed
        mode = mode or result.spec.mode
        result.problems.extend(run_problems(result.spec, mode, allowed))
        result.problems.extend(variant_problems(result.spec, mode))
    return result


def _load_plans(files: list[Path], mode: str | None = None) -> list[Plan]:
    """The plans of valid files. When any file is invalid, every invalid file's problems
    are printed on stderr (as by `validate`) and the command exits 2, having printed
    nothing on stdout."""
    from vidpipe.plan import build_plan
    from vidpipe.spec import format_problems

    results = [_load(file, mode) for file in files]
    bad = [r for r in results if not r.valid]
    for result in bad:
        err.print(format_problems(result.source, result.problems), highlight=False, markup=False)
    if bad:
        raise typer.Exit(2)
    return [build_plan(r.spec) for r in results]


def _load_plan(file: Path, mode: str | None = None) -> Plan:
    return _load_plans([file], mode)[0]


ModeOpt = Annotated[
    str | None,
    typer.Option(help="placeholder (offline, free) or live (real providers); default: the file's."),
]


def _check_mode(mode: str | None) -> None:
    if mode not in (None, "placeholder", "live"):
        raise _fail(SpecError(f"--mode must be placeholder or live, got {mode!r}"))
