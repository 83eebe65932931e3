"""Money: the price book, estimates, budget arithmetic, ledger entries and invoices.

Everything here is a pure function of its arguments (no Prefect, no database, no
environment): the flow, the CLI and the database layer call these and store or print what
they return. The one exception is :func:`read_asset_texts`, which reads text assets from
disk so an estimate can count the characters of a script kept in a file.

The straight line is ``spec -> plan -> estimate``::

    book = PriceBook.load(overrides=path_or_mapping_or_None)
    est = estimate_plan(plan, mode="live", book=book, cached={"narration"})
    check_run_budget(est, spec.budget.max_usd).raise_for_refusal()   # BudgetError, exit 4

Money is :class:`~decimal.Decimal`, never float arithmetic:

* unit prices are kept exactly as the price book writes them (strings in the JSON file);
* an amount is ``quantity x unit price`` rounded half-up to the micro-dollar (6 places),
  so estimates, reservations and ledger amounts add up without float drift;
* an invoice rounds each line to the cent (half-up), its subtotal is the sum of the
  rounded lines, the markup is the subtotal times the rate rounded to the cent, and the
  total is subtotal + markup: the invoice adds up exactly on paper.

Ledger entries are plain dicts whose keys include the `CostEntry` columns; those columns
are floats, so the dict carries floats made from the Decimal amounts, and readers here
turn them back with ``Decimal(str(x))`` (exact for 6 decimal places). Three kinds of
entry share the table: billed calls, reservations (`estimate=True`; they expire
`DEFAULT_RESERVATION_TTL` after `created_at`, so a crashed run stops blocking budgets) and
savings from cache hits (`request_id` starting with `cache-hit:`); :func:`entry_kind`
tells them apart, with or without a `kind` column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vidpipe.errors import BudgetError, SpecError
from vidpipe.providers.placeholder import WORDS_PER_MINUTE, voiceover_duration
from vidpipe.refs import MediaRef, Usage

if TYPE_CHECKING:
    from vidpipe.plan import Plan
    from vidpipe.spec import NodeSpec, PipelineSpec, VideoSettings

__all__ = [
    # money
    "CENT",
    "MICRO",
    "money",
    "cents",
    "format_usd",
    # price book
    "FREE_PROVIDERS",
    "UNITS",
    "PriceBookError",
    "PriceEntry",
    "Price",
    "PriceBook",
    "resolution_of",
    # estimates
    "ASSUMED_SCRIPT_CHARS",
    "ASSUMED_SPEECH_S",
    "InputInfo",
    "PricingKey",
    "NodeEstimate",
    "PlanEstimate",
    "node_pricing",
    "estimate_node",
    "estimate_plan",
    "read_asset_texts",
    # budgets
    "BudgetDecision",
    "check_run_budget",
    "can_reserve",
    "reservation_refusal",
    "DailyLimits",
    "DEFAULT_DAILY_LIMITS",
    "daily_status",
    "Reservation",
    "DEFAULT_RESERVATION_TTL",
    "reserve",
    "active",
    "reserved_total",
    "reservation_from_entry",
    # ledger and invoice
    "COST_ENTRY_COLUMNS",
    "SAVINGS_REQUEST_PREFIX",
    "ledger_entry",
    "savings_entry",
    "entry_kind",
    "cost_entry_fields",
    "billed_total",
    "InvoiceLine",
    "Invoice",
    "invoice",
    "group_totals",
    "flag_overrun",
]

# --------------------------------------------------------------------------- money

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")

Number = Decimal | float | int | str


def money(value: Number) -> Decimal:
    """A Decimal amount rounded half-up to the micro-dollar. Floats go through `str`, so
    0.1 is 0.1 and not 0.1000000000000000055."""
    if isinstance(value, float):
        value = str(value)
    try:
        return Decimal(value).quantize(MICRO, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {value!r}") from None


def cents(value: Number) -> Decimal:
    """An amount rounded half-up to the cent: what an invoice line or a total shows."""
    return money(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_usd(value: Number) -> str:
    """`$1,234.57`: an amount shown to the cent."""
    amount = cents(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def _format_unit_price(value: Decimal) -> str:
    """A unit price with all its digits (`$0.0001`), at least two decimals."""
    text = format(value.normalize(), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) == 1:
        text += "0"
    return f"${text}"


def _num(value: float | Decimal) -> str:
    """A quantity without noise: 142, 9.4, 0.5."""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.3f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- price book

Unit = Literal["characters", "seconds", "images", "videos", "gpu_seconds", "predictions"]
UNITS: tuple[str, ...] = get_args(Unit)

#: Providers that never bill: offline placeholders and local work (FFmpeg, local TTS).
FREE_PROVIDERS: frozenset[str] = frozenset({"placeholder", "local", "ffmpeg"})

_DATE = r"^\d{4}(-\d{2}(-\d{2})?)?$"
_RESOLUTIONS = ("720p", "1080p", "4k")
_BOOK_FILE = "prices.json"


class PriceBookError(SpecError):
    """The price book or an operator's override file is wrong, or a price is missing.

    A configuration problem (exit code 2), named with the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceEntry(_Strict):
    """One price: per unit of what the provider bills, with where the number came from."""

    unit: Unit
    usd_per_unit: Decimal = Field(ge=0)
    source: str = Field(min_length=1)
    #: When the source said so: YYYY, YYYY-MM or YYYY-MM-DD.
    date: str = Field(pattern=_DATE)
    note: str | None = None


