"""Validating parsed pipeline data: `load_data` reports every problem with its location
in one pass (file keys, nodes, references, slots, cycles) and builds the spec only when
there are none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from vidpipe.catalogue import CATALOGUE, REFRAME_MODES, NodeType
from vidpipe.graph import find_cycle
from vidpipe.refs import KINDS, Kind
from vidpipe.spec.extensions import _ExtensionChecks, apply_variant
from vidpipe.spec.models import Budget, NodeSpec, PipelineSpec, VideoSettings
from vidpipe.spec.problems import LoadResult, _key, _problem_order, _short, _type_name, _where

NAME_RE = re.compile(r"^[a-z0-9-]{1,64}$")
ID_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
TOP_KEYS = ("name", "description", "mode", "video", "budget", "nodes", "variants", "brand")
NODE_KEYS = ("id", "type", "title", "inputs", "config", "after", "asset", "reframe")


def load_data(data: Any, *, source: str = "<pipeline>", base_dir: Path | None = None) -> LoadResult:
    """Validate already-parsed data (a dict from YAML/JSON). Never raises for bad data."""
    v = _Validator(base_dir)
    try:
        spec = v.run(data)
    except RecursionError:
        v.add("file", "is nested too deeply")
        spec = None
    problems = sorted(v.problems, key=_problem_order)
    return LoadResult(source, spec=None if problems else spec, problems=problems)


def _raw_deps(raw: Mapping[str, Any], ids: Mapping[str, int]) -> list[str]:
    """The references of an unvalidated node that name existing nodes."""
    inputs = raw.get("inputs")
    values = list(inputs.values()) if isinstance(inputs, Mapping) else []
    values.append(raw.get("after"))
    refs = [ref for value in values for ref in (_refs(value) or [])]
    return [ref for ref in refs if isinstance(ref, str) and ref in ids]


def _refs(value: Any) -> list[Any] | None:
    """A slot or `after` value as a list of references; None when it has the wrong shape."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return None


