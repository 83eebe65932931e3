"""reframe on real media: exact sizes and frame rates, durations and audio kept, and what
each mode does to the picture (crop loses the edges, pad adds black bars, blur fills them
with the picture)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from vidpipe import media
from vidpipe.errors import MediaError
from vidpipe.media import VideoTarget

WIDE = (320, 180)
TALL = (180, 320)
TO_TALL = VideoTarget(180, 320, 30)
TO_WIDE = VideoTarget(320, 180, 30)
TO_SQUARE = VideoTarget(180, 180, 30)
RED, BLUE = (255, 0, 0), (0, 0, 255)
EDGE = 24  # the coloured bands' thickness in the sources


def _picture(size: tuple[int, int], out: Path) -> Path:
    """Red and blue bands on the two long-axis edges (left/right when wide, top/bottom when
    tall) around a green-grey gradient that has no strong red or blue anywhere."""
    width, height = size
    picture = Image.new("RGB", size)
    pixels = picture.load()
    wide = width >= height
    for x in range(width):
        for y in range(height):
            along = x if wide else y
            length = width if wide else height
            if along < EDGE:
                pixels[x, y] = RED
            elif along >= length - EDGE:
                pixels[x, y] = BLUE
            else:
                pixels[x, y] = (60, 60 + 150 * y // height, 40 + 80 * x // width)
    picture.save(out)
    return out


def _clip(picture: Path, out: Path, *, seconds: float = 1.0, audio: bool = True) -> Path:
    """A clip of `picture` at 25 fps, with a tone when `audio`."""
    sound = ["-f", "lavfi", "-t", str(seconds), "-i", "sine=frequency=440"] if audio else []
    subprocess.run(
        [media.ffmpeg_binary(), "-loglevel", "error", "-y", "-loop", "1", "-framerate", "25",
         "-t", str(seconds), "-i", str(picture), *sound, "-c:v", "libx264", "-preset",
         "ultrafast", "-pix_fmt", "yuv420p", *(["-c:a", "aac"] if audio else []),
         "-t", str(seconds), str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reframe sources")  # a space in every path
    wide_png = _picture(WIDE, folder / "wide picture.png")
    tall_png = _picture(TALL, folder / "tall picture.png")
    return {
        "wide image": wide_png,
        "tall image": tall_png,
        "wide video": _clip(wide_png, folder / "wide clip.mp4"),
        "tall video": _clip(tall_png, folder / "tall clip.mp4", audio=False),
    }


def _frame(path: Path, at_s: float = 0.5) -> Image.Image:
    """One frame of a video (or the picture of an image) as RGB, read through FFmpeg."""
    info = media.probe(path)
    seek = [] if info.is_image else ["-ss", str(at_s)]
    raw = subprocess.run(
        [media.ffmpeg_binary(), "-loglevel", "error", *seek, "-i", str(path),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return Image.frombytes("RGB", (info.width, info.height), raw)


def _region(frame: Image.Image, box: tuple[int, int, int, int] | None = None) -> list[tuple]:
    """The RGB pixels of `box` (left, top, right, bottom), or of the whole frame."""
    raw = (frame.crop(box) if box else frame).tobytes()
    return [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]


def _count(pixels, colour: tuple[int, int, int]) -> int:
    """Pixels close to `colour` (codecs move values a little)."""
    return sum(1 for p in pixels if all(abs(a - b) < 60 for a, b in zip(p, colour, strict=True)))


def _spread(pixels) -> int:
    """How far apart the region's brightest and darkest pixels are."""
    sums = [sum(p) for p in pixels]
    return max(sums) - min(sums)