class _ProviderPrices(_Strict):
    default_models: dict[Unit, str] = {}
    aliases: dict[str, str] = {}
    models: dict[str, PriceEntry]

    @model_validator(mode="after")
    def _references_exist(self) -> _ProviderPrices:
        for unit, model in self.default_models.items():
            entry = self.models.get(model)
            if entry is None:
                raise ValueError(f"default_models.{unit} names unknown model {model!r}")
            if entry.unit != unit:
                raise ValueError(
                    f"default_models.{unit} names {model!r}, which is priced per {entry.unit}"
                )
        for alias, model in self.aliases.items():
            if model not in self.models:
                raise ValueError(f"aliases.{alias} names unknown model {model!r}")
        return self


class _BookData(_Strict):
    version: str = Field(min_length=1)
    effective: date
    currency: Literal["USD"] = "USD"
    compiled_from: str | None = None
    notes: list[str] = []
    providers: dict[str, _ProviderPrices]


class _OverrideEntry(_Strict):
    unit: Unit | None = None
    usd_per_unit: Decimal = Field(ge=0)
    source: str | None = Field(None, min_length=1)
    date: str | None = Field(None, pattern=_DATE)
    note: str | None = None


class _OverrideProvider(_Strict):
    default_models: dict[Unit, str] = {}
    aliases: dict[str, str] = {}
    models: dict[str, _OverrideEntry] = {}


class _OverrideFile(_Strict):
    version: str | None = None
    #: Default date and source for entries that do not give their own.
    date: str | None = Field(None, pattern=_DATE)
    source: str | None = Field(None, min_length=1)
    providers: dict[str, _OverrideProvider]


def _validation_message(name: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{loc}: {error['msg']}")
    return f"{name}: " + "; ".join(problems)


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceBookError(f"{what} {path}: cannot be read ({exc.strerror})") from None
    try:
        # parse_float=Decimal: a price written as a JSON number stays exact.
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        msg = f"{what} {path}: not valid JSON: {exc.msg} at line {exc.lineno}"
        raise PriceBookError(msg) from None


@dataclass(frozen=True)
class Price:
    """The answer to "what does one unit cost?", saying how the model was matched.

    `match` is "exact", "alias", "default" (the node named no model: the provider's
    default for the unit), "fallback" (the model is unknown to the book: the default was
    used instead, and estimates should say so) or "free" (placeholder and local work).
    """

    provider: str
    model: str
    unit: str
    usd_per_unit: Decimal
    source: str
    date: str
    match: Literal["exact", "alias", "default", "fallback", "free"] = "exact"
    requested_model: str | None = None
    resolution: str | None = None

    @property
    def fallback(self) -> bool:
        return self.match == "fallback"

    @property
    def free(self) -> bool:
        return self.match == "free" or self.usd_per_unit == 0

    def cost(self, quantity: Number) -> Decimal:
        """quantity x unit price, to the micro-dollar."""
        return money(money(quantity) * self.usd_per_unit)

    @property
    def label(self) -> str:
        """How the price was found, for a table: `veo-3.1-generate-001` or
        `veo-3.1-generate-001 (fallback for 'veo-9')`."""
        if self.match == "fallback":
            return f"{self.model} (fallback for {self.requested_model!r})"
        return self.model


@dataclass(frozen=True)
class PriceBook:
    """A versioned price book: per provider, model and unit, each price with its source.

    Load the packaged book with :meth:`load`; operators override prices with a JSON file
    or a mapping of the same shape (a Prefect block can hold one)::

        {"version": "ops-2026-12", "date": "2026-12-01", "source": "our ElevenLabs contract",
         "providers": {"elevenlabs": {"models": {"eleven_multilingual_v2":
                                                 {"usd_per_unit": "0.00008"}}}}}

    An override entry replaces `usd_per_unit` (and `unit`, `source`, `date`, `note` when
    given) of an existing model or adds a new one (which then needs `unit`); its date and
    source default to the file's `date` and `source`, the source to "operator override".
    """

    data: _BookData
    #: Where the prices came from: the book file, then each override applied.
    origins: tuple[str, ...] = ()

    # -- loading ---------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        overrides: str | Path | Mapping[str, Any] | None = None,
    ) -> PriceBook:
        """The packaged book (or the one at `path`), with `overrides` merged in."""
        if path is None:
            resource = resources.files("vidpipe") / "data" / _BOOK_FILE
            name = f"vidpipe/data/{_BOOK_FILE}"
            raw = json.loads(resource.read_text(encoding="utf-8"), parse_float=Decimal)
        else:
            name = str(path)
            raw = _read_json(Path(path), "price book")
        book = cls.from_data(raw, name=name)
        return book.with_overrides(overrides) if overrides is not None else book

    @classmethod
    def from_data(cls, raw: Mapping[str, Any], *, name: str = "<price book>") -> PriceBook:
        try:
            data = _BookData.model_validate(raw)
        except ValidationError as exc:
            raise PriceBookError(_validation_message(f"price book {name}", exc)) from None
        return cls(data=data, origins=(name,))

    def with_overrides(
        self, overrides: str | Path | Mapping[str, Any], *, name: str | None = None
    ) -> PriceBook:
        """A new book with an operator's prices merged over this one's."""
        if isinstance(overrides, str | Path):
            name = name or str(overrides)
            raw = _read_json(Path(overrides), "price overrides")
        else:
            name = name or "<price overrides>"
            raw = overrides
        what = f"price overrides {name}"
        try:
            parsed = _OverrideFile.model_validate(raw)
        except ValidationError as exc:
            raise PriceBookError(_validation_message(what, exc)) from None
        merged = self.data.model_dump()
        for provider, block in parsed.providers.items():
            target = merged["providers"].setdefault(
                provider, {"default_models": {}, "aliases": {}, "models": {}}
            )
            for model, entry in block.models.items():
                loc = f"providers.{provider}.models.{model}"
                old = target["models"].get(model, {})
                unit = entry.unit or old.get("unit")
                if unit is None:
                    raise PriceBookError(f"{what}: {loc}.unit: a new model needs a unit")
                when = entry.date or parsed.date
                if when is None:
                    raise PriceBookError(
                        f"{what}: {loc}.date: every price needs a date "
                        "(give one on the entry or at the top of the file)"
                    )
                target["models"][model] = {
                    "unit": unit,
                    "usd_per_unit": entry.usd_per_unit,
                    "source": entry.source or parsed.source or f"operator override ({name})",
                    "date": when,
                    "note": entry.note if entry.note is not None else old.get("note"),
                }
            target["default_models"].update(block.default_models)
            target["aliases"].update(block.aliases)
        merged["version"] = f"{self.data.version}+{parsed.version or 'override'}"
        try:
            data = _BookData.model_validate(merged)
        except ValidationError as exc:
            raise PriceBookError(_validation_message(what, exc)) from None
        return PriceBook(data=data, origins=(*self.origins, name))

    # -- reading ---------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.data.version

    @property
    def effective(self) -> date:
        return self.data.effective

    def entries(self) -> Iterable[tuple[str, str, PriceEntry]]:
        """Every price: (provider, model key, entry)."""
        for provider, block in self.data.providers.items():
            for model, entry in block.models.items():
                yield provider, model, entry

    def default_model(self, provider: str, unit: str) -> str | None:
        block = self.data.providers.get(provider)
        return block.default_models.get(unit) if block else None  # type: ignore[call-overload]

    def price(
        self, provider: str, model: str | None, unit: str, *, resolution: str | None = None
    ) -> Price:
        """The price of one `unit` of `model` at `provider` (at `resolution` if the book
        prices resolutions apart: key `MODEL@RES`, else the model's base price).

        An unknown or missing model falls back to the provider's default model for the
        unit (`match` says which); an unknown provider or a unit the provider has no
        price for is a :class:`PriceBookError`. Placeholder and local work is free.
        """
        if provider in FREE_PROVIDERS:
            return Price(
                provider=provider,
                model=model or provider,
                unit=unit,
                usd_per_unit=Decimal(0),
                source="vidpipe: offline placeholder or local work, never billed",
                date=self.effective.isoformat(),
                match="free",
                requested_model=model,
            )
        block = self.data.providers.get(provider)
        if block is None:
            known = ", ".join(sorted(self.data.providers))
            raise PriceBookError(f"no prices for provider {provider!r} (the book has: {known})")
        name, match = model, "exact"
        if name is not None and name in block.aliases:
            name, match = block.aliases[name], "alias"
        entry = block.models.get(name) if name is not None else None
        if entry is None or entry.unit != unit:
            default = block.default_models.get(unit)  # type: ignore[call-overload]
            if default is None:
                raise PriceBookError(
                    f"no price for {provider} model {model!r} per {unit}, and no default "
                    f"{provider} model priced per {unit}"
                )
            name, match = default, "default" if model is None else "fallback"
        assert name is not None
        key = name
        if resolution:
            variant = block.models.get(f"{name}@{resolution}")
            if variant is not None and variant.unit == unit:
                key = f"{name}@{resolution}"
        entry = block.models[key]
        return Price(
            provider=provider,
            model=name,
            unit=unit,
            usd_per_unit=entry.usd_per_unit,
            source=entry.source,
            date=entry.date,
            match=match,  # type: ignore[arg-type]
            requested_model=model,
            resolution=key.partition("@")[2] or None,
        )


