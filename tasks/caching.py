"""The cache policy of node tasks.

A node's cache key is derived from its type and the type's version, its config, the
provider that really does the work (a placeholder in `placeholder` mode) and model, the
video target where the output is video, and the content digests of its inputs
(docs/pipeline-format.md, "Caching and re-runs"). The run, the pipeline and the node's id
are not part of it, so identical work in two pipelines is done once.

Whether work is cached is decided by vidpipe's database, the state every worker shares:
a node is a hit when a completed node run with its key (on any worker writing to the same
database) left an output whose media is still in the media store. Prefect then answers
the task from its result record under the key, which is written from the database when
this home's records lack it, so workers with separate homes and result folders share one
cache, and `vidpipe plan` predicts hits with the very same test (`cached_output`). A key
whose record points at deleted media, with no live output in the database, is a miss: it
moves on to a successor key derived from the missing digest, so the node runs again.
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


def cached_output(engine: Any, store: Any, key: str) -> MediaRef | None:
    """Whether this work is cached, the one answer the run and the estimate both use: the
    latest completed output of the work (by any worker writing to this database), if its
    media is still in the store."""
    ref = db.completed_output(engine, key)
    if ref is None or not all(store.exists(r) for r in (ref, *ref.sidecars.values())):
        return None
    return ref


@dataclass
class NodeCachePolicy(CachePolicy):
    """Keys node tasks by what their output depends on; the database decides hits."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        run = inputs["run"]
        key = base_key(inputs["node"], inputs["inputs"], run)
        ref = cached_output(db.make_engine(run.database_url), store_for(run), key)
        return _record_key(task_ctx.result_store, key, ref)


def _record_key(records: Any, key: str, ref: MediaRef | None) -> str:
    """The result-record key Prefect looks up for this work.

    Cached (`ref`): `key`, holding `ref`, written there first when this home's records do
    not hold it yet (another worker did the work, or a deleted result was made again).
    Not cached: the first key of the chain that holds no record, so the task runs; its
    result is recorded there, and found again through the database next time.
    """
    for _ in range(_MAX_SUCCESSORS):
        held = _read(records, key)
        if ref is not None:
            if held != ref:
                records.write(obj=ref, key=key)
            return key
        if held is _NOTHING:
            return key
        missing = held.sha256 if isinstance(held, MediaRef) else "unreadable"
        key = "vidpipe-" + _digest({"replaces": key, "missing": missing})
    return key


_NOTHING = object()


def _read(records: Any, key: str) -> Any:
    """The result recorded under `key`, `_NOTHING` if none, None if unreadable."""
    if not records.exists(key):
        return _NOTHING
    try:
        return records.read(key).result
    except Exception:  # noqa: BLE001 - a damaged record is one to replace
        return None


CACHE_POLICY = NodeCachePolicy()


def predict_cached(plan: Any, run: Any, engine: Any, refresh: set[str]) -> set[str]:
    """Nodes expected from cache: their work was completed before (found by its key in the
    node runs), its media is still in the store, and so was every input's.

    The run decides each node with the same `cached_output`, so the two agree.
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
        ref = cached_output(engine, store, base_key(node, inputs, run))
        if ref is not None:
            outputs[node_id] = ref
    return set(outputs)
