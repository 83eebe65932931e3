"""ElevenLabs text-to-speech over httpx (contract: docs/providers.md section 1).

TTS is synchronous: one ``POST /v1/text-to-speech/{voice_id}/with-timestamps`` answers
JSON with the audio (``audio_base64``, in the ``output_format`` asked for) and the time
of each character of the text (``alignment``: ``characters``,
``character_start_times_seconds``, ``character_end_times_seconds``), billed as the plain
endpoint is. There is no job to persist or re-attach to, and no idempotency key. A
refused request (429, a connection never made) is retried here with our own backoff
(ElevenLabs sends no Retry-After); 4xx errors fail at once with ElevenLabs' message. A
request whose outcome is unknown (a 5xx, a timeout, a dropped connection, a cut-off body
or an answer without audio after it was sent) may have been generated and billed: it is
looked up in the speech history (``GET /v1/history?voice_id=…``, by its ``request-id`` or
its text, model and time). Found there, the node fails as possibly billed, naming the
request id (the history's audio is not taken in place of the requested format); not
found after an HTTP 500, it is sent again; anything else fails as possibly billed.

The character timing becomes word timing (:class:`~vidpipe.captions.alignment.Alignment`,
whitespace-separated words as written), returned with the usage. An answer without a
usable alignment gets an estimate spread over its audio's duration.

Scripts longer than the model's per-request character limit are split at sentence
boundaries; each part is requested with the previous part's ``request-id`` in
``previous_request_ids`` (for continuous prosody) and the parts are joined:

* MP3 (CBR), PCM, u-law and A-law output: byte-wise concatenation. MP3 is a sequence of
  self-contained frames and ElevenLabs sends no ID3/Xing header, so the joined file
  plays and probes as one stream (each part keeps its encoder padding, some 50 ms of
  silence at each join); raw PCM has no header at all.
* WAV and Opus (containers with headers): FFmpeg's concat demuxer, stream copy.

The parts' alignments are joined into one, each shifted by the duration of the audio
before it (probed; raw PCM, u-law and A-law by their byte count).

Billing: the ``character-cost`` response header (credits billed), summed over the parts;
when it is missing, the part's character count.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from pydantic import SecretStr

from vidpipe import media
from vidpipe.captions.alignment import Alignment
from vidpipe.errors import PermanentProviderError, TransientProviderError
from vidpipe.providers.http import (
    SYSTEM_CLOCK,
    Clock,
    Exists,
    create_once,
    json_of,
    request_id_of,
    request_json,
    send,
)
from vidpipe.refs import Usage
from vidpipe.settings import Settings

__all__ = ["ElevenLabs", "CHARACTER_LIMITS", "DEFAULT_MODEL", "split_text"]

PROVIDER = "elevenlabs"
DEFAULT_MODEL = "eleven_multilingual_v2"
#: Characters per request (docs/providers.md section 1, from ElevenLabs' models.mdx);
#: unknown models get the smallest.
CHARACTER_LIMITS: dict[str, int] = {
    "eleven_v3": 3_000,
    "eleven_flash_v2_5": 40_000,
    "eleven_turbo_v2_5": 40_000,
    "eleven_flash_v2": 30_000,
    "eleven_turbo_v2": 30_000,
    "eleven_multilingual_v2": 10_000,
}
_BYTE_JOINABLE = ("mp3_", "pcm_", "ulaw_", "alaw_")
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")
#: Seconds a history item may be stamped before our send time (clock skew) and be ours.
LOOKUP_SKEW_S = 120


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at sentence ends where possible,
    else at spaces, else anywhere (a single 'word' longer than the limit)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        pieces.extend(_split_long(sentence, limit))
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current} {piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def _split_long(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    out: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > limit:
            if current:
                out.append(current)
                current = ""
            out.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out


class ElevenLabs:
    """An ElevenLabs TTS client on an `httpx.Client` constructed by the caller."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_key: SecretStr,
        base_url: str = "https://api.elevenlabs.io",
        clock: Clock = SYSTEM_CLOCK,
        deadline_s: float = 300.0,
    ):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.clock = clock
        self.deadline_s = deadline_s

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client | None = None) -> ElevenLabs:
        """The client for `settings` (ELEVENLABS_API_KEY, VIDPIPE_ELEVENLABS_BASE_URL);
        refuses before anything is paid for when the key is missing."""
        if settings.elevenlabs_api_key is None:
            raise PermanentProviderError(
                "elevenlabs: no credentials: set ELEVENLABS_API_KEY", provider=PROVIDER
            )
        return cls(
            client or httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0)),
            api_key=settings.elevenlabs_api_key,
            base_url=settings.elevenlabs_base_url,
        )

    def voiceover(
        self,
        text: str,
        out: str | os.PathLike[str],
        *,
        voice_id: str,
        model_id: str = DEFAULT_MODEL,
        stability: float | None = None,
        similarity_boost: float | None = None,
        speed: float | None = None,
        output_format: str = "mp3_44100_128",
        clock: Clock | None = None,
    ) -> tuple[Usage, Alignment]:
        """Speak `text` with `voice_id` into `out` (audio in `output_format`: name `out`
        to match, e.g. ``.mp3``); one Usage in characters for all parts, and when each
        word of `text` is said."""
        parts = split_text(text, CHARACTER_LIMITS.get(model_id, min(CHARACTER_LIMITS.values())))
        if not parts:
            raise PermanentProviderError(
                "elevenlabs: nothing to say (empty text)", provider=PROVIDER
            )
        settings = {
            k: v
            for k, v in {
                "stability": stability,
                "similarity_boost": similarity_boost,
                "speed": speed,
            }.items()
            if v is not None
        }
        dest = Path(out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        clock = clock or self.clock
        request_ids: list[str] = []
        timings: list[Alignment | None] = []
        cost = 0.0
        with tempfile.TemporaryDirectory(prefix=".elevenlabs-", dir=dest.parent) as tmp:
            files: list[Path] = []
            for i, part in enumerate(parts):
                body: dict[str, object] = {"text": part, "model_id": model_id}
                if settings:
                    body["voice_settings"] = settings
                if request_ids:
                    body["previous_request_ids"] = request_ids[-3:]
                part_out = dest if len(parts) == 1 else Path(tmp) / f"part{i:04d}{dest.suffix}"
                since = time.time() - LOOKUP_SKEW_S
                headers, timing = create_once(
                    lambda b=body, p=part_out: self._speak(voice_id, output_format, b, p),
                    find=lambda exc, text=part, t=since: self._find(
                        voice_id, model_id, text, since_unix=t, request_id=exc.request_id
                    ),
                    clock=clock,
                    deadline_s=self.deadline_s,
                    provider=PROVIDER,
                    what="text-to-speech request",
                    hint=f"look in the speech history of voice {voice_id}",
                )
                files.append(part_out)
                timings.append(timing)
                if headers.get("request-id"):
                    request_ids.append(headers["request-id"])
                cost += _float(headers.get("character-cost"), default=len(part))
            # a part's duration is needed to shift the parts after it, or to estimate
            # the timing of an answer that had none
            durations = [
                _duration(f, output_format) if len(parts) > 1 or t is None else 0.0
                for f, t in zip(files, timings, strict=True)
            ]
            if len(parts) > 1:
                _join(files, dest, output_format)
        usage = Usage(
            provider=PROVIDER,
            model=model_id,
            unit="characters",
            quantity=cost,
            request_id=",".join(request_ids) or None,
        )
        return usage, _joined(parts, timings, durations)

    def _speak(
        self, voice_id: str, output_format: str, body: dict[str, object], out: Path
    ) -> tuple[httpx.Headers, Alignment | None]:
        """One request: its audio saved to `out`; its headers and word timing returned.
        An answer without audio raises TransientProviderError: it may have been billed,
        so the caller looks it up rather than sending it again blind."""
        request = self.client.build_request(
            "POST",
            f"{self.base_url}/v1/text-to-speech/{voice_id}/with-timestamps",
            params={"output_format": output_format},
            json=body,
            headers={
                "xi-api-key": self._api_key.get_secret_value(),
                "accept": "application/json",
            },
        )
        response = send(self.client, request, provider=PROVIDER)
        data = json_of(response, provider=PROVIDER)
        audio = _audio_of(data)
        if audio is None:
            raise TransientProviderError(
                f"elevenlabs: HTTP {response.status_code} answer without audio (audio_base64)",
                provider=PROVIDER,
                status=response.status_code,
                request_id=request_id_of(response),
            )
        _write(out, audio)
        return response.headers, _timing_of(data, str(body["text"]))

    def _find(
        self,
        voice_id: str,
        model_id: str,
        text: str,
        *,
        since_unix: float,
        request_id: str | None,
    ) -> Exists | None:
        """Whether the speech history has this request (newest first): by its request id
        when the failed response carried one, else by text, model and time."""
        data = request_json(
            self.client,
            "GET",
            f"{self.base_url}/v1/history",
            provider=PROVIDER,
            params={"voice_id": voice_id, "page_size": 100},
            headers={"xi-api-key": self._api_key.get_secret_value()},
        )
        items = data.get("history") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TransientProviderError(
                "elevenlabs: history answered without items", provider=PROVIDER
            )
        for item in items:
            if not isinstance(item, dict):
                continue
            when = item.get("date_unix")
            same = (request_id is not None and item.get("request_id") == request_id) or (
                item.get("text") == text
                and item.get("model_id") in (None, model_id)
                and isinstance(when, int | float)
                and when >= since_unix
            )
            if same:
                return Exists(
                    f"ElevenLabs' history has it (item {item.get('history_item_id')}): "
                    "generated and billed, but its audio did not arrive",
                    request_id=item.get("request_id") or request_id,
                )
        return None


def _float(value: str | None, *, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def _audio_of(data: object) -> bytes | None:
    """The audio of a with-timestamps answer; None when it has none that decodes."""
    encoded = data.get("audio_base64") if isinstance(data, dict) else None
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _timing_of(data: object, text: str) -> Alignment | None:
    """Word timing from an answer's character `alignment` (of the text as sent), when its
    words are the text's words; None otherwise."""
    found = data.get("alignment") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return None
    characters = found.get("characters")
    starts = found.get("character_start_times_seconds")
    ends = found.get("character_end_times_seconds")
    if not (
        isinstance(characters, list)
        and isinstance(starts, list)
        and isinstance(ends, list)
        and len(characters) == len(starts) == len(ends)
        and all(isinstance(c, str) for c in characters)
        and all(isinstance(t, int | float) for t in (*starts, *ends))
    ):
        return None
    timing = Alignment.from_characters(characters, starts, ends, source=PROVIDER)
    return timing if [w.text for w in timing.words] == text.split() else None


def _joined(
    parts: Sequence[str], timings: Sequence[Alignment | None], durations: Sequence[float]
) -> Alignment:
    """One alignment for the parts spoken one after another: each part's own (or an
    estimate over its duration), shifted by the durations of the parts before it."""
    pieces: list[tuple[Alignment, float]] = []
    offset = 0.0
    for part, timing, duration in zip(parts, timings, durations, strict=True):
        pieces.append((timing or Alignment.estimated(part, duration), offset))
        offset += duration
    return Alignment(words=Alignment.joined(pieces).words, source=PROVIDER)


def _duration(path: Path, output_format: str) -> float:
    """How long a part's audio lasts: raw formats by their byte count (16-bit PCM, 8-bit
    u-law and A-law), anything else probed."""
    codec, _, rest = output_format.partition("_")
    rate = _float(rest.split("_", 1)[0], default=0.0)
    if codec in ("pcm", "ulaw", "alaw") and rate > 0:
        return path.stat().st_size / (rate * (2 if codec == "pcm" else 1))
    return media.duration(path)


def _write(out: Path, data: bytes) -> None:
    """`data` to `out`, atomically (a temporary name beside it, fsynced, then renamed)."""
    tmp = out.with_name(f".{out.name}.{os.urandom(4).hex()}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _join(files: list[Path], dest: Path, output_format: str) -> None:
    """Join the parts into `dest` atomically (see the module docstring for why bytes)."""
    if output_format.startswith(_BYTE_JOINABLE):
        tmp = dest.with_name(f".{dest.name}.{os.urandom(4).hex()}.part")
        try:
            with open(tmp, "wb") as fh:
                for part in files:
                    with open(part, "rb") as src:
                        while chunk := src.read(1024 * 1024):
                            fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return
    listing = files[0].parent / "parts.txt"
    listing.write_text(media.concat_list_text(files))
    args = media.build_concat_copy_args(listing, dest)
    media.run_ffmpeg(args, operation="elevenlabs.join", output=dest)