def resolution_of(width: int, height: int) -> str:
    """The resolution class a provider prices by, from the short side of the frame:
    up to 720 is 720p, up to 1080 is 1080p, above is 4k (a vertical 720x1280 is 720p)."""
    short = min(width, height)
    return "720p" if short <= 720 else "1080p" if short <= 1080 else "4k"


# --------------------------------------------------------------------------- estimates

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


@dataclass(frozen=True)
class PlanEstimate:
    """A run's estimate: one `NodeEstimate` per node in plan order, and the totals.

    `total_usd` is the full cost of the pipeline, `marginal_usd` what this run adds (nodes
    expected from cache cost nothing). `live_*` are the same at live prices, which a
    placeholder run shows beside its zeros."""

    pipeline: str
    mode: str
    book_version: str
    nodes: tuple[NodeEstimate, ...]

    @cached_property
    def by_id(self) -> dict[str, NodeEstimate]:
        return {n.node_id: n for n in self.nodes}

    def node(self, node_id: str) -> NodeEstimate:
        return self.by_id[node_id]

    @property
    def total_usd(self) -> Decimal:
        return sum((n.usd for n in self.nodes), Decimal(0))

    @property
    def marginal_usd(self) -> Decimal:
        return sum((n.marginal_usd for n in self.nodes), Decimal(0))

    @property
    def live_total_usd(self) -> Decimal:
        return sum((n.live_usd for n in self.nodes), Decimal(0))

    @property
    def live_marginal_usd(self) -> Decimal:
        return sum((n.live_marginal_usd for n in self.nodes), Decimal(0))

    @property
    def uncertain(self) -> bool:
        return any(n.uncertain for n in self.nodes)

    def most_expensive(self, n: int = 3) -> list[NodeEstimate]:
        """The `n` nodes that cost this run the most (what it is billed, then the live
        price); free nodes and nodes expected from cache are never listed."""
        paid = [e for e in self.nodes if e.live_marginal_usd > 0]
        ranked = sorted(paid, key=lambda e: (e.marginal_usd, e.live_marginal_usd), reverse=True)
        return ranked[:n]

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per generative node (for a Prefect table artifact or `--json`)."""
        return [n.to_row() for n in self.nodes if n.generative]

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "mode": self.mode,
            "price_book": self.book_version,
            "nodes": self.to_rows(),
            "total_usd": str(cents(self.total_usd)),
            "marginal_usd": str(cents(self.marginal_usd)),
            "live_total_usd": str(cents(self.live_total_usd)),
            "live_marginal_usd": str(cents(self.live_marginal_usd)),
            "uncertain": self.uncertain,
        }

    def to_text(self) -> str:
        """The cost block `vidpipe plan` prints: a line per generative node, then totals.

        A placeholder run shows what each node would cost live beside its $0.00."""
        paid = [n for n in self.nodes if n.generative]
        live_column = self.mode != "live"
        header = ["node", "provider", "model", "quantity", "unit price", "cost"]
        header += ["live", "cache"] if live_column else ["cache"]
        rows = []
        for n in paid:
            row = [
                n.node_id,
                n.provider,
                n.model or "",
                n.basis,
                _format_unit_price(n.unit_price_usd),
                format_usd(n.usd),
            ]
            row += [format_usd(n.live_usd)] if live_column else []
            rows.append([*row, "cached" if n.expected_cached else ""])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def fmt(row: list[str]) -> str:
            return "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

        mode = "placeholder mode: nothing is billed" if live_column else "live mode"
        lines = [f"cost estimate ({mode}; price book {self.book_version})"]
        lines += [fmt(header), *(fmt(r) for r in rows)] if rows else ["  no paid nodes"]
        free = len(self.nodes) - len(paid)
        if free:
            lines.append(f"  ({free} local node{'s' if free != 1 else ''}: no charge)")
        lines.append(
            f"  total {format_usd(self.total_usd)}; this run {format_usd(self.marginal_usd)}"
            " (nodes expected from cache cost nothing)"
        )
        if live_column:
            lines.append(
                f"  live prices: total {format_usd(self.live_total_usd)}; "
                f"this run {format_usd(self.live_marginal_usd)}"
            )
        lines += [f"  note: {n.node_id}: {note}" for n in paid for note in n.notes]
        return "\n".join(lines)


def estimate_plan(
    plan: Plan,
    *,
    mode: Mode | None = None,
    book: PriceBook,
    cached: Iterable[str] = frozenset(),
    known: Mapping[str, InputInfo] | None = None,
) -> PlanEstimate:
    """Estimate every node in plan order, handing known quantities downstream.

    A text asset's text reaches the voiceover that reads it; a voiceover's estimated
    length reaches the talking head that speaks it. `known` (node id -> `InputInfo`)
    adds what the caller knows better: the text of a path asset (:func:`read_asset_texts`)
    or the real duration of an output already made; it wins over the estimate's guess.
    `cached` names the nodes expected from cache (their marginal cost is 0). `mode`
    defaults to the pipeline's.
    """
    spec = plan.spec
    mode = mode or spec.mode
    cached = frozenset(cached)
    infos: dict[str, InputInfo] = dict(known or {})
    estimates = []
    for node_id in plan.order:
        node = plan.node(node_id)
        est = estimate_node(node, mode=mode, inputs_info=infos, book=book, video=spec.video)
        if node_id in cached:
            est = replace(est, expected_cached=True)
        # What the caller knows wins; an asset's estimate already merged it in.
        if est.output is not None and (node_id not in infos or node.type == "asset"):
            infos[node_id] = est.output
        estimates.append(est)
    return PlanEstimate(
        pipeline=spec.name, mode=mode, book_version=book.version, nodes=tuple(estimates)
    )


def read_asset_texts(spec: PipelineSpec, *, max_bytes: int = 1_000_000) -> dict[str, InputInfo]:
    """The text of every text asset kept in a local file (`asset.path`), for
    :func:`estimate_plan`'s `known`. The only function here that reads files; a file that
    cannot be read is left out (the estimate then assumes a length and says so)."""
    found: dict[str, InputInfo] = {}
    if spec.base_dir is None:
        return found
    base = Path(spec.base_dir).resolve()
    for node in spec.nodes:
        asset = node.asset
        if asset is None or asset.kind != "text" or asset.path is None:
            continue
        path = (base / asset.path).resolve()
        try:
            if not path.is_relative_to(base) or path.stat().st_size > max_bytes:
                continue
            found[node.id] = InputInfo(kind="text", text=path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return found


# --------------------------------------------------------------------------- budgets


def _amount(value: Number | NodeEstimate) -> Decimal:
    return value.usd if isinstance(value, NodeEstimate) else money(value)


@dataclass(frozen=True)
class BudgetDecision:
    """Whether a run may start under its budget, and the sentence that says why not."""

    allowed: bool
    max_usd: Decimal | None
    marginal_usd: Decimal
    total_usd: Decimal
    message: str

    def raise_for_refusal(self) -> None:
        """Raise `BudgetError` (exit code 4) if the run is refused."""
        if not self.allowed:
            raise BudgetError(self.message)


def check_run_budget(
    estimate: PlanEstimate, max_usd: Number | None, *, live: bool = False
) -> BudgetDecision:
    """Refuse a run whose marginal estimate exceeds `max_usd` (None: no budget).

    A placeholder run bills nothing and so always fits; `live=True` checks the live
    prices instead (a rehearsal: would this budget hold for the live run?)."""
    marginal = estimate.live_marginal_usd if live else estimate.marginal_usd
    total = estimate.live_total_usd if live else estimate.total_usd
    if max_usd is None:
        return BudgetDecision(True, None, marginal, total, "no budget set")
    limit = money(max_usd)
    if marginal <= limit:
        msg = f"estimate {format_usd(marginal)} is within the budget of {format_usd(limit)}"
        return BudgetDecision(True, limit, marginal, total, msg)
    top = estimate.most_expensive(3)
    named = ", ".join(n.describe() for n in top)
    cached = (
        f" (full cost {format_usd(total)}; nodes expected from cache excluded)"
        if total != marginal
        else ""
    )
    prices = " at live prices" if live and estimate.mode != "live" else ""
    msg = (
        f"budget refused: pipeline '{estimate.pipeline}' is estimated at "
        f"{format_usd(marginal)}{prices}{cached}, over its budget of {format_usd(limit)}; "
        f"most expensive: {named}"
    )
    return BudgetDecision(False, limit, marginal, total, msg)


def can_reserve(
    spent: Number, reserved: Number, node_estimate: Number | NodeEstimate, max_usd: Number | None
) -> bool:
    """May a node reserve its estimate? Only if spent + reserved + its estimate stays
    within the budget (reaching it exactly is allowed; None: no budget)."""
    if max_usd is None:
        return True
    return money(spent) + money(reserved) + _amount(node_estimate) <= money(max_usd)


def reservation_refusal(
    spent: Number,
    reserved: Number,
    node_estimate: Number | NodeEstimate,
    max_usd: Number,
    *,
    node_id: str | None = None,
) -> str:
    """The budget error's message for a node `can_reserve` refused."""
    if node_id is None and isinstance(node_estimate, NodeEstimate):
        node_id = node_estimate.node_id
    amount = _amount(node_estimate)
    total = money(spent) + money(reserved) + amount
    who = f"node '{node_id}'" if node_id else "node"
    return (
        f"{who}: budget exhausted: spent {format_usd(spent)} + reserved {format_usd(reserved)}"
        f" + this node's estimate {format_usd(amount)} = {format_usd(total)} would pass the "
        f"run budget of {format_usd(max_usd)}; nothing was paid for this node"
    )


