"""The price book: its JSON models, operators' overrides, and the price of one unit of a
provider's model (`Price`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vidpipe.costs.amounts import Number, money
from vidpipe.errors import SpecError

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