class _Validator(_ExtensionChecks):
    """Collects every problem in one pass; builds the spec only when there are none."""

    def run(self, data: Any) -> PipelineSpec | None:
        if not isinstance(data, Mapping):
            self.add("file", f"must be a mapping with 'name' and 'nodes', got {_type_name(data)}")
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.add(_key(key), f"unknown key (expected one of: {', '.join(TOP_KEYS)})")
        name = data.get("name")
        if name is None:
            self.add("name", "is required")
        elif not isinstance(name, str) or not NAME_RE.match(name):
            self.add("name", "must be a slug of 1 to 64 lowercase letters, digits and '-'")
        desc = data.get("description")
        if desc is not None and not isinstance(desc, str):
            self.add("description", f"must be text, got {_type_name(desc)}")
        mode = data.get("mode", "placeholder")
        if mode not in ("placeholder", "live"):
            self.add("mode", f"must be 'placeholder' or 'live', got {_short(mode)}")
        video = self._model(VideoSettings, data.get("video", {}), "video")
        budget = None
        if data.get("budget") is not None:
            budget = self._model(Budget, data["budget"], "budget")

        raw_nodes = data.get("nodes")
        if raw_nodes is None:
            self.add("nodes", "is required")
            return None
        if not isinstance(raw_nodes, list) or not raw_nodes:
            got = "an empty list" if raw_nodes == [] else _type_name(raw_nodes)
            self.add("nodes", f"must be a non-empty list of nodes, got {got}")
            return None
        nodes = self._nodes(raw_nodes)
        variants = self._variants(data.get("variants"), raw_nodes)
        brand = self._brand(data.get("brand"))
        if self.problems:
            return None
        for i, variant in enumerate(variants):
            self._check_variant(i, data, variant)
        if self.problems:
            return None
        return PipelineSpec(
            name=name,
            description=desc,
            mode=mode,
            video=video,
            budget=budget,
            nodes=tuple(nodes),
            variants=variants,
            brand=brand,
            data=dict(data),
            base_dir=self.base_dir,
        )

    def _check_variant(self, i: int, data: Mapping[str, Any], variant: Any) -> None:
        """The file as the variant sees it, checked like the file: a bad `set` value or
        video size is a problem of the variant, located inside it."""
        seen = load_data(apply_variant(data, variant), base_dir=self.base_dir)
        for problem in seen.problems:
            self.add(f"variants[{i}] ({variant.name}): {problem.location}", problem.message)

    # ---- nodes

    def _nodes(self, raw_nodes: list[Any]) -> list[NodeSpec]:
        # First pass: ids and types, so references can be checked in any order.
        ids: dict[str, int] = {}
        kinds: dict[str, Kind | None | Literal["approval"]] = {}
        for i, raw in enumerate(raw_nodes):
            if not isinstance(raw, Mapping):
                self.add(f"nodes[{i}]", f"must be a mapping, got {_type_name(raw)}")
                continue
            node_id = raw.get("id")
            where = _where(i, raw)
            if node_id is None:
                self.add(f"{where}.id", "is required")
            elif not isinstance(node_id, str) or not ID_RE.match(node_id):
                self.add(f"{where}.id", "must be 1 to 64 of a-z, 0-9, '_' and '-'")
            elif node_id in ids:
                self.add(f"{where}.id", f"duplicate id '{node_id}' (also nodes[{ids[node_id]}])")
            else:
                ids[node_id] = i
                kinds[node_id] = self._output_kind(raw)

        nodes = [
            node
            for i, raw in enumerate(raw_nodes)
            if isinstance(raw, Mapping) and (node := self._node(i, raw, kinds)) is not None
        ]
        # Cycles are looked for even when nodes have other problems, over the references
        # that do resolve, so one run of `validate` shows everything.
        deps = {node_id: _raw_deps(raw_nodes[i], ids) for node_id, i in ids.items()}
        cycle = find_cycle(deps)
        if cycle:
            self.add("cycle", " -> ".join(cycle))
        return nodes

    @staticmethod
    def _output_kind(raw: Mapping[str, Any]) -> Kind | None | Literal["approval"]:
        """What the node yields, for checking the slots it is wired into (None: unknown)."""
        node_type = raw.get("type")
        if node_type == "approval":
            return "approval"
        if node_type == "asset":
            asset = raw.get("asset")
            kind = asset.get("kind") if isinstance(asset, Mapping) else None
            return kind if kind in KINDS else None
        decl = CATALOGUE.get(node_type) if isinstance(node_type, str) else None
        return decl.output if decl else None

    def _node(self, i: int, raw: Mapping[str, Any], kinds: dict[str, Any]) -> NodeSpec | None:
        where = _where(i, raw)
        start = len(self.problems)
        for key in raw:
            if key not in NODE_KEYS:
                self.add(
                    f"{where}.{_key(key)}", f"unknown key (expected one of: {', '.join(NODE_KEYS)})"
                )
        node_type = raw.get("type")
        decl = CATALOGUE.get(node_type) if isinstance(node_type, str) else None
        if node_type is None:
            self.add(f"{where}.type", "is required")
        elif decl is None:
            self.add(
                f"{where}.type",
                f"unknown node type {node_type!r} (known: {', '.join(CATALOGUE)})",
            )
        title = raw.get("title")
        if title is not None and not isinstance(title, str):
            self.add(f"{where}.title", f"must be text, got {_type_name(title)}")
        reframe = raw.get("reframe")
        if reframe is not None and reframe not in REFRAME_MODES:
            self.add(f"{where}.reframe", f"must be one of {', '.join(REFRAME_MODES)}")
        elif reframe is not None and kinds.get(raw.get("id")) not in ("image", "video"):
            self.add(f"{where}.reframe", "only nodes that make an image or a video are reframed")

        after = self._after(where, raw.get("after"), kinds)
        if decl is None:
            return None

        raw_config = raw.get("config", {})
        config = None
        if raw_config is None:
            raw_config = {}
        if not isinstance(raw_config, Mapping):
            self.add(f"{where}.config", f"must be a mapping, got {_type_name(raw_config)}")
        else:
            config = self._model(decl.config_model, raw_config, f"{where}.config")

        asset = None
        if decl.name == "asset":
            asset = self._asset(where, raw.get("asset"))
        elif "asset" in raw:
            self.add(f"{where}.asset", "only asset nodes take 'asset'")

        inputs = self._inputs(where, decl, raw.get("inputs"), raw_config, kinds)
        if len(self.problems) > start or config is None or not isinstance(raw.get("id"), str):
            return None
        return NodeSpec(
            id=raw["id"],
            type=decl.name,
            title=title,
            inputs=inputs,
            after=after,
            config=config,
            asset=asset,
            reframe=reframe,
        )

    def _after(self, where: str, value: Any, kinds: dict[str, Any]) -> tuple[str, ...]:
        if value is None:
            return ()
        refs = _refs(value)
        if refs is None:
            self.add(f"{where}.after", f"must be a list of node ids, got {_type_name(value)}")
            return ()
        for ref in refs:
            if not isinstance(ref, str):
                self.add(f"{where}.after", f"must list node ids, got {_type_name(ref)}")
            elif ref not in kinds:
                self.add(f"{where}.after", f"node '{ref}' does not exist")
        return tuple(r for r in refs if isinstance(r, str))

    def _inputs(
        self,
        where: str,
        decl: NodeType,
        value: Any,
        config: Any,
        kinds: dict[str, Any],
    ) -> dict[str, tuple[str, ...]]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.add(
                f"{where}.inputs", f"must be a mapping of slot -> node id, got {_type_name(value)}"
            )
            return {}
        inputs: dict[str, tuple[str, ...]] = {}
        for slot_name, slot_value in value.items():
            loc = f"{where}.inputs.{_key(slot_name)}"
            slot = decl.slot(slot_name) if isinstance(slot_name, str) else None
            if slot is None:
                known = ", ".join(decl.slot_names) or "none"
                self.add(loc, f"unknown slot for {decl.name} (slots: {known})")
                continue
            refs = _refs(slot_value)
            if refs is None:
                self.add(
                    loc, f"must be a node id or a list of node ids, got {_type_name(slot_value)}"
                )
                continue
            if len(refs) < slot.min:
                self.add(loc, f"expects at least {slot.min} nodes, got {len(refs)}")
            elif len(refs) > slot.max:
                noun = "node" if slot.max == 1 else "nodes"
                self.add(loc, f"takes at most {slot.max} {noun}, got {len(refs)}")
            for ref in refs:
                self._check_ref(loc, slot, ref, kinds)
            inputs[slot_name] = tuple(r for r in refs if isinstance(r, str))
        for slot in decl.slots:
            given = bool(inputs.get(slot.name))
            if slot.or_config:
                has_config = isinstance(config, Mapping) and config.get(slot.or_config) is not None
                if not given and not has_config:
                    self.add(
                        f"{where}.inputs.{slot.name}",
                        f"is required (or set config.{slot.or_config})",
                    )
            elif slot.or_slot:
                other = bool(inputs.get(slot.or_slot)) or slot.or_slot in value
                if not given and not other and slot.name < slot.or_slot:
                    self.add(
                        f"{where}.inputs.{slot.name}", f"is required (or inputs.{slot.or_slot})"
                    )
                elif slot.name in value and other and slot.name < slot.or_slot:
                    self.add(f"{where}.inputs", f"takes {slot.name} or {slot.or_slot}, not both")
            elif slot.min > 0 and slot.name not in value:
                self.add(f"{where}.inputs.{slot.name}", "is required")
        return inputs

    def _check_ref(self, loc: str, slot: Any, ref: Any, kinds: dict[str, Any]) -> None:
        if not isinstance(ref, str):
            self.add(loc, f"must name node ids, got {_type_name(ref)}")
        elif ref not in kinds:
            self.add(loc, f"node '{ref}' does not exist")
        elif kinds[ref] == "approval":
            self.add(loc, f"'{ref}' is an approval and has no output; use 'after: [{ref}]'")
        elif kinds[ref] is not None and kinds[ref] not in slot.kinds:
            self.add(loc, f"expects {slot.kinds_text()}, got {kinds[ref]} from '{ref}'")