DailyState = Literal["ok", "soft", "hard"]


@dataclass(frozen=True)
class DailyLimits:
    """Spending limits per day across runs (the seeds: soft $100 warns, hard $150
    refuses new paid work)."""

    soft_usd: Decimal = Decimal(100)
    hard_usd: Decimal = Decimal(150)

    def __post_init__(self) -> None:
        object.__setattr__(self, "soft_usd", money(self.soft_usd))
        object.__setattr__(self, "hard_usd", money(self.hard_usd))
        if not (0 < self.soft_usd <= self.hard_usd):
            raise ValueError(f"daily limits need 0 < soft <= hard, got {self}")

    def status(self, spent_today: Number, reserved_today: Number, next_usd: Number) -> DailyState:
        """Returns "hard" when paying `next_usd` would pass the hard limit (refuse it), "soft"
        when the day is or would go past the soft limit (warn), else "ok". Free work
        (`next_usd` 0) is never refused: at worst it is "soft"."""
        committed = money(spent_today) + money(reserved_today)
        projected = committed + money(next_usd)
        if money(next_usd) > 0 and projected > self.hard_usd:
            return "hard"
        if projected > self.soft_usd:
            return "soft"
        return "ok"

    def message(self, spent_today: Number, reserved_today: Number, next_usd: Number) -> str:
        state = self.status(spent_today, reserved_today, next_usd)
        today = format_usd(money(spent_today) + money(reserved_today))
        if state == "hard":
            return (
                f"daily hard limit {format_usd(self.hard_usd)}: {today} spent or reserved "
                f"today, {format_usd(next_usd)} more would pass it; new paid work is refused"
            )
        if state == "soft":
            return (
                f"daily soft limit {format_usd(self.soft_usd)} passed: {today} spent or "
                f"reserved today (+{format_usd(next_usd)})"
            )
        return f"{today} spent or reserved today, within the daily limits"


