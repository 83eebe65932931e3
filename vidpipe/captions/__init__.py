"""Captions: word timing (`alignment`), cues broken for reading (`cues`), and the
subtitle files made from them (WebVTT, SRT, ASS for burning in with libass)."""

from vidpipe.captions.alignment import Alignment, Word

__all__ = ["Alignment", "Word"]
