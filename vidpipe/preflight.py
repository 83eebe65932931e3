"""What a run would refuse, found before it starts.

Validation (`vidpipe.spec`) checks a file against the catalogue; it does not know which
provider really does a node's work in a given mode, nor what each provider refuses. A
live run that met such a refusal only when the node ran would already have paid for the
nodes before it. `run_problems(spec, mode)` finds every refusal that follows from the
file alone (the node's config, its wiring, the pipeline's video, its upstream nodes) for
the mode the run will use, in the same `Problem` form as validation.

The rules live here once: the task wrapper (`tasks/runtime.py`) calls `node_problems` for
each node before it runs (with what its real inputs are) as the last guard, so the plan
and the run cannot disagree. Pure: no Prefect, no I/O (but for reading the bundled fonts
that captions draw with).

Captions are refused when their font cannot draw their text (`vidpipe.captions.glyphs`):
the `script` input's text, or the text of the voiceover feeding `audio` where the file
shows it (its `config.text`, or an inline asset as its script); and when their `audio`
comes from a file with no word timing (an asset: only a voiceover times its words).

An asset `url` whose host is an address the worker may not reach (`vidpipe.netguard`:
loopback, link-local, private..., unless in `allow_networks`) is found here too, when the
file shows it (an address literal, `localhost`); a name is checked when it is fetched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from vidpipe import limits
from vidpipe.captions.glyphs import DEFAULT_FONT, coverage_refusal
from vidpipe.netguard import parse_networks, url_refusal
from vidpipe.spec import Brand, NodeSpec, PipelineSpec, Problem, VideoSettings

__all__ = [
    "ProviderRules",
    "PROVIDER_RULES",
    "VOICEOVER_SUFFIX",
    "Upstream",
    "effective_provider",
    "aspect_ratio_for",
    "needs_text",
    "caption_font",
    "node_problems",
    "run_problems",
]


def effective_provider(node: NodeSpec, mode: str) -> str | None:
    """Who really does a generative node's work: its provider in live mode, else the
    offline placeholder. None for local FFmpeg work and assets."""
    name = node.decl.provider_field
    if name is None:
        return None
    named = getattr(node.config, name)
    if mode == "placeholder" or named == "local":
        return "placeholder"
    return named


def aspect_ratio_for(node: NodeSpec, video: VideoSettings) -> str:
    """The aspect ratio a visual node asks for: its own, else the pipeline's video shape
    as the nearest named one (16:9, 9:16 or 1:1)."""
    own = getattr(node.config, "aspect_ratio", None)
    if own:
        return own
    if video.width > video.height:
        return "16:9"
    return "9:16" if video.width < video.height else "1:1"


@dataclass(frozen=True)
class ProviderRules:
    """What a live provider refuses that a node's config or wiring can ask for."""

    #: The provider as messages name it.
    name: str
    #: Aspect ratios it makes (None: whatever the config allows).
    aspect_ratios: tuple[str, ...] | None = None
    #: Clip lengths it makes, in seconds (None: whatever the config allows).
    durations_s: tuple[int, ...] | None = None
    #: What a `model` it accepts looks like, and an example for the message.
    model: re.Pattern[str] | None = None
    model_example: str = ""
    #: Input slots it is not sent by this version.
    refused_slots: tuple[str, ...] = ()
    #: File extensions of the audio it takes (None: any).
    audio_suffixes: tuple[str, ...] | None = None


_VERSION_ID = r"[0-9a-f]{64}"
_OWNER_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*"

