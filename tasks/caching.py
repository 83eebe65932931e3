"""The cache policy of node tasks.

A node's cache key is derived from its type and the type's version, its config, the
provider that really does the work (a placeholder in `placeholder` mode) and model, the
video target where the output is video, and the content digests of its inputs
(SPEC.md "Caching and re-runs"). The run, the pipeline and the node's id are not part of
it, so identical work in two pipelines is done once.

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

from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec

__all__ = ["NodeCachePolicy", "key_material", "CACHE_POLICY"]

#: How many deleted results in a row the key follows before it gives up and runs anew.
_MAX_SUCCESSORS = 32


def _digest(material: Any) -> str:
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def key_material(node: NodeSpec, inputs: dict[str, list[MediaRef]], run: Any) -> dict[str, Any]:
    """Everything a node's output depends on, as plain data (see the module docstring)."""
    from tasks.runtime import effective_provider, source_digest  # local: avoids a cycle

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
        node: NodeSpec = inputs["node"]
        run = inputs["run"]
        key = "vidpipe-" + _digest(key_material(node, inputs["inputs"], run))
        return _follow_to_live_result(task_ctx, key, run)


def _follow_to_live_result(task_ctx: TaskRunContext, key: str, run: Any) -> str:
    from tasks.runtime import store_for  # local: avoids a cycle

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