DEFAULT_DAILY_LIMITS = DailyLimits()


def daily_status(
    spent_today: Number,
    reserved_today: Number,
    next_usd: Number,
    limits: DailyLimits = DEFAULT_DAILY_LIMITS,
) -> DailyState:
    """`limits.status(...)`: "ok", "soft" (warn) or "hard" (refuse new paid work)."""
    return limits.status(spent_today, reserved_today, next_usd)


#: How long a reservation holds unless renewed: a crashed run's reservation stops
#: counting after this (a live node renews it while it polls).
DEFAULT_RESERVATION_TTL = timedelta(hours=2)


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC (what the database stores)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Reservation:
    """Money set aside for a paid node before it calls its provider, until `expires_at`."""

    run_id: str
    node_id: str
    usd: Decimal
    expires_at: datetime

    def is_active(self, now: datetime) -> bool:
        return _utc(self.expires_at) > _utc(now)

    def renewed(self, now: datetime, ttl: timedelta = DEFAULT_RESERVATION_TTL) -> Reservation:
        return replace(self, expires_at=_utc(now) + ttl)


def reserve(
    run_id: str,
    node_id: str,
    usd: Number | NodeEstimate,
    *,
    now: datetime,
    ttl: timedelta = DEFAULT_RESERVATION_TTL,
) -> Reservation:
    """A reservation of a node's estimate, expiring `ttl` after `now`."""
    return Reservation(run_id, node_id, _amount(usd), _utc(now) + ttl)


def active(reservations: Iterable[Reservation], now: datetime) -> list[Reservation]:
    """The reservations that still hold at `now` (expired ones block nothing)."""
    return [r for r in reservations if r.is_active(now)]


def reserved_total(
    reservations: Iterable[Reservation], now: datetime, *, run_id: str | None = None
) -> Decimal:
    """The money held by active reservations (of one run, if `run_id`)."""
    held = [r for r in active(reservations, now) if run_id is None or r.run_id == run_id]
    return sum((r.usd for r in held), Decimal(0))


