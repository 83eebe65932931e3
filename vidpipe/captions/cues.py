"""Words to cues: what a caption shows at a time, broken to be read.

A cue is up to `max_lines` lines of up to `max_chars_per_line` characters (a space
between words counts as one), shown from `start_s` to `end_s`. It keeps the words it
shows with their timing, for the word-highlight mode. The rules, in order:

1. Words are never split. A word longer than a line stands alone on its line.
2. A pause in speech of `PAUSE_S` seconds or more always ends a cue.
3. Where cues end is chosen for the whole text at once (the cheapest set of cues):
   every cue costs 1, a cue ending inside a sentence costs more (after a clause mark
   such as `,;:—` `CLAUSE_COST`, after any other word `WORD_COST`) and nothing after a
   sentence end (`.!?…。؟` ...) or a pause; a cue's fill (its characters over what it
   can hold) adds its square, so the text is spread evenly rather than leaving one word
   behind. A cue that ends one sentence and breaks off inside the next, or whose lines
   cannot keep its sentences apart, costs `STRADDLE_COST` more. So cues end at sentence
   ends first, then at clause marks, and short sentences share a cue.
4. Within a cue, lines are chosen the same way: each line costs 1, a line break after
   a sentence end costs nothing, after a clause mark `LINE_CLAUSE_COST`, elsewhere
   `LINE_WORD_COST`, a line ending one sentence and breaking off inside the next
   `STRADDLE_COST`; balanced lines cost less. Text that fits on one line stays on one.
5. Timing: a cue starts when its first word starts and lasts until its last word ends,
   extended to at least `min_duration_s` and so that its characters over its duration
   are at most `max_chars_per_second`, as far as the next cue's start allows (cues never
   overlap; a cue that cannot reach the rate keeps the time it has) and, for the last
   cue, `until_s` (the end of the audio or the video).
6. Word times are taken as given, made non-decreasing first (a word never starts before
   the one before it, nor ends before it starts).

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from vidpipe.captions.alignment import Word

__all__ = [
    "Cue",
    "Boundary",
    "boundary",
    "make_cues",
    "break_lines",
    "fits",
    "PAUSE_S",
    "SENTENCE_ENDS",
    "CLAUSE_ENDS",
]

#: Marks that end a sentence (Latin, CJK full-width, Arabic, Urdu, Devanagari...).
SENTENCE_ENDS = ".!?…。！？؟‼⁇⁈⁉।॥۔"
#: Marks that end a clause.
CLAUSE_ENDS = ",;:—–،؛、，；："
#: Closing quotes and brackets that may follow a mark ("Yes." he said / (so)).
_CLOSERS = "\"'”’»›)]}」』"

#: A silence between two words this long (seconds) always ends a cue.
PAUSE_S = 1.0
CLAUSE_COST = 2.0
WORD_COST = 5.0
STRADDLE_COST = 3.0
LINE_CLAUSE_COST = 0.5
LINE_WORD_COST = 1.5


class Boundary(IntEnum):
    """What follows a word: nothing special, a clause mark, a sentence end."""

    WORD = 0
    CLAUSE = 1
    SENTENCE = 2


def boundary(text: str) -> Boundary:
    """The boundary after a word, from its last mark (closing quotes set aside)."""
    stripped = text.rstrip(_CLOSERS)
    if not stripped:
        return Boundary.WORD
    if stripped[-1] in SENTENCE_ENDS:
        return Boundary.SENTENCE
    if stripped[-1] in CLAUSE_ENDS:
        return Boundary.CLAUSE
    return Boundary.WORD


@dataclass(frozen=True)
class Cue:
    """What is on screen from `start_s` to `end_s`: its lines, and the words they show
    with when each is said (empty for cues read back from a subtitle file)."""

    start_s: float
    end_s: float
    lines: tuple[str, ...]
    words: tuple[Word, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def chars(self) -> int:
        """Characters read, a line break counting as a space."""
        return len(" ".join(self.lines))

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


# --------------------------------------------------------------------------- words


def _clean(words: Sequence[Word]) -> list[Word]:
    """Words with text and non-decreasing times; a word holding whitespace becomes one
    word per part, sharing its time."""
    out: list[Word] = []
    last_start = 0.0
    for word in words:
        for part in word.text.split():
            start = max(word.start_s, last_start, 0.0)
            out.append(Word(part, start, max(word.end_s, start)))
            last_start = start
    return out


class _Filler:
    """Lines filled one word at a time, two ways: greedily (the fewest lines there can
    be: `lines`), and keeping sentences apart (`clean_lines`): where a line that holds a
    sentence end must wrap, the words of the sentence begun after it move down too, so
    no line ends one sentence and breaks off inside the next."""

    def __init__(self, width: int):
        self.width = width
        self.greedy: list[int] = []
        self.clean: list[int] = []
        #: The length of the clean layout's last line after its last sentence end (None:
        #: it holds no sentence end; 0: it ends at one).
        self.open: int | None = None

    @property
    def lines(self) -> int:
        return len(self.greedy)

    @property
    def clean_lines(self) -> int:
        return len(self.clean)

    def _room(self, lines: list[int], size: int) -> bool:
        """Whether a word of `size` characters goes on the last of `lines`."""
        return bool(lines) and size <= self.width and lines[-1] + 1 + size <= self.width

    def add(self, text: str, ends_sentence: bool) -> None:
        size = len(text)
        if self._room(self.greedy, size):
            self.greedy[-1] += 1 + size
        else:
            self.greedy.append(size)
        if self._room(self.clean, size):
            self.clean[-1] += 1 + size
            if self.open is not None:
                self.open = self.open + 1 + size if self.open else size
        elif self.open:  # the begun sentence moves down with this word
            self.clean[-1] -= self.open + 1
            carried = [self.open]
            if self._room(carried, size):
                carried[-1] += 1 + size
            else:
                carried.append(size)
            self.clean.extend(carried)
            self.open = None
        else:
            self.clean.append(size)
            self.open = None
        if ends_sentence:
            self.open = 0


def fits(texts: Sequence[str], max_chars_per_line: int, max_lines: int) -> bool:
    """Whether these words fit in one cue (a single word always does)."""
    filler = _Filler(max_chars_per_line)
    for text in texts:
        filler.add(text, False)
    return len(texts) <= 1 or filler.lines <= max_lines


# --------------------------------------------------------------------------- lines


def break_lines(texts: Sequence[str], max_chars_per_line: int, max_lines: int) -> list[str]:
    """The words of one cue laid out in at most `max_lines` lines (rules 1 and 4 of the
    module docstring). The words must fit (`fits`)."""
    n = len(texts)
    if n == 0:
        return []
    width = max_chars_per_line
    inf = math.inf
    # best[m][j]: the cheapest layout of texts[:j] in m lines; back[m][j]: its last start.
    best = [[inf] * (n + 1) for _ in range(max_lines + 1)]
    back = [[0] * (n + 1) for _ in range(max_lines + 1)]
    best[0][0] = 0.0
    kinds = [boundary(text) for text in texts]
    for m in range(1, max_lines + 1):
        for j in range(1, n + 1):
            after = _line_break_cost(kinds[j - 1]) if j < n else 0.0
            size = -1
            sentence_inside = False
            for i in range(j - 1, -1, -1):  # the line is texts[i:j]
                size += len(texts[i]) + 1
                if i < j - 1 and size > width:
                    break
                if i < j - 1:
                    sentence_inside = sentence_inside or kinds[i] == Boundary.SENTENCE
                if best[m - 1][i] == inf:
                    continue
                cost = best[m - 1][i] + 1.0 + (min(size, width) / width) ** 2 + after
                if sentence_inside and after:
                    cost += STRADDLE_COST  # ends one sentence and breaks off the next
                if cost < best[m][j]:
                    best[m][j], back[m][j] = cost, i
    m = min(range(1, max_lines + 1), key=lambda k: best[k][n])
    if best[m][n] == inf:
        raise ValueError(f"{n} words do not fit in {max_lines} lines of {width} characters")
    lines: list[str] = []
    j = n
    while m:
        i = back[m][j]
        lines.append(" ".join(texts[i:j]))
        j, m = i, m - 1
    return lines[::-1]


def _line_break_cost(kind: Boundary) -> float:
    return {Boundary.SENTENCE: 0.0, Boundary.CLAUSE: LINE_CLAUSE_COST}.get(kind, LINE_WORD_COST)


def _cue_break_cost(kind: Boundary) -> float:
    return {Boundary.SENTENCE: 0.0, Boundary.CLAUSE: CLAUSE_COST}.get(kind, WORD_COST)


# --------------------------------------------------------------------------- cues


def _groups(words: Sequence[Word], width: int, max_lines: int) -> list[tuple[int, int]]:
    """Where cues begin and end, as `(i, j)` word ranges (rules 1 to 3)."""
    n = len(words)
    capacity = width * max_lines
    kinds = [boundary(w.text) for w in words]
    pause = [k + 1 < n and words[k + 1].start_s - words[k].end_s >= PAUSE_S for k in range(n)]
    # What ending a cue after word k costs (nothing at the end, at a pause, at a sentence).
    after = [0.0 if k + 1 == n or pause[k] else _cue_break_cost(kinds[k]) for k in range(n)]
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] == math.inf:
            continue
        filler = _Filler(width)
        chars = -1
        sentence_inside = False
        for j in range(i + 1, n + 1):
            k = j - 1  # the cue is words[i:j], its last word words[k]
            if k > i:
                if pause[k - 1]:
                    break  # a pause: this cue ends before it
                sentence_inside = sentence_inside or kinds[k - 1] == Boundary.SENTENCE
            filler.add(words[k].text, kinds[k] == Boundary.SENTENCE)
            if k > i and filler.lines > max_lines:
                break
            chars += len(words[k].text) + 1
            cost = best[i] + 1.0 + min(1.0, chars / capacity) ** 2 + after[k]
            if sentence_inside and after[k]:
                cost += STRADDLE_COST  # ends one sentence and breaks off the next
            if filler.clean_lines > max_lines:
                cost += STRADDLE_COST  # its lines cannot keep its sentences apart
            if cost < best[j]:
                best[j], back[j] = cost, i
    ranges: list[tuple[int, int]] = []
    j = n
    while j:
        ranges.append((back[j], j))
        j = back[j]
    return ranges[::-1]


def make_cues(
    words: Sequence[Word],
    *,
    max_chars_per_line: int = 42,
    max_lines: int = 2,
    min_duration_s: float = 1.0,
    max_chars_per_second: float = 17.0,
    until_s: float | None = None,
) -> list[Cue]:
    """The cues showing `words` (see the module docstring for the rules). `until_s`:
    where the last cue's extension stops (the end of the audio or the video)."""
    if max_chars_per_line < 1 or max_lines < 1 or max_chars_per_second <= 0:
        raise ValueError("cue limits must be positive")
    clean = _clean(words)
    groups = [clean[i:j] for i, j in _groups(clean, max_chars_per_line, max_lines)]
    laid_out = [
        break_lines([w.text for w in group], max_chars_per_line, max_lines) for group in groups
    ]
    cues: list[Cue] = []
    for k, (group, lines) in enumerate(zip(groups, laid_out, strict=True)):
        start, spoken_end = group[0].start_s, group[-1].end_s
        chars = len(" ".join(lines))
        wanted = max(spoken_end, start + min_duration_s, start + chars / max_chars_per_second)
        if k + 1 < len(groups):
            end = min(wanted, groups[k + 1][0].start_s)
        else:
            limit = until_s if until_s is not None else math.inf
            end = max(spoken_end, min(wanted, limit))
        cues.append(Cue(start, end, tuple(lines), tuple(group)))
    return cues
