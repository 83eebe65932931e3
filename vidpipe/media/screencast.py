"""The code screencast: a snippet highlighted by Pygments, typed out frame by frame with
Pillow and piped to FFmpeg (:func:`render_code`)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import ffmpeg

from vidpipe.media.filters import _mp4_opts, _prepare_out, ff_number, silence_stream
from vidpipe.media.formats import AUDIO_OPTS, BITEXACT_OPTS, VIDEO_OPTS, VideoTarget, font_path
from vidpipe.media.runner import run_ffmpeg

MAX_TYPING_UPDATES_PER_S = 10.0  # distinct frames while typing; the rest are duplicates


@dataclass(frozen=True)
class _Glyph:
    char: str
    x: int
    y: int
    color: tuple[int, int, int]
    bold: bool


@dataclass(frozen=True)
class _CodeLayout:
    """Where every keystroke of a snippet lands on screen, and in which colour."""

    size: tuple[int, int]
    background: tuple[int, int, int]
    cursor: tuple[int, int, int]
    cell: tuple[int, int]  # width, height of one character cell
    font_px: int
    keystrokes: tuple[_Glyph, ...]  # every character typed, newlines and spaces included


def _hex_rgb(value: str | None, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if not value:
        return default
    value = value.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _clean_code(code: str) -> str:
    lines = code.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _layout_code(code: str, language: str, theme: str, size: tuple[int, int]) -> _CodeLayout:
    """Highlight with Pygments and place each character on a monospace grid whose font
    size is the largest that fits the snippet (capped, so short snippets stay readable)."""
    from PIL import ImageFont
    from pygments.lexers import get_lexer_by_name
    from pygments.styles import get_style_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        raise ValueError(f"unknown code language {language!r} (a Pygments lexer name)") from None
    try:
        style = get_style_by_name(theme)
    except ClassNotFound:
        raise ValueError(f"unknown code theme {theme!r} (a Pygments style name)") from None

    background = _hex_rgb(style.background_color, (0, 0, 0))
    luminance = sum(background) / 3
    default_fg = (230, 230, 230) if luminance < 128 else (30, 30, 30)
    width, height = size
    lines = code.split("\n")
    rows, cols = max(1, len(lines)), max(1, max(len(line) for line in lines))

    probe_font = ImageFont.truetype(str(font_path()), 100)
    advance_per_px = probe_font.getlength("M") / 100
    line_factor = 1.4
    font_px = int(
        min(
            (height * 0.9) / (rows * line_factor),
            (width * 0.92) / (cols * advance_per_px),
            height / 18,
        )
    )
    font_px = max(6, font_px)
    cell_w = ImageFont.truetype(str(font_path()), font_px).getlength("M")
    cell_h = round(font_px * line_factor)
    left = round((width - cell_w * cols) / 2) if cols * cell_w < width * 0.92 else 0
    left = max(round(width * 0.04), min(left, round(width * 0.08)))
    top = max(round(height * 0.05), round((height - cell_h * rows) / 2 * 0.5))

    keystrokes: list[_Glyph] = []
    row = col = 0
    for ttype, value in lexer.get_tokens(code):
        token_style = style.style_for_token(ttype)
        color = _hex_rgb(token_style.get("color"), default_fg)
        bold = bool(token_style.get("bold"))
        for ch in value:
            keystrokes.append(
                _Glyph(ch, left + round(col * cell_w), top + row * cell_h, color, bold)
            )
            if ch == "\n":
                row, col = row + 1, 0
            else:
                col += 1
    return _CodeLayout(
        size=size,
        background=background,
        cursor=default_fg,
        cell=(round(cell_w), cell_h),
        font_px=font_px,
        keystrokes=tuple(keystrokes),
    )


def _typing_schedule(
    keystrokes: int, chars_per_second: float, fps: float
) -> tuple[float, list[int]]:
    """The distinct frames of the typing: their rate and how many characters each shows.

    Distinct frames come at most 10 a second (typing looks the same, and each frame is a
    full raw picture to pipe); FFmpeg repeats them up to the output frame rate.
    """
    rate = min(float(fps), MAX_TYPING_UPDATES_PER_S, float(chars_per_second))
    if keystrokes == 0:
        return rate, [0]
    frames = max(1, math.ceil(keystrokes / chars_per_second * rate))
    shown = [min(keystrokes, math.floor((k + 1) * chars_per_second / rate)) for k in range(frames)]
    shown[-1] = keystrokes
    return rate, shown


def _code_frames(layout: _CodeLayout, shown: list[int]) -> Iterable[bytes]:
    """Raw RGB frames, drawn incrementally: each frame adds only the newly typed glyphs
    (and moves the cursor), so rendering costs little more than piping the pixels."""
    from PIL import Image, ImageDraw, ImageFont

    regular = ImageFont.truetype(str(font_path()), layout.font_px)
    bold = ImageFont.truetype(str(font_path("DejaVuSansMono-Bold.ttf")), layout.font_px)
    canvas = Image.new("RGB", layout.size, layout.background)
    draw = ImageDraw.Draw(canvas)
    cell_w, cell_h = layout.cell
    cursor_box: tuple[int, int, int, int] | None = None
    drawn = 0
    for count in shown:
        if cursor_box:
            draw.rectangle(cursor_box, fill=layout.background)
        for glyph in layout.keystrokes[drawn:count]:
            if not glyph.char.isspace():
                font = bold if glyph.bold else regular
                draw.text((glyph.x, glyph.y), glyph.char, font=font, fill=glyph.color)
        drawn = count
        cursor_box = _cursor_box(layout, drawn, cell_w, cell_h)
        draw.rectangle(cursor_box, fill=layout.cursor)
        yield canvas.tobytes()


def _cursor_box(layout: _CodeLayout, typed: int, cell_w: int, cell_h: int):
    """A thin bar after the last typed character (at the start of the next line after a
    newline)."""
    if typed == 0:
        first = layout.keystrokes[0] if layout.keystrokes else None
        x, y = (first.x, first.y) if first else (0, 0)
    else:
        last = layout.keystrokes[typed - 1]
        if last.char == "\n":
            origin = layout.keystrokes[0]
            x, y = origin.x, last.y + cell_h
        else:
            x, y = last.x + cell_w, last.y
    bar = max(2, cell_w // 5)
    return (x, y + cell_h // 10, x + bar, y + cell_h - cell_h // 10)


def build_render_code_args(
    out: str | os.PathLike[str],
    *,
    size: tuple[int, int],
    input_rate: float,
    frames: int,
    hold_s: float,
    fps: float,
) -> list[str]:
    """Arguments encoding `frames` raw RGB frames from stdin at `input_rate`, holding the
    last one for `hold_s` and repeating frames up to the output `fps`. Silent audio is
    added so the screencast merges with other clips by stream copy."""
    duration_s = frames / input_rate + hold_s
    typed = ffmpeg.input(
        "pipe:", f="rawvideo", pix_fmt="rgb24", s=f"{size[0]}x{size[1]}", r=ff_number(input_rate)
    ).video
    # Convert colours once per distinct frame, before they are repeated.
    typed = typed.filter("format", "yuv420p")
    if hold_s > 0:
        typed = typed.filter("tpad", stop_mode="clone", stop_duration=ff_number(hold_s))
    video = typed.filter("fps", fps=ff_number(fps)).filter("setsar", 1)
    return ffmpeg.output(
        video,
        silence_stream(duration_s),
        str(out),
        **{**VIDEO_OPTS, "tune": "stillimage"},
        **AUDIO_OPTS,
        **BITEXACT_OPTS,
        **_mp4_opts(Path(out)),
        t=ff_number(duration_s),
    ).get_args()


def render_code(
    code: str,
    out: str | os.PathLike[str],
    *,
    language: str,
    theme: str = "monokai",
    chars_per_second: float = 30,
    hold_s: float = 2,
    size: tuple[int, int] = (1920, 1080),
    fps: float = 30,
) -> Path:
    """A code screencast: `code` highlighted by Pygments (`language` is a lexer name,
    `theme` a style name; unknown ones raise ValueError), typed at `chars_per_second`
    then held for `hold_s`, rendered natively at `size` with the bundled DejaVu Sans Mono
    so it is sharp at 1080p. Only the distinct frames are drawn (Pillow) and piped.
    """
    if chars_per_second <= 0 or hold_s < 0 or fps <= 0:
        raise ValueError("chars_per_second and fps must be positive, hold_s not negative")
    VideoTarget(size[0], size[1], fps)  # validates the size (even, positive)
    layout = _layout_code(_clean_code(code), language, theme, size)
    rate, shown = _typing_schedule(len(layout.keystrokes), chars_per_second, fps)
    dest = _prepare_out(out)
    args = build_render_code_args(
        dest, size=size, input_rate=rate, frames=len(shown), hold_s=hold_s, fps=fps
    )

    def feed(stdin: IO[bytes]) -> None:
        for frame in _code_frames(layout, shown):
            stdin.write(frame)

    run_ffmpeg(args, operation="render_code", output=dest, feed=feed)
    return dest
