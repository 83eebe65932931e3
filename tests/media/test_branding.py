"""apply_brand on real media: the logo on the first and the last frame where it belongs,
intro and outro of any shape joined around the video, sound all along."""

from __future__ import annotations

import subprocess
from array import array
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from vidpipe import media
from vidpipe.media import VideoTarget

TARGET = VideoTarget(320, 180, 25)
MAGENTA = (255, 0, 255)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("brand kit")
    logo = Image.new("RGBA", (80, 40), (0, 0, 0, 0))  # transparent around a solid disc
    ImageDraw.Draw(logo).ellipse((0, 0, 79, 39), fill=(*MAGENTA, 255))
    logo.save(folder / "logo.png")
    return {
        "video": media.synthetic_clip(folder / "main.mp4", duration_s=1.5, target=TARGET),
        "intro": media.synthetic_clip(
            folder / "intro.mp4", duration_s=1, target=VideoTarget(160, 120, 30), audio=False
        ),
        "outro": media.synthetic_clip(
            folder / "outro clip.mp4",
            duration_s=1,
            target=VideoTarget(90, 160, 24),
            frequency=880,
        ),  # fmt: skip
        "logo": folder / "logo.png",
    }


def _frames(path: Path, *, last: bool) -> Image.Image:
    """The first or the last frame of a clip, as RGB."""
    info = media.probe(path)
    size = info.width * info.height * 3
    window = ["-sseof", "-0.3"] if last else []
    raw = subprocess.run(
        [media.ffmpeg_binary(), "-loglevel", "error", *window, "-i", str(path),
         *([] if last else ["-frames:v", "1"]), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return Image.frombytes("RGB", (info.width, info.height), raw[-size:])


def _samples(path: Path) -> array:
    """The soundtrack as 16-bit mono samples at 8 kHz (enough to tell sound from silence)."""
    raw = subprocess.run(
        [media.ffmpeg_binary(), "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
         "-ac", "1", "-ar", "8000", "-f", "s16le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return array("h", raw)


def _loud(samples: array, start_s: float, end_s: float) -> bool:
    part = samples[int(start_s * 8000) : int(end_s * 8000)]
    return max(abs(s) for s in part) > 1000


def _close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_logo_intro_and_outro(kit: dict[str, Path], tmp_path: Path):
    plain = media.apply_brand(
        kit["video"], tmp_path / "plain.mp4", target=TARGET, intro=kit["intro"],
        outro=kit["outro"],
    )  # fmt: skip
    branded = media.apply_brand(
        kit["video"], tmp_path / "branded.mp4", target=TARGET, logo=kit["logo"],
        intro=kit["intro"], outro=kit["outro"],
    )  # fmt: skip
    info = media.probe(branded)
    assert (info.width, info.height, info.fps, info.pix_fmt) == (320, 180, 25.0, "yuv420p")
    assert info.duration_s == pytest.approx(1 + 1.5 + 1, abs=0.1)
    # The logo is 0.12 x 320 = 38 px wide (20 high: even sizes), 24 px from the top and right edges.
    width, height, x, y = media.overlay_geometry((320, 180), (80, 40), position="top-right",
                                                 scale=0.12, margin_px=24)  # fmt: skip
    assert (width, height, x, y) == (38, 20, 258, 24)
    centre = (x + width // 2, y + height // 2)
    far = (160, 150)  # inside every clip's picture, away from the logo
    for last in (False, True):
        with_logo, without = _frames(branded, last=last), _frames(plain, last=last)
        assert _close(with_logo.getpixel(centre), MAGENTA)
        assert not _close(without.getpixel(centre), MAGENTA)
        assert _close(with_logo.getpixel(far), without.getpixel(far), tolerance=12)
    sound = _samples(branded)
    assert len(sound) / 8000 == pytest.approx(3.5, abs=0.1)  # audio all along
    assert not _loud(sound, 0.05, 0.95)  # the intro had none: silence
    assert _loud(sound, 1.1, 2.4) and _loud(sound, 2.6, 3.4)  # the video's, the outro's


@pytest.mark.parametrize("position", ["bottom-left", "center"])
def test_logo_only_keeps_the_video(kit: dict[str, Path], tmp_path: Path, position: str):
    out = media.apply_brand(
        kit["video"], tmp_path / "b.mp4", target=TARGET, logo=kit["logo"], position=position
    )
    info = media.probe(out)
    assert (info.width, info.height) == (320, 180)
    assert info.duration_s == pytest.approx(1.5, abs=0.1)
    width, height, x, y = media.overlay_geometry((320, 180), (80, 40), position=position,
                                                 scale=0.12, margin_px=24)  # fmt: skip
    for last in (False, True):
        pixel = _frames(out, last=last).getpixel((x + width // 2, y + height // 2))
        assert _close(pixel, MAGENTA)


@pytest.mark.parametrize(
    ("intro", "outro", "seconds"), [(True, False, 2.5), (False, True, 2.5), (False, False, 1.5)]
)
def test_intro_only_outro_only_or_neither(
    kit: dict[str, Path], tmp_path: Path, intro: bool, outro: bool, seconds: float
):
    out = media.apply_brand(
        kit["video"], tmp_path / "b.mp4", target=TARGET,
        intro=kit["intro"] if intro else None, outro=kit["outro"] if outro else None,
    )  # fmt: skip
    info = media.probe(out)
    assert (info.width, info.height, info.fps) == (320, 180, 25.0)
    assert info.duration_s == pytest.approx(seconds, abs=0.1)
    assert info.has_audio
    assert len(_samples(out)) / 8000 == pytest.approx(seconds, abs=0.1)


def test_the_same_silent_clip_as_intro_and_outro(kit: dict[str, Path], tmp_path: Path):
    out = media.apply_brand(
        kit["video"], tmp_path / "b.mp4", target=TARGET, intro=kit["intro"], outro=kit["intro"]
    )
    assert media.duration(out) == pytest.approx(3.5, abs=0.1)
    sound = _samples(out)
    assert _loud(sound, 1.1, 2.4) and not _loud(sound, 2.6, 3.4)
