"""Offline placeholder providers: real media of the right kind and shape, at no cost.

In ``mode: placeholder`` every generative node calls the function here for its
capability instead of the live service. Each one:

* is offline, fast and deterministic (same arguments, same bytes on the same FFmpeg
  build: fixed colours and seeds, ``+bitexact`` flags, a fixed x264 thread count);
* makes media a pipeline can carry on with: a voiceover of a synthetic voice reading the
  text (eSpeak NG, with each word's time), a talking head as long as its audio, an image
  at the requested aspect ratio, an animation of the requested duration with a silent
  track (so it merges by stream copy);
* shows its input (prompt, spoken text, avatar) on a card, rendered with Pillow and the
  bundled DejaVu fonts, so any text (quotes, colons, %, backslashes, non-ASCII) is safe;
* returns the :class:`~vidpipe.refs.Usage` the live provider would bill (characters,
  seconds, images), with ``stands_in_for`` naming it, so estimates and ledgers can be
  tested offline.

Voiceovers are AAC in an ``.m4a`` file (48 kHz mono), the format the rest of vidpipe
uses for audio; an ``.mp3`` or ``.wav`` `out` gets that codec instead.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from pathlib import Path

import ffmpeg
from PIL import Image, ImageDraw, ImageFont

from vidpipe import media
from vidpipe.captions.alignment import Alignment
from vidpipe.errors import MediaError
from vidpipe.media import VideoTarget, ff_number
from vidpipe.refs import Usage

__all__ = [
    "WORDS_PER_MINUTE",
    "voiceover",
    "voiceover_duration",
    "talking_head",
    "image",
    "image_size",
    "animation",
]

PROVIDER = "placeholder"
WORDS_PER_MINUTE = 150
#: The eSpeak speed at which it says prose at about WORDS_PER_MINUTE (its own rate is
#: nominal: at speed 1 it says some 190 words a minute).
ESPEAK_PACE = 0.78
# x264 output depends on its thread count; pin it so the bytes do not depend on the
# machine's cores.
DETERMINISTIC_OPTS: dict[str, object] = {**media.BITEXACT_OPTS, "threads": 2}


# --------------------------------------------------------------------------- helpers


def _digest(*parts: object) -> int:
    """A stable integer from values (Python's hash() is salted per process)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _color(*parts: object, lightness: int = 70) -> tuple[int, int, int]:
    """A muted colour picked from the inputs: different avatars/prompts look different."""
    value = _digest(*parts)
    return tuple(lightness + (value >> shift) % 90 for shift in (0, 11, 22))  # type: ignore[return-value]


#: A brand's (primary, secondary) colours, "#RRGGBB" or None: the cards' accent and
#: background, where the colours are otherwise picked from the inputs.
BrandColors = tuple[str | None, str | None]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, round(c * factor)) for c in rgb)  # type: ignore[return-value]


def _brand_accent(colors: BrandColors | None, *fallback: object, lightness: int):
    """The brand's primary colour, else the accent picked from `fallback`."""
    primary = colors[0] if colors else None
    return _rgb(primary) if primary else _color(*fallback, lightness=lightness)


def _brand_background(colors: BrandColors | None) -> tuple[int, int, int] | None:
    secondary = colors[1] if colors else None
    return _rgb(secondary) if secondary else None


def _usage(unit: str, quantity: float, stands_in_for: str) -> Usage:
    return Usage(
        provider=PROVIDER,
        model=PROVIDER,
        unit=unit,
        quantity=quantity,
        stands_in_for=stands_in_for,
    )


def _printable(text: str) -> str:
    """Text as it can be drawn: control characters become spaces, newlines are kept."""
    return "".join(ch if ch == "\n" or unicodedata.category(ch) != "Cc" else " " for ch in text)


