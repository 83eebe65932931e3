"""Every operation on real tiny media: durations, stream layouts, sizes."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from vidpipe import media
from vidpipe.errors import MediaError
from vidpipe.media import VideoTarget, screencast

SMALL = VideoTarget(160, 90, 25)  # the fixtures' format (conftest.py)


def _pixel(path: Path, x: int, y: int, at_s: float = 0.5) -> tuple[int, int, int]:
    """The RGB value of one pixel of a frame, read back through FFmpeg."""
    crop = f"crop=2:2:{x - x % 2}:{y - y % 2}"  # yuv420p frames crop by even steps
    raw = subprocess.run(
        [media.ffmpeg_binary(), "-loglevel", "error", "-ss", str(at_s), "-i", str(path),
         "-frames:v", "1", "-vf", crop, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return raw[0], raw[1], raw[2]


def _layout(path: Path) -> tuple:
    info = media.probe(path)
    return (info.video_codec, info.width, info.height, info.fps, info.pix_fmt,
            info.audio_codec, info.sample_rate, info.channels)  # fmt: skip


STANDARD = ("h264", 160, 90, 25.0, "yuv420p", "aac", 48000, 2)


def test_normalize_pads_never_stretches_and_adds_audio(clip_other: Path, tmp_path: Path):
    out = media.normalize(clip_other, tmp_path / "n.mp4", SMALL)
    assert _layout(out) == STANDARD
    assert media.duration(out) == pytest.approx(1.5, abs=0.1)
    # 120x90 (4:3) fitted into 160x90 keeps its height: bars of 20 px left and right.
    assert max(_pixel(out, 2, 45)) < 30
    assert max(_pixel(out, 80, 45)) > 30


def test_normalize_refuses_an_image_with_a_clear_error(still_png: Path, tmp_path: Path):
    with pytest.raises(MediaError, match="still_to_video"):
        media.normalize(still_png, tmp_path / "n.mp4", SMALL)


def test_still_to_video(still_png: Path, tmp_path: Path):
    out = media.still_to_video(still_png, tmp_path / "s.mp4", duration_s=1.2, target=SMALL)
    assert _layout(out) == STANDARD
    assert media.duration(out) == pytest.approx(1.2, abs=0.05)


def test_merge_compatible_clips_is_a_stream_copy(clip_1s: Path, clip_2s: Path, tmp_path: Path):
    result = media.merge([clip_1s, clip_2s, clip_1s], tmp_path / "m.mp4")
    assert result.stream_copied
    assert _layout(result.path) == STANDARD
    assert media.duration(result.path) == pytest.approx(4.0, abs=0.1)


def test_merge_mismatched_clips_are_normalised(
    clip_1s: Path, clip_other: Path, clip_2s: Path, tmp_path: Path
):
    result = media.merge([clip_1s, clip_other, clip_2s], tmp_path / "m.mp4")
    assert not result.stream_copied
    assert _layout(result.path) == STANDARD  # the first clip's size and fps
    assert media.duration(result.path) == pytest.approx(4.5, abs=0.1)
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


def test_merge_to_an_explicit_target(clip_1s: Path, clip_2s: Path, tmp_path: Path):
    target = VideoTarget(96, 54, 30)
    result = media.merge([clip_1s, clip_2s], tmp_path / "m.mp4", target=target)
    assert not result.stream_copied
    info = media.probe(result.path)
    assert (info.width, info.height, info.fps) == (96, 54, 30.0)


def test_merge_crossfade_shortens_by_the_overlaps(
    clip_1s: Path, clip_2s: Path, clip_other: Path, tmp_path: Path
):
    result = media.merge(
        [clip_2s, clip_other, clip_1s], tmp_path / "x.mp4", transition="crossfade",
        transition_s=0.25,
    )  # fmt: skip
    assert not result.stream_copied
    assert _layout(result.path) == STANDARD
    assert media.duration(result.path) == pytest.approx(2 + 1.5 + 1 - 2 * 0.25, abs=0.1)


@pytest.mark.parametrize("mode", ["replace", "mix", "duck"])
def test_mix_audio_modes_last_as_long_as_the_video(
    mode: str, clip_2s: Path, music_3s: Path, music_half: Path, tmp_path: Path
):
    out = media.mix_audio(
        clip_2s, [music_3s, music_half], tmp_path / f"{mode}.mp4", mode=mode,
        audio_volume=0.8, normalize_loudness=(mode == "duck"),
    )  # fmt: skip
    assert _layout(out) == STANDARD
    assert media.duration(out) == pytest.approx(2.0, abs=0.06)
    assert media.mean_volume_db(out) > -40


def test_mix_audio_pads_short_audio_and_adds_audio_to_a_silent_video(
    clip_other: Path, music_half: Path, tmp_path: Path
):
    out = media.mix_audio(clip_other, [music_half], tmp_path / "m.mp4", mode="duck")
    info = media.probe(out)
    assert info.has_audio and info.duration_s == pytest.approx(1.5, abs=0.06)
    assert (info.width, info.height) == (120, 90)  # video copied, untouched


def test_mix_audio_takes_one_to_four_audios(clip_1s: Path, music_half: Path, tmp_path: Path):
    with pytest.raises(ValueError):
        media.mix_audio(clip_1s, [], tmp_path / "m.mp4")
    with pytest.raises(ValueError):
        media.mix_audio(clip_1s, [music_half] * 5, tmp_path / "m.mp4")


def test_mix_audio_rejects_an_audio_input_without_sound(
    clip_1s: Path, clip_other: Path, tmp_path: Path
):
    with pytest.raises(MediaError) as caught:
        media.mix_audio(clip_1s, [clip_other], tmp_path / "m.mp4")
    assert str(clip_other) in str(caught.value)


def test_compose_image_overlay(clip_2s: Path, still_png: Path, tmp_path: Path):
    out = media.compose(
        clip_2s, still_png, tmp_path / "c.mp4", position="top-left", scale=0.5, margin_px=0,
        start_s=1.0,
    )  # fmt: skip
    assert _layout(out) == STANDARD
    assert media.duration(out) == pytest.approx(2.0, abs=0.06)
    # testsrc2's still differs from the moving background only once the overlay is shown.
    before, after = _pixel(out, 10, 10, at_s=0.4), _pixel(out, 10, 10, at_s=1.5)
    assert before != after


def test_compose_video_overlay_of_another_size(clip_2s: Path, clip_other: Path, tmp_path: Path):
    out = media.compose(clip_2s, clip_other, tmp_path / "c.mp4", position="center", scale=0.9)
    assert _layout(out) == STANDARD
    assert media.duration(out) == pytest.approx(2.0, abs=0.06)


def test_render_code_small(tmp_path: Path):
    code = "def hello(name):\n\treturn f'hi {name}!'  # 100% \\o/ é\n"
    out = media.render_code(
        code, tmp_path / "code.mp4", language="python", chars_per_second=50, hold_s=1,
        size=(320, 180), fps=25,
    )  # fmt: skip
    info = media.probe(out)
    assert (info.width, info.height, info.fps, info.pix_fmt) == (320, 180, 25.0, "yuv420p")
    assert info.has_audio
    keystrokes = len(screencast._clean_code(code))
    assert info.duration_s == pytest.approx(keystrokes / 50 + 1, abs=0.15)


def test_render_code_1080p_is_sharp_sized(tmp_path: Path):
    out = media.render_code(
        "print('hello')\n", tmp_path / "code.mp4", language="python", hold_s=0.2
    )
    info = media.probe(out)
    assert (info.width, info.height, info.fps) == (1920, 1080, 30.0)


def test_render_code_unknown_language(tmp_path: Path):
    with pytest.raises(ValueError, match="language"):
        media.render_code("x", tmp_path / "c.mp4", language="no-such-language")


def test_generated_clips_merge_by_copy_with_each_other(still_png: Path, tmp_path: Path):
    """Everything vidpipe makes shares one encoding, so it joins without re-encoding."""
    target = VideoTarget(320, 180, 25)
    code = media.render_code("x = 1\n", tmp_path / "a.mp4", language="python",
                             size=(320, 180), fps=25, hold_s=0.3)  # fmt: skip
    still = media.still_to_video(still_png, tmp_path / "b.mp4", duration_s=0.5, target=target)
    result = media.merge([code, still], tmp_path / "m.mp4")
    assert result.stream_copied


def test_runner_failure_leaves_nothing_behind(tmp_path: Path):
    out = tmp_path / "out.mp4"
    args = ["-f", "lavfi", "-i", "nosuchfilter", str(out)]
    with pytest.raises(MediaError) as caught:
        media.run_ffmpeg(args, operation="broken", output=out)
    assert caught.value.operation == "broken"
    assert caught.value.stderr_tail
    assert list(tmp_path.iterdir()) == []


def test_runner_timeout(tmp_path: Path):
    out = tmp_path / "out.mp4"
    args = ["-re", "-f", "lavfi", "-i", "anullsrc", "-t", "30", str(out)]
    with pytest.raises(MediaError, match="timed out"):
        media.run_ffmpeg(args, operation="slow", output=out, timeout_s=0.5)
    assert list(tmp_path.iterdir()) == []


def test_runner_replaces_output_atomically(clip_1s: Path, tmp_path: Path):
    out = tmp_path / "copy.mp4"
    out.write_bytes(b"old")
    media.run_ffmpeg(["-i", str(clip_1s), "-c", "copy", str(out)], operation="copy", output=out)
    assert media.duration(out) == pytest.approx(1.0, abs=0.05)


def test_runner_is_safe_from_many_threads(clip_1s: Path, tmp_path: Path):
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            out = tmp_path / f"c{i}.mp4"
            media.run_ffmpeg(["-i", str(clip_1s), "-c", "copy", str(out)], operation="copy",
                             output=out)  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(list(tmp_path.glob("c*.mp4"))) == 8
