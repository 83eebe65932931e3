"""Tiny real media for the media tests, made once per session with our own generators."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vidpipe import media
from vidpipe.media import VideoTarget

SMALL = VideoTarget(160, 90, 25)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_1s(media_dir: Path) -> Path:
    """1 s, 160x90, 25 fps, H.264 + AAC stereo."""
    return media.synthetic_clip(media_dir / "clip_1s.mp4", duration_s=1, target=SMALL)


@pytest.fixture(scope="session")
def clip_2s(media_dir: Path) -> Path:
    """2 s, same format as clip_1s: the two concatenate by stream copy."""
    return media.synthetic_clip(
        media_dir / "clip_2s.mp4", duration_s=2, target=SMALL, frequency=660
    )


@pytest.fixture(scope="session")
def clip_other(media_dir: Path) -> Path:
    """1.5 s, 4:3 at 120x90, 30 fps, and no audio at all: mismatched on purpose."""
    return media.synthetic_clip(
        media_dir / "clip_other.mp4",
        duration_s=1.5,
        target=VideoTarget(120, 90, 30),
        audio=False,
    )


@pytest.fixture(scope="session")
def still_png(media_dir: Path) -> Path:
    out = media_dir / "still.png"
    subprocess.run(
        [
            media.ffmpeg_binary(),
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48",
            "-frames:v",
            "1",
            str(out),
        ],
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def music_3s(media_dir: Path) -> Path:
    return media.tone(media_dir / "music.m4a", duration_s=3, frequency=330)


@pytest.fixture(scope="session")
def music_half(media_dir: Path) -> Path:
    return media.tone(media_dir / "short.m4a", duration_s=0.5, frequency=550)


@pytest.fixture()
def corrupt_file(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"this is not a video file at all" * 10)
    return path


@pytest.fixture()
def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.touch()
    return path