#: One entry per live provider; `node_problems` applies whichever fields a node can break.
PROVIDER_RULES: dict[str, ProviderRules] = {
    # Vertex Veo 3/3.1 make 16:9 or 9:16 clips of 4, 6 or 8 s (`durationSeconds` is sent
    # as an integer); the model is part of the URL (`models/{model}:predictLongRunning`).
    "veo3": ProviderRules(
        name="Veo",
        aspect_ratios=("16:9", "9:16"),
        durations_s=(4, 6, 8),
        model=re.compile(r"^veo-[a-z0-9][a-z0-9.-]*$"),
        model_example="veo-3.1-fast-generate-001",
    ),
    # v3 `POST /v3/videos`: the client does not send a background; audio is uploaded
    # as a HeyGen asset, which takes MP3 or WAV whose extension matches the format.
    "heygen": ProviderRules(
        name="HeyGen",
        aspect_ratios=("16:9", "9:16", "4:5", "5:4", "1:1"),
        refused_slots=("background",),
        audio_suffixes=(".mp3", ".wav"),
    ),
    # An official model `owner/name`, or a version `owner/name:<id>` / a bare version id.
    "replicate": ProviderRules(
        name="Replicate",
        model=re.compile(rf"^(?:{_OWNER_NAME}(?::{_VERSION_ID})?|{_VERSION_ID})$"),
        model_example="owner/name, or owner/name:<64-hex version id>",
    ),
    "elevenlabs": ProviderRules(name="ElevenLabs"),
}

#: The file a voiceover makes, by effective provider (`tasks/generate_voiceover.py`).
VOICEOVER_SUFFIX: dict[str, str] = {"placeholder": ".m4a", "elevenlabs": ".mp3"}

#: The config field naming the model, by node type.
_MODEL_FIELD = {"generate-image": "model", "generate-animation": "model"}


@dataclass(frozen=True)
class Upstream:
    """What is known of one input before the node runs (None: not known)."""

    #: The media file's extension, lower-cased ('.mp3'); '' for a file without one.
    suffix: str | None = None
    #: A text input's content.
    text: str | None = None
    #: Where it comes from, for messages ("'narration' (a placeholder voiceover)").
    origin: str | None = None
    #: Whether audio carries word timing (a voiceover's `alignment` sidecar).
    timed: bool | None = None


@dataclass
class _Checks:
    node: NodeSpec
    rules: ProviderRules
    problems: list[Problem] = field(default_factory=list)

    def add(self, location: str, what: str) -> None:
        self.problems.append(Problem(location, f"{what}, or {self.other_providers()}"))

    def other_providers(self) -> str:
        """'use provider: replicate or local': the node type's other provider values."""
        name = self.node.decl.provider_field
        annotation = self.node.decl.config_model.model_fields[name].annotation
        named = getattr(self.node.config, name)
        others = [p for p in getattr(annotation, "__args__", ()) if p != named]
        return f"use provider: {' or '.join(others)}" if others else "use another provider"


def _words(values: Sequence[Any]) -> str:
    items = [str(v) for v in values]
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else items[0]


#: Node types whose text (the `or_config` slot, else that config field) has a size cap,
#: and the cap (`vidpipe.limits`), in either mode: the placeholder stands in for the
#: provider, and renders what it is given.
_TEXT_LIMITS = {
    "generate-voiceover": ("script", limits.MAX_SCRIPT_CHARS),
    "render-code": ("code", limits.MAX_CODE_CHARS),
}


def needs_text(node: NodeSpec) -> bool:
    """Whether `node_problems` looks at the text of the node's text inputs (so a run-time
    caller reads them only then): the same in either mode."""
    return node.type in _TEXT_LIMITS or node.type == "captions"


def _given_text(node: NodeSpec, inputs: Mapping[str, Sequence[Upstream]]) -> tuple[str | None, str]:
    """The node's text (its text input, else its config field) and where it is."""
    slot = next((s for s in node.decl.slots if s.or_config), None)
    if slot is None:
        return None, ""
    given = inputs.get(slot.name, ())
    if given:
        return given[0].text, f"inputs.{slot.name}"
    return getattr(node.config, slot.or_config, None), f"config.{slot.or_config}"


def _limit_problems(node: NodeSpec, inputs: Mapping[str, Sequence[Upstream]]) -> list[Problem]:
    """The sizes `vidpipe.limits` caps: a script's or a code's length, a screencast's
    duration."""
    if node.type not in _TEXT_LIMITS:
        return []
    what, cap = _TEXT_LIMITS[node.type]
    text, location = _given_text(node, inputs)
    if text is None:
        return []
    if len(text) > cap:
        return [
            Problem(
                location,
                f"the {what} is {len(text):,} characters; at most {cap:,}: split it into "
                "several nodes",
            )
        ]
    if node.type == "render-code":
        seconds = limits.render_code_seconds(text, node.config.chars_per_second, node.config.hold_s)
        if seconds > limits.MAX_MEDIA_S:
            return [
                Problem(
                    "config.chars_per_second",
                    f"typing {len(text):,} characters takes {seconds:,.0f} s; at most "
                    f"{limits.MAX_MEDIA_S:,.0f} s: raise chars_per_second or split the code",
                )
            ]
    return []


