"""A file's variants made into one set of nodes: shared work once, each variant's own.

A file with `variants:` makes one deliverable per variant in one run. Each variant is
the file as it sees it (`vidpipe.spec.extensions.apply_variant`: its video target, its
`set` fields). `expand` lays every variant's nodes side by side and merges the ones that
would do the same work: a node is one node when its type, config, asset, video target
(for image and video outputs, as in the cache key) and inputs are the same in every
variant that has it. The first variant is the master.

- A node that is the same everywhere keeps its id (`narration`).
- One that differs appears once per version, named after the first variant using that
  version (`host@landscape`, `host@vertical`).
- A visual whose version differs only by the video target is reframed from the master's
  output by FFmpeg (a `reframe` node, free) instead of being made again when the
  variant's aspect is the master's, when its provider cannot make the variant's aspect,
  when its config fixes `aspect_ratio`, or when the file says `reframe:` on it. Otherwise
  it is made again at the variant's aspect, and paid for again.
- With a `brand:` logo, intro or outro, each variant's last node is followed by an
  `apply-brand` node (`brand.apply`), fed by asset nodes for the brand's files
  (`brand.logo`, `brand.intro`, `brand.outro`). Nodes that draw carry the kit
  (`NodeSpec.brand`); render-code takes its `code_theme` where it names no theme.

Ids with `@` or `.` cannot clash with a file's ids (`[a-z0-9_-]`). A file without
`variants:` or `brand:` is its own nodes, unchanged: one variant named `default`.
Pure: no Prefect, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from vidpipe import graph
from vidpipe.catalogue import ADDED_BY_RUNS, ApplyBrandConfig, NoConfig, ReframeConfig
from vidpipe.preflight import PROVIDER_RULES, aspect_ratio_for, planned_node_problems
from vidpipe.spec import (
    AssetSource,
    NodeSpec,
    PipelineSpec,
    Problem,
    Variant,
    VideoSettings,
    load_data,
)
from vidpipe.spec.extensions import DEFAULT_VARIANT, apply_variant

__all__ = ["VariantPlan", "expand", "variant_problems", "DEFAULT_VARIANT", "base_id"]

#: Node types whose output a provider generates at an aspect ratio.
GENERATED_VISUALS = ("generate-image", "generate-animation", "generate-talking-head")
#: Types that draw with the brand kit's colours and fonts.
_DRAWS_WITH_BRAND = (*GENERATED_VISUALS, "captions")
APPLY_BRAND = "brand.apply"


@dataclass(frozen=True)
class VariantPlan:
    """One deliverable: its name, video target, the node making it, the nodes it uses."""

    name: str
    video: VideoSettings
    #: The node whose output is this variant's video (None: the file makes no media).
    final: str | None
    nodes: tuple[str, ...]


def base_id(node_id: str) -> str:
    """The file's node id behind a planned node id (`host@vertical` -> `host`)."""
    return node_id.split("@", 1)[0]


def _digest(material: Any) -> str:
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _variant_spec(spec: PipelineSpec, variant: Variant) -> PipelineSpec:
    if variant.video is None and not variant.set:
        return spec
    seen = load_data(apply_variant(spec.data, variant), base_dir=spec.base_dir)
    if seen.spec is None:  # validation checked every variant; only a bug gets here
        raise ValueError(f"variant {variant.name!r} is not valid: {seen.problems}")
    return seen.spec


def _final(spec: PipelineSpec) -> str | None:
    rdeps = graph.dependents_map(spec.deps)
    sinks = [n.id for n in spec.nodes if not rdeps[n.id] and n.output_kind is not None]
    order = {n: i for i, n in enumerate(graph.topological_order(spec.deps))}
    return max(sinks, key=order.__getitem__) if sinks else None


