"""The node-type catalogue: every node type declared once.

A declaration holds a node type's input slots (kinds and cardinality), its config model
(types, ranges, allowed values, defaults) and its output kind. The validator, the README's
node-type table, the planner and the Prefect tasks (`tasks/<type>.py`) all read these
declarations; adding a node type means one declaration here, one task module, and tests.

This module imports no Prefect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vidpipe.refs import Kind

__all__ = [
    "Slot",
    "NodeType",
    "CATALOGUE",
    "ADDED_BY_RUNS",
    "ASPECT_RATIOS",
    "REFRAME_MODES",
    "CAPTION_FONTS",
    "node_type",
    "catalogue_table",
]

Reframe = Literal["crop", "pad", "blur"]
REFRAME_MODES: tuple[str, ...] = Reframe.__args__
#: Fonts shipped in `vidpipe/fonts/` that captions may name (the file name without .ttf).
CAPTION_FONTS = ("DejaVuSans", "DejaVuSansMono", "DejaVuSansMono-Bold")
CaptionFont = Literal["DejaVuSans", "DejaVuSansMono", "DejaVuSansMono-Bold"]
Colour = str  # "#RRGGBB", checked by `_colour`
Position = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]

AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "4:5", "5:4", "21:9"]
ASPECT_RATIOS: tuple[str, ...] = AspectRatio.__args__


@dataclass(frozen=True)
class Slot:
    """An input slot: which kinds it accepts and how many references it takes."""

    name: str
    kinds: frozenset[str]
    min: int
    max: int
    #: A config field that can stand in for this slot ("optional if config.text").
    or_config: str | None = None
    #: Another slot that can stand in for this one; exactly one of the two is wired.
    or_slot: str | None = None
    description: str = ""

    @property
    def many(self) -> bool:
        return self.max > 1

    def cardinality(self) -> str:
        if self.min == self.max:
            return str(self.min)
        return f"{self.min}..{self.max}"

    def kinds_text(self) -> str:
        if self.kinds == frozenset(("text", "audio", "video", "image")):
            return "any kind"
        return " or ".join(sorted(self.kinds))


class _Config(BaseModel):
    """Base of every node type's config: unknown fields are errors, not warnings."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class NoConfig(_Config):
    pass


class VoiceoverConfig(_Config):
    provider: Literal["elevenlabs", "local"]
    voice_id: str = Field(min_length=1, max_length=128)
    model_id: str = Field("eleven_multilingual_v2", min_length=1, max_length=128)
    stability: float | None = Field(None, ge=0, le=1)
    similarity_boost: float | None = Field(None, ge=0, le=1)
    speed: float = Field(1.0, ge=0.7, le=1.2)
    text: str | None = Field(None, min_length=1, max_length=100_000)


class TalkingHeadConfig(_Config):
    provider: Literal["heygen", "local"]
    avatar_id: str = Field(min_length=1, max_length=128)
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None


class ImageConfig(_Config):
    provider: Literal["replicate", "local"]
    prompt: str | None = Field(None, min_length=1, max_length=4000)
    model: str = Field("black-forest-labs/flux-1.1-pro", min_length=1, max_length=200)
    aspect_ratio: AspectRatio | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class AnimationConfig(_Config):
    provider: Literal["veo3", "replicate", "local"]
    prompt: str | None = Field(None, min_length=1, max_length=4000)
    negative_prompt: str | None = Field(None, max_length=4000)
    duration_s: float = Field(8, ge=1, le=10)
    aspect_ratio: AspectRatio | None = None
    model: str | None = Field(None, min_length=1, max_length=200)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class RenderCodeConfig(_Config):
    code: str | None = Field(None, min_length=1, max_length=200_000)
    language: str = Field(min_length=1, max_length=64)
    theme: str = Field("monokai", min_length=1, max_length=64)
    chars_per_second: float = Field(30, ge=1, le=200)
    hold_s: float = Field(2, ge=0, le=30)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from pygments.lexers import find_lexer_class_by_name
        from pygments.util import ClassNotFound

        try:
            find_lexer_class_by_name(value)
        except ClassNotFound:
            raise ValueError(f"unknown language {value!r} (any Pygments lexer name)") from None
        return value

    @field_validator("theme")
    @classmethod
    def _known_theme(cls, value: str) -> str:
        from pygments.styles import get_all_styles

        if value not in set(get_all_styles()):
            raise ValueError(f"unknown theme {value!r} (any Pygments style, e.g. monokai)")
        return value


class MixAudioConfig(_Config):
    mode: Literal["replace", "mix", "duck"] = "mix"
    audio_volume: float = Field(1.0, ge=0, le=2)
    video_volume: float = Field(1.0, ge=0, le=2)
    normalize_loudness: bool = False


class MergeVideosConfig(_Config):
    transition: Literal["none", "crossfade"] = "none"
    transition_s: float = Field(0.5, ge=0, le=2)


def _colour(value: str | None) -> str | None:
    import re

    if value is not None and not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        raise ValueError(f"must be a colour as #RRGGBB, got {value!r}")
    return value.upper() if value else value


