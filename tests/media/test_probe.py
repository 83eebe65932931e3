"""probe(): reading FFmpeg's own summary, on real files and on captured text."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpipe import media
from vidpipe.errors import MediaError

MKV_51_WITH_COVER = """\
Input #0, matroska,webm, from 'movie.mkv':
  Metadata:
    ENCODER         : Lavf60.3.100
  Duration: 01:02:03.50, start: 0.000000, bitrate: 2500 kb/s
  Stream #0:0: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 600x600 \
[SAR 1:1 DAR 1:1], 90k tbr, 90k tbn (attached pic)
  Stream #0:1(eng): Video: h264 (High), yuv420p(tv, bt709, progressive), 1920x1080 \
[SAR 1:1 DAR 16:9], 29.97 fps, 29.97 tbr, 1k tbn (default)
  Stream #0:2(eng): Audio: ac3, 48000 Hz, 5.1(side), fltp, 384 kb/s (default)
Input #1, lavfi, from 'anullsrc':
  Stream #1:0: Audio: pcm_u8, 44100 Hz, mono, u8, 352 kb/s
"""


def test_parse_captured_text_skips_cover_art_and_reads_51():
    info = media.parse_probe_output(MKV_51_WITH_COVER, "movie.mkv")
    assert info.format == "matroska,webm"
    assert info.duration_s == pytest.approx(3723.5)
    assert (info.video_codec, info.video_profile) == ("h264", "High")
    assert (info.width, info.height, info.fps, info.pix_fmt) == (1920, 1080, 29.97, "yuv420p")
    assert (info.audio_codec, info.sample_rate, info.channels) == ("ac3", 48000, 6)


def test_parse_text_without_streams_is_a_media_error():
    with pytest.raises(MediaError, match="x.bin"):
        media.parse_probe_output("x.bin: Invalid data found when processing input", "x.bin")


def test_probe_video(clip_1s: Path):
    info = media.probe(clip_1s)
    assert info.has_video and info.has_audio and not info.is_image
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    assert (info.video_codec, info.width, info.height, info.fps) == ("h264", 160, 90, 25.0)
    assert (info.pix_fmt, info.audio_codec, info.sample_rate, info.channels) == (
        "yuv420p",
        "aac",
        48000,
        2,
    )


def test_probe_video_without_audio(clip_other: Path):
    info = media.probe(clip_other)
    assert info.has_video and not info.has_audio
    assert (info.width, info.height, info.fps) == (120, 90, 30.0)
    assert info.audio_codec is None and info.channels is None


def test_probe_audio(music_3s: Path):
    info = media.probe(music_3s)
    assert info.has_audio and not info.has_video
    assert info.duration_s == pytest.approx(3.0, abs=0.05)
    assert media.duration(music_3s) == pytest.approx(3.0, abs=0.05)
    assert media.has_audio(music_3s)


def test_probe_image(still_png: Path):
    info = media.probe(still_png)
    assert info.is_image and info.duration_s is None
    assert (info.width, info.height) == (64, 48)


@pytest.mark.parametrize("fixture", ["corrupt_file", "empty_file"])
def test_bad_files_raise_media_error_naming_the_file(fixture: str, request: pytest.FixtureRequest):
    path: Path = request.getfixturevalue(fixture)
    with pytest.raises(MediaError) as caught:
        media.probe(path)
    assert str(path) in str(caught.value)
    assert caught.value.path == str(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(MediaError, match="not found"):
        media.probe(tmp_path / "nope.mp4")


def test_operations_name_the_bad_input(clip_1s: Path, corrupt_file: Path, tmp_path: Path):
    with pytest.raises(MediaError) as caught:
        media.merge([clip_1s, corrupt_file], tmp_path / "out.mp4")
    assert caught.value.operation == "merge"
    assert str(corrupt_file) in str(caught.value)
    assert not (tmp_path / "out.mp4").exists()


def test_mean_volume(music_3s: Path, clip_other: Path):
    assert media.mean_volume_db(music_3s) > -40
    with pytest.raises(MediaError, match="no audio"):
        media.mean_volume_db(clip_other)