class _Expansion:
    def __init__(self, spec: PipelineSpec):
        self.spec = spec
        self.variants = spec.variants or (Variant(name=DEFAULT_VARIANT),)
        self.specs = [_variant_spec(spec, v) for v in self.variants]
        #: Each variant's last media-producing node (in the file's ids).
        self.finals = [_final(s) for s in self.specs]
        self.order = graph.topological_order(spec.deps)
        #: (variant index, file node id) -> signature of the work.
        self.sig: dict[tuple[int, str], str] = {}
        #: signature -> the planned node (id given later).
        self.made: dict[str, NodeSpec] = {}
        self.users: dict[str, list[int]] = {}

    def run(self) -> tuple[dict[str, NodeSpec], tuple[VariantPlan, ...]]:
        for v in range(len(self.variants)):
            for node_id in self.order:
                self._place(v, node_id)
            self._brand(v)
        ids = self._ids()
        nodes = {ids[s]: self._renamed(s, node, ids) for s, node in self.made.items()}
        deps = {node_id: node.deps for node_id, node in nodes.items()}
        plans = []
        for v, variant in enumerate(self.variants):
            final = self.sig.get((v, APPLY_BRAND)) or self.sig.get((v, self.finals[v] or ""))
            # What the variant needs: its own nodes and what they read, a reframe's
            # source included (the first variant's clip).
            own = {ids[s] for s, users in self.users.items() if v in users}
            needed = own | graph.upstream(deps, own)
            plans.append(
                VariantPlan(
                    name=variant.name,
                    video=self.specs[v].video,
                    final=ids[final] if final else None,
                    nodes=tuple(n for n in nodes if n in needed),
                )
            )
        users = {n: tuple(p.name for p in plans if n in p.nodes) for n in nodes}
        nodes = {n: node.model_copy(update={"variants": users[n]}) for n, node in nodes.items()}
        return nodes, tuple(plans)

    # ---- one node of one variant

    def _place(self, v: int, node_id: str) -> None:
        node = self._styled(self.specs[v].node(node_id))
        video = self.specs[v].video
        # Assets store their media as it is: the same in every shape.
        visual = node.output_kind in ("image", "video") and node.type != "asset"
        inputs = {s: tuple(self.sig[(v, r)] for r in refs) for s, refs in node.inputs.items()}
        after = tuple(self.sig[(v, r)] for r in node.after)
        planned = node.model_copy(
            update={
                "inputs": inputs,
                "after": after,
                "video": video if video != self.spec.video else None,
            }
        )
        sig = _digest(["node", node_id, self._material(planned, video if visual else None)])
        if v > 0 and visual and sig not in self.made:
            master = self.sig[(0, node_id)]
            same_work = _digest(["node", node_id, self._material(planned, self.specs[0].video)])
            if same_work == master and self._reframed(node, v):
                mode = node.reframe or ("crop" if self._same_aspect(v) else "blur")
                planned = NodeSpec(
                    id=node_id,
                    type="reframe",
                    title=node.title,
                    inputs={"source": (master,)},
                    config=ReframeConfig(mode=mode),
                    video=video,
                    kind=node.output_kind,
                )
                sig = _digest(["reframe", node_id, mode, video.model_dump(), master])
        self._add(v, node_id, sig, planned)

    def _material(self, node: NodeSpec, video: VideoSettings | None) -> Any:
        return [
            node.type,
            node.config.model_dump(mode="json"),
            node.asset.model_dump(mode="json") if node.asset else None,
            node.brand.model_dump(mode="json") if node.brand else None,
            node.reframe,
            video.model_dump() if video else None,
            {s: list(refs) for s, refs in sorted(node.inputs.items())},
            list(node.after),
        ]

    def _reframed(self, node: NodeSpec, v: int) -> bool:
        """Whether variant `v` reframes the master's output of this visual instead of
        making it again (see the module docstring)."""
        if node.reframe is not None:
            return True
        if node.type not in GENERATED_VISUALS:
            return False  # local work is free: made again at the variant's size
        if self._same_aspect(v):
            return True
        if getattr(node.config, "aspect_ratio", None):
            return True
        rules = PROVIDER_RULES.get(getattr(node.config, "provider", ""))
        wanted = aspect_ratio_for(node, self.specs[v].video)
        return bool(rules and rules.aspect_ratios and wanted not in rules.aspect_ratios)

    def _same_aspect(self, v: int) -> bool:
        a, b = self.specs[0].video, self.specs[v].video
        return a.width * b.height == b.width * a.height

    def _styled(self, node: NodeSpec) -> NodeSpec:
        brand = self.spec.brand
        if brand is None:
            return node
        update: dict[str, Any] = {}
        if node.type in _DRAWS_WITH_BRAND:
            update["brand"] = brand
        if (
            node.type == "render-code"
            and brand.code_theme
            and "theme" not in node.config.model_fields_set
        ):
            update["config"] = node.config.model_copy(update={"theme": brand.code_theme})
        return node.model_copy(update=update) if update else node

    def _add(self, v: int, node_id: str, sig: str, node: NodeSpec) -> None:
        self.sig[(v, node_id)] = sig
        self.made.setdefault(sig, node)
        users = self.users.setdefault(sig, [])
        if v not in users:
            users.append(v)

    # ---- the brand kit

    def _brand(self, v: int) -> None:
        brand = self.spec.brand
        final = self.finals[v]
        if brand is None or final is None:
            return
        files = {
            "logo": ("image", brand.logo.path if brand.logo else None),
            "intro": ("video", brand.intro),
            "outro": ("video", brand.outro),
        }
        inputs: dict[str, tuple[str, ...]] = {"video": (self.sig[(v, final)],)}
        for slot, (kind, path) in files.items():
            if path is None:
                continue
            asset = NodeSpec(
                id=f"brand.{slot}",
                type="asset",
                title=f"brand {slot}",
                config=NoConfig(),
                asset=AssetSource(kind=kind, path=path),
            )
            sig = _digest(["brand", slot, path])
            self._add(v, asset.id, sig, asset)
            inputs[slot] = (sig,)
        if len(inputs) == 1:
            return
        logo = brand.logo
        config = ApplyBrandConfig(
            **({"position": logo.position, "scale": logo.scale, "margin_px": logo.margin_px})
            if logo
            else {}
        )
        video = self.specs[v].video
        node = NodeSpec(
            id=APPLY_BRAND,
            type="apply-brand",
            title="brand kit",
            inputs=inputs,
            config=config,
            video=video if video != self.spec.video else None,
        )
        sig = _digest(["apply-brand", self._material(node, video)])
        self._add(v, APPLY_BRAND, sig, node)

    # ---- naming

    def _ids(self) -> dict[str, str]:
        """Planned ids: the file's id where one version serves every variant that has the
        node, else `id@variant` after the first variant using each version."""
        versions: dict[str, list[str]] = {}
        for (_, node_id), sig in self.sig.items():
            if sig not in versions.setdefault(node_id, []):
                versions[node_id].append(sig)
        ids = {}
        for node_id, sigs in versions.items():
            for sig in sigs:
                if len(sigs) == 1:
                    ids[sig] = node_id
                else:
                    ids[sig] = f"{node_id}@{self.variants[self.users[sig][0]].name}"
        return ids

    def _renamed(self, sig: str, node: NodeSpec, ids: dict[str, str]) -> NodeSpec:
        return node.model_copy(
            update={
                "id": ids[sig],
                "inputs": {s: tuple(ids[r] for r in refs) for s, refs in node.inputs.items()},
                "after": tuple(ids[r] for r in node.after),
                "origin": node.id,
            }
        )


