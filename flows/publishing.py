"""A run's results published under readable names, one per variant.

A file without `variants:` publishes its result (the last media-producing sink that
finished) as `runs/{pipeline}/{run}/final.{ext}` and lists it as one variant named
`default`; a file with variants publishes each variant's video as
`runs/{pipeline}/{run}/{variant}.{ext}`, and the run's own output is the first variant's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.run_info import RunInfo, store_for
from vidpipe.plan import Plan
from vidpipe.refs import MediaRef

__all__ = ["Published", "publish"]


@dataclass(frozen=True)
class Published:
    output: MediaRef | None = None
    published: str | None = None
    #: `[{"name", "output", "published"}]`, as `show --json` lists them.
    variants: list[dict[str, Any]] = field(default_factory=list)


def publish(plan: Plan, run: RunInfo, outputs: dict[str, MediaRef]) -> Published:
    store = store_for(run)
    folder = f"runs/{run.pipeline}/{run.run_id}"

    def put(ref: MediaRef, name: str) -> str:
        return store.publish(ref, f"{folder}/{name}{Path(ref.uri).suffix or '.bin'}")

    if not plan.spec.variants:
        finals = [n for n in plan.final_nodes if n in outputs]
        if not finals:
            return Published(variants=[_entry(plan.variants[0].name, None, None)])
        ref = outputs[finals[-1]]
        where = put(ref, "final")
        return Published(ref, where, [_entry(plan.variants[0].name, ref, where)])
    entries = []
    for variant in plan.variants:
        ref = outputs.get(variant.final) if variant.final else None
        entries.append(_entry(variant.name, ref, put(ref, variant.name) if ref else None))
    first = plan.variants[0]
    ref = outputs.get(first.final) if first.final else None
    return Published(ref, entries[0]["published"], entries)


def _entry(name: str, ref: MediaRef | None, published: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "output": ref.model_dump(mode="json") if ref else None,
        "published": published,
    }
