"""A plan drawn as a graph: Mermaid text (`mermaid`), Graphviz DOT (`dot`), and SVG laid
out by Graphviz (`svg`).

Each node is labelled with its id, its type and, given an estimate, what it is expected
to cost (at live prices in placeholder mode, marked `live`); given the nodes' final
statuses, each is coloured by its status and the status is added to its label. Colours
say what kind of node it is (`node_kind`): generative, local FFmpeg work, an asset, an
approval gate (drawn as a hexagon), or a node the run adds (`reframe`, `apply-brand`).
The nodes of one parallel group share a row; edges for inputs are solid, `after:`
ordering edges dashed.

Node ids go through unchanged into DOT (quoted) and never into Mermaid's syntax: Mermaid
nodes are named `n0`, `n1`, ... in plan order and carry the id in their quoted label, so
ids such as `host@vertical`, `brand.apply` or `end` cannot break either language.

`mermaid` and `dot` are pure; `svg` runs Graphviz's layout engine in process
(`vidpipe.graphviz_wasm`: Graphviz compiled to WebAssembly, run by `wasmtime`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from vidpipe.catalogue import ADDED_BY_RUNS
from vidpipe.costs import PlanEstimate, format_usd
from vidpipe.errors import SpecError
from vidpipe.graphviz_wasm import render_svg
from vidpipe.plan import Plan
from vidpipe.spec import NodeSpec

__all__ = ["GRAPH_SUFFIXES", "node_kind", "mermaid", "dot", "svg", "draw", "check_suffix"]

#: What `vidpipe plan --graph PATH` writes, by PATH's suffix.
GRAPH_SUFFIXES = {".mmd": "Mermaid", ".svg": "SVG"}

#: Fill and border of each kind of node.
KIND_COLOURS: dict[str, tuple[str, str]] = {
    "generative": ("#dbeafe", "#1d4ed8"),
    "local": ("#dcfce7", "#15803d"),
    "asset": ("#f3f4f6", "#4b5563"),
    "approval": ("#fef3c7", "#b45309"),
    "added": ("#ede9fe", "#6d28d9"),
}
COLOUR_WORDS = {
    "generative": "blue",
    "local": "green",
    "asset": "grey",
    "approval": "amber",
    "added": "purple",
}
KIND_NAMES = {
    "generative": "generative",
    "local": "local FFmpeg",
    "asset": "asset",
    "approval": "approval gate",
    "added": "added by the run",
}
#: Fill and border of each final status; any other status is drawn white.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "completed": ("#bbf7d0", "#15803d"),
    "cached": ("#ccfbf1", "#0f766e"),
    "approved": ("#bbf7d0", "#15803d"),
    "running": ("#bfdbfe", "#1d4ed8"),
    "pending": ("#ffffff", "#6b7280"),
    "awaiting_approval": ("#fef3c7", "#b45309"),
    "failed": ("#fecaca", "#b91c1c"),
    "rejected": ("#fecaca", "#b91c1c"),
    "skipped": ("#e5e7eb", "#6b7280"),
    "cancelled": ("#e5e7eb", "#6b7280"),
}
_OTHER_STATUS = ("#ffffff", "#111827")


def node_kind(node: NodeSpec) -> str:
    """`asset`, `approval`, `added` (a node a run adds), `generative` (a node type that
    calls a provider) or `local` (FFmpeg work on this machine)."""
    if node.type in ("asset", "approval"):
        return node.type
    if node.type in ADDED_BY_RUNS:
        return "added"
    return "generative" if node.decl.provider_field is not None else "local"


def _cost(estimate: PlanEstimate | None, node_id: str) -> str | None:
    found = estimate.by_id.get(node_id) if estimate is not None else None
    if found is None:
        return None
    text = (
        format_usd(found.usd) if estimate.mode == "live" else f"live {format_usd(found.live_usd)}"
    )
    return f"{text}, cached" if found.expected_cached else text


def _lines(
    plan: Plan,
    node_id: str,
    estimate: PlanEstimate | None,
    statuses: Mapping[str, str] | None,
) -> list[str]:
    """What a node's label says, one item per line."""
    lines = [node_id, plan.node(node_id).type]
    cost = _cost(estimate, node_id)
    if cost is not None:
        lines.append(cost)
    if statuses and node_id in statuses:
        lines.append(str(statuses[node_id]))
    return [" ".join(line.split()) for line in lines]  # no line breaks of their own


