"""Estimates per node type and per plan: quantities, propagation, placeholder, cache."""

from __future__ import annotations

from decimal import Decimal

from vidpipe.costs import (
    ASSUMED_SCRIPT_CHARS,
    InputInfo,
    PriceBook,
    estimate_node,
    estimate_plan,
    node_pricing,
    read_asset_texts,
)
from vidpipe.providers.placeholder import voiceover_duration
from vidpipe.refs import MediaRef

TEXT = "one two three four five six seven eight nine ten"


def test_voiceover_counts_the_characters_of_the_script_input(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book)
    voice = est.node("voice")
    assert (voice.provider, voice.model, voice.unit) == (
        "elevenlabs",
        "eleven_flash_v2_5",
        "characters",
    )
    assert voice.quantity == len(TEXT) and voice.basis == f"{len(TEXT)} characters"
    assert voice.unit_price_usd == Decimal("0.00005")
    assert voice.usd == voice.live_usd == Decimal("0.00005") * len(TEXT) == Decimal("0.0024")
    assert not voice.uncertain


def test_voiceover_uses_config_text_without_a_script_input(make_plan, book) -> None:
    plan = make_plan(
        """
name: v
nodes:
  - id: v
    type: generate-voiceover
    config: {provider: elevenlabs, voice_id: x, text: "Hello there, world"}
"""
    )
    node = plan.node("v")
    est = estimate_node(node, mode="live", book=book)
    assert est.quantity == 18 and est.usd == Decimal("0.0018")
    assert est.output.duration_s == voiceover_duration("Hello there, world")


def test_talking_head_from_the_estimated_speech_length(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book)
    host = est.node("host")
    seconds = voiceover_duration(TEXT)
    assert host.quantity == seconds and host.basis == f"{seconds:g} seconds of speech"
    assert "150 words a minute" in " ".join(host.notes)
    assert host.model == "avatar-iv-studio" and host.price_match == "default"
    assert host.usd == Decimal(str(seconds)) * Decimal("0.0667")


def test_talking_head_from_the_audio_when_known(mixed_plan, book) -> None:
    ref = MediaRef(uri="file:///a.m4a", kind="audio", sha256="0" * 64, bytes=1, duration_s=12.5)
    est = estimate_node(
        mixed_plan.node("host"),
        mode="live",
        book=book,
        inputs_info={"voice": InputInfo.from_ref(ref)},
        video=mixed_plan.spec.video,
    )
    assert est.quantity == 12.5 and "from the audio" in est.notes[0]
    # and through estimate_plan's `known`, which wins over the estimate
    plan_est = estimate_plan(mixed_plan, book=book, known={"voice": InputInfo.from_ref(ref)})
    assert plan_est.node("host").quantity == 12.5


def test_animation_bills_the_requested_seconds_at_the_resolution(mixed_plan, book) -> None:
    clip = estimate_plan(mixed_plan, book=book).node("clip")
    assert clip.quantity == 8 and clip.basis == "8 seconds of video"
    assert clip.unit_price_usd == Decimal("0.10")  # 1280x720 is 720p
    assert clip.usd == Decimal("0.8")


def test_animation_at_1080p_costs_the_1080p_price(make_plan, book) -> None:
    plan = make_plan(
        """
name: hd
video: {width: 1920, height: 1080, fps: 30}
nodes:
  - id: c
    type: generate-animation
    config: {provider: veo3, model: veo-3.1-fast-generate-001, prompt: p, duration_s: 5}
"""
    )
    est = estimate_plan(plan, mode="live", book=book).node("c")
    assert est.unit_price_usd == Decimal("0.12") and est.usd == Decimal("0.6")


def test_image_is_one_image(mixed_plan, book) -> None:
    still = estimate_plan(mixed_plan, book=book).node("still")
    assert still.quantity == 1 and still.basis == "1 image"
    assert still.usd == Decimal("0.04")


def test_local_work_costs_nothing(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book)
    for node_id in ("script", "cut"):
        node = est.node(node_id)
        assert node.usd == node.live_usd == 0 and node.provider == "local"
        assert not node.generative


def test_local_provider_is_free(make_plan, book) -> None:
    plan = make_plan(
        """
name: l
nodes:
  - id: v
    type: generate-voiceover
    config: {provider: local, voice_id: x, text: hi}
"""
    )
    est = estimate_plan(plan, mode="live", book=book).node("v")
    assert est.usd == est.live_usd == 0 and est.quantity == 2