def variant_problems(
    spec: PipelineSpec, mode: str, nodes: dict[str, NodeSpec] | None = None
) -> list[Problem]:
    """What a run in `mode` would refuse of the nodes the variants change (a `set` value
    a live provider refuses, a shape it cannot make and may not reframe), located in the
    first variant using each; the file's own nodes are `preflight.run_problems`'."""
    if not spec.variants:
        return []
    if nodes is None:  # a caller holding the plan passes its nodes: laid out once
        nodes, _ = expand(spec)
    index = {v.name: i for i, v in enumerate(spec.variants)}
    problems = []
    for node in nodes.values():
        mine = spec.by_id.get(node.source_id)
        if node.type in ADDED_BY_RUNS or mine is None:
            continue
        if node.video is None and node.config == mine.config:
            continue  # the file's node as it is
        name = node.variants[0]
        where = f"variants[{index[name]}] ({name}): {node.id}"
        problems.extend(
            Problem(f"{where}.{p.location}", p.message)
            for p in planned_node_problems(node, spec, mode)
        )
    return problems


def expand(spec: PipelineSpec) -> tuple[dict[str, NodeSpec], tuple[VariantPlan, ...]]:
    """The nodes a run of `spec` runs (by planned id) and its variants."""
    if not spec.variants and spec.brand is None:
        final = _final(spec)
        ids = tuple(spec.by_id)
        return dict(spec.by_id), (VariantPlan(DEFAULT_VARIANT, spec.video, final, ids),)
    return _Expansion(spec).run()
