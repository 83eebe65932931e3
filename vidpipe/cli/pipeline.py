"""The commands that read a pipeline file without running it: `validate` and `plan`
(with the `plan --json` document and the cost estimate)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vidpipe.cli.application import app
from vidpipe.cli.documents import _engine
from vidpipe.cli.loading import ModeOpt, _check_mode, _load, _load_plan
from vidpipe.cli.output import JsonOpt, _emit_json, _fail, out
from vidpipe.cli.prefect_setup import prepare_prefect
from vidpipe.errors import VidpipeError
from vidpipe.plan import Plan
from vidpipe.spec import format_problems


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
                "variants": list(plan.node(node_id).variants),
            }
            for node_id in plan.order
        ],
        "variants": [
            {"name": v.name, "video": v.video.model_dump(), "output_node": v.final}
            for v in plan.variants
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
        f"[bold]{spec.name}[/bold]: {len(the_plan.order)} nodes in {len(the_plan.groups)} "
        f"groups, mode {spec.mode}, video {spec.video.width}x{spec.video.height}@{spec.video.fps}",
        highlight=False,
    )
    if spec.variants:
        out.print(
            "variants: "
            + ", ".join(
                f"{v.name} ({v.video.width}x{v.video.height}@{v.video.fps}, from {v.final})"
                for v in the_plan.variants
            ),
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