def _font(size: int, name: str = "DejaVuSans.ttf") -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(media.font_path(name)), max(6, size))


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to `width` pixels; over-long words are broken; the last line gets
    an ellipsis when the text does not fit in `max_lines`."""
    lines: list[str] = []
    for paragraph in _printable(text).split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while font.getlength(word) > width and len(word) > 1:
                cut = max(1, int(len(word) * width / font.getlength(word)))
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    lines = [ln for ln in lines if ln] or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + "…") > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def _card(
    size: tuple[int, int],
    title: str,
    body: str,
    *,
    background: tuple[int, int, int] | None,
    accent: tuple[int, int, int],
) -> Image.Image:
    """A text card: a title and wrapped body on a panel. With `background=None` the card is
    transparent outside the panel, to be laid over a picture or a video."""
    width, height = size
    card = Image.new("RGBA", size, (*background, 255) if background else (0, 0, 0, 0))
    draw = ImageDraw.Draw(card)
    unit = min(width, height)
    pad = max(4, unit // 14)
    title_font = _font(unit // 11, "DejaVuSans.ttf")
    body_font = _font(unit // 18, "DejaVuSans.ttf")
    line_h = round(body_font.size * 1.3)
    max_lines = max(1, (height - 4 * pad - title_font.size) // (2 * line_h))
    lines = _wrap(body, body_font, width - 4 * pad, max_lines)
    panel_h = title_font.size + pad + line_h * len(lines) + 2 * pad
    top = height - panel_h - pad if background is None else (height - panel_h) // 2
    draw.rounded_rectangle(
        (pad, top, width - pad, top + panel_h),
        radius=pad // 2,
        fill=(20, 20, 24, 200),
        outline=(*accent, 255),
        width=max(1, unit // 200),
    )
    title_line = _wrap(title, title_font, width - 4 * pad, 1)[0]
    draw.text((2 * pad, top + pad), title_line, font=title_font, fill=(*accent, 255))
    y = top + pad + title_font.size + pad // 2
    for line in lines:
        draw.text((2 * pad, y), line, font=body_font, fill=(240, 240, 240, 255))
        y += line_h
    return card


def _save_png(picture: Image.Image, out: Path) -> Path:
    """Write a picture atomically (temporary name beside it, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.urandom(4).hex()}.part{out.suffix or '.png'}")
    try:
        fmt = "JPEG" if out.suffix.lower() in (".jpg", ".jpeg") else "PNG"
        (picture.convert("RGB") if fmt == "JPEG" else picture).save(tmp, format=fmt)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _video_out(streams: list, out: Path, duration_s: float) -> list[str]:
    return ffmpeg.output(
        *streams,
        str(out),
        **media.VIDEO_OPTS,
        **media.AUDIO_OPTS,
        **DETERMINISTIC_OPTS,
        movflags="+faststart",
        t=ff_number(duration_s),
    ).get_args()


# --------------------------------------------------------------------------- voiceover


def voiceover_duration(text: str, speed: float = 1.0) -> float:
    """How long the text takes to say: 150 words a minute divided by `speed`, at least 1 s."""
    words = len(text.split())
    return round(max(1.0, words / WORDS_PER_MINUTE * 60 / speed), 3)


