"""Offline placeholder providers: kinds, shapes, determinism, usage, odd text."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vidpipe import media
from vidpipe.media import VideoTarget
from vidpipe.providers import placeholder

TARGET = VideoTarget(160, 90, 25)
ODD_TEXT = 'It\'s 100% "real": C:\\path\\n; {braces} [x] = café, naïve, 日本語, emoji 🎬 %{pts}\x00'


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def narration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ph") / "narration.m4a"
    placeholder.voiceover("one two three four five six seven eight", out, voice_id="v1")
    return out


def test_voiceover_speaks_at_the_pace_estimates_assume(tmp_path: Path):
    text = (
        "Meet the new dashboard. Every report you need, in one place, updated as your "
        "data changes. Share a view with your team in one click, and see what matters."
    )
    usage, alignment = placeholder.voiceover(text, tmp_path / "v.m4a", voice_id="abc")
    info = media.probe(tmp_path / "v.m4a")
    assert info.has_audio and not info.has_video
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 1)
    assert info.duration_s == pytest.approx(placeholder.voiceover_duration(text), rel=0.2)
    assert usage.provider == "placeholder" and usage.model == "placeholder"
    assert (usage.unit, usage.quantity, usage.stands_in_for) == ("characters", len(text),
                                                                 "elevenlabs")  # fmt: skip
    assert alignment.source == "espeak-ng" and alignment.text == " ".join(text.split())
    fast, _ = placeholder.voiceover(text, tmp_path / "f.m4a", voice_id="abc", speed=2.0)
    assert fast.quantity == len(text)
    assert media.duration(tmp_path / "f.m4a") / info.duration_s == pytest.approx(0.5, abs=0.08)


def test_voiceover_is_at_least_one_second_and_not_silence(tmp_path: Path):
    placeholder.voiceover("Hi", tmp_path / "v.m4a", voice_id="abc")
    assert media.duration(tmp_path / "v.m4a") == pytest.approx(1.0, abs=0.1)
    assert media.mean_volume_db(tmp_path / "v.m4a") > -60


def test_voiceover_is_deterministic_and_voices_differ(tmp_path: Path):
    text = "Meet the new dashboard"
    placeholder.voiceover(text, tmp_path / "a.m4a", voice_id="v1")
    placeholder.voiceover(text, tmp_path / "b.m4a", voice_id="v1")
    placeholder.voiceover(text, tmp_path / "c.m4a", voice_id="v2")
    assert _sha(tmp_path / "a.m4a") == _sha(tmp_path / "b.m4a")
    assert _sha(tmp_path / "a.m4a") != _sha(tmp_path / "c.m4a")


def test_voiceover_odd_text(tmp_path: Path):
    usage, alignment = placeholder.voiceover(ODD_TEXT, tmp_path / "v.mp3", voice_id="x'y:z")
    assert usage.quantity == len(ODD_TEXT)
    assert media.probe(tmp_path / "v.mp3").audio_codec == "mp3"
    assert [w.text for w in alignment.words] == ODD_TEXT.split()


def test_voiceover_refuses_blank_text(tmp_path: Path):
    with pytest.raises(media.EmptyTextError, match="nothing to say"):
        placeholder.voiceover(" \n\t ", tmp_path / "v.m4a", voice_id="abc")
    assert not (tmp_path / "v.m4a").exists()


def test_talking_head_lasts_as_long_as_its_audio(narration: Path, tmp_path: Path):
    usage = placeholder.talking_head(
        narration, tmp_path / "h.mp4", avatar_id="Daisy-inskirt-20220818", target=TARGET,
        text=ODD_TEXT,
    )  # fmt: skip
    info = media.probe(tmp_path / "h.mp4")
    expected = media.duration(narration)
    assert info.has_video and info.has_audio
    assert (info.width, info.height, info.fps) == (160, 90, 25.0)
    assert info.duration_s == pytest.approx(expected, abs=0.06)
    assert (usage.unit, usage.stands_in_for) == ("seconds", "heygen")
    assert usage.quantity == pytest.approx(expected, abs=0.01)
    assert media.mean_volume_db(tmp_path / "h.mp4") > -60


def test_talking_head_over_image_and_video_backgrounds(
    narration: Path, still_png: Path, clip_1s: Path, tmp_path: Path
):
    for name, background in [("img", still_png), ("vid", clip_1s)]:
        out = tmp_path / f"{name}.mp4"
        placeholder.talking_head(
            narration, out, avatar_id="Bob", target=TARGET, background=background
        )
        # a 1 s background video is looped to cover the 3.2 s narration
        assert media.duration(out) == pytest.approx(media.duration(narration), abs=0.06)


def test_talking_head_is_deterministic(narration: Path, tmp_path: Path):
    for name in ("a", "b"):
        placeholder.talking_head(
            narration, tmp_path / f"{name}.mp4", avatar_id="Bob", target=TARGET, text="hello"
        )
    assert _sha(tmp_path / "a.mp4") == _sha(tmp_path / "b.mp4")


@pytest.mark.parametrize(
    ("ratio", "size"), [("16:9", (320, 180)), ("9:16", (180, 320)), ("1:1", (320, 320))]
)
def test_image_at_the_aspect_ratio(ratio: str, size: tuple[int, int], tmp_path: Path):
    usage = placeholder.image(ODD_TEXT, tmp_path / "i.png", aspect_ratio=ratio, size_hint=320)
    info = media.probe(tmp_path / "i.png")
    assert info.is_image and (info.width, info.height) == size
    assert (usage.unit, usage.quantity, usage.stands_in_for) == ("images", 1, "replicate")


def test_image_is_deterministic_per_prompt_and_seed(tmp_path: Path):
    placeholder.image("a cat", tmp_path / "a.png", seed=1, size_hint=200)
    placeholder.image("a cat", tmp_path / "b.png", seed=1, size_hint=200)
    placeholder.image("a cat", tmp_path / "c.png", seed=2, size_hint=200)
    assert _sha(tmp_path / "a.png") == _sha(tmp_path / "b.png")
    assert _sha(tmp_path / "a.png") != _sha(tmp_path / "c.png")


def test_image_bad_aspect_ratio(tmp_path: Path):
    with pytest.raises(ValueError, match="aspect"):
        placeholder.image("x", tmp_path / "i.png", aspect_ratio="wide")


def test_animation_moves_for_its_duration(tmp_path: Path):
    usage = placeholder.animation(
        ODD_TEXT, tmp_path / "a.mp4", duration_s=1.5, target=TARGET, seed=7, stands_in_for="x"
    )
    info = media.probe(tmp_path / "a.mp4")
    assert (info.width, info.height, info.fps) == (160, 90, 25.0)
    assert info.has_audio  # silent track, so it merges by stream copy
    assert info.duration_s == pytest.approx(1.5, abs=0.06)
    assert (usage.unit, usage.quantity, usage.stands_in_for) == ("seconds", 1.5, "x")
    placeholder.animation(ODD_TEXT, tmp_path / "b.mp4", duration_s=1.5, target=TARGET, seed=7)
    assert _sha(tmp_path / "a.mp4") == _sha(tmp_path / "b.mp4")


def test_animation_from_an_image(still_png: Path, tmp_path: Path):
    placeholder.animation("zoom", tmp_path / "a.mp4", duration_s=1, target=TARGET,
                          image=still_png)  # fmt: skip
    info = media.probe(tmp_path / "a.mp4")
    assert (info.width, info.height) == (160, 90)
    assert info.duration_s == pytest.approx(1.0, abs=0.06)


def test_placeholder_clips_merge_by_stream_copy(narration: Path, tmp_path: Path):
    head = tmp_path / "h.mp4"
    broll = tmp_path / "b.mp4"
    placeholder.talking_head(narration, head, avatar_id="Daisy", target=TARGET, text="hi")
    placeholder.animation("b-roll", broll, duration_s=1, target=TARGET)
    result = media.merge([head, broll], tmp_path / "final.mp4")
    assert result.stream_copied
