"""ASS (Advanced SubStation Alpha) documents: cues styled for burning in with libass.

The document's canvas is the video (`PlayResX`/`PlayResY` = its size), so sizes are
pixels of the frame. One style, `Default`, from the captions' look: the font's family
name (what libass matches among the bundled fonts), its size in pixels, the text and
outline colours, an outline (`BorderStyle` 1) and no shadow, centred at the bottom, top
or middle (`Alignment` 2, 8, 5) within margins. `WrapStyle` 2: lines break only where the
cues break them. `Encoding` -1 asks libass to find each line's direction from its text
(FriBidi), so right-to-left lines (Arabic, Hebrew) keep their punctuation where it
belongs; HarfBuzz joins and shapes the letters.

Colours are written as ASS wants them, blue-green-red: `#FFD400` is `&H0000D4FF` in a
style (with alpha 00) and `&H00D4FF&` in an override. Text is escaped: `{` and `}` as
`\\{` and `\\}`, a backslash followed by a word joiner (U+2060, invisible) so no `\\N`
or `\\h` can form, a newline as `\\N`.

With `highlight="word"` each cue is one event per word span: the word being said is in
the highlight colour (`{\\c&H..&}`), the others plain; a word is highlighted from its
start until the next word starts (the last until it ends), and the rest of the cue's
time shows it plain. ASS times are centiseconds; spans shorter than that are dropped.

Pure: text out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from vidpipe.captions.cues import Cue

__all__ = [
    "AssStyle",
    "DEFAULT_COLOR",
    "DEFAULT_OUTLINE_COLOR",
    "DEFAULT_HIGHLIGHT_COLOR",
    "ALIGNMENT",
    "ass_colour",
    "override_colour",
    "ass_time",
    "escape_text",
    "caption_style",
    "ass_document",
]

DEFAULT_COLOR = "#FFFFFF"
DEFAULT_OUTLINE_COLOR = "#000000"
DEFAULT_HIGHLIGHT_COLOR = "#FFD400"
#: ASS's numpad alignment for each position, horizontally centred.
ALIGNMENT = {"bottom": 2, "top": 8, "center": 5}
#: Margins as a share of the frame: 5% of its width on each side, 5% of its height.
MARGIN_SHARE = 0.05

_HEX = re.compile(r"^#([0-9A-Fa-f]{2})([0-9A-Fa-f]{2})([0-9A-Fa-f]{2})$")
_WORD_JOINER = "\u2060"


@dataclass(frozen=True)
class AssStyle:
    """How the captions look, in pixels of the frame and `#RRGGBB` colours."""

    font_family: str
    font_px: int
    color: str = DEFAULT_COLOR
    outline_color: str = DEFAULT_OUTLINE_COLOR
    highlight_color: str = DEFAULT_HIGHLIGHT_COLOR
    bold: bool = False
    position: Literal["bottom", "top", "center"] = "bottom"
    outline_px: float = 2.0
    margin_x_px: int = 16
    margin_y_px: int = 16


def _bgr(colour: str) -> str:
    match = _HEX.match(colour)
    if match is None:
        raise ValueError(f"a colour is #RRGGBB, got {colour!r}")
    red, green, blue = match.groups()
    return f"{blue}{green}{red}".upper()


def ass_colour(colour: str, alpha: int = 0) -> str:
    """A style's colour: `#RRGGBB` -> `&HAABBGGRR` (alpha 0 is opaque)."""
    return f"&H{alpha:02X}{_bgr(colour)}"


def override_colour(colour: str) -> str:
    """An override tag's colour: `#RRGGBB` -> `&HBBGGRR&`."""
    return f"&H{_bgr(colour)}&"


