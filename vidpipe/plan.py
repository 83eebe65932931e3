"""From a validated spec to a plan: what runs, in which order, what can run at once.

Pure: no Prefect, no I/O. The flow (`flows/pipeline.py`) interprets a `Plan`; the CLI
prints one; cost estimates (`vidpipe.costs`) are computed over one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from vidpipe import graph
from vidpipe.spec import NodeSpec, PipelineSpec
from vidpipe.variants import VariantPlan, base_id, expand

__all__ = ["Plan", "build_plan", "VariantPlan"]


@dataclass(frozen=True)
class Plan:
    """What a run runs: the file's nodes with its variants laid out (`vidpipe.variants`;
    a file without variants or brand is its own nodes), in order and parallel groups."""

    spec: PipelineSpec
    order: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    nodes: dict[str, NodeSpec]
    variants: tuple[VariantPlan, ...]

    @cached_property
    def deps(self) -> dict[str, tuple[str, ...]]:
        return {node_id: node.deps for node_id, node in self.nodes.items()}

    def node(self, node_id: str) -> NodeSpec:
        return self.nodes[node_id]

    def planned_ids(self, file_ids: list[str] | tuple[str, ...] | set[str]) -> set[str]:
        """The planned nodes made from these file node ids (every variant's copy)."""
        wanted = set(file_ids)
        return {n for n in self.order if n in wanted or base_id(n) in wanted}

    @cached_property
    def group_of(self) -> dict[str, int]:
        return {n: i for i, group in enumerate(self.groups) for n in group}

    @cached_property
    def gates(self) -> tuple[str, ...]:
        """Approval nodes, in execution order."""
        return tuple(n for n in self.order if self.node(n).type == "approval")

    def gated_by(self, gate: str) -> set[str]:
        """Nodes that must wait for a gate's decision: everything after it, transitively."""
        return graph.downstream(self.deps, [gate])

    def upstream(self, node_id: str) -> set[str]:
        return graph.upstream(self.deps, [node_id])

    def invalidated_by(self, node_ids: list[str] | tuple[str, ...] | set[str]) -> set[str]:
        """What must run again when these nodes do (file ids name every variant's copy)."""
        return graph.invalidated_by(self.deps, self.planned_ids(node_ids))

    @property
    def final_nodes(self) -> tuple[str, ...]:
        """Sinks that produce media: what a run hands back as its output(s)."""
        rdeps = graph.dependents_map(self.deps)
        return tuple(n for n in self.order if not rdeps[n] and self.node(n).output_kind is not None)


def build_plan(spec: PipelineSpec) -> Plan:
    """Order and parallel groups of a valid spec (validation already ruled out cycles)."""
    nodes, variants = expand(spec)
    deps = {node_id: node.deps for node_id, node in nodes.items()}
    order = graph.topological_order(deps)
    groups = graph.levels(deps)
    return Plan(
        spec=spec,
        order=tuple(order),
        groups=tuple(tuple(g) for g in groups),
        nodes=nodes,
        variants=variants,
    )
