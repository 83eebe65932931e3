"""The `vidpipe` command line (typer).

Every listing command takes `--json` and then prints one JSON document on stdout and
nothing else there. Exit codes (SPEC.md): 0 success, 1 the run failed (or, for
`validate`, a file is invalid), 2 bad input, 3 rejected by a reviewer, 4 refused by a
budget. A `VidpipeError` becomes one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vidpipe.errors import VidpipeError
from vidpipe.plan import Plan, build_plan
from vidpipe.spec import format_problems, load_file

__all__ = ["app", "main"]

app = typer.Typer(
    name="vidpipe",
    help="AI-generated video pipelines as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _fail(error: VidpipeError) -> typer.Exit:
    err.print(f"[red]error:[/red] {error}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(error.exit_code)


def _load_plan(file: Path) -> Plan:
    result = load_file(file)
    if not result.valid:
        err.print(format_problems(result.source, result.problems), highlight=False, markup=False)
        raise typer.Exit(2)
    assert result.spec is not None
    return build_plan(result.spec)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Pipeline files (YAML or JSON).")],
    as_json: JsonOpt = False,
) -> None:
    """Check pipeline files and report every problem in each, at once."""
    results = [load_file(f) for f in files]
    if as_json:
        _emit_json([r.to_json() for r in results])
    else:
        for r in results:
            style = "green" if r.valid else "red"
            text = format_problems(r.source, r.problems)
            head, _, rest = text.partition("\n")
            out.print(f"[{style}]{head}[/{style}]", highlight=False, soft_wrap=True)
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


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="A pipeline file.")],
    as_json: JsonOpt = False,
) -> None:
    """Show execution order, parallel groups and approval gates."""
    the_plan = _load_plan(file)
    doc = plan_document(the_plan)
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
    for col in ("group", "node", "type", "depends on", "waits for"):
        table.add_column(col)
    for node in doc["nodes"]:
        table.add_row(
            str(node["group"]),
            node["id"],
            node["type"],
            ", ".join(node["depends_on"]) or "-",
            ", ".join(node["waits_for_gates"]) or "-",
        )
    out.print(table)
    for gate in doc["gates"]:
        out.print(f"approval gate [bold]{gate['id']}[/bold] holds: {', '.join(gate['holds'])}")


def main() -> None:
    """Entry point with VidpipeError -> one line + exit code."""
    try:
        app()
    except VidpipeError as exc:
        raise _fail(exc) from None


if __name__ == "__main__":
    main()
