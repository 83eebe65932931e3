"""Node estimates: what is known of a node's inputs, what a generative node is priced as,
and what one node is expected to cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from vidpipe.costs.amounts import _format_unit_price, _num, format_usd
from vidpipe.costs.prices import PriceBook, resolution_of
from vidpipe.providers.placeholder import WORDS_PER_MINUTE, voiceover_duration
from vidpipe.refs import MediaRef

if TYPE_CHECKING:
    from vidpipe.spec import NodeSpec, VideoSettings

Mode = Literal["placeholder", "live"]

#: Characters assumed for a script that is not known before the run (flagged uncertain).
ASSUMED_SCRIPT_CHARS = 1000
#: Seconds of speech assumed for audio whose length is not known (flagged uncertain).
ASSUMED_SPEECH_S = 60.0


@dataclass(frozen=True)
class InputInfo:
    """What is known about a node's output before (or while) a run: the text of a text
    asset, the duration of audio or video. `estimated` says the duration is a guess (a
    voiceover's length from its word count), not a measurement."""

    kind: str | None = None
    text: str | None = None
    duration_s: float | None = None
    estimated: bool = False

    @classmethod
    def from_ref(cls, ref: MediaRef, *, text: str | None = None) -> InputInfo:
        """From a finished node's output (the flow knows these at reservation time)."""
        return cls(kind=ref.kind, text=text, duration_s=ref.duration_s)


@dataclass(frozen=True)
class PricingKey:
    """What a generative node is priced as: the live provider, its model (None: the
    provider's default), the billing unit and the resolution class."""

    provider: str
    model: str | None
    unit: str
    resolution: str | None = None


_GENERATIVE_UNITS = {
    "generate-voiceover": "characters",
    "generate-talking-head": "seconds",
    "generate-image": "images",
    "generate-animation": "seconds",
}


def node_pricing(node: NodeSpec, video: VideoSettings | None = None) -> PricingKey | None:
    """The pricing key of a generative node from its config; None for free node types.

    Also what a placeholder's ledger entry needs to show the live price it stands in for
    (the placeholder's `Usage` names the provider but not the model)."""
    unit = _GENERATIVE_UNITS.get(node.type)
    if unit is None:
        return None
    cfg = node.config
    model = {
        "generate-voiceover": lambda: cfg.model_id,
        "generate-talking-head": lambda: None,  # the avatar tier is not in the config
        "generate-image": lambda: cfg.model,
        "generate-animation": lambda: cfg.model,
    }[node.type]()
    resolution = resolution_of(video.width, video.height) if video is not None else None
    return PricingKey(provider=cfg.provider, model=model, unit=unit, resolution=resolution)


@dataclass(frozen=True)
class NodeEstimate:
    """What one node is expected to cost.

    `provider`/`model` are the live service the node uses (what a placeholder stands in
    for); `usd` is what this run will be billed (0 in placeholder mode and for local
    work); `live_usd` what the live service would bill. `marginal_usd` is 0 when the node
    is expected from cache. `basis` is the quantity in words ("142 characters"); `notes`
    say how it was found or what was assumed. `uncertain`: the quantity was assumed.
    """

    node_id: str
    type: str
    mode: str
    provider: str
    model: str | None
    unit: str | None
    quantity: float
    unit_price_usd: Decimal
    usd: Decimal
    live_usd: Decimal
    basis: str
    expected_cached: bool = False
    uncertain: bool = False
    price_match: str | None = None
    price_source: str | None = None
    notes: tuple[str, ...] = ()
    #: What downstream nodes can know about this node's output (text, duration).
    output: InputInfo | None = field(default=None, compare=False, repr=False)

    @property
    def generative(self) -> bool:
        return self.type in _GENERATIVE_UNITS

    @property
    def marginal_usd(self) -> Decimal:
        return Decimal(0) if self.expected_cached else self.usd

    @property
    def live_marginal_usd(self) -> Decimal:
        return Decimal(0) if self.expected_cached else self.live_usd

    @property
    def fallback(self) -> bool:
        return self.price_match == "fallback"

    def describe(self) -> str:
        """One phrase for messages: `broll $2.40 (6 seconds of veo-3.1-generate-001)`."""
        amount = self.usd if self.mode == "live" else self.live_usd
        what = f"{self.basis} of {self.model}" if self.model else self.basis
        return f"{self.node_id} {format_usd(amount)} ({what})"

    def to_row(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "type": self.type,
            "provider": self.provider,
            "model": self.model or "",
            "quantity": self.basis,
            "notes": "; ".join(self.notes),
            "unit_price": _format_unit_price(self.unit_price_usd) if self.unit else "",
            "estimate": format_usd(self.usd),
            "live": format_usd(self.live_usd),
            "cached": self.expected_cached,
            "marginal": format_usd(self.marginal_usd),
        }


def _free_estimate(node: NodeSpec, mode: str, basis: str, output: InputInfo | None) -> NodeEstimate:
    return NodeEstimate(
        node_id=node.id,
        type=node.type,
        mode=mode,
        provider="local",
        model=None,
        unit=None,
        quantity=0.0,
        unit_price_usd=Decimal(0),
        usd=Decimal(0),
        live_usd=Decimal(0),
        basis=basis,
        output=output,
    )


def _upstream(node: NodeSpec, slot: str, infos: Mapping[str, InputInfo]) -> InputInfo | None:
    refs = node.inputs.get(slot) or ()
    return infos.get(refs[0]) if refs else None


def _plural(quantity: float, word: str) -> str:
    return f"{_num(quantity)} {word}" + ("" if quantity == 1 else "s")


def estimate_node(
    node: NodeSpec,
    *,
    mode: Mode,
    inputs_info: Mapping[str, InputInfo] | None = None,
    book: PriceBook,
    video: VideoSettings | None = None,
) -> NodeEstimate:
    """The estimate of one node from its config and what is known of its inputs.

    `inputs_info` maps upstream node ids (and, for an asset, its own id) to what is known
    of their output. Quantities: the script's characters (the `script` input's text, else
    `config.text`); a talking head's seconds of speech (the audio's duration, else the
    length of the upstream script at 150 words a minute); an animation's requested
    seconds; one image per image node. What cannot be known is assumed and flagged
    `uncertain` (1,000 characters; 60 seconds of speech).
    """
    infos = inputs_info or {}
    cfg = node.config
    if node.type == "asset":
        asset = node.asset
        known = infos.get(node.id)
        output = InputInfo(kind=asset.kind if asset else None, text=asset.text if asset else None)
        if known is not None:
            output = replace(
                output,
                text=known.text if known.text is not None else output.text,
                duration_s=known.duration_s,
            )
        return _free_estimate(node, mode, "asset: no charge", output)
    key = node_pricing(node, video)
    if key is None:
        basis = "approval: no charge" if node.type == "approval" else "local FFmpeg work"
        return _free_estimate(node, mode, basis, InputInfo(kind=node.output_kind))

    uncertain = False
    notes: list[str] = []
    output = InputInfo(kind=node.output_kind)
    if node.type == "generate-voiceover":
        script = _upstream(node, "script", infos)
        text = script.text if script is not None else cfg.text
        if text is None:
            quantity, uncertain = float(ASSUMED_SCRIPT_CHARS), True
            basis = f"{ASSUMED_SCRIPT_CHARS} characters"
            notes.append("assumed: the script is not known before the run")
        else:
            quantity = float(len(text))
            basis = _plural(quantity, "character")
            output = InputInfo(
                kind="audio", duration_s=voiceover_duration(text, cfg.speed), estimated=True
            )
    elif node.type == "generate-talking-head":
        audio = _upstream(node, "audio", infos)
        if audio is not None and audio.duration_s is not None:
            quantity = float(audio.duration_s)
            basis = f"{_plural(quantity, 'second')} of speech"
            notes.append(
                f"speech length estimated from the script at {WORDS_PER_MINUTE} words a minute"
                if audio.estimated
                else "speech length from the audio"
            )
        else:
            quantity, uncertain = ASSUMED_SPEECH_S, True
            basis = f"{_num(quantity)} seconds of speech"
            notes.append("assumed: the audio's length is not known before the run")
        output = InputInfo(kind="video", duration_s=quantity, estimated=True)
    elif node.type == "generate-animation":
        quantity = float(cfg.duration_s)
        basis = f"{_plural(quantity, 'second')} of video"
        output = InputInfo(kind="video", duration_s=quantity, estimated=True)
    else:  # generate-image
        quantity, basis = 1.0, "1 image"

    price = book.price(key.provider, key.model, key.unit, resolution=key.resolution)
    live = price.cost(quantity)
    if price.fallback:
        notes.append(f"priced as {price.model}: model {key.model!r} is not in the price book")
    elif price.match == "default" and not price.free:
        why = "the avatar tier is not in the config" if key.provider == "heygen" else "no model"
        notes.append(f"{price.model} assumed ({why})")
    return NodeEstimate(
        node_id=node.id,
        type=node.type,
        mode=mode,
        provider=key.provider,
        model=price.model if not price.free else key.model,
        unit=key.unit,
        quantity=quantity,
        unit_price_usd=price.usd_per_unit,
        usd=live if mode == "live" else Decimal(0),
        live_usd=live,
        basis=basis,
        notes=tuple(notes),
        uncertain=uncertain,
        price_match=price.match,
        price_source=price.source,
        output=output,
    )
