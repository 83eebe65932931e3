"""The price book: every price sourced and dated; lookups, fallbacks, overrides."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from vidpipe.costs import UNITS, PriceBook, PriceBookError, resolution_of
from vidpipe.errors import SpecError


def test_book_loads_with_version_and_every_price_sourced_and_dated(book: PriceBook) -> None:
    assert book.version and book.effective.isoformat() == "2026-11-21"
    entries = list(book.entries())
    assert len(entries) >= 25
    for provider, model, entry in entries:
        assert entry.source.strip(), (provider, model)
        assert entry.date[:4] == "2026", (provider, model)
        assert entry.unit in UNITS
        assert isinstance(entry.usd_per_unit, Decimal) and entry.usd_per_unit > 0


def test_book_has_the_issue_s_providers_and_units(book: PriceBook) -> None:
    units = {(p, e.unit) for p, _, e in book.entries()}
    assert ("elevenlabs", "characters") in units
    assert ("heygen", "seconds") in units
    assert ("veo3", "seconds") in units
    assert ("replicate", "gpu_seconds") in units
    assert ("replicate", "images") in units


@pytest.mark.parametrize(
    ("provider", "model", "unit", "resolution", "expected"),
    [
        ("elevenlabs", "eleven_multilingual_v2", "characters", None, "0.0001"),
        ("elevenlabs", "eleven_flash_v2_5", "characters", None, "0.00005"),
        ("heygen", "avatar-iv-photo", "seconds", "1080p", "0.05"),
        ("heygen", "avatar-iv-studio", "seconds", "4k", "0.0833"),
        ("heygen", "avatar-iv-studio", "seconds", "720p", "0.0667"),  # base price
        ("veo3", "veo-3.1-generate-001", "seconds", "1080p", "0.40"),
        ("veo3", "veo-3.1-generate-001", "seconds", "4k", "0.60"),
        ("veo3", "veo-3.1-fast-generate-001", "seconds", "720p", "0.10"),
        ("veo3", "veo-3.1-fast-generate-001", "seconds", "1080p", "0.12"),
        ("veo3", "veo-3.1-lite-generate-001", "seconds", "1080p", "0.08"),
        ("replicate", "hardware/t4", "gpu_seconds", None, "0.000225"),
        ("replicate", "black-forest-labs/flux-1.1-pro", "images", None, "0.04"),
        ("replicate", "wan-video/wan-2.1-i2v-480p", "seconds", None, "0.09"),
    ],
)
def test_prices_from_providers_md(book, provider, model, unit, resolution, expected) -> None:
    price = book.price(provider, model, unit, resolution=resolution)
    assert price.usd_per_unit == Decimal(expected)
    assert price.match == "exact" and not price.fallback


def test_unknown_model_falls_back_to_the_default_and_says_so(book: PriceBook) -> None:
    price = book.price("veo3", "veo-9-ultra", "seconds")
    assert price.fallback and price.match == "fallback"
    assert price.model == "veo-3.1-fast-generate-001"
    assert "fallback for 'veo-9-ultra'" in price.label


def test_missing_model_uses_the_default_without_a_fallback_flag(book: PriceBook) -> None:
    price = book.price("heygen", None, "seconds")
    assert price.match == "default" and not price.fallback
    assert price.model == "avatar-iv-studio"


def test_aliases_and_unit_specific_defaults(book: PriceBook) -> None:
    assert book.price("veo3", "veo-3.1-fast-generate-preview", "seconds").match == "alias"
    assert book.price("replicate", None, "images").model == "black-forest-labs/flux-1.1-pro"
    assert book.price("replicate", None, "seconds").model == "wan-video/wan-2.1-i2v-480p"
    # a known model asked for in a unit it is not priced in: the unit's default, flagged
    price = book.price("replicate", "black-forest-labs/flux-1.1-pro", "gpu_seconds")
    assert price.fallback and price.unit == "gpu_seconds"


def test_placeholder_and_local_work_are_free(book: PriceBook) -> None:
    for provider in ("placeholder", "local", "ffmpeg"):
        price = book.price(provider, "anything", "seconds")
        assert price.free and price.usd_per_unit == 0 and price.cost(100) == 0


def test_unknown_provider_and_unpriced_unit_are_clear_errors(book: PriceBook) -> None:
    with pytest.raises(PriceBookError, match="no prices for provider 'suno'"):
        book.price("suno", None, "seconds")
    with pytest.raises(PriceBookError, match="per images"):
        book.price("elevenlabs", None, "images")


def test_cost_is_exact_to_the_micro_dollar(book: PriceBook) -> None:
    assert book.price("elevenlabs", None, "characters").cost(142) == Decimal("0.0142")
    assert book.price("heygen", None, "seconds").cost(10.4) == Decimal("0.69368")
    assert book.price("replicate", "hardware/t4", "gpu_seconds").cost(3.804328) == Decimal(
        "0.000856"
    )


def test_resolution_classes() -> None:
    assert resolution_of(1280, 720) == "720p"
    assert resolution_of(720, 1280) == "720p"
    assert resolution_of(1920, 1080) == "1080p"
    assert resolution_of(3840, 2160) == "4k"


# -- overrides --------------------------------------------------------------------------


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "prices-override.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_override_file_replaces_a_price(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "version": "ops-1",
            "date": "2026-12-01",
            "source": "our negotiated rate",
            "providers": {
                "elevenlabs": {"models": {"eleven_multilingual_v2": {"usd_per_unit": "0.00008"}}}
            },
        },
    )
    book = PriceBook.load(overrides=path)
    price = book.price("elevenlabs", "eleven_multilingual_v2", "characters")
    assert price.usd_per_unit == Decimal("0.00008")
    assert price.source == "our negotiated rate" and price.date == "2026-12-01"
    assert book.version.endswith("+ops-1")
    assert book.origins[-1] == str(path)
    # everything else untouched
    assert book.price("heygen", None, "seconds").usd_per_unit == Decimal("0.0667")


def test_override_mapping_adds_a_model_and_a_provider() -> None:
    book = PriceBook.load(
        overrides={
            "providers": {
                "heygen": {
                    "models": {"avatar-x": {"unit": "seconds", "usd_per_unit": 0.2, "date": "2027"}}
                },
                "acme": {
                    "default_models": {"seconds": "acme-1"},
                    "models": {
                        "acme-1": {"unit": "seconds", "usd_per_unit": "1", "date": "2027-01"}
                    },
                },
            }
        }
    )
    assert book.price("heygen", "avatar-x", "seconds").usd_per_unit == Decimal("0.2")
    assert book.price("heygen", "avatar-x", "seconds").source.startswith("operator override")
    assert book.price("acme", None, "seconds").usd_per_unit == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"providers": {"heygen": {"models": {"avatar-iii": {"usd_per_unit": "cheap"}}}}},
            "providers.heygen.models.avatar-iii.usd_per_unit",
        ),
        (
            {"providers": {"heygen": {"models": {"avatar-iii": {"usd_per_unit": -1}}}}},
            "providers.heygen.models.avatar-iii.usd_per_unit",
        ),
        (
            {"providers": {"heygen": {"models": {"avatar-iii": {"usd_per_units": 1}}}}},
            "providers.heygen.models.avatar-iii.usd_per_units",
        ),
        (
            {
                "date": "2026-12-01",
                "providers": {"heygen": {"models": {"new": {"usd_per_unit": 1}}}},
            },
            "providers.heygen.models.new.unit",
        ),
        (
            {"providers": {"heygen": {"models": {"avatar-iii": {"usd_per_unit": 1}}}}},
            "providers.heygen.models.avatar-iii.date",
        ),
        (
            {"date": "2026", "providers": {"veo3": {"default_models": {"seconds": "nope"}}}},
            "providers.veo3",
        ),
        ({"prices": {}}, "providers"),
    ],
)
def test_bad_override_file_names_the_file_and_the_field(tmp_path: Path, data, field) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(PriceBookError) as info:
        PriceBook.load(overrides=path)
    message = str(info.value)
    assert str(path) in message
    assert field in message
    assert isinstance(info.value, SpecError)  # a configuration error: exit code 2


def test_override_file_that_is_not_json_or_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, "{not json")
    with pytest.raises(PriceBookError, match=r"not valid JSON: .* at line 1"):
        PriceBook.load(overrides=path)
    with pytest.raises(PriceBookError, match="cannot be read"):
        PriceBook.load(overrides=tmp_path / "missing.json")


def test_json_numbers_stay_exact(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '{"date": "2026", "providers": {"elevenlabs": {"models": '
        '{"eleven_v3": {"usd_per_unit": 0.00011}}}}}',
    )
    book = PriceBook.load(overrides=path)
    assert book.price("elevenlabs", "eleven_v3", "characters").usd_per_unit == Decimal("0.00011")
