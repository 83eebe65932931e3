"""Captions: word timing (`alignment`), cues broken for reading (`cues`), and the
subtitle files made from them (`subtitles`: WebVTT, SRT; `ass`: ASS for burning in with
libass). What a bundled font can draw is `vidpipe.captions.glyphs`, imported by its own
name: it reads font files through `vidpipe.media`, which itself uses `alignment`."""

from vidpipe.captions.alignment import Alignment, Word
from vidpipe.captions.ass import AssStyle, ass_document, caption_style, escape_text
from vidpipe.captions.cues import Boundary, Cue, boundary, break_lines, fits, make_cues
from vidpipe.captions.subtitles import parse_srt, parse_vtt, to_srt, to_vtt

__all__ = [
    "Alignment",
    "Word",
    "Cue",
    "Boundary",
    "boundary",
    "break_lines",
    "fits",
    "make_cues",
    "to_vtt",
    "to_srt",
    "parse_vtt",
    "parse_srt",
    "AssStyle",
    "caption_style",
    "ass_document",
    "escape_text",
]