def ass_time(seconds: float) -> str:
    """`H:MM:SS.cc`, rounded to the centisecond; negative times are 0."""
    cs = max(0, round(seconds * 100))
    hours, cs = divmod(cs, 360_000)
    minutes, cs = divmod(cs, 6000)
    secs, cs = divmod(cs, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{cs:02d}"


def escape_text(text: str) -> str:
    """Text shown as it is: no override blocks, no `\\N`/`\\n`/`\\h` escapes."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\\", "\\" + _WORD_JOINER)
    text = text.replace("{", "\\{").replace("}", "\\}")
    return text.replace("\n", "\\N")


def caption_style(
    width: int,
    height: int,
    *,
    font_family: str,
    size_percent: float,
    bold: bool = False,
    color: str = DEFAULT_COLOR,
    outline_color: str = DEFAULT_OUTLINE_COLOR,
    highlight_color: str = DEFAULT_HIGHLIGHT_COLOR,
    position: Literal["bottom", "top", "center"] = "bottom",
) -> AssStyle:
    """The style for a `width` x `height` frame: text `size_percent` of its height, an
    outline a tenth of that (at least 1 px), margins `MARGIN_SHARE` of the frame."""
    font_px = max(1, round(height * size_percent / 100))
    return AssStyle(
        font_family=font_family,
        font_px=font_px,
        color=color,
        outline_color=outline_color,
        highlight_color=highlight_color,
        bold=bold,
        position=position,
        outline_px=max(1.0, round(font_px / 10, 1)),
        margin_x_px=round(width * MARGIN_SHARE),
        margin_y_px=round(height * MARGIN_SHARE),
    )


def _style_line(style: AssStyle) -> str:
    family = style.font_family.replace(",", " ")
    fields = [
        "Default",
        family,
        str(style.font_px),
        ass_colour(style.color),
        ass_colour(style.color),
        ass_colour(style.outline_color),
        ass_colour(style.outline_color, alpha=0x80),
        "-1" if style.bold else "0",
        "0",
        "0",
        "0",
        "100",
        "100",
        "0",
        "0",
        "1",
        f"{style.outline_px:g}",
        "0",
        str(ALIGNMENT[style.position]),
        str(style.margin_x_px),
        str(style.margin_x_px),
        str(style.margin_y_px),
        "-1",
    ]
    return "Style: " + ",".join(fields)


def _dialogue(start_s: float, end_s: float, text: str) -> str | None:
    start, end = ass_time(start_s), ass_time(end_s)
    if round(end_s * 100) <= round(start_s * 100):
        return None
    return f"Dialogue: 0,{start},{end},Default,,0,0,0,,{text}"


def _plain(cue: Cue) -> str:
    return "\\N".join(escape_text(line) for line in cue.lines)


def _highlighted(cue: Cue, current: int, style: AssStyle) -> str:
    """The cue's text with word `current` (of `cue.words`) in the highlight colour."""
    on, off = override_colour(style.highlight_color), override_colour(style.color)
    lines, index = [], 0
    for line in cue.lines:
        parts = []
        for word in line.split():
            text = escape_text(word)
            parts.append(f"{{\\c{on}}}{text}{{\\c{off}}}" if index == current else text)
            index += 1
        lines.append(" ".join(parts))
    return "\\N".join(lines)


def _word_events(cue: Cue, style: AssStyle) -> list[str | None]:
    words = cue.words
    if not words or sum(len(line.split()) for line in cue.lines) != len(words):
        return [_dialogue(cue.start_s, cue.end_s, _plain(cue))]
    events: list[str | None] = []
    for k, word in enumerate(words):
        start = max(cue.start_s, word.start_s) if k else cue.start_s
        end = words[k + 1].start_s if k + 1 < len(words) else word.end_s
        end = min(max(end, start), cue.end_s)
        events.append(_dialogue(start, end, _highlighted(cue, k, style)))
    last_end = min(max(words[-1].end_s, cue.start_s), cue.end_s)
    events.append(_dialogue(last_end, cue.end_s, _plain(cue)))
    return events


def ass_document(
    cues: Sequence[Cue],
    *,
    width: int,
    height: int,
    style: AssStyle,
    highlight: Literal["none", "word"] = "none",
) -> str:
    """The ASS file burning `cues` into a `width` x `height` video (module docstring)."""
    events: list[str | None] = []
    for cue in cues:
        if highlight == "word":
            events.extend(_word_events(cue, style))
        else:
            events.append(_dialogue(cue.start_s, cue.end_s, _plain(cue)))
    return (
        "\n".join(
            [
                "[Script Info]",
                "ScriptType: v4.00+",
                f"PlayResX: {width}",
                f"PlayResY: {height}",
                "WrapStyle: 2",
                "ScaledBorderAndShadow: yes",
                "YCbCr Matrix: None",
                "",
                "[V4+ Styles]",
                "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
                "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
                "Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
                "MarginV, Encoding",
                _style_line(style),
                "",
                "[Events]",
                "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
                *(event for event in events if event is not None),
            ]
        )
        + "\n"
    )
