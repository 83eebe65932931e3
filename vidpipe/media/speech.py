"""Offline speech: eSpeak NG reads a script aloud and says when it said each word.

:func:`speak` is the voice of placeholder voiceovers: a real synthetic voice, offline and
deterministic (the same text, voice and speed give the same bytes on the same FFmpeg
build), returning an :class:`~vidpipe.captions.alignment.Alignment` with every
whitespace-separated token of the script as written (punctuation attached) and its time.

* eSpeak NG ships inside the ``espeakng-loader`` wheel (its shared library and its
  ``espeak-ng-data`` folder), used through ctypes. It is not thread-safe, and it keeps
  global state from one synthesis to the next (its pitch flutter's phase, its gain
  control), so the same text would not come out the same twice in one process. Hence each
  synthesis loads the library afresh, initialises it, speaks, terminates and unloads it
  (a few milliseconds), all under one process-wide lock; encoding the result with FFmpeg
  happens outside the lock.
* It speaks 16-bit mono PCM at 22,050 Hz and reports a *word event* for each word it
  says: the word's 1-based position in the text, counted in characters (code points, not
  UTF-8 bytes), and its time in milliseconds. FFmpeg encodes the PCM into `out` (the
  suffix picks the codec: AAC for ``.m4a``, MP3, WAV; 48 kHz mono, ``+bitexact``).
  Speech shorter than :data:`MIN_DURATION_S` is padded with silence.
* The voice: a `voice_id` naming an eSpeak voice or language (``en-us``, ``en``, ``de``,
  ``ar``, ``gmw/en-US``, ``English (America)``; case does not matter) is that voice; any
  other id speaks English at a pitch picked from the id, so two ids sound different. The
  rate is eSpeak's 175 words a minute times `speed`, kept within its 80..450.
* Word times (:func:`align_words`, pure): events are matched to the script's tokens by
  character position. A token with several events (a number said as several words)
  starts at its first; tokens with none (a "the" said together with its neighbour, a
  dash) share the time of the word before them by their length, punctuation taking none.
  A word ends where its sound ends before the next word starts (trailing silence is
  trimmed), the last one within the audio.
"""

from __future__ import annotations

import _ctypes
import array
import bisect
import ctypes
import hashlib
import os
import re
import sys
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import ffmpeg

from vidpipe.captions.alignment import Alignment, Word
from vidpipe.errors import MediaError, SpecError
from vidpipe.media.formats import AUDIO_RATE
from vidpipe.media.runner import run_ffmpeg
from vidpipe.media.synthetic import audio_codec_opts

__all__ = ["EmptyTextError", "speak", "align_words", "voices", "SAMPLE_RATE", "SOURCE"]

SOURCE = "espeak-ng"
#: What eSpeak NG synthesises: 16-bit mono PCM at this rate.
SAMPLE_RATE = 22_050
#: Words a minute at speed 1, and the range eSpeak accepts (speak_lib.h).
NORMAL_WPM, MIN_WPM, MAX_WPM = 175, 80, 450
#: Speech is padded with silence to last at least this long.
MIN_DURATION_S = 1.0
#: Sound is looked for in frames of this many samples (10 ms).
FRAME = 220
#: A frame whose peak stays within this level (of 32,767) is silence.
SILENCE_LEVEL = 64
#: A word ends at least this long before the next one starts.
GAP_S = 0.01

# speak_lib.h (API revision 12)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_BUFFER_MS = 500
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_RATE, _PITCH = 1, 3

_TOKEN = re.compile(r"\S+")


class EmptyTextError(SpecError, ValueError):
    """The text to speak is empty or only whitespace."""


# --------------------------------------------------------------------------- word timing


def align_words(
    text: str,
    events: Sequence[tuple[int, float]],
    *,
    duration_s: float,
    sounding: Sequence[bool] | None = None,
    frame_s: float = FRAME / SAMPLE_RATE,
) -> Alignment:
    """The script's tokens timed from eSpeak's word events.

    `events` are `(character index from 0, seconds)` in the order spoken; `sounding` says,
    frame by frame (`frame_s` each), whether the audio has sound there (None: sound
    everywhere, so a word lasts until the next starts). Every token of `text` is in the
    result, in order, with non-decreasing starts within `[0, duration_s]`.
    """
    tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(text)]
    if not tokens:
        return Alignment(words=(), source=SOURCE)
    positions = [start for start, _ in tokens]
    said: dict[int, float] = {}
    for position, at_s in events:
        index = max(0, bisect.bisect_right(positions, position) - 1)
        said[index] = min(at_s, said.get(index, at_s))
    slots = _slots([token for _, token in tokens], said, duration_s)
    words: list[Word] = []
    for i, ((_, token), (begin, end)) in enumerate(zip(tokens, slots, strict=True)):
        if begin == end and words and i not in said:  # unspoken: where the last word ended
            begin = end = words[-1].end_s
        limit = end if i == len(tokens) - 1 else max(begin, end - GAP_S)
        words.append(Word(token, begin, _sound_end(sounding, frame_s, begin, limit)))
    return Alignment(words=tuple(words), source=SOURCE)


