"""Captions on real media: the `captions` executor and `media.burn_subtitles` with the
imageio-ffmpeg FFmpeg (libass, FriBidi, HarfBuzz) on small clips (320x180, 10 fps, 3 s
of one flat colour, so any pixel that changes is a caption's).

Frames are decoded and compared with the uncaptioned clip: pixels change in the caption
area exactly while a cue is on screen; the highlighted word moves as the words are said;
Arabic is drawn joined and right to left; odd paths reach the filter intact.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image, ImageChops

from tasks import captions as captions_task
from vidpipe import captions, media
from vidpipe.captions import Alignment, Cue, Word, glyphs
from vidpipe.catalogue import CaptionsConfig
from vidpipe.errors import SpecError
from vidpipe.media import VideoTarget
from vidpipe.refs import MediaRef
from vidpipe.spec.models import Brand, BrandCaptions

TARGET = VideoTarget(320, 180, 10)
SECONDS = 3.0
BACKGROUND = (48, 96, 160)
#: The speech the tests caption: two sentences with a pause long enough to end a cue.
SPOKEN = (
    Word("Hello", 0.2, 0.5),
    Word("there,", 0.55, 0.9),
    Word("friends.", 0.95, 1.3),
    Word("Bye", 2.4, 2.6),
    Word("now.", 2.65, 2.85),
)


# --------------------------------------------------------------------------- media


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("captions")


@pytest.fixture(scope="module")
def plain_clip(media_dir: Path) -> Path:
    """3 s of one flat colour at 320x180, 10 fps, with a tone (AAC)."""
    out = media_dir / "plain.mp4"
    colour = "0x{:02x}{:02x}{:02x}".format(*BACKGROUND)
    media.run_ffmpeg(
        ["-f", "lavfi", "-i", f"color=c={colour}:s=320x180:r=10:d={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=220:duration={SECONDS}",
         *_encode(), "-shortest", str(out)],
        operation="fixture", output=out,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def voice(media_dir: Path) -> tuple[Path, Path]:
    """A voiceover as the voiceover node leaves it: audio and its word timing (JSON)."""
    audio = media.tone(media_dir / "voice.m4a", duration_s=SECONDS, frequency=180)
    timing = media_dir / "voice.alignment.json"
    timing.write_text(Alignment(SPOKEN, source="espeak-ng").to_json(), encoding="utf-8")
    return audio, timing


def _encode() -> list[str]:
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-c:a", "aac"]  # fmt: skip


def _ref(path: Path, kind: str, **extra) -> MediaRef:
    duration = media.probe(path).duration_s if kind in ("audio", "video") else None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return MediaRef(
        uri=path.as_uri(),
        kind=kind,
        sha256=digest,
        bytes=path.stat().st_size,
        duration_s=duration,
        **extra,
    )


@dataclass
class _Context:
    """The part of `tasks.runtime.ExecContext` the captions executor uses."""

    workdir: Path
    target: VideoTarget = TARGET

    def path(self, ref: MediaRef) -> Path:
        return Path(unquote(urlparse(ref.uri).path))

    def text(self, ref: MediaRef) -> str:
        return self.path(ref).read_text(encoding="utf-8")

    def out(self, suffix: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir / f"subs{suffix}"


def _node(brand: Brand | None = None, **config) -> SimpleNamespace:
    return SimpleNamespace(id="subs", type="captions", config=CaptionsConfig(**config), brand=brand)


def _run(workdir: Path, inputs: dict[str, list[MediaRef]], brand=None, **config):
    return captions_task.execute(_node(brand, **config), inputs, _Context(workdir))


def frames(path: Path) -> list[Image.Image]:
    """Every frame of a 320x180 clip, decoded to RGB."""
    raw = subprocess.run(
        [media.ffmpeg_binary(), "-v", "error", "-i", str(path), "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    size = TARGET.width * TARGET.height * 3
    return [
        Image.frombytes("RGB", (TARGET.width, TARGET.height), raw[i : i + size])
        for i in range(0, len(raw), size)
    ]


def changed(a: Image.Image, b: Image.Image, threshold: int = 40) -> tuple | None:
    """The box of pixels that differ by more than `threshold` (None: none do)."""
    diff = ImageChops.difference(a, b).convert("L")
    return diff.point(lambda v: 255 if v > threshold else 0).getbbox()


def coloured(frame: Image.Image, rgb: tuple[int, int, int], tolerance: int = 60):
    """The box of pixels near `rgb` (None: none are)."""
    mask = Image.new("L", frame.size)
    mask.putdata(
        [255 if sum(abs(c - w) for c, w in zip(p, rgb, strict=True)) < tolerance else 0
         for p in frame.get_flattened_data()]
    )  # fmt: skip
    return mask.getbbox()


# --------------------------------------------------------------------------- the node


@pytest.fixture(scope="module")
def voiced(media_dir: Path, plain_clip: Path, voice: tuple[Path, Path]):
    """The executor run once over the clip with the voiceover's timing."""
    audio, timing = voice
    audio_ref = _ref(audio, "audio", sidecars={"alignment": _ref(timing, "text")})
    inputs = {"video": [_ref(plain_clip, "video")], "audio": [audio_ref]}
    return _run(media_dir / "voiced", inputs), audio_ref