class CaptionsConfig(_Config):
    """Subtitles burned into a video, timed by the voiceover (see docs/pipeline-format.md,
    "captions"). Unset font and colours come from the file's `brand:`, else the defaults."""

    font: CaptionFont | None = None
    #: Text height as a percentage of the frame's height.
    size: float = Field(5.0, ge=1, le=20)
    color: Colour | None = None
    outline_color: Colour | None = None
    highlight_color: Colour | None = None
    position: Literal["bottom", "top", "center"] = "bottom"
    max_chars_per_line: int = Field(42, ge=10, le=80)
    max_lines: int = Field(2, ge=1, le=3)
    #: `word`: the word being said is drawn in `highlight_color`.
    highlight: Literal["none", "word"] = "none"
    min_duration_s: float = Field(1.0, ge=0.2, le=10)
    max_chars_per_second: float = Field(17, ge=5, le=40)

    @field_validator("color", "outline_color", "highlight_color")
    @classmethod
    def _colours(cls, value: str | None) -> str | None:
        return _colour(value)


class ReframeConfig(_Config):
    """A visual reshaped to the node's video size: `crop` the centre, `pad` with bars, or
    `blur`: the picture fitted over a blurred, zoomed copy of itself."""

    mode: Reframe = "blur"


class ApplyBrandConfig(_Config):
    """The file's `brand:` applied to a finished video: logo over it, intro and outro
    around it (each an input of the node)."""

    position: Position = "top-right"
    scale: float = Field(0.12, ge=0.02, le=0.5)
    margin_px: int = Field(24, ge=0, le=500)


class ComposeVideoConfig(_Config):
    position: Position = "bottom-right"
    scale: float = Field(0.3, ge=0.05, le=1)
    margin_px: int = Field(24, ge=0, le=500)
    start_s: float | None = Field(None, ge=0)
    end_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _end_after_start(self) -> ComposeVideoConfig:
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be greater than start_s")
        return self


class ApprovalConfig(_Config):
    instructions: str = Field("", max_length=10_000)
    timeout_s: int = Field(86_400, ge=60, le=2_592_000)
    on_timeout: Literal["fail", "approve"] = "fail"
    max_revisions: int = Field(3, ge=0, le=10)


@dataclass(frozen=True)
class NodeType:
    """One node type, declared once."""

    name: str
    description: str
    config_model: type[_Config]
    slots: tuple[Slot, ...] = ()
    #: The output kind; None for `asset` (its own `asset.kind`) and `approval` (no output).
    output: Kind | None = None
    #: Config fields naming the provider (generative nodes); None for local FFmpeg work.
    provider_field: str | None = None
    #: Bumped when the executor's output for the same inputs changes (part of cache keys).
    version: int = 1
    #: The output has the kind of what this slot is wired to (`reframe`), not `output`.
    output_from: str | None = None

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.slots)

    @property
    def config_fields(self) -> tuple[str, ...]:
        return tuple(self.config_model.model_fields)


_ANY = frozenset(("text", "audio", "video", "image"))
_VISUAL = frozenset(("image", "video"))

_DECLARATIONS = (
    NodeType(
        name="asset",
        description="Brings existing media into the pipeline: inline text, a file, a URL.",
        config_model=NoConfig,
    ),
    NodeType(
        name="generate-voiceover",
        description="Speech from a script (ElevenLabs).",
        config_model=VoiceoverConfig,
        slots=(Slot("script", frozenset({"text"}), 0, 1, or_config="text"),),
        output="audio",
        provider_field="provider",
        version=2,
    ),
    NodeType(
        name="generate-talking-head",
        description="A presenter speaking the given audio (HeyGen).",
        config_model=TalkingHeadConfig,
        slots=(
            Slot("audio", frozenset({"audio"}), 1, 1),
            Slot("background", _VISUAL, 0, 1),
        ),
        output="video",
        provider_field="provider",
    ),
    NodeType(
        name="generate-image",
        description="A still image from a prompt (Replicate).",
        config_model=ImageConfig,
        slots=(Slot("prompt", frozenset({"text"}), 0, 1, or_config="prompt"),),
        output="image",
        provider_field="provider",
    ),
    NodeType(
        name="generate-animation",
        description="A short animated clip from a prompt and an optional image (Veo 3, Replicate).",
        config_model=AnimationConfig,
        slots=(
            Slot("image", frozenset({"image"}), 0, 1),
            Slot("prompt", frozenset({"text"}), 0, 1, or_config="prompt"),
        ),
        output="video",
        provider_field="provider",
    ),
    NodeType(
        name="render-code",
        description="A code screencast: highlighted code typed out, then held.",
        config_model=RenderCodeConfig,
        slots=(Slot("code", frozenset({"text"}), 0, 1, or_config="code"),),
        output="video",
    ),
    NodeType(
        name="mix-audio",
        description="Replaces, mixes or ducks audio under a video's soundtrack.",
        config_model=MixAudioConfig,
        slots=(
            Slot("video", frozenset({"video"}), 1, 1),
            Slot("audio", frozenset({"audio"}), 1, 4),
        ),
        output="video",
    ),
    NodeType(
        name="merge-videos",
        description="Joins clips in order, by stream copy when they match.",
        config_model=MergeVideosConfig,
        slots=(Slot("segments", frozenset({"video"}), 2, 100),),
        output="video",
    ),
    NodeType(
        name="compose-video",
        description="Picture-in-picture: an overlay video or image over a background video.",
        config_model=ComposeVideoConfig,
        slots=(
            Slot("background", frozenset({"video"}), 1, 1),
            Slot("overlay", _VISUAL, 1, 1),
        ),
        output="video",
    ),
    NodeType(
        name="captions",
        description="Subtitles burned into a video, timed by its voiceover; WebVTT and SRT too.",
        config_model=CaptionsConfig,
        slots=(
            Slot("video", frozenset({"video"}), 1, 1),
            Slot("audio", frozenset({"audio"}), 0, 1, or_slot="script"),
            Slot("script", frozenset({"text"}), 0, 1, or_slot="audio"),
        ),
        output="video",
        version=1,
    ),
    NodeType(
        name="approval",
        description="Pauses the run until a reviewer approves, rejects or asks for revisions.",
        config_model=ApprovalConfig,
        slots=(Slot("items", _ANY, 1, 50),),
        output=None,
    ),
)

