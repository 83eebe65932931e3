"""ElevenLabs text-to-speech over httpx (contract: docs/providers.md section 1).

TTS is synchronous: one ``POST /v1/text-to-speech/{voice_id}`` returns the audio, so
there is no job to persist or re-attach to, and no idempotency key. A refused request
(429, a connection never made) is retried here with our own backoff (ElevenLabs sends no
Retry-After); 4xx errors fail at once with ElevenLabs' message. A request whose outcome
is unknown (a 5xx, a timeout, a dropped connection or a cut-off body after it was sent)
may have been generated and billed: it is looked up in the speech history
(``GET /v1/history?voice_id=…``, by its ``request-id`` or its text, model and time).
Found there, the node fails as possibly billed, naming the request id (the history's
audio is not taken in place of the requested format); not found after an HTTP 500, it
is sent again; anything else fails as possibly billed.

Scripts longer than the model's per-request character limit are split at sentence
boundaries; each part is requested with the previous part's ``request-id`` in
``previous_request_ids`` (for continuous prosody) and the parts are joined:

* MP3 (CBR), PCM, u-law and A-law output: byte-wise concatenation. MP3 is a sequence of
  self-contained frames and ElevenLabs sends no ID3/Xing header, so the joined file
  plays and probes as one stream (each part keeps its encoder padding, some 50 ms of
  silence at each join); raw PCM has no header at all.
* WAV and Opus (containers with headers): FFmpeg's concat demuxer, stream copy.

Billing: the ``character-cost`` response header (credits billed), summed over the parts;
when it is missing, the part's character count.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from vidpipe import media
from vidpipe.errors import PermanentProviderError, TransientProviderError
from vidpipe.providers.http import (
    SYSTEM_CLOCK,
    Clock,
    Exists,
    create_once,
    request_json,
    save_response,
    send_stream,
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
    ) -> Usage:
        """Speak `text` with `voice_id` into `out` (audio in `output_format`: name `out`
        to match, e.g. ``.mp3``); one Usage in characters for all parts."""
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
        cost = 0.0
        with tempfile.TemporaryDirectory(prefix=".elevenlabs-", dir=dest.parent) as tmp:
            files: list[Path] = []
            for i, part in enumerate(parts):
                body: dict[str, object] = {"text": part, "model_id": model_id}
                if settings:
                    body["voice_settings"] = settings
                if request_ids:
                    body["previous_request_ids"] = request_ids[-3:]
                part_out = dest if len(parts) == 1 else Path(tmp) / f"part{i:04d}"
                since = time.time() - LOOKUP_SKEW_S
                headers = create_once(
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
                if headers.get("request-id"):
                    request_ids.append(headers["request-id"])
                cost += _float(headers.get("character-cost"), default=len(part))
            if len(parts) > 1:
                _join(files, dest, output_format)
        return Usage(
            provider=PROVIDER,
            model=model_id,
            unit="characters",
            quantity=cost,
            request_id=",".join(request_ids) or None,
        )

    def _speak(
        self, voice_id: str, output_format: str, body: dict[str, object], out: Path
    ) -> httpx.Headers:
        request = self.client.build_request(
            "POST",
            f"{self.base_url}/v1/text-to-speech/{voice_id}",
            params={"output_format": output_format},
            json=body,
            headers={
                "xi-api-key": self._api_key.get_secret_value(),
                "accept": "audio/*, application/json",
            },
        )
        response = send_stream(self.client, request, provider=PROVIDER)
        try:
            save_response(response, out, provider=PROVIDER)
        finally:
            response.close()
        return response.headers

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