def test_the_burned_video_keeps_the_clip_size_duration_and_sound(voiced, plain_clip: Path):
    output, _ = voiced
    before, after = media.probe(plain_clip), media.probe(output.path)
    assert output.kind == "video"
    assert (after.width, after.height, after.fps) == (before.width, before.height, before.fps)
    assert after.duration_s == pytest.approx(before.duration_s, abs=0.05)
    assert (after.has_audio, after.audio_codec) == (True, before.audio_codec)


def test_the_sidecars_parse_and_their_cues_lie_within_the_audio(voiced):
    output, audio_ref = voiced
    assert set(output.sidecars) == {"vtt", "srt"}
    assert output.sidecars["vtt"].suffix == ".vtt" and output.sidecars["srt"].suffix == ".srt"
    vtt = captions.parse_vtt(output.sidecars["vtt"].read_text(encoding="utf-8"))
    srt = captions.parse_srt(output.sidecars["srt"].read_text(encoding="utf-8"))
    assert [(c.start_s, c.end_s, c.lines) for c in vtt] == [
        (c.start_s, c.end_s, c.lines) for c in srt
    ]
    assert [c.lines for c in vtt] == [("Hello there, friends.",), ("Bye now.",)]
    assert vtt[0].start_s == 0.2 and vtt[0].end_s == pytest.approx(0.2 + 21 / 17, abs=1e-3)
    assert vtt[1].start_s == 2.4 and vtt[1].end_s == SECONDS  # 1 s at least, to the end
    for cue in vtt:
        assert 0 <= cue.start_s < cue.end_s <= audio_ref.duration_s


def test_pixels_change_in_the_caption_area_only_while_a_cue_is_shown(voiced, plain_clip: Path):
    output, _ = voiced
    cues = captions.parse_vtt(output.sidecars["vtt"].read_text(encoding="utf-8"))
    before, after = frames(plain_clip), frames(output.path)
    assert len(before) == len(after) == 30
    shown = hidden = 0
    for index, (a, b) in enumerate(zip(before, after, strict=True)):
        t = index / TARGET.fps
        if any(abs(t - edge) < 0.06 for c in cues for edge in (c.start_s, c.end_s)):
            continue  # a frame at a cue's edge could go either way
        box = changed(a, b)
        if any(c.start_s <= t < c.end_s for c in cues):
            shown += 1
            assert box is not None, f"no caption at {t:.1f} s"
            assert box[1] >= TARGET.height // 2, f"caption outside the bottom half: {box}"
        else:
            hidden += 1
            assert box is None, f"pixels changed at {t:.1f} s with no cue: {box}"
    assert shown >= 10 and hidden >= 3


def test_word_highlight_moves_with_the_speech(media_dir: Path, plain_clip: Path, voice):
    audio, timing = voice
    audio_ref = _ref(audio, "audio", sidecars={"alignment": _ref(timing, "text")})
    inputs = {"video": [_ref(plain_clip, "video")], "audio": [audio_ref]}
    output = _run(media_dir / "highlight", inputs, highlight="word", size=10)
    video = frames(output.path)
    yellow, white = (255, 212, 0), (255, 255, 255)
    hello, there = video[4], video[7]  # 0.4 s: "Hello" is said; 0.7 s: "there,"
    first, second = coloured(hello, yellow), coloured(there, yellow)
    assert first is not None and second is not None
    assert second[0] > first[2], (first, second)  # the highlight moved right, past "Hello"
    assert coloured(there, white) is not None  # the other words stay white
    said = video[14]  # 1.4 s: all said, the cue shown plain until it ends (1.435 s)
    assert coloured(said, yellow) is None and coloured(said, white) is not None


def test_unset_colours_come_from_the_brand_kit(media_dir: Path, plain_clip: Path, voice):
    audio, timing = voice
    audio_ref = _ref(audio, "audio", sidecars={"alignment": _ref(timing, "text")})
    inputs = {"video": [_ref(plain_clip, "video")], "audio": [audio_ref]}
    brand = Brand(captions=BrandCaptions(color="#00FF00", highlight_color="#FF00FF"))
    output = _run(media_dir / "brand", inputs, brand, outline_color="#FF0000", size=10)
    style = next(
        line
        for line in output.path.with_suffix(".ass").read_text("utf-8").splitlines()
        if line.startswith("Style:")
    )
    assert style.split(",")[3:6] == ["&H0000FF00", "&H0000FF00", "&H000000FF"]
    green = [p for p in frames(output.path)[5].get_flattened_data() if p[1] - max(p[0], p[2]) > 80]
    assert len(green) > 50  # the brand's green text (its red outline bleeds into it a little)