def reservation_from_entry(entry: Any, *, ttl: timedelta = DEFAULT_RESERVATION_TTL) -> Reservation:
    """A reservation stored as an estimate cost entry (`estimate=True`): it expires `ttl`
    after its `created_at`. Lets reservations live in `cost_entries` with no new table."""
    created = _get(entry, "created_at")
    if created is None:
        raise ValueError("a reservation entry needs created_at")
    return Reservation(
        run_id=_get(entry, "run_id") or "",
        node_id=_get(entry, "node_id") or _get(entry, "node_run_id") or "",
        usd=money(_get(entry, "amount_usd") or 0),
        expires_at=_utc(created) + ttl,
    )


# --------------------------------------------------------------------------- ledger

EntryKind = Literal["billed", "estimate", "savings", "possibly_billed"]

#: The `CostEntry` columns a ledger entry fills (the table adds `id`).
COST_ENTRY_COLUMNS: tuple[str, ...] = (
    "run_id",
    "node_run_id",
    "provider",
    "model",
    "unit",
    "quantity",
    "unit_price_usd",
    "amount_usd",
    "request_id",
    "created_at",
    "estimate",
    "kind",
    "node_id",
)

#: A savings entry's `request_id` starts with this, so it survives a round trip through
#: `cost_entries` (which has no kind column) and is never summed as billed.
SAVINGS_REQUEST_PREFIX = "cache-hit:"
#: Said under an invoice's possibly billed lines (their amounts are the nodes' estimates).
POSSIBLY_BILLED_NOTE = (
    "Possibly billed (not in the total): a paid create's outcome was unknown; "
    "check the provider by request id before re-running"
)


def _get(entry: Any, name: str, default: Any = None) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name, default)
    return getattr(entry, name, default)


def entry_kind(entry: Any) -> EntryKind:
    """The kind of an entry: "billed", "estimate" (a reservation) or "savings".

    Works on a ledger dict or a `CostEntry` row: its `kind` if it has one, else its
    `estimate` flag, else its request id's prefix."""
    kind = _get(entry, "kind")
    if kind in ("billed", "estimate", "savings", "possibly_billed"):
        return kind
    if _get(entry, "estimate"):
        return "estimate"
    if str(_get(entry, "request_id") or "").startswith(SAVINGS_REQUEST_PREFIX):
        return "savings"
    return "billed"


def ledger_entry(
    usage: Usage,
    *,
    book: PriceBook,
    run_id: str | None,
    node_id: str,
    estimate: bool = False,
    node_run_id: str | None = None,
    pipeline: str | None = None,
    at: datetime | None = None,
    live: PricingKey | None = None,
) -> dict[str, Any]:
    """A cost entry for one provider call, priced from what the provider reported.

    The keys are the `CostEntry` columns plus `node_id`, `pipeline`, `kind`, and, not
    for the table, `live_usd` (for a placeholder: the price of what it stands in for,
    given the node's `live` pricing key from :func:`node_pricing`), `stands_in_for` and
    `price_source`. `estimate=True` makes a reservation entry instead of a billed one.

    Never raises for a missing price: the call has been paid for and must be recorded,
    so an unpriced usage (say Replicate `predictions` of a model the book does not know)
    gets amount 0, `unpriced` True and the reason in `price_source`.
    """
    resolution = live.resolution if live else None
    stands_in = usage.stands_in_for
    unpriced = False
    try:
        price = book.price(usage.provider, usage.model, usage.unit, resolution=resolution)
    except PriceBookError as exc:
        price = Price(usage.provider, usage.model, usage.unit, Decimal(0), f"unpriced: {exc}", "")
        unpriced = True
    amount = price.cost(usage.quantity)
    live_usd = amount
    if price.free and stands_in and stands_in not in FREE_PROVIDERS:
        model = live.model if live is not None and live.provider == stands_in else None
        try:
            live_price = book.price(stands_in, model, usage.unit, resolution=resolution)
            live_usd = live_price.cost(usage.quantity)
        except PriceBookError:
            live_usd = Decimal(0)
    return {
        "run_id": run_id,
        "node_run_id": node_run_id,
        "node_id": node_id,
        "pipeline": pipeline,
        "provider": usage.provider,
        "model": usage.model,
        "unit": usage.unit,
        "quantity": float(usage.quantity),
        "unit_price_usd": float(price.usd_per_unit),
        "amount_usd": float(amount),
        "request_id": usage.request_id,
        "created_at": at,
        "estimate": estimate,
        "kind": "estimate" if estimate else "billed",
        "live_usd": float(live_usd),
        "stands_in_for": stands_in,
        "price_source": price.source if not price.fallback else f"{price.label}: {price.source}",
        "unpriced": unpriced,
    }


def savings_entry(
    work: Usage | NodeEstimate,
    *,
    book: PriceBook,
    run_id: str | None,
    node_id: str,
    source_run_id: str | None = None,
    node_run_id: str | None = None,
    pipeline: str | None = None,
    at: datetime | None = None,
    live: PricingKey | None = None,
) -> dict[str, Any] | None:
    """The money a cache hit did not spend: the price of the cached result's usage (or
    of the node's estimate when its usage is not known). None for work that was never
    paid (placeholder or local), because nothing was saved."""
    if isinstance(work, NodeEstimate):
        if work.usd <= 0 or work.unit is None:
            return None
        provider, model, unit, quantity = work.provider, work.model, work.unit, work.quantity
        unit_price, amount = work.unit_price_usd, work.usd
    else:
        price = book.price(
            work.provider, work.model, work.unit, resolution=live.resolution if live else None
        )
        if price.free:
            return None
        provider, model, unit, quantity = work.provider, work.model, work.unit, work.quantity
        unit_price, amount = price.usd_per_unit, price.cost(work.quantity)
    return {
        "run_id": run_id,
        "node_run_id": node_run_id,
        "node_id": node_id,
        "pipeline": pipeline,
        "provider": provider,
        "model": model,
        "unit": unit,
        "quantity": float(quantity),
        "unit_price_usd": float(unit_price),
        "amount_usd": float(amount),
        "request_id": SAVINGS_REQUEST_PREFIX + (source_run_id or "earlier run"),
        "created_at": at,
        "estimate": False,
        "kind": "savings",
    }