def caption_font(node: NodeSpec, brand: Brand | None = None) -> str:
    """The font a captions node draws with: its own, else its brand kit's (the node's,
    else `brand`, the file's), else `DEFAULT_FONT`."""
    kit = node.brand or brand
    return node.config.font or (kit.captions.font if kit else None) or DEFAULT_FONT


def _caption_problems(
    node: NodeSpec, inputs: Mapping[str, Sequence[Upstream]], brand: Brand | None
) -> list[Problem]:
    """Captions whose font cannot draw their text, or whose audio has no word timing."""
    if node.type != "captions":
        return []
    problems = []
    for up in inputs.get("audio", ()):
        if up.timed is False:
            problems.append(
                Problem(
                    "inputs.audio",
                    f"captions '{node.id}': {up.origin or 'this audio'} has no word timing "
                    "(only a voiceover times its words): wire a generate-voiceover node to "
                    "`audio`, or give the text as `script`",
                )
            )
    font = caption_font(node, brand)
    for slot in ("script", "audio"):
        for up in inputs.get(slot, ()):
            refusal = coverage_refusal(up.text, font, node.id) if up.text else None
            if refusal:
                problems.append(Problem(f"inputs.{slot}", refusal))
    return problems


def node_problems(
    node: NodeSpec,
    mode: str,
    *,
    video: VideoSettings,
    base_dir: object | None,
    inputs: Mapping[str, Sequence[Upstream]] | None = None,
    brand: Brand | None = None,
) -> list[Problem]:
    """What a run in `mode` would refuse of one node, from its config, its wiring, the
    pipeline's `video`, whether asset paths have a folder (`base_dir`), what is known
    of its `inputs` (by slot, in order) and the file's `brand` kit (where the node
    carries none). Locations are relative to the node (`inputs.background`,
    `config.duration_s`)."""
    problems: list[Problem] = []
    asset = node.asset
    if asset is not None and asset.path is not None and base_dir is None:
        problems.append(
            Problem(
                "asset.path",
                "a file path needs the pipeline file's folder, and this pipeline was given "
                "as text: run it from its file, or give the asset as text, url or uri",
            )
        )
    problems.extend(_limit_problems(node, inputs or {}))
    problems.extend(_caption_problems(node, inputs or {}, brand))
    provider = effective_provider(node, mode)
    if node.type == "generate-voiceover":  # no voice, live or offline, speaks nothing
        text, location = _given_text(node, inputs or {})
        if text is not None and not text.strip():
            problems.append(Problem(location, "nothing to say (the script is blank): write it"))
    rules = PROVIDER_RULES.get(provider) if provider else None
    if rules is None:
        return problems
    check = _Checks(node, rules, problems)
    cfg = node.config
    inputs = inputs or {}

    for slot in rules.refused_slots:
        if node.inputs.get(slot):
            check.add(
                f"inputs.{slot}",
                f"{rules.name} does not take a {slot} in this version: remove `{slot}`",
            )

    if rules.aspect_ratios is not None and "aspect_ratio" in node.decl.config_fields:
        ratio = aspect_ratio_for(node, video)
        if ratio not in rules.aspect_ratios:
            makes = f"{rules.name} makes {_words(rules.aspect_ratios)} video only"
            if cfg.aspect_ratio:
                what = f"{makes}, not {ratio}: set aspect_ratio to one of those"
            else:
                what = (
                    f"unset, it follows the pipeline's {video.width}x{video.height} video "
                    f"({ratio}), but {makes}: set aspect_ratio to one of those"
                )
            check.add("config.aspect_ratio", what)

    durations = rules.durations_s if "duration_s" in node.decl.config_fields else None
    if durations is not None and cfg.duration_s not in durations:
        check.add(
            "config.duration_s",
            f"{rules.name} makes clips of {_words(durations)} seconds, not "
            f"{cfg.duration_s:g}: set duration_s to one of those",
        )

    model_field = _MODEL_FIELD.get(node.type)
    model = getattr(cfg, model_field) if model_field else None
    if rules.model is not None and model is not None and not rules.model.match(model):
        check.add(
            f"config.{model_field}",
            f"{model!r} is not a {rules.name} model (like {rules.model_example}): "
            f"fix `{model_field}`",
        )

    if rules.audio_suffixes is not None:
        for up in inputs.get("audio", ()):
            if up.suffix is not None and up.suffix not in rules.audio_suffixes:
                got = up.suffix or "a file without an extension"
                check.add(
                    "inputs.audio",
                    f"{rules.name} takes {_words(rules.audio_suffixes)} audio, but "
                    f"{up.origin or 'this input'} gives {got}: feed it MP3 or WAV",
                )

    return problems