def test_arabic_is_drawn_joined_and_right_to_left(media_dir: Path, plain_clip: Path):
    long_word, short_word = "ممممممممممم", "ب"
    seen = "سسسسس"
    isolated = "\u200c".join(seen)  # the same letters kept apart (zero-width non-joiner)
    cues = [
        Cue(0.0, 0.8, (f"{long_word} {short_word}",)),
        Cue(0.8, 1.6, (seen,)),
        Cue(1.6, SECONDS, (isolated,)),
    ]
    style = captions.caption_style(320, 180, font_family="DejaVu Sans", size_percent=12)
    ass = media_dir / "arabic.ass"
    ass.write_text(captions.ass_document(cues, width=320, height=180, style=style), "utf-8")
    out = media.burn_subtitles(plain_clip, ass, media_dir / "arabic.mp4", target=TARGET)
    before, after = frames(plain_clip), frames(out)
    order, joined, apart = (changed(before[i], after[i], 60) for i in (4, 12, 22))
    assert order is not None and joined is not None and apart is not None
    # Right to left: the first word (the long one) is on the right of the line.
    ink = ImageChops.difference(before[4], after[4]).convert("L").point(lambda v: v > 60)
    columns = [any(ink.getpixel((x, y)) for y in range(order[1], order[3])) for x in range(320)]
    gaps = [x for x in range(order[0], order[2]) if not columns[x]]
    middle = (max(gaps) + min(gaps)) / 2
    assert order[2] - middle > middle - order[0], "the long first word is not on the right"
    # Joined: the connected letters take less room than the same letters kept apart.
    assert joined[2] - joined[0] < 0.8 * (apart[2] - apart[0]), (joined, apart)


def test_an_arabic_script_is_captioned(media_dir: Path, plain_clip: Path):
    script = media_dir / "arabic.txt"
    script.write_text("مرحبا بالعالم، كيف حالك؟", encoding="utf-8")
    inputs = {"video": [_ref(plain_clip, "video")], "script": [_ref(script, "text")]}
    output = _run(media_dir / "arabic-script", inputs)
    middle = len(frames(plain_clip)) // 2
    assert changed(frames(plain_clip)[middle], frames(output.path)[middle]) is not None
    [cue] = captions.parse_srt(output.sidecars["srt"].read_text(encoding="utf-8"))
    assert cue.lines == ("مرحبا بالعالم، كيف حالك؟",) and cue.end_s <= SECONDS


def test_a_path_with_a_space_and_a_colon_reaches_the_filter(tmp_path: Path, plain_clip: Path):
    folder = tmp_path / "my videos: final, 'v2' [x];\\"
    folder.mkdir()
    cues = [Cue(0.0, SECONDS, ("Odd paths work",))]
    style = captions.caption_style(320, 180, font_family="DejaVu Sans", size_percent=8)
    ass = folder / "sub titles: en.ass"
    ass.write_text(captions.ass_document(cues, width=320, height=180, style=style), "utf-8")
    out = media.burn_subtitles(plain_clip, ass, folder / "out: 1.mp4", target=TARGET)
    assert changed(frames(plain_clip)[10], frames(out)[10]) is not None
    assert not list(folder.glob(".*")), "temporary files left behind"


def test_audio_without_word_timing_is_refused_naming_the_node(tmp_path: Path, plain_clip, voice):
    audio, _ = voice
    inputs = {"video": [_ref(plain_clip, "video")], "audio": [_ref(audio, "audio")]}
    with pytest.raises(SpecError, match="captions 'subs': .* wire a generate-voiceover node"):
        _run(tmp_path, inputs)


def test_text_the_font_cannot_draw_is_refused_before_anything_is_burned(
    tmp_path: Path, plain_clip: Path
):
    script = tmp_path / "ja.txt"
    script.write_text("日本語のテキスト", encoding="utf-8")
    inputs = {"video": [_ref(plain_clip, "video")], "script": [_ref(script, "text")]}
    with pytest.raises(SpecError, match="the font DejaVuSans cannot draw 日, 本, 語"):
        _run(tmp_path / "work", inputs)
    assert not (tmp_path / "work").exists()
    assert glyphs.missing_glyphs("日本語", "DejaVuSans") == ["日", "本", "語"]