def cost_entry_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Only the `CostEntry` columns of a ledger dict (`CostEntry(**fields)`); a missing
    `created_at` is left out so the table's default (now) applies."""
    fields = {k: entry[k] for k in COST_ENTRY_COLUMNS if k in entry}
    if fields.get("created_at") is None:
        fields.pop("created_at", None)
    return fields


def billed_total(entries: Iterable[Any]) -> Decimal:
    """What a set of entries billed, to the micro-dollar (estimates and savings excluded):
    a run's `actual_usd`."""
    return sum(
        (money(_get(e, "amount_usd") or 0) for e in entries if entry_kind(e) == "billed"),
        Decimal(0),
    )


# --------------------------------------------------------------------------- invoice

_CSV_COLUMNS = (
    "kind",
    "run_id",
    "node_id",
    "provider",
    "model",
    "unit",
    "quantity",
    "unit_price_usd",
    "amount_usd",
    "request_id",
)


@dataclass(frozen=True)
class InvoiceLine:
    """One billed call (or one saving), its amount rounded to the cent."""

    kind: str
    run_id: str
    node_id: str
    provider: str
    model: str
    unit: str
    quantity: Decimal
    unit_price_usd: Decimal
    amount_usd: Decimal
    request_id: str

    def to_csv_row(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "run_id": self.run_id,
            "node_id": self.node_id,
            "provider": self.provider,
            "model": self.model,
            "unit": self.unit,
            "quantity": format(self.quantity.normalize(), "f"),
            "unit_price_usd": format(self.unit_price_usd.normalize(), "f"),
            "amount_usd": str(self.amount_usd),
            "request_id": self.request_id,
        }


def _line(entry: Any) -> InvoiceLine:
    def text(name: str) -> str:
        value = _get(entry, name)
        return "" if value is None else str(value)

    node = _get(entry, "node_id") or _get(entry, "node_run_id") or ""
    return InvoiceLine(
        kind=entry_kind(entry),
        run_id=text("run_id"),
        node_id=str(node),
        provider=text("provider"),
        model=text("model"),
        unit=text("unit"),
        quantity=Decimal(str(_get(entry, "quantity") or 0)),
        unit_price_usd=Decimal(str(_get(entry, "unit_price_usd") or 0)),
        amount_usd=cents(_get(entry, "amount_usd") or 0),
        request_id=text("request_id"),
    )