CATALOGUE: dict[str, NodeType] = {d.name: d for d in _DECLARATIONS}

#: Node types a run adds to a file's nodes (`vidpipe.variants`), never written in a file:
#: a variant's visual reframed from the first variant's, and the brand kit applied.
ADDED_BY_RUNS: dict[str, NodeType] = {
    d.name: d
    for d in (
        NodeType(
            name="reframe",
            description="A visual reshaped to another frame by FFmpeg (crop, pad or blur).",
            config_model=ReframeConfig,
            slots=(Slot("source", _VISUAL, 1, 1),),
            output="video",
            output_from="source",
        ),
        NodeType(
            name="apply-brand",
            description="The brand kit on a finished video: logo, intro, outro.",
            config_model=ApplyBrandConfig,
            slots=(
                Slot("video", frozenset({"video"}), 1, 1),
                Slot("logo", frozenset({"image"}), 0, 1),
                Slot("intro", frozenset({"video"}), 0, 1),
                Slot("outro", frozenset({"video"}), 0, 1),
            ),
            output="video",
        ),
    )
}


def node_type(name: str) -> NodeType:
    """The declaration of a node type (a file's or one a run adds); KeyError if unknown."""
    return CATALOGUE[name] if name in CATALOGUE else ADDED_BY_RUNS[name]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _field_text(name: str, info, required: bool) -> str:
    meta = {type(m).__name__: m for m in info.metadata}
    text = f"`{name}`" + ("*" if required else "")
    lo = next((getattr(m, a) for m in info.metadata for a in ("ge", "gt") if hasattr(m, a)), None)
    hi = next((getattr(m, a) for m in info.metadata for a in ("le", "lt") if hasattr(m, a)), None)
    if lo is not None and hi is not None and "MinLen" not in meta:
        text += f" {_num(lo)}..{_num(hi)}"
    args = getattr(info.annotation, "__args__", ())
    literals = [a for a in args if isinstance(a, str)]
    if not literals:
        for arg in args:
            literals += [a for a in getattr(arg, "__args__", ()) if isinstance(a, str)]
    if literals:
        text += " (" + ", ".join(literals) + ")"
    if not required and info.default not in (None, "") and not literals:
        text += f" (default {info.default})"
    elif not required and info.default not in (None, "") and literals:
        text = text[:-1] + f"; default {info.default})"
    return text


def catalogue_table() -> str:
    """The README's node-type table (Markdown), generated from the declarations."""
    rows = [
        "| type | input slots (kinds; cardinality) | config (* = required) | output |",
        "|---|---|---|---|",
    ]
    for decl in CATALOGUE.values():
        if decl.name == "asset":
            slots = "none"
            config = (
                "`asset`: `kind`*, and exactly one of `text`, `path` (relative to the spec "
                "file), `url` (http/https), `uri` (s3://)"
            )
            output = "its kind"
        else:
            parts = []
            for slot in decl.slots:
                card = slot.cardinality()
                if slot.or_config:
                    card = f"0..1, or `config.{slot.or_config}`"
                elif slot.or_slot:
                    card = f"0..1, or `{slot.or_slot}`"
                order = ", ordered" if slot.many else ""
                parts.append(f"`{slot.name}` ({slot.kinds_text()}; {card}{order})")
            slots = ", ".join(parts)
            config = ", ".join(
                _field_text(name, info, info.is_required())
                for name, info in decl.config_model.model_fields.items()
            )
            output = decl.output or "none: nodes follow it with `after:`"
        rows.append(f"| `{decl.name}` | {slots} | {config} | {output} |")
    return "\n".join(rows) + "\n"