def voiceover(
    text: str,
    out: str | os.PathLike[str],
    *,
    voice_id: str,
    speed: float = 1.0,
    stands_in_for: str = "elevenlabs",
) -> tuple[Usage, Alignment]:
    """`text` read aloud by eSpeak NG (:func:`vidpipe.media.speak`) at about the pace
    :func:`voiceover_duration` assumes, and when each word is said; billed like
    ElevenLabs, by characters. Blank text raises :class:`vidpipe.media.EmptyTextError`."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    alignment = media.speak(text, out, voice_id=voice_id, speed=speed * ESPEAK_PACE)
    return _usage("characters", len(text), stands_in_for), alignment


# --------------------------------------------------------------------------- talking head


def talking_head(
    audio: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    avatar_id: str,
    target: VideoTarget,
    text: str | None = None,
    background: str | os.PathLike[str] | None = None,
    stands_in_for: str = "heygen",
    colors: BrandColors | None = None,
) -> Usage:
    """A clip as long as `audio` with the avatar's name and the spoken text on a card,
    over `background` (image or video, fitted to the target) if given; billed by seconds.
    A brand's `colors` give the card its accent (primary) and backdrop (secondary).
    """
    audio_info = media.probe(audio)
    if not audio_info.has_audio or not audio_info.duration_s:
        raise MediaError(
            "input has no audio stream", operation="placeholder.talking_head", path=str(audio)
        )
    seconds = audio_info.duration_s
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = (target.width, target.height)
    accent = _brand_accent(colors, "avatar", avatar_id, lightness=140)
    backdrop = _brand_background(colors) or _color("bg", avatar_id)
    body = text if text else "(no transcript)"
    with tempfile.TemporaryDirectory(prefix=".placeholder-", dir=dest.parent) as tmp:
        card_png = Path(tmp) / "card.png"
        if background is None:
            card = _card(size, avatar_id, body, background=backdrop, accent=accent)
            _save_png(card, card_png)
            frames = ffmpeg.input(
                str(card_png), loop=1, framerate=ff_number(target.fps), t=ff_number(seconds)
            ).video
            video = media.fit_video(frames, target)
        else:
            _save_png(_card(size, avatar_id, body, background=None, accent=accent), card_png)
            video = _over_background(background, card_png, target, seconds)
        voice = media.stereo_audio(ffmpeg.input(str(audio)).audio).filter(
            "apad", whole_dur=ff_number(seconds)
        )
        args = _video_out([video, voice], dest, seconds)
        media.run_ffmpeg(args, operation="placeholder.talking_head", output=dest)
    return _usage("seconds", round(seconds, 3), stands_in_for)


def _over_background(
    background: str | os.PathLike[str], card_png: Path, target: VideoTarget, seconds: float
):
    """The card over a background fitted to the target: a still is looped, a video is
    looped as often as needed to last `seconds`."""
    info = media.probe(background)
    if not info.has_video:
        raise MediaError(
            "background has no picture", operation="placeholder.talking_head", path=str(background)
        )
    if info.is_image:
        base = ffmpeg.input(
            str(background), loop=1, framerate=ff_number(target.fps), t=ff_number(seconds)
        )
    else:
        base = ffmpeg.input(str(background), stream_loop=-1, t=ff_number(seconds))
    card = ffmpeg.input(str(card_png), loop=1, framerate=ff_number(target.fps))
    return ffmpeg.overlay(
        media.fit_video(base.video, target), card.video, x=0, y=0, shortest=1
    ).filter("format", "yuv420p")


# --------------------------------------------------------------------------- image


def image_size(aspect_ratio: str, size_hint: int = 1280) -> tuple[int, int]:
    """Pixel size for an aspect ratio such as "16:9": the long side is `size_hint`, both
    sides even."""
    try:
        w_ratio, h_ratio = (float(x) for x in aspect_ratio.split(":"))
    except ValueError:
        raise ValueError(f"aspect ratio must look like '16:9', got {aspect_ratio!r}") from None
    if w_ratio <= 0 or h_ratio <= 0 or size_hint < 16:
        raise ValueError(f"bad aspect ratio {aspect_ratio!r} or size {size_hint}")
    if w_ratio >= h_ratio:
        width, height = size_hint, size_hint * h_ratio / w_ratio
    else:
        width, height = size_hint * w_ratio / h_ratio, size_hint
    return 2 * round(width / 2), 2 * round(height / 2)


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]):
    mask = Image.linear_gradient("L").resize(size)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def image(
    prompt: str,
    out: str | os.PathLike[str],
    *,
    aspect_ratio: str = "16:9",
    seed: int | None = None,
    size_hint: int = 1280,
    stands_in_for: str = "replicate",
    colors: BrandColors | None = None,
) -> Usage:
    """A PNG card showing `prompt` at `aspect_ratio` on a gradient picked from the prompt
    and seed (from a brand's secondary colour down to its shade when `colors` has one, the
    primary colour the accent); billed as one image."""
    size = image_size(aspect_ratio, size_hint)
    accent = _brand_accent(colors, "accent", prompt, seed, lightness=150)
    backdrop = _brand_background(colors)
    if backdrop is not None:
        picture = _gradient(size, backdrop, _shade(backdrop, 0.35))
    else:
        picture = _gradient(
            size, _color("top", prompt, seed), _color("bottom", prompt, seed, lightness=20)
        )
    card = _card(size, "placeholder image", prompt, background=None, accent=accent)
    picture = Image.alpha_composite(picture.convert("RGBA"), card).convert("RGB")
    _save_png(picture, Path(out))
    return _usage("images", 1, stands_in_for)


# --------------------------------------------------------------------------- animation


def animation(
    prompt: str,
    out: str | os.PathLike[str],
    *,
    duration_s: float,
    target: VideoTarget,
    image: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    stands_in_for: str = "veo3",
    colors: BrandColors | None = None,
) -> Usage:
    """`duration_s` of moving frames with the prompt on a caption: drifting gradients (in
    shades of a brand's secondary colour when `colors` has one), or a slow zoom into
    `image` when given; a silent track so it merges by stream copy. The caption's accent
    is the brand's primary colour where given. Billed by seconds."""
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = (target.width, target.height)
    with tempfile.TemporaryDirectory(prefix=".placeholder-", dir=dest.parent) as tmp:
        caption = Path(tmp) / "caption.png"
        accent = _brand_accent(colors, "accent", prompt, seed, lightness=150)
        _save_png(
            _card(size, "placeholder animation", prompt, background=None, accent=accent), caption
        )
        moving = (
            _zoom(image, target, duration_s)
            if image
            else _drift(prompt, seed, target, duration_s, _brand_background(colors))
        )
        overlay = ffmpeg.input(str(caption), loop=1, framerate=ff_number(target.fps))
        video = ffmpeg.overlay(moving, overlay.video, x=0, y=0, shortest=1).filter(
            "format", "yuv420p"
        )
        args = _video_out([video, media.silence_stream(duration_s)], dest, duration_s)
        media.run_ffmpeg(args, operation="placeholder.animation", output=dest)
    return _usage("seconds", duration_s, stands_in_for)


def _drift(
    prompt: str,
    seed: int | None,
    target: VideoTarget,
    duration_s: float,
    backdrop: tuple[int, int, int] | None = None,
):
    """Drifting gradients in colours picked from the prompt, or in shades of `backdrop`."""
    shades = (
        [backdrop, _shade(backdrop, 0.55), _shade(backdrop, 0.8)]
        if backdrop is not None
        else [_color("gradient", i, prompt, seed, lightness=40) for i in range(3)]
    )
    colors = {f"c{i}": "0x{:02x}{:02x}{:02x}".format(*rgb) for i, rgb in enumerate(shades)}
    source = ffmpeg.input(
        f"gradients=s={target.width}x{target.height}:r={ff_number(target.fps)}"
        f":n=3:c0={colors['c0']}:c1={colors['c1']}:c2={colors['c2']}"
        f":seed={_digest('seed', prompt, seed) % 2**32}:speed=0.03",
        f="lavfi",
        t=ff_number(duration_s),
    )
    return source.video.filter("setsar", 1)


def _zoom(picture: str | os.PathLike[str], target: VideoTarget, duration_s: float):
    """A slow Ken Burns zoom into a still (fitted to the target first, never stretched)."""
    info = media.probe(picture)
    if not info.has_video:
        raise MediaError(
            "image has no picture", operation="placeholder.animation", path=str(picture)
        )
    frames = max(1, round(duration_s * target.fps))
    still = ffmpeg.input(str(picture), loop=1, framerate=1, t=1).video
    fitted = media.fit_video(still, VideoTarget(target.width, target.height, 1))
    return fitted.filter(
        "zoompan",
        z=f"1+0.15*on/{frames}",
        x="iw/2-(iw/zoom/2)",
        y="ih/2-(ih/zoom/2)",
        d=frames,
        s=f"{target.width}x{target.height}",
        fps=ff_number(target.fps),
    ).filter("setsar", 1)
