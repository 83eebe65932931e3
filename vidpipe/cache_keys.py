"""Node cache keys, and whether the work they name is cached.

A node's cache key is derived from its type and the type's version, its config, the
provider that really does the work (a placeholder in `placeholder` mode) and model, the
video target where the output is video, and the content digests of its inputs
(docs/pipeline-format.md, "Caching and re-runs"). The run, the pipeline and the node's id
are not part of it, so identical work in two pipelines is done once.

Whether work is cached is decided by vidpipe's database, the state every worker shares:
a node is a hit when a completed node run with its key (on any worker writing to the same
database) left an output whose media is still in the media store (`cached_output`). The
node tasks' cache policy (`tasks.caching`) and `vidpipe plan`'s prediction
(`predict_cached`) ask the very same question, so the two agree: the flow with its
SQLAlchemy engine, `plan` through a `vidpipe.cache_index.CacheIndex` (which reads a SQLite
database without importing SQLAlchemy). No Prefect here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from vidpipe.preflight import effective_provider
from vidpipe.refs import MediaRef
from vidpipe.run_info import source_digest, store_for
from vidpipe.spec import NodeSpec

__all__ = ["key_material", "base_key", "completed_output", "cached_output", "predict_cached"]


def _digest(material: Any) -> str:
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def key_material(node: NodeSpec, inputs: dict[str, list[MediaRef]], run: Any) -> dict[str, Any]:
    """Everything a node's output depends on, as plain data (see the module docstring)."""
    material: dict[str, Any] = {
        "type": node.type,
        "version": node.decl.version,
        "config": node.config.model_dump(mode="json"),
        "provider": effective_provider(node, run.mode),
        "inputs": {slot: [ref.sha256 for ref in refs] for slot, refs in sorted(inputs.items())},
    }
    if node.output_kind in ("video", "image"):
        material["video"] = run.video_for(node).model_dump()
    if node.brand is not None and (
        node.type == "captions" or material["provider"] == "placeholder"
    ):  # what a placeholder picture or a caption draws with; a live provider never sees it
        material["brand"] = node.brand.model_dump(mode="json")
    if node.asset is not None:
        material["asset"] = node.asset.model_dump(mode="json")
        material["asset_content"] = source_digest(node, run)
    return material


def base_key(node: NodeSpec, inputs: dict[str, list[MediaRef]], run: Any) -> str:
    """The key of a node's work, before any deleted result moved it on: the same for
    every run doing the same work (so a provider job in flight can be found by it)."""
    return "vidpipe-" + _digest(key_material(node, inputs, run))


def completed_output(source: Any, key: str) -> MediaRef | None:
    """The latest completed output under `key`, from `source`: a `CacheIndex`, or an
    SQLAlchemy engine of vidpipe's database."""
    if hasattr(source, "completed_output"):
        return source.completed_output(key)
    from vidpipe import db

    return db.completed_output(source, key)


def cached_output(source: Any, store: Any, key: str) -> MediaRef | None:
    """Whether this work is cached, the one answer the run and the estimate both use: the
    latest completed output of the work (by any worker writing to this database), if its
    media is still in the store. `source`: as for `completed_output`."""
    ref = completed_output(source, key)
    if ref is None or not all(store.exists(r) for r in (ref, *ref.sidecars.values())):
        return None
    return ref


def predict_cached(plan: Any, run: Any, source: Any, refresh: set[str]) -> set[str]:
    """Nodes expected from cache: their work was completed before (found by its key in the
    node runs), its media is still in the store, and so was every input's.

    The run decides each node with the same `cached_output`, so the two agree. `source`:
    as for `completed_output`.
    """

    store = store_for(run)
    outputs: dict[str, MediaRef] = {}
    for node_id in plan.order:
        node = plan.node(node_id)
        if node_id in refresh or node.type == "approval":
            continue
        if any(d not in outputs and plan.node(d).type != "approval" for d in plan.deps[node_id]):
            continue
        inputs = {slot: [outputs[r] for r in refs] for slot, refs in node.inputs.items()}
        ref = cached_output(source, store, base_key(node, inputs, run))
        if ref is not None:
            outputs[node_id] = ref
    return set(outputs)