def planned_node_problems(node: NodeSpec, spec: PipelineSpec, mode: str) -> list[Problem]:
    """A node a variant made (`vidpipe.variants`: its own video target, its `set`
    fields), checked as `run_problems` checks the file's nodes; its inputs are judged by
    the file's nodes they were made from."""
    inputs = {
        slot: [
            _upstream(spec.node(ref.split("@", 1)[0]), mode, spec)
            for ref in refs
            if ref.split("@", 1)[0] in spec.by_id
        ]
        for slot, refs in node.inputs.items()
    }
    video = node.video or spec.video
    return node_problems(
        node, mode, video=video, base_dir=spec.base_dir, inputs=inputs, brand=spec.brand
    )


def _upstream(node: NodeSpec, mode: str, spec: PipelineSpec) -> Upstream:
    """What the file alone says of a node's output (its file extension, its text; for a
    voiceover, the text it speaks where the file shows it)."""
    if node.asset is not None:
        which, value = node.asset.source
        if which == "text":
            return Upstream(suffix=".txt", text=value, origin=f"'{node.id}'")
        name = value.split("?")[0] if which == "url" else value  # as tasks/asset.py does
        suffix = PurePosixPath(name).suffix.lower()
        if which != "path":
            suffix = suffix or ".bin"  # a download without an extension
        return Upstream(suffix=suffix, origin=f"'{node.id}' ({value})", timed=False)
    if node.type == "generate-voiceover":
        provider = effective_provider(node, mode)
        origin = f"'{node.id}' (a placeholder voiceover)" if provider == "placeholder" else None
        script = node.inputs.get("script", ())
        text = _upstream(spec.node(script[0]), mode, spec).text if script else node.config.text
        return Upstream(
            suffix=VOICEOVER_SUFFIX.get(provider),
            text=text,
            origin=origin or f"'{node.id}'",
            timed=True,
        )
    return Upstream()


def run_problems(
    spec: PipelineSpec, mode: str, allow_networks: Sequence[str] = ()
) -> list[Problem]:
    """Every refusal a run of `spec` in `mode` ("placeholder" or "live") would meet that
    the file already shows, located as validation locates problems
    (`nodes[3] (host).inputs.background: ...`); empty when there is none.
    `allow_networks`: the CIDRs asset URLs may reach although private (the setting)."""
    if mode not in ("placeholder", "live"):
        raise ValueError(f"mode must be 'placeholder' or 'live', got {mode!r}")
    problems: list[Problem] = []
    if len(spec.nodes) > limits.MAX_NODES:
        count = f"{len(spec.nodes):,} nodes; at most {limits.MAX_NODES:,}"
        problems.append(Problem("nodes", f"{count}: split the pipeline into several files"))
    allowed = parse_networks(allow_networks)
    for i, node in enumerate(spec.nodes):
        if node.asset is not None and node.asset.url is not None:  # both modes fetch it
            refused = url_refusal(node.asset.url, allowed)
            if refused is not None:
                problems.append(Problem(f"nodes[{i}] ({node.id}).asset.url", refused))
        inputs = {
            slot: [_upstream(spec.node(ref), mode, spec) for ref in refs]
            for slot, refs in node.inputs.items()
        }
        found = node_problems(
            node, mode, video=spec.video, base_dir=spec.base_dir, inputs=inputs, brand=spec.brand
        )
        where = f"nodes[{i}] ({node.id})"
        problems.extend(Problem(f"{where}.{p.location}", p.message) for p in found)
    return problems
