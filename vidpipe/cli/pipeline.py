"""The commands that read pipeline files without running them: `validate` and `plan`
(with the `plan --json` document, the cost estimate and the `--graph` picture).

Neither imports Prefect (the estimate, `vidpipe.estimating`, is plain Python), and what
only one command needs is imported inside it, so `--version` and `--help` stay quick."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vidpipe.cli.application import app
from vidpipe.cli.documents import _engine
from vidpipe.cli.loading import ModeOpt, _check_mode, _load, _load_plans
from vidpipe.cli.output import JsonOpt, _emit_json, _fail, err, out
from vidpipe.errors import SpecError, VidpipeError

if TYPE_CHECKING:
    from vidpipe.plan import Plan


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Pipeline files (YAML or JSON).")],
    mode: ModeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check pipeline files and report every problem in each, at once: the file's own,
    and what a run in its mode (or --mode) would refuse before paying."""
    from vidpipe.spec import format_problems

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


def plan_estimate(the_plan: Plan, mode: str | None = None, index: Any = None) -> Any:
    """The plan's cost estimate, with the nodes this machine's cache already holds
    (`index`: where that is read, by default this home's database)."""
    from vidpipe.estimating import estimate_run
    from vidpipe.run_info import RunInfo
    from vidpipe.settings import get_settings

    settings = get_settings()
    if index is None:
        index = _cache_index()
    spec = the_plan.spec
    run = RunInfo.for_spec(spec, settings, run_id="plan", mode=mode or spec.mode)
    return estimate_run(the_plan, run, index)


def _cache_index() -> Any:
    """This home's database as the estimate reads it: a SQLite file without SQLAlchemy
    (`vidpipe.cache_index`), any other database through the engine commands use."""
    from vidpipe.cache_index import open_index
    from vidpipe.settings import get_settings

    return open_index(get_settings().resolved_database_url, _engine)


def _with_costs(doc: dict[str, Any], estimate: Any) -> dict[str, Any]:
    """The plan document with the estimate's numbers added."""
    doc["costs"] = estimate.to_json()
    for node in doc["nodes"]:
        found = estimate.by_id.get(node["id"])
        node["estimated_usd"] = float(found.usd) if found else 0.0
        node["live_usd"] = float(found.live_usd) if found else 0.0
        node["expected_cached"] = bool(found and found.expected_cached)
    doc["total_usd"] = float(estimate.total_usd)
    doc["marginal_usd"] = float(estimate.marginal_usd)
    return doc


GraphOpt = Annotated[
    Path | None,
    typer.Option(
        "--graph",
        metavar="PATH",
        help="Also draw the plan's graph to PATH: Mermaid (.mmd) or SVG (.svg). One FILE only.",
    ),
]


@app.command()
def plan(
    files: Annotated[list[Path], typer.Argument(help="Pipeline files (YAML or JSON).")],
    mode: Annotated[
        str | None, typer.Option(help="Estimate for placeholder or live (default: the file's).")
    ] = None,
    graph: GraphOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show execution order, parallel groups, approval gates, and the cost estimate of
    each file; --graph also draws the plan."""
    _check_mode(mode)
    if graph is not None:
        from vidpipe.graphing import check_suffix

        try:
            check_suffix(graph)
            if len(files) > 1:
                raise SpecError(f"--graph draws the plan of one FILE; {len(files)} were given")
        except SpecError as exc:
            raise _fail(exc) from None
    plans = _load_plans(files, mode)
    try:
        index = _cache_index()
        try:
            estimates = [plan_estimate(p, mode, index) for p in plans]
        finally:
            index.close()
        if graph is not None:
            _write_graph(plans[0], graph, estimates[0])
    except VidpipeError as exc:
        raise _fail(exc) from None
    docs = [_with_costs(plan_document(p), e) for p, e in zip(plans, estimates, strict=True)]
    if as_json:
        _emit_json(docs[0] if len(docs) == 1 else docs)
        return
    for number, (the_plan, doc, estimate) in enumerate(zip(plans, docs, estimates, strict=True)):
        if number:
            out.print()
        _print_plan(the_plan, doc, estimate)


def _write_graph(the_plan: Plan, path: Path, estimate: Any) -> None:
    from vidpipe.graphing import draw

    text = draw(the_plan, path, estimate=estimate)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"--graph cannot write {path}: {exc.strerror or exc}") from None
    err.print(f"graph written to {path}", highlight=False, markup=False)


def _print_plan(the_plan: Plan, doc: dict[str, Any], estimate: Any) -> None:
    """One plan for people: the header, the nodes table, the gates, the cost block."""
    from rich.table import Table

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
