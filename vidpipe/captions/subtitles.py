"""Subtitle files: cues written as WebVTT and SRT, and read back.

WebVTT (`text/vtt`): a `WEBVTT` header, then blocks of `HH:MM:SS.mmm --> HH:MM:SS.mmm`
and the cue's lines; `&`, `<` and `>` in the text are written as character references.
SRT: numbered blocks of `HH:MM:SS,mmm --> HH:MM:SS,mmm` and the lines. Times are
rounded to the millisecond. The parsers read what these writers write and what common
tools write (hours optional in WebVTT, cue settings, identifiers, NOTE/STYLE/REGION
blocks, CRLF, a byte-order mark); they return cues without word timing.

Pure: text in, text out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from vidpipe.captions.cues import Cue
from vidpipe.errors import MediaError

__all__ = ["format_timestamp", "to_vtt", "to_srt", "parse_vtt", "parse_srt"]


def format_timestamp(seconds: float, *, decimal: str = ".") -> str:
    """`HH:MM:SS.mmm` (`decimal=","` for SRT); negative times are written as 0."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def _vtt_line(line: str) -> str:
    text = html.escape(line, quote=False)
    return text.replace("-->", "--&gt;")


def to_vtt(cues: Sequence[Cue]) -> str:
    """The cues as a WebVTT file."""
    blocks = ["WEBVTT"]
    for cue in cues:
        timing = f"{format_timestamp(cue.start_s)} --> {format_timestamp(cue.end_s)}"
        blocks.append("\n".join([timing, *(_vtt_line(line) for line in _lines(cue))]))
    return "\n\n".join(blocks) + "\n"


def to_srt(cues: Sequence[Cue]) -> str:
    """The cues as an SRT file, numbered from 1."""
    blocks = []
    for number, cue in enumerate(cues, 1):
        start = format_timestamp(cue.start_s, decimal=",")
        end = format_timestamp(cue.end_s, decimal=",")
        blocks.append("\n".join([str(number), f"{start} --> {end}", *_lines(cue)]))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _lines(cue: Cue) -> list[str]:
    """A cue's lines with no empty line among them (an empty line ends a block)."""
    return [" ".join(line.split()) for line in cue.lines if line.strip()]


# --------------------------------------------------------------------------- reading

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s+-->\s+{_TIME}(?:\s+.*)?$")


def _seconds(hours: str | None, minutes: str, secs: str, ms: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(ms) / 1000


def _blocks(text: str) -> list[list[str]]:
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _cue(block: list[str], fmt: str, unescape: bool) -> Cue:
    """A block's cue: its timing line (maybe after an identifier) and the lines after."""
    for index, line in enumerate(block[:2]):
        match = _TIMING.match(line)
        if match:
            parts = match.groups()
            lines = block[index + 1 :]
            if unescape:
                lines = [html.unescape(line) for line in lines]
            return Cue(_seconds(*parts[:4]), _seconds(*parts[4:]), tuple(lines))
    raise MediaError(f"not a {fmt} cue: {block[0][:80]!r}", operation=f"parse_{fmt.lower()}")


def parse_vtt(text: str) -> list[Cue]:
    """The cues of a WebVTT file."""
    blocks = _blocks(text)
    if not blocks or not re.match(r"^WEBVTT(?:[ \t].*)?$", blocks[0][0]):
        raise MediaError("a WebVTT file starts with WEBVTT", operation="parse_vtt")
    cues = []
    for block in blocks[1:]:
        if block[0].startswith(("NOTE", "STYLE", "REGION")) and "-->" not in block[0]:
            continue
        cues.append(_cue(block, "VTT", unescape=True))
    return cues


def parse_srt(text: str) -> list[Cue]:
    """The cues of an SRT file."""
    return [_cue(block, "SRT", unescape=False) for block in _blocks(text)]