@dataclass(frozen=True)
class Invoice:
    """Cost-plus invoice: billed lines, subtotal, markup, total; savings listed apart."""

    lines: tuple[InvoiceLine, ...]
    savings: tuple[InvoiceLine, ...] = ()
    markup_rate: Decimal = Decimal("0.20")
    title: str = "Invoice"
    #: Paid creates whose outcome is unknown (the node's estimate): not in the totals.
    possibly_billed: tuple[InvoiceLine, ...] = ()

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount_usd for line in self.lines), Decimal("0.00"))

    @property
    def markup_usd(self) -> Decimal:
        return cents(self.subtotal * self.markup_rate)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.markup_usd

    @property
    def savings_total(self) -> Decimal:
        return sum((line.amount_usd for line in self.savings), Decimal("0.00"))

    @property
    def markup_percent(self) -> str:
        return f"{_num(self.markup_rate * 100)}%"

    def to_rows(self) -> list[dict[str, str]]:
        """Rows of one shape for a Prefect table artifact: lines, totals, savings."""

        def row(node="", provider="", model="", quantity="", unit_price="", amount=""):
            return {
                "node": node,
                "provider": provider,
                "model": model,
                "quantity": quantity,
                "unit price": unit_price,
                "amount": amount,
            }

        rows = [
            row(
                line.node_id,
                line.provider,
                line.model,
                f"{_num(line.quantity)} {line.unit}",
                _format_unit_price(line.unit_price_usd),
                format_usd(line.amount_usd),
            )
            for line in self.lines
        ]
        rows.append(row(node="Subtotal", amount=format_usd(self.subtotal)))
        rows.append(row(node=f"Markup {self.markup_percent}", amount=format_usd(self.markup_usd)))
        rows.append(row(node="Total", amount=format_usd(self.total)))
        for line in self.savings:
            rows.append(
                row(
                    f"{line.node_id} (cache hit)",
                    line.provider,
                    line.model,
                    f"{_num(line.quantity)} {line.unit}",
                    _format_unit_price(line.unit_price_usd),
                    f"saved {format_usd(line.amount_usd)}",
                )
            )
        if self.savings:
            rows.append(row(node="Saved by cache", amount=format_usd(self.savings_total)))
        for line in self.possibly_billed:
            rows.append(
                row(
                    f"{line.node_id} (possibly billed; request {line.request_id or 'unknown'})",
                    line.provider,
                    line.model,
                    f"{_num(line.quantity)} {line.unit}",
                    _format_unit_price(line.unit_price_usd),
                    f"possibly {format_usd(line.amount_usd)}",
                )
            )
        if self.possibly_billed:
            rows.append(row(node=POSSIBLY_BILLED_NOTE))
        return rows

    def to_markdown(self) -> str:
        out = [f"## {self.title}", ""]
        out += [
            "| node | provider | model | quantity | unit price | amount | request |",
            "|---|---|---|---:|---:|---:|---|",
        ]
        for line in self.lines:
            out.append(
                f"| {line.node_id} | {line.provider} | {line.model} | "
                f"{_num(line.quantity)} {line.unit} | {_format_unit_price(line.unit_price_usd)}"
                f" | {format_usd(line.amount_usd)} | {line.request_id} |"
            )
        out += [
            "",
            f"| | |\n|---|---:|\n| Subtotal | {format_usd(self.subtotal)} |",
            f"| Markup {self.markup_percent} | {format_usd(self.markup_usd)} |",
            f"| **Total** | **{format_usd(self.total)}** |",
        ]
        if self.savings:
            out += ["", f"Saved by cache hits: {format_usd(self.savings_total)}", ""]
            out += ["| node | provider | model | quantity | saved |", "|---|---|---|---:|---:|"]
            for line in self.savings:
                out.append(
                    f"| {line.node_id} | {line.provider} | {line.model} | "
                    f"{_num(line.quantity)} {line.unit} | {format_usd(line.amount_usd)} |"
                )
        if self.possibly_billed:
            out += ["", POSSIBLY_BILLED_NOTE, "", "| node | provider | request | estimate |"]
            out.append("|---|---|---|---:|")
            for line in self.possibly_billed:
                out.append(
                    f"| {line.node_id} | {line.provider} | {line.request_id or '-'} | "
                    f"{format_usd(line.amount_usd)} |"
                )
        return "\n".join(out) + "\n"

    def to_csv(self) -> str:
        """Lines and savings, then summary rows (subtotal, markup with its rate in the
        quantity column, total, savings total); :meth:`from_csv` reads it back."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for line in (*self.lines, *self.savings, *self.possibly_billed):
            writer.writerow(line.to_csv_row())
        summary = [
            ("subtotal", "", self.subtotal),
            ("markup", str(self.markup_rate), self.markup_usd),
            ("total", "", self.total),
            ("savings_total", "", self.savings_total),
        ]
        for kind, quantity, amount in summary:
            writer.writerow({"kind": kind, "quantity": quantity, "amount_usd": str(amount)})
        return buffer.getvalue()

    @classmethod
    def from_csv(cls, text: str, *, title: str = "Invoice") -> Invoice:
        """An invoice read back from :meth:`to_csv`; its totals are recomputed and must
        match the file's."""
        lines, savings, possibly, rate, stated = [], [], [], Decimal("0.20"), {}
        for row in csv.DictReader(io.StringIO(text)):
            kind = row["kind"]
            if kind in ("billed", "savings", "possibly_billed"):
                line = InvoiceLine(
                    kind=kind,
                    run_id=row["run_id"],
                    node_id=row["node_id"],
                    provider=row["provider"],
                    model=row["model"],
                    unit=row["unit"],
                    quantity=Decimal(row["quantity"]),
                    unit_price_usd=Decimal(row["unit_price_usd"]),
                    amount_usd=cents(row["amount_usd"]),
                    request_id=row["request_id"],
                )
                {"billed": lines, "savings": savings}.get(kind, possibly).append(line)
            else:
                stated[kind] = cents(row["amount_usd"])
                if kind == "markup":
                    rate = Decimal(row["quantity"])
        result = cls(tuple(lines), tuple(savings), rate, title, tuple(possibly))
        if "total" in stated and stated["total"] != result.total:
            raise ValueError(
                f"invoice CSV total {stated['total']} does not match its lines ({result.total})"
            )
        return result


def invoice(
    entries: Iterable[Any], *, markup: Number = Decimal("0.20"), title: str = "Invoice"
) -> Invoice:
    """The cost-plus invoice of ledger entries (dicts or `CostEntry` rows): billed entries
    become lines, savings and possibly billed entries are listed apart (not in the totals),
    estimates (reservations) are left out. The default markup is the seeds' 20%."""
    lines, savings, possibly = [], [], []
    for entry in entries:
        kind = entry_kind(entry)
        if kind == "billed":
            lines.append(_line(entry))
        elif kind == "savings":
            savings.append(_line(entry))
        elif kind == "possibly_billed":
            possibly.append(_line(entry))
    rate = Decimal(str(markup)) if isinstance(markup, float) else Decimal(markup)
    return Invoice(tuple(lines), tuple(savings), rate, title, tuple(possibly))


def group_totals(
    entries: Iterable[Any],
    by: Literal["pipeline", "provider", "day", "run"] = "provider",
    *,
    kind: EntryKind = "billed",
) -> dict[str, Decimal]:
    """Totals to the cent per pipeline, provider, UTC day or run, of entries of one
    `kind` (billed by default). Entries need `pipeline` (join the run) or `created_at`
    for those groupings; missing values are grouped under "(unknown)"."""
    if by not in ("pipeline", "provider", "day", "run"):
        raise ValueError(f"group_totals: by must be pipeline, provider, day or run, not {by!r}")
    sums: dict[str, Decimal] = {}
    for entry in entries:
        if entry_kind(entry) != kind:
            continue
        if by == "day":
            created = _get(entry, "created_at")
            key = _utc(created).date().isoformat() if created else "(unknown)"
        else:
            key = _get(entry, "run_id" if by == "run" else by) or "(unknown)"
        sums[key] = sums.get(key, Decimal(0)) + money(_get(entry, "amount_usd") or 0)
    return {key: cents(sums[key]) for key in sorted(sums)}


def flag_overrun(
    estimated: Number | None, actual: Number | None, tolerance: Number = Decimal("0.20")
) -> bool:
    """True when `actual` exceeds `estimated` by more than `tolerance` (20%): the run's
    artifact says so. An unknown estimate flags nothing; a zero estimate flags any cost."""
    if estimated is None or actual is None:
        return False
    limit = money(estimated) * (1 + Decimal(str(tolerance)))
    return money(actual) > limit
