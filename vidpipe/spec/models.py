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

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from vidpipe.catalogue import CaptionFont, NodeType, Position, Reframe, _colour, node_type
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


class VideoOverride(_Model):
    """A variant's changes to the file's `video:`; unset fields keep the file's."""

    width: int | None = Field(None, ge=16, le=7680, multiple_of=2)
    height: int | None = Field(None, ge=16, le=7680, multiple_of=2)
    fps: int | None = Field(None, ge=1, le=120)


class Variant(_Model):
    """One deliverable of a file: its name, and what it changes (`video`, `set`)."""

    name: str
    video: VideoOverride | None = None
    #: `NODE.FIELD` -> value, as `vidpipe revise --set`.
    set: dict[str, Any] = {}


class _Colours(_Model):
    @field_validator("*")
    @classmethod
    def _is_colour(cls, value: Any, info: ValidationInfo) -> Any:
        return _colour(value) if isinstance(value, str) and info.field_name != "font" else value


class BrandColours(_Colours):
    #: Accents: placeholder cards, the logo's backing.
    primary: str | None = None
    #: Backgrounds: placeholder cards.
    secondary: str | None = None


class BrandCaptions(_Colours):
    font: CaptionFont | None = None
    color: str | None = None
    outline_color: str | None = None
    highlight_color: str | None = None


class BrandLogo(_Model):
    path: str
    position: Position = "top-right"
    scale: float = Field(0.12, ge=0.02, le=0.5)
    margin_px: int = Field(24, ge=0, le=500)


class Brand(_Model):
    """The file's brand kit: applied by the nodes that draw and by a last overlay."""

    logo: BrandLogo | None = None
    colors: BrandColours = BrandColours()
    captions: BrandCaptions = BrandCaptions()
    #: render-code's theme where a node does not name one.
    code_theme: str | None = None
    #: Clips (paths relative to the file) put before and after every variant.
    intro: str | None = None
    outro: str | None = None


class NodeSpec(_Model):
    id: str
    type: str
    title: str | None = None
    inputs: dict[str, tuple[str, ...]] = {}
    after: tuple[str, ...] = ()
    config: BaseModel
    asset: AssetSource | None = None
    #: With variants: reframe this visual from the first variant's instead of making it
    #: again where a variant's shape differs.
    reframe: Reframe | None = None
    #: Set on the nodes a plan derives for a variant (`vidpipe.variants`); None in files.
    video: VideoSettings | None = None
    #: The brand kit, on the nodes that draw with it (placeholder cards, captions).
    brand: Brand | None = None
    #: The output kind where the type passes on its input's (`reframe`).
    kind: Kind | None = None
    #: The file's node this one was derived from (a variant's copy); None: itself.
    origin: str | None = None
    #: The variants this node serves, where the file has several.
    variants: tuple[str, ...] = ()

    @property
    def decl(self) -> NodeType:
        return node_type(self.type)

    @property
    def output_kind(self) -> Kind | None:
        if self.asset is not None:
            return self.asset.kind
        if self.kind is not None:
            return self.kind
        return self.decl.output

    @property
    def source_id(self) -> str:
        """The id of the file's node this is (itself, or the one a variant copied)."""
        return self.origin or self.id

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
    variants: tuple[Variant, ...] = ()
    brand: Brand | None = None
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