def test_placeholder_mode_costs_zero_but_shows_live_prices(mixed_plan, book) -> None:
    live = estimate_plan(mixed_plan, mode="live", book=book)
    offline = estimate_plan(mixed_plan, mode="placeholder", book=book)
    assert offline.total_usd == offline.marginal_usd == 0
    assert offline.live_total_usd == live.total_usd > 0
    for node in offline.nodes:
        assert node.usd == 0 and node.live_usd == live.node(node.node_id).usd
    text = offline.to_text()
    assert "placeholder mode: nothing is billed" in text
    assert f"live prices: total ${live.total_usd.quantize(Decimal('0.01'))}" in text


def test_mode_defaults_to_the_pipeline_s(mixed_plan, book) -> None:
    assert estimate_plan(mixed_plan, book=book).mode == "live"


def test_cached_nodes_have_marginal_cost_zero(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book, cached={"clip", "voice"})
    clip = est.node("clip")
    assert clip.expected_cached and clip.usd == Decimal("0.8") and clip.marginal_usd == 0
    full = estimate_plan(mixed_plan, book=book)
    assert est.total_usd == full.total_usd
    assert est.marginal_usd == full.total_usd - Decimal("0.8") - est.node("voice").usd
    assert "cached" in est.to_text()
    assert [n.node_id for n in est.most_expensive(5)] == ["host", "still"]


def test_totals_and_most_expensive(mixed_plan, book) -> None:
    est = estimate_plan(mixed_plan, book=book)
    assert est.total_usd == sum(n.usd for n in est.nodes)
    assert [n.node_id for n in est.most_expensive(2)] == ["clip", "host"]
    assert len(est.most_expensive(10)) == 4  # free nodes never listed
    rows = est.to_rows()
    assert [r["node"] for r in rows] == ["voice", "host", "still", "clip"]
    data = est.to_json()
    assert data["total_usd"] == str(est.total_usd.quantize(Decimal("0.01")))


def test_unknown_script_is_assumed_and_flagged(make_plan, book, tmp_path) -> None:
    (tmp_path / "script.txt").write_text("a b c d e f g h i j " * 15)
    (tmp_path / "p.yaml").write_text(
        """
name: p
nodes:
  - id: script
    type: asset
    asset: {kind: text, path: script.txt}
  - id: v
    type: generate-voiceover
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: x}
  - id: h
    type: generate-talking-head
    inputs: {audio: v}
    config: {provider: heygen, avatar_id: a}
"""
    )
    plan = make_plan(tmp_path / "p.yaml")
    blind = estimate_plan(plan, mode="live", book=book)
    assert blind.node("v").quantity == ASSUMED_SCRIPT_CHARS and blind.node("v").uncertain
    assert blind.node("h").uncertain  # no script, no speech length
    assert "assumed" in blind.to_text()
    known = estimate_plan(plan, mode="live", book=book, known=read_asset_texts(plan.spec))
    assert known.node("v").quantity == 300 and not known.node("v").uncertain
    assert known.node("h").quantity == voiceover_duration("a b c d e f g h i j " * 15)


def test_unknown_model_is_estimated_at_the_default_and_flagged(make_plan, book) -> None:
    plan = make_plan(
        """
name: f
nodes:
  - id: c
    type: generate-animation
    config: {provider: veo3, model: veo-99, prompt: p, duration_s: 2}
"""
    )
    est = estimate_plan(plan, mode="live", book=book).node("c")
    assert est.fallback and est.model == "veo-3.1-fast-generate-001"
    assert "veo-99" in est.notes[0]


def test_node_pricing(mixed_plan) -> None:
    key = node_pricing(mixed_plan.node("clip"), mixed_plan.spec.video)
    assert (key.provider, key.model, key.unit, key.resolution) == (
        "veo3",
        "veo-3.1-fast-generate-001",
        "seconds",
        "720p",
    )
    assert node_pricing(mixed_plan.node("cut")) is None


def test_estimates_are_deterministic(mixed_plan, book: PriceBook) -> None:
    assert estimate_plan(mixed_plan, book=book) == estimate_plan(mixed_plan, book=book)
