"""The pydantic models of a pipeline file: `PipelineSpec`, its `NodeSpec`s and settings.

They are built by `vidpipe.spec.validation` once the data has no problems; frozen and
strict, so a spec in hand is always a valid one.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vidpipe.catalogue import CATALOGUE, NodeType
from vidpipe.refs import Kind

ASSET_SOURCES = ("text", "path", "url", "uri")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class AssetSource(_Model):
    kind: Kind
    text: str | None = None
    path: str | None = None
    url: str | None = None
    uri: str | None = None

    @property
    def source(self) -> tuple[str, str]:
        """`(which, value)`: the one source this asset names."""
        for name in ASSET_SOURCES:
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise ValueError("asset has no source")  # unreachable for a validated spec


class VideoSettings(_Model):
    width: int = Field(1280, ge=16, le=7680, multiple_of=2)
    height: int = Field(720, ge=16, le=7680, multiple_of=2)
    fps: int = Field(30, ge=1, le=120)


class Budget(_Model):
    max_usd: float = Field(gt=0, le=1_000_000)


class NodeSpec(_Model):
    id: str
    type: str
    title: str | None = None
    inputs: dict[str, tuple[str, ...]] = {}
    after: tuple[str, ...] = ()
    config: BaseModel
    asset: AssetSource | None = None

    @property
    def decl(self) -> NodeType:
        return CATALOGUE[self.type]

    @property
    def output_kind(self) -> Kind | None:
        if self.asset is not None:
            return self.asset.kind
        return self.decl.output

    @property
    def deps(self) -> tuple[str, ...]:
        """Every node this one waits for: its inputs, then its `after` list, once each."""
        refs = [ref for refs in self.inputs.values() for ref in refs]
        return tuple(dict.fromkeys([*refs, *self.after]))

    @property
    def label(self) -> str:
        return self.title or self.id


class PipelineSpec(_Model):
    name: str
    description: str | None = None
    mode: Literal["placeholder", "live"] = "placeholder"
    video: VideoSettings = VideoSettings()
    budget: Budget | None = None
    nodes: tuple[NodeSpec, ...]
    #: The file's content as loaded (plain data), for storing and re-validating.
    data: dict[str, Any] = Field(default_factory=dict, repr=False)
    #: The folder that asset paths are relative to; None when loaded from text.
    base_dir: Path | None = Field(None, repr=False)

    @cached_property
    def by_id(self) -> dict[str, NodeSpec]:
        return {n.id: n for n in self.nodes}

    def node(self, node_id: str) -> NodeSpec:
        return self.by_id[node_id]

    @cached_property
    def deps(self) -> dict[str, tuple[str, ...]]:
        return {n.id: n.deps for n in self.nodes}

    @cached_property
    def digest(self) -> str:
        canonical = json.dumps(self.data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()
