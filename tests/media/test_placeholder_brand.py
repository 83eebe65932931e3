"""Brand colours in the placeholder pictures: the primary colour as the cards' accent,
the secondary as their background; without a brand, the colours picked from the inputs,
byte for byte as before."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from vidpipe import media
from vidpipe.media import VideoTarget
from vidpipe.providers import placeholder

TARGET = VideoTarget(320, 180, 25)
PRIMARY, SECONDARY = "#12FE34", "#2040C0"
PRIMARY_RGB, SECONDARY_RGB = (0x12, 0xFE, 0x34), (0x20, 0x40, 0xC0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(picture: Image.Image, colour: tuple[int, int, int]) -> int:
    raw = picture.convert("RGB").tobytes()
    return sum(1 for i in range(0, len(raw), 3) if tuple(raw[i : i + 3]) == colour)


def _frame(path: Path) -> Image.Image:
    raw = subprocess.run(
        [media.ffmpeg_binary(), "-loglevel", "error", "-ss", "0.5", "-i", str(path),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return Image.frombytes("RGB", (TARGET.width, TARGET.height), raw)


def test_brand_colours_show_in_a_placeholder_image(tmp_path: Path):
    out = tmp_path / "branded.png"
    placeholder.image("a launch", out, seed=7, size_hint=320, colors=(PRIMARY, SECONDARY))
    picture = Image.open(out)
    assert _count(picture, PRIMARY_RGB) > 100  # the panel's outline and the title
    assert picture.convert("RGB").getpixel((0, 0)) == SECONDARY_RGB  # the gradient's top
    plain = tmp_path / "plain.png"
    placeholder.image("a launch", plain, seed=7, size_hint=320)
    assert _count(Image.open(plain), PRIMARY_RGB) == 0


def test_only_one_brand_colour_keeps_the_other_from_the_inputs(tmp_path: Path):
    placeholder.image("a launch", tmp_path / "p.png", seed=7, size_hint=320, colors=(PRIMARY, None))
    placeholder.image("a launch", tmp_path / "n.png", seed=7, size_hint=320)
    primary_only, plain = Image.open(tmp_path / "p.png"), Image.open(tmp_path / "n.png")
    assert primary_only.getpixel((0, 0)) == plain.getpixel((0, 0))
    assert _count(primary_only, PRIMARY_RGB) > 100


def test_without_a_brand_the_bytes_are_unchanged(tmp_path: Path):
    placeholder.image("a launch", tmp_path / "a.png", seed=7, size_hint=320)
    placeholder.image("a launch", tmp_path / "b.png", seed=7, size_hint=320, colors=None)
    placeholder.image("a launch", tmp_path / "c.png", seed=7, size_hint=320, colors=(None, None))
    assert _sha(tmp_path / "a.png") == _sha(tmp_path / "b.png") == _sha(tmp_path / "c.png")
    # The colours are still the ones picked from the prompt and seed.
    top = Image.open(tmp_path / "a.png").getpixel((0, 0))
    assert top == placeholder._color("top", "a launch", 7)


@pytest.mark.parametrize("kind", ["animation", "talking head"])
def test_brand_colours_show_in_placeholder_clips(tmp_path: Path, kind: str):
    out = tmp_path / "branded.mp4"
    if kind == "animation":
        placeholder.animation(
            "a launch", out, duration_s=1, target=TARGET, seed=7, colors=(PRIMARY, SECONDARY)
        )
    else:
        voice = media.tone(tmp_path / "voice.m4a", duration_s=1, frequency=220)
        placeholder.talking_head(
            voice, out, avatar_id="ava", target=TARGET, text="hi", colors=(PRIMARY, SECONDARY)
        )
    frame = _frame(out)
    raw = frame.tobytes()  # the accent through the codec: strongly green pixels
    green = sum(1 for i in range(0, len(raw), 3) if raw[i + 1] - max(raw[i], raw[i + 2]) > 100)
    assert green > 30
    corner = frame.getpixel((4, 4))  # the background: the secondary colour or its shades
    assert corner[2] > corner[0] and corner[2] > corner[1]
