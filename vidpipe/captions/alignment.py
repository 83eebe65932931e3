"""Word timing of speech: when each word of a script is said.

A voiceover keeps its alignment beside its audio (the `alignment` sidecar, JSON); the
`captions` node reads it to time its cues. Live ElevenLabs speech brings character
timing (`/v1/text-to-speech/{voice_id}/with-timestamps`), turned into words here; the
offline voice reports each word's time itself; text with no speech to follow gets an
estimate spread over a duration. Pure: no I/O, no FFmpeg.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Word", "Alignment"]


@dataclass(frozen=True)
class Word:
    """One word as written in the script (punctuation attached), and when it is said."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Alignment:
    """The words of a script in order, with their times in seconds from the audio's start.

    `source` says where the timing came from: `elevenlabs`, `espeak-ng` or `estimated`.
    """

    words: tuple[Word, ...]
    source: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "source": self.source,
                "words": [
                    {"text": w.text, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3)}
                    for w in self.words
                ],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Alignment:
        data = json.loads(text)
        return cls(
            words=tuple(
                Word(str(w["text"]), float(w["start_s"]), float(w["end_s"])) for w in data["words"]
            ),
            source=str(data.get("source", "unknown")),
        )

    @classmethod
    def from_characters(
        cls,
        characters: Sequence[str],
        starts: Sequence[float],
        ends: Sequence[float],
        *,
        source: str = "elevenlabs",
    ) -> Alignment:
        """Words from per-character timing (ElevenLabs' `alignment`): characters between
        whitespace make a word, said from its first character's start to its last's end."""
        words: list[Word] = []
        chars: list[str] = []
        start = end = 0.0
        for char, s, e in zip(characters, starts, ends, strict=True):
            if char.isspace():
                if chars:
                    words.append(Word("".join(chars), start, end))
                    chars = []
                continue
            if not chars:
                start = float(s)
            chars.append(char)
            end = max(float(e), start)
        if chars:
            words.append(Word("".join(chars), start, end))
        return cls(words=tuple(words), source=source)

    @classmethod
    def estimated(cls, text: str, duration_s: float) -> Alignment:
        """Timing for text with no speech to follow: the words spread over `duration_s`
        in proportion to their length (a space counts as one character)."""
        tokens = text.split()
        if not tokens or duration_s <= 0:
            return cls(words=(), source="estimated")
        total = sum(len(t) + 1 for t in tokens)
        per_char = duration_s / total
        words, t = [], 0.0
        for token in tokens:
            span = len(token) * per_char
            words.append(Word(token, t, t + span))
            t += span + per_char
        return cls(words=tuple(words), source="estimated")

    @classmethod
    def joined(cls, parts: Iterable[tuple[Alignment, float]]) -> Alignment:
        """One alignment from parts spoken one after another: each `(alignment, offset_s)`
        shifted by the time its audio starts at."""
        words: list[Word] = []
        sources: list[str] = []
        for alignment, offset in parts:
            words.extend(
                Word(w.text, w.start_s + offset, w.end_s + offset) for w in alignment.words
            )
            sources.append(alignment.source)
        return cls(words=tuple(words), source=sources[0] if sources else "estimated")

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def end_s(self) -> float:
        return self.words[-1].end_s if self.words else 0.0
