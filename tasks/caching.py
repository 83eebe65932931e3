"""The cache policy of node tasks.

A node's cache key is derived from its type and the type's version, its config, the
provider that really does the work (a placeholder in `placeholder` mode) and model, the
video target where the output is video, and the content digests of its inputs
(docs/pipeline-format.md, "Caching and re-runs"). The run, the pipeline and the node's id
are not part of it, so identical work in two pipelines is done once.

A cached result whose media is gone from the store is a miss: the key then moves on to a
successor derived from the missing digest, so the node runs again and its new result is
cached under that successor (deterministic: the next run follows the same chain).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext

from tasks.run_info import source_digest, store_for
from vidpipe import db
from vidpipe.preflight import effective_provider
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec

__all__ = ["NodeCachePolicy", "key_material", "base_key", "CACHE_POLICY", "predict_cached"]

#: How many deleted results in a row the key follows before it gives up and runs anew.
_MAX_SUCCESSORS = 32


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
        material["video"] = run.video.model_dump()
    if node.asset is not None:
        material["asset"] = node.asset.model_dump(mode="json")
        material["asset_content"] = source_digest(node, run)
    return material


def base_key(node: NodeSpec, inputs: dict[str, list[MediaRef]], run: Any) -> str:
    """The key of a node's work, before any deleted result moved it on: the same for
    every run doing the same work (so a provider job in flight can be found by it)."""
    return "vidpipe-" + _digest(key_material(node, inputs, run))


@dataclass
class NodeCachePolicy(CachePolicy):
    """Keys node tasks by what their output depends on; stale media is a miss."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        run = inputs["run"]
        key = base_key(inputs["node"], inputs["inputs"], run)
        return _follow_to_live_result(task_ctx, key, run)


def _follow_to_live_result(task_ctx: TaskRunContext, key: str, run: Any) -> str:
    store = task_ctx.result_store
    for _ in range(_MAX_SUCCESSORS):
        if not store.exists(key):
            return key
        ref = store.read(key).result
        if isinstance(ref, MediaRef) and store_for(run).exists(ref):
            return key
        missing = ref.sha256 if isinstance(ref, MediaRef) else "unreadable"
        key = "vidpipe-" + _digest({"replaces": key, "missing": missing})
    return key


CACHE_POLICY = NodeCachePolicy()


def predict_cached(plan: Any, run: Any, engine: Any, refresh: set[str]) -> set[str]:
    """Nodes expected from cache: their work was completed before (found by its key in the
    node runs), its media is still in the store, and so was every input's.

    Used for marginal cost estimates; the run itself still asks Prefect's cache.
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
        ref = db.completed_output(engine, base_key(node, inputs, run))
        if ref is not None and store.exists(ref):
            outputs[node_id] = ref
    return set(outputs)