def _edges(plan: Plan) -> list[tuple[str, str, bool]]:
    """(from, to, is an input) for every dependency, in plan order; a node that is both
    an input and in `after:` is an input."""
    edges = []
    for node_id in plan.order:
        node = plan.node(node_id)
        inputs = {ref for refs in node.inputs.values() for ref in refs}
        edges += [(dep, node_id, dep in inputs) for dep in plan.deps[node_id]]
    return edges


def _title(plan: Plan, estimate: PlanEstimate | None) -> list[str]:
    """The picture's title: the pipeline and its size, then the mode and total."""
    spec = plan.spec
    lines = [f"{spec.name}: {len(plan.order)} nodes in {len(plan.groups)} groups"]
    if estimate is not None and estimate.mode == "live":
        lines.append(f"live mode: total {format_usd(estimate.total_usd)}")
    elif estimate is not None:
        total = format_usd(estimate.live_total_usd)
        lines.append(f"placeholder mode: nothing billed; costs at live prices, total {total}")
    return lines


# --------------------------------------------------------------------------- Mermaid


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label, its special characters as entity codes."""
    codes = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}
    return "".join(codes.get(c, c) for c in text)


def mermaid(
    plan: Plan,
    *,
    estimate: PlanEstimate | None = None,
    statuses: Mapping[str, str] | None = None,
) -> str:
    """The plan as a Mermaid flowchart (one parallel group per subgraph)."""
    name = {node_id: f"n{i}" for i, node_id in enumerate(plan.order)}
    out = ["---", f"title: {json.dumps('; '.join(_title(plan, estimate)))}", "---", "flowchart TB"]
    for number, group in enumerate(plan.groups):
        out.append(f'  subgraph group_{number} ["parallel group {number}"]')
        for node_id in group:
            label = "<br/>".join(
                _mermaid_text(line) for line in _lines(plan, node_id, estimate, statuses)
            )
            gate = plan.node(node_id).type == "approval"
            out.append(
                f'    {name[node_id]}{{{{"{label}"}}}}'
                if gate
                else f'    {name[node_id]}["{label}"]'
            )
        out.append("  end")
    for source, target, is_input in _edges(plan):
        out.append(f"  {name[source]} {'-->' if is_input else '-.->'} {name[target]}")
    for kind, (fill, border) in KIND_COLOURS.items():
        out.append(f"  classDef {kind} fill:{fill},stroke:{border},color:#111827")
    by_kind: dict[str, list[str]] = {}
    for node_id in plan.order:
        by_kind.setdefault(node_kind(plan.node(node_id)), []).append(name[node_id])
    out += [f"  class {','.join(names)} {kind}" for kind, names in by_kind.items()]
    if statuses:
        by_status: dict[str, list[str]] = {}
        for node_id in plan.order:
            if node_id in statuses:
                by_status.setdefault(_status_class(statuses[node_id]), []).append(name[node_id])
        for css, names in by_status.items():
            fill, border = STATUS_COLOURS.get(css.removeprefix("status_"), _OTHER_STATUS)
            out.append(f"  classDef {css} fill:{fill},stroke:{border},stroke-width:3px")
            out.append(f"  class {','.join(names)} {css}")
    return "\n".join(out) + "\n"


def _status_class(status: str) -> str:
    known = status if status in STATUS_COLOURS else "other"
    return f"status_{known}"


# --------------------------------------------------------------------------- DOT


def _dot_escape(text: str) -> str:
    """Text inside a DOT quoted string: backslashes and quotes escaped, so no text can end
    the string or become an escape such as `\\N` (the node's name)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_string(text: str) -> str:
    return f'"{_dot_escape(text)}"'


def _legend(title: list[str]) -> str:
    """The graph's label: its title, then what the fills, shapes and edges say."""
    key = [
        f"{COLOUR_WORDS[kind]}{' hexagon' if kind == 'approval' else ''}: {name}"
        for kind, name in KIND_NAMES.items()
    ]
    lines = [*title, "; ".join(key[:3]), "; ".join(key[3:]), "dashed edge: after"]
    return '"' + "\\n".join(_dot_escape(line) for line in lines) + '"'


def dot(
    plan: Plan,
    *,
    estimate: PlanEstimate | None = None,
    statuses: Mapping[str, str] | None = None,
) -> str:
    """The plan as a Graphviz digraph (one parallel group per `rank=same` row)."""
    font = _dot_string("Helvetica,Arial,sans-serif")
    out = [
        f"digraph {_dot_string(plan.spec.name)} {{",
        f"  graph [rankdir=TB, labelloc=t, fontname={font}, fontsize=12, nodesep=0.25,"
        f" ranksep=0.45, label={_legend(_title(plan, estimate))}];",
        f'  node [shape=box, style="rounded,filled", fontname={font}, fontsize=10];',
        '  edge [color="#4b5563", arrowsize=0.7];',
    ]
    for number, group in enumerate(plan.groups):
        out.append(f"  subgraph {_dot_string(f'group {number}')} {{")
        out.append("    rank=same;")
        for node_id in group:
            attrs = _dot_attributes(plan, node_id, estimate, statuses)
            out.append(f"    {_dot_string(node_id)} [{attrs}];")
        out.append("  }")
    for source, target, is_input in _edges(plan):
        style = "" if is_input else " [style=dashed]"
        out.append(f"  {_dot_string(source)} -> {_dot_string(target)}{style};")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_attributes(
    plan: Plan, node_id: str, estimate: PlanEstimate | None, statuses: Mapping[str, str] | None
) -> str:
    kind = node_kind(plan.node(node_id))
    fill, border = KIND_COLOURS[kind]
    lines = _lines(plan, node_id, estimate, statuses)
    attrs = {"label": '"' + "\\n".join(_dot_escape(line) for line in lines) + '"'}
    if statuses and node_id in statuses:
        fill = STATUS_COLOURS.get(statuses[node_id], _OTHER_STATUS)[0]
        attrs["penwidth"] = "2.5"
    attrs.update(fillcolor=_dot_string(fill), color=_dot_string(border))
    if kind == "approval":
        attrs.update(shape="hexagon", style="filled")
    return ", ".join(f"{key}={value}" for key, value in attrs.items())


# --------------------------------------------------------------------------- SVG


def svg(
    plan: Plan,
    *,
    estimate: PlanEstimate | None = None,
    statuses: Mapping[str, str] | None = None,
) -> str:
    """The plan as SVG, laid out by Graphviz's `dot` engine (in process)."""
    return render_svg(dot(plan, estimate=estimate, statuses=statuses))


# --------------------------------------------------------------------------- files


def check_suffix(path: Path) -> str:
    """The format `path` asks for (`.mmd` or `.svg`); a SpecError for any other."""
    suffix = path.suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        given = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise SpecError(f"--graph writes Mermaid (.mmd) or SVG (.svg); {path} has {given}")
    return suffix


def draw(plan: Plan, path: Path, *, estimate: PlanEstimate | None = None) -> str:
    """The picture `path`'s suffix asks for: Mermaid text or SVG."""
    if check_suffix(path) == ".mmd":
        return mermaid(plan, estimate=estimate)
    return svg(plan, estimate=estimate)