@pytest.mark.parametrize("mode", ["crop", "pad", "blur"])
@pytest.mark.parametrize("kind", ["image", "video"])
def test_the_output_has_exactly_the_target_shape(
    sources: dict[str, Path], tmp_path: Path, mode: str, kind: str
):
    out = tmp_path / f"{mode} out.{'png' if kind == 'image' else 'mp4'}"
    media.reframe(sources[f"wide {kind}"], out, target=TO_TALL, mode=mode)
    info = media.probe(out)
    assert (info.width, info.height) == (180, 320)
    if kind == "image":
        assert info.is_image
    else:
        assert (info.video_codec, info.pix_fmt, info.fps) == ("h264", "yuv420p", 30.0)
        assert info.duration_s == pytest.approx(1.0, abs=0.1)
        assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)
        assert media.mean_volume_db(out) > -40
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


@pytest.mark.parametrize("kind", ["image", "video"])
def test_crop_keeps_the_centre_and_loses_the_edges(
    sources: dict[str, Path], tmp_path: Path, kind: str
):
    suffix = "png" if kind == "image" else "mp4"
    to_tall = media.reframe(sources[f"wide {kind}"], tmp_path / f"t.{suffix}", target=TO_TALL,
                            mode="crop")  # fmt: skip
    to_wide = media.reframe(sources[f"tall {kind}"], tmp_path / f"w.{suffix}", target=TO_WIDE,
                            mode="crop")  # fmt: skip
    for out in (to_tall, to_wide):
        pixels = _region(_frame(out))
        assert _count(pixels, RED) == 0 and _count(pixels, BLUE) == 0


def test_pad_shows_the_whole_picture_between_black_bars(sources: dict[str, Path], tmp_path: Path):
    out = media.reframe(sources["wide video"], tmp_path / "p.mp4", target=TO_TALL, mode="pad")
    frame = _frame(out)
    # 320x180 fitted into 180 wide is 180x~102, centred: bars above and below.
    for bar in ((0, 0, 180, 100), (0, 222, 180, 320)):
        assert max(max(p) for p in _region(frame, bar)) < 30
    middle = _region(frame, (0, 120, 180, 200))
    assert _count(middle, RED) > 0 and _count(middle, BLUE) > 0  # both edges kept


def test_blur_fills_the_bars_with_the_picture(sources: dict[str, Path], tmp_path: Path):
    out = media.reframe(sources["wide image"], tmp_path / "b.png", target=TO_TALL, mode="blur")
    frame = _frame(out)
    for bar in ((0, 0, 180, 100), (0, 222, 180, 320)):
        pixels = _region(frame, bar)
        assert sum(map(sum, pixels)) / len(pixels) > 60  # not black
        assert _spread(pixels) > 20  # not one flat colour
    middle = _region(frame, (0, 120, 180, 200))
    assert _count(middle, RED) > 0 and _count(middle, BLUE) > 0  # the sharp picture


@pytest.mark.parametrize("mode", ["pad", "blur"])
def test_tall_to_square_keeps_duration_and_has_no_audio_to_keep(
    sources: dict[str, Path], tmp_path: Path, mode: str
):
    out = media.reframe(sources["tall video"], tmp_path / "s.mp4", target=TO_SQUARE, mode=mode)
    info = media.probe(out)
    assert (info.width, info.height, info.fps) == (180, 180, 30.0)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert not info.has_audio
    left = _region(_frame(out), (0, 60, 30, 120))  # beside the ~100 px wide picture
    if mode == "pad":
        assert max(max(p) for p in left) < 30
    else:
        assert sum(map(sum, left)) / len(left) > 60


def test_kind_mismatches_and_unknown_modes_are_refused(sources: dict[str, Path], tmp_path: Path):
    with pytest.raises(MediaError, match="still image"):
        media.reframe(sources["wide image"], tmp_path / "x.mp4", target=TO_TALL)
    with pytest.raises(MediaError, match="is a video"):
        media.reframe(sources["wide video"], tmp_path / "x.png", target=TO_TALL)
    with pytest.raises(ValueError, match="unknown reframe mode"):
        media.reframe(sources["wide video"], tmp_path / "x.mp4", target=TO_TALL, mode="zoom")
    with pytest.raises(MediaError, match="cannot read input"):
        media.reframe(tmp_path / "missing.mp4", tmp_path / "x.mp4", target=TO_TALL)