def _slots(
    tokens: list[str], said: dict[int, float], duration_s: float
) -> list[tuple[float, float]]:
    """Each token's share of the time: a token eSpeak timed, with the untimed tokens after
    it, shares the time until the next timed token by length (punctuation-only tokens
    take none); tokens before the first timed one share the time before it."""
    heads: list[int] = []
    times: dict[int, float] = {}
    latest = 0.0
    for index in sorted(said):
        latest = min(max(latest, said[index]), duration_s)
        heads.append(index)
        times[index] = latest
    bounds = heads if heads and heads[0] == 0 else [0, *heads]
    slots: list[tuple[float, float]] = []
    for k, first in enumerate(bounds):
        stop = bounds[k + 1] if k + 1 < len(bounds) else len(tokens)
        begin = times.get(first, 0.0)
        end = times[stop] if stop < len(tokens) else duration_s
        group = range(first, stop)
        weights = [_weight(tokens[j], timed=j in times, spread=not heads) for j in group]
        total = sum(weights)
        at = begin
        for weight in weights:
            share = (end - begin) * weight / total if total else 0.0
            slots.append((at, min(end, at + share)))
            at += share
    return slots


def _weight(token: str, *, timed: bool, spread: bool) -> int:
    if timed or spread:
        return max(1, len(token))
    return len(token) if any(ch.isalnum() for ch in token) else 0


def _sound_end(
    sounding: Sequence[bool] | None, frame_s: float, begin: float, limit: float
) -> float:
    """Where the sound between `begin` and `limit` ends (`begin` if there is none)."""
    if limit <= begin:
        return begin
    if sounding is None:
        return limit
    first = int(begin / frame_s)
    for frame in range(min(len(sounding), int(limit / frame_s) + 1) - 1, first - 1, -1):
        if sounding[frame]:
            return max(begin, min(limit, (frame + 1) * frame_s))
    return begin


def _sounding(pcm: bytes) -> list[bool]:
    """Per frame of :data:`FRAME` samples: whether its peak rises above silence."""
    samples = array.array("h")
    samples.frombytes(pcm)
    found = []
    for i in range(0, len(samples), FRAME):
        frame = samples[i : i + FRAME]
        found.append(max(frame) > SILENCE_LEVEL or min(frame) < -SILENCE_LEVEL)
    return found


# --------------------------------------------------------------------------- eSpeak NG


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    """espeak_VOICE."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class _Collected:
    """What the synthesis under way has produced: PCM bytes and word events."""

    def __init__(self) -> None:
        self.pcm = bytearray()
        self.events: list[tuple[int, float]] = []


_collected = _Collected()


def _collect(wav, count: int, events) -> int:
    """eSpeak's synth callback: keep the samples and the word events (0: go on)."""
    if wav and count > 0:
        _collected.pcm += ctypes.string_at(wav, count * 2)
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        if events[i].type == _EVENT_WORD:
            _collected.events.append((events[i].text_position - 1, events[i].audio_position / 1000))
        i += 1
    return 0


_callback = _SynthCallback(_collect)  # alive as long as the module: eSpeak holds it


def _load():
    """eSpeak NG freshly loaded and initialised (synchronous output to :func:`_collect`)."""
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError) as exc:
        raise MediaError(f"eSpeak NG is not available: {exc}", operation="speak") from exc
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data.encode(), _INITIALIZE_DONT_EXIT
    )
    if rate != SAMPLE_RATE:
        _unload(lib)
        raise MediaError(
            f"eSpeak NG did not start (it answered {rate}, not {SAMPLE_RATE} Hz)",
            operation="speak",
            path=data,
        )
    lib.espeak_SetSynthCallback(_callback)
    return lib


def _unload(lib) -> None:
    """Terminate eSpeak NG and unload it, so the next load starts from a clean state."""
    lib.espeak_Terminate()
    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(lib._handle)


def _synthesize(
    lib, text: str, voice: str, wpm: int, pitch: int
) -> tuple[bytes, list[tuple[int, float]]]:
    """PCM and word events of `text` spoken by `voice` (an identifier)."""
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise MediaError(f"eSpeak NG has no voice {voice!r}", operation="speak")
    lib.espeak_SetParameter(_RATE, wpm, 0)
    lib.espeak_SetParameter(_PITCH, pitch, 0)
    _collected.__init__()
    data = text.encode("utf-8") + b"\0"
    status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    if status != 0:
        raise MediaError(f"eSpeak NG could not speak (error {status})", operation="speak")
    found = bytes(_collected.pcm), _collected.events
    _collected.__init__()
    return found


