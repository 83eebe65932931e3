"""What a captions node is refused before anything runs (`vidpipe.preflight`): text its
font cannot draw, from the script or from the voiceover feeding its audio, and audio
with no word timing; in both modes, with the message naming the node and the font."""

from __future__ import annotations

from typing import Any

import pytest

from vidpipe.preflight import Upstream, caption_font, needs_text, node_problems, run_problems
from vidpipe.spec import PipelineSpec, load_data

CLIP = {"id": "clip", "type": "generate-animation", "config": {"provider": "local", "prompt": "x"}}
JAPANESE = "日本語のテキストです"


def spec(*nodes: dict[str, Any]) -> PipelineSpec:
    result = load_data({"name": "captions", "nodes": [CLIP, *nodes]})
    assert result.valid, result.problems
    assert result.spec is not None
    return result.spec


def subs(**inputs: str) -> dict[str, Any]:
    return {"id": "subs", "type": "captions", "inputs": {"video": "clip", **inputs}}


def text(node_id: str, value: str) -> dict[str, Any]:
    return {"id": node_id, "type": "asset", "asset": {"kind": "text", "text": value}}


def voice(**extra: Any) -> dict[str, Any]:
    config = {"provider": "elevenlabs", "voice_id": "v1", **extra.pop("config", {})}
    return {"id": "voice", "type": "generate-voiceover", "config": config, **extra}


@pytest.mark.parametrize("mode", ["placeholder", "live"])
def test_a_script_the_font_cannot_draw_is_refused(mode: str):
    [problem] = run_problems(spec(text("script", JAPANESE), subs(script="script")), mode)
    assert problem.location == "nodes[2] (subs).inputs.script"
    assert problem.message.startswith(
        "captions 'subs': the font DejaVuSans cannot draw 日, 本, 語 and 7 more (Japanese"
    )


def test_latin_and_arabic_scripts_pass():
    for value in ("Meet the new dashboard.", "مرحبا بالعالم، كيف حالك؟"):
        assert run_problems(spec(text("script", value), subs(script="script")), "live") == []


def test_the_voiceover_text_feeding_the_audio_is_checked_where_the_file_shows_it():
    inline = spec(voice(config={"text": JAPANESE}), subs(audio="voice"))
    [problem] = run_problems(inline, "placeholder")
    assert problem.location == "nodes[2] (subs).inputs.audio"
    assert "cannot draw 日" in problem.message
    wired = spec(text("script", JAPANESE), voice(inputs={"script": "script"}), subs(audio="voice"))
    assert [p.location for p in run_problems(wired, "live")] == ["nodes[3] (subs).inputs.audio"]
    fine = spec(voice(config={"text": "Hello there."}), subs(audio="voice"))
    assert run_problems(fine, "live") == []


def test_the_node_font_decides_and_the_message_points_to_one_that_draws_it():
    node = {**subs(script="script"), "config": {"font": "DejaVuSansMono"}}
    [problem] = run_problems(spec(text("script", "שלום עולם"), node), "live")
    assert problem.message == (
        "captions 'subs': the font DejaVuSansMono cannot draw ש, ל, ו and 2 more "
        "(use font: DejaVuSans, which covers it)"
    )
    assert run_problems(spec(text("script", "שלום עולם"), subs(script="script")), "live") == []


def test_audio_without_word_timing_is_refused_before_the_run():
    music = {"id": "music", "type": "asset", "asset": {"kind": "audio", "url": "https://x/m.mp3"}}
    [problem] = run_problems(spec(music, subs(audio="music")), "placeholder")
    assert problem.location == "nodes[2] (subs).inputs.audio"
    assert problem.message == (
        "captions 'subs': 'music' (https://x/m.mp3) has no word timing (only a voiceover "
        "times its words): wire a generate-voiceover node to `audio`, or give the text as "
        "`script`"
    )


def test_at_run_time_the_real_script_text_is_checked():
    """What the task wrapper does with the node's real inputs (`tasks.runtime.check_node`)."""
    s = spec(text("script", "placeholder"), subs(script="script"))
    node = s.node("subs")
    assert needs_text(node)
    inputs = {"video": [Upstream(suffix=".mp4")], "script": [Upstream(".txt", JAPANESE)]}
    [problem] = node_problems(node, "placeholder", video=s.video, base_dir=None, inputs=inputs)
    assert problem.location == "inputs.script" and "DejaVuSans cannot draw" in problem.message
    assert caption_font(node) == "DejaVuSans"
