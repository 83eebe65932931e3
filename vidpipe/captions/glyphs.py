"""What a bundled caption font can draw, and how wide it draws it.

A character is missing from a font when FreeType (through Pillow) draws it as the font's
`.notdef` box: its mask equals the mask of a code point no font has (U+10FFFD). For the
bundled DejaVu fonts this agrees with their character maps on every code point from
U+0020 to U+1FFFF. Whitespace, control, format (U+200B, U+2060...) and combining marks
are not checked: they draw nothing of their own. libass would draw a missing character
with any system font that has it, or not at all, so text the caption font cannot draw is
refused before a run (`vidpipe.preflight`).

Fonts are loaded once per process and looked up per character once (cached): reading a
bundled font file is the only I/O here.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from vidpipe.catalogue import CAPTION_FONTS

__all__ = [
    "DEFAULT_FONT",
    "font_file",
    "font_family",
    "missing_glyphs",
    "script_name",
    "coverage_refusal",
    "text_width",
    "fitted_font_px",
]

#: The caption font where neither the node nor the brand kit names one.
DEFAULT_FONT = "DejaVuSans"
_PROBE_PX = 32
_NOWHERE = "\U0010fffd"  # a private-use code point no font maps
_SKIPPED = {"Cc", "Cf", "Cs", "Mn", "Mc", "Me", "Zl", "Zp", "Zs"}


def font_file(name: str) -> Path:
    """The file of a bundled caption font (`DejaVuSans` -> .../fonts/DejaVuSans.ttf)."""
    if name not in CAPTION_FONTS:
        raise ValueError(f"unknown caption font {name!r}; one of {', '.join(CAPTION_FONTS)}")
    from vidpipe.media import font_path  # imported here: validate need not load FFmpeg's layer

    return font_path(f"{name}.ttf")


@lru_cache(maxsize=16)
def _font(name: str, px: int = _PROBE_PX) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file(name)), px, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=8)
def _notdef(name: str) -> tuple[tuple[int, int], bytes]:
    mask = _font(name).getmask(_NOWHERE)
    return mask.size, bytes(mask)


@lru_cache(maxsize=65536)
def _has_glyph(name: str, char: str) -> bool:
    mask = _font(name).getmask(char)
    return (mask.size, bytes(mask)) != _notdef(name)


def font_family(name: str) -> tuple[str, bool]:
    """The family name the font file declares (what libass matches) and whether it is bold:
    `DejaVuSansMono-Bold` -> ("DejaVu Sans Mono", True)."""
    family, style = _font(name).getname()
    return family or name, "bold" in (style or "").lower()


def missing_glyphs(text: str, font: str) -> list[str]:
    """The characters of `text` that `font` has no glyph for, each once, in order."""
    missing: list[str] = []
    for char in dict.fromkeys(text):
        if unicodedata.category(char) in _SKIPPED or char.isspace():
            continue
        if not _has_glyph(font, char):
            missing.append(char)
    return missing


#: Scripts whose Unicode name is what people call them (first word of a character's name).
_NAMED_AS_WRITTEN = (
    *("ARABIC", "ARMENIAN", "BENGALI", "CHEROKEE", "CYRILLIC", "DEVANAGARI", "ETHIOPIC"),
    *("GEORGIAN", "GREEK", "GUJARATI", "GURMUKHI", "HEBREW", "KANNADA", "KHMER", "LAO"),
    *("LATIN", "MALAYALAM", "MONGOLIAN", "MYANMAR", "ORIYA", "SINHALA", "SYRIAC", "TAMIL"),
    *("TELUGU", "THAANA", "THAI", "TIBETAN"),
)
_SCRIPTS = {
    "HANGUL": "Korean",
    "HIRAGANA": "Japanese",
    "KATAKANA": "Japanese",
    "CJK": "Chinese or Japanese",
    **{word: word.capitalize() for word in _NAMED_AS_WRITTEN},
}


def script_name(chars: list[str]) -> str | None:
    """The writing system of these characters as people name it ("Japanese" where kana
    are among them), or None when it is not one."""
    words = {unicodedata.name(c, "").split(" ")[0] for c in chars}
    if words & {"HIRAGANA", "KATAKANA"}:
        return "Japanese"
    names = {_SCRIPTS.get(word) for word in words}
    return names.pop() if len(names) == 1 else None


def coverage_refusal(text: str, font: str, node_id: str, *, shown: int = 3) -> str | None:
    """Why captions `node_id` cannot show `text` in `font`, or None when it can:
    "captions 'subs': the font DejaVuSans cannot draw 日, 本, 語 (Japanese text needs a
    font that covers it; no bundled font does)"."""
    missing = missing_glyphs(text, font)
    if not missing:
        return None
    listed = ", ".join(missing[:shown])
    if len(missing) > shown:
        listed += f" and {len(missing) - shown} more"
    covering = [f for f in CAPTION_FONTS if f != font and not missing_glyphs(text, f)]
    script = script_name(missing)
    what = f"{script} text" if script else "this text"
    if covering:
        hint = f"use font: {covering[0]}, which covers it"
    else:
        hint = f"{what} needs a font that covers it; no bundled font does"
    return f"captions '{node_id}': the font {font} cannot draw {listed} ({hint})"


def text_width(text: str, font: str, font_px: float) -> float:
    """About how wide libass draws one line of `text` at ASS font size `font_px`, in
    pixels: libass sizes a font so its ascent plus descent is the font size, Pillow so its
    em is; shaping (Arabic joining) is not applied, so joined scripts come out wider."""
    probe = _font(font, 100)
    ascent, descent = probe.getmetrics()
    return probe.getlength(text) / 100 * font_px * 100 / (ascent + descent)


def fitted_font_px(lines: list[str], font: str, font_px: int, width_px: float) -> int:
    """`font_px`, or smaller so the widest of `lines` fits in `width_px` (a long line on
    a narrow, portrait frame)."""
    widest = max((text_width(line, font, font_px) for line in lines), default=0.0)
    if widest <= width_px:
        return font_px
    return max(1, int(font_px * width_px / widest))