def _list_voices(lib) -> list[tuple[str, str, list[tuple[int, str]]]]:
    """eSpeak's voices: (name, identifier, [(priority, language)])."""
    found = []
    table = lib.espeak_ListVoices(None)
    i = 0
    while table[i]:
        voice = table[i].contents
        languages: list[tuple[int, str]] = []
        at = voice.languages
        while at and ctypes.c_ubyte.from_address(at).value:  # priority byte, then a name
            priority = ctypes.c_ubyte.from_address(at).value
            name = ctypes.string_at(at + 1)
            languages.append((priority, name.decode("utf-8", "replace")))
            at += len(name) + 2
        found.append(
            (
                (voice.name or b"").decode("utf-8", "replace"),
                (voice.identifier or b"").decode("utf-8", "replace"),
                languages,
            )
        )
        i += 1
    return found


def _voice_keys(listed: list[tuple[str, str, list[tuple[int, str]]]]) -> dict[str, str]:
    """Voice identifier by every lower-cased way of naming it: its identifier (with and
    without its family folder), its name, and each of its languages (the voice that
    prefers the language most: the lowest priority number, then the first listed)."""
    keys: dict[str, str] = {}
    ranked: dict[str, tuple[int, int]] = {}
    for order, (name, identifier, languages) in enumerate(listed):
        for key in (identifier, identifier.rsplit("/", 1)[-1], name):
            keys.setdefault(key.lower(), identifier)
        for priority, language in languages:
            key = language.lower()
            if key not in ranked or (priority, order) < ranked[key]:
                ranked[key] = (priority, order)
                keys[key] = identifier
    keys.pop("", None)
    return keys


_LOCK = threading.Lock()
_VOICES: dict[str, str] | None = None


def _voices(lib) -> dict[str, str]:
    """The voice table, read once (call with the lock held)."""
    global _VOICES
    if _VOICES is None:
        _VOICES = _voice_keys(_list_voices(lib))
    return _VOICES


def voices() -> dict[str, str]:
    """Every name a voice id may take to pick an eSpeak voice (lower-cased), with the
    voice identifier it picks."""
    with _LOCK:
        if _VOICES is None:
            lib = _load()
            try:
                _voices(lib)
            finally:
                _unload(lib)
        return dict(_VOICES or {})


# --------------------------------------------------------------------------- speak


def _voice_for(voice_id: str, known: dict[str, str]) -> tuple[str, int]:
    """The eSpeak voice and pitch (0..100) a voice id speaks with."""
    identifier = known.get(voice_id.strip().lower())
    if identifier is not None:
        return identifier, 50
    digest = hashlib.sha256(f"espeak-pitch\x1f{voice_id}".encode()).digest()
    return known.get("en", "gmw/en"), 25 + int.from_bytes(digest[:8], "big") % 51


def _speakable(text: str) -> str:
    """`text` as eSpeak may read it, character for character (so positions still match):
    control characters and lone surrogates become spaces."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cs") and not ch.isspace() else ch for ch in text
    )


def speak(
    text: str, out_path: str | os.PathLike[str], *, voice_id: str, speed: float = 1.0
) -> Alignment:
    """Speak `text` into `out_path` (codec from its suffix) and say when each word is said.

    Raises :class:`EmptyTextError` for text that is empty or only whitespace, ValueError
    for a speed that is not positive, :class:`~vidpipe.errors.MediaError` when eSpeak NG
    or FFmpeg fails.
    """
    if not text or not text.strip():
        raise EmptyTextError("nothing to say: the text to speak is empty or only whitespace")
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    wpm = round(min(max(NORMAL_WPM * speed, MIN_WPM), MAX_WPM))
    with _LOCK:
        lib = _load()
        try:
            voice, pitch = _voice_for(voice_id, _voices(lib))
            pcm, events = _synthesize(lib, _speakable(text), voice, wpm, pitch)
        finally:
            _unload(lib)
    shortfall = round(MIN_DURATION_S * SAMPLE_RATE) - len(pcm) // 2
    if shortfall > 0:
        pcm += bytes(2 * shortfall)
    duration_s = len(pcm) // 2 / SAMPLE_RATE
    alignment = align_words(text, events, duration_s=duration_s, sounding=_sounding(pcm))
    _encode(pcm, Path(out_path))
    return alignment


def _encode(pcm: bytes, dest: Path) -> None:
    """PCM from eSpeak to `dest` (48 kHz mono, bit-exact), through FFmpeg's stdin."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    layout = "s16le" if sys.byteorder == "little" else "s16be"
    codec = audio_codec_opts(dest)
    if codec.get("c:a") == "aac":
        codec["aac_coder"] = "fast"  # some 40% quicker than the default, and as good for a voice
    args = (
        ffmpeg.input("pipe:", f=layout, ar=SAMPLE_RATE, ac=1)
        .output(
            str(dest),
            **codec,
            ar=AUDIO_RATE,
            ac=1,
            fflags="+bitexact",
            **{"flags:a": "+bitexact"},
        )
        .get_args()
    )

    def feed(stdin: IO[bytes]) -> None:
        view = memoryview(pcm)
        for start in range(0, len(view), 1 << 20):
            stdin.write(view[start : start + (1 << 20)])

    run_ffmpeg(args, operation="speak", output=dest, feed=feed)
