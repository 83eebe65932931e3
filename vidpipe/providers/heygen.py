"""HeyGen talking-head videos over httpx, v3 API (contract: docs/providers.md section 2).

submit -> poll -> download:

* ``POST /v3/videos`` ``{"type": "avatar", "avatar_id", "audio_url", "aspect_ratio",
  "title", "callback_id"}`` with ``X-Api-Key``; HeyGen answers 429 + Retry-After past 10
  concurrent jobs, which created nothing and is retried after the wait it asks for.
  HeyGen has no idempotency key, so each create carries a fresh correlation token as its
  ``title`` (and ``callback_id``): a create whose outcome is unknown (5xx, timeout,
  dropped connection) is looked up with ``GET /v3/videos?title=<token>`` (the documented
  list, filtered by title substring) and the video found is polled; never sent blind.
* The video id goes to ``on_job`` before any polling; ``GET /v3/videos/{id}`` until
  ``completed | failed`` (``failure_code``/``failure_message`` surfaced).
* ``video_url`` is a presigned link that expires (7 days): a refused download fetches
  the status again for a fresh link and retries once.

Audio must be reachable by HeyGen: a public or presigned URL whose extension matches
the format, or a local file uploaded first with :meth:`HeyGen.upload_asset` (the legacy
``POST https://upload.heygen.com/v1/asset``, raw body with its Content-Type). An upload is
remembered by the file's digest for an hour, so a task's retry reuses it.

Usage: ``seconds`` = the video's ``duration`` as HeyGen reports it (billed per output
second).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from vidpipe.errors import PermanentProviderError, TransientProviderError
from vidpipe.providers.http import (
    CHUNK_SIZE,
    SYSTEM_CLOCK,
    Clock,
    JobCallback,
    create_once,
    expired_job,
    fetch_media,
    poll_until,
    request_json,
    retry_call,
)
from vidpipe.refs import Usage
from vidpipe.settings import Settings

__all__ = ["HeyGen", "DEFAULT_BASE_URL", "DEFAULT_UPLOAD_URL", "IN_PROGRESS"]

PROVIDER = "heygen"
DEFAULT_BASE_URL = "https://api.heygen.com"
DEFAULT_UPLOAD_URL = "https://upload.heygen.com"
IN_PROGRESS = frozenset({"pending", "waiting", "queued", "processing"})
MODEL = "avatar_iv"  # v3's default engine, the one the price book bills
#: How long an uploaded asset is reused for the same file (a task's retries come within
#: minutes; HeyGen does not document how long an asset lives).
UPLOAD_REUSE_S = 3600.0
_uploads: dict[tuple[str, str, str], tuple[float, str]] = {}
_uploads_lock = threading.Lock()


class HeyGen:
    """A HeyGen client on an `httpx.Client` constructed by the caller."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_key: SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        upload_url: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.client = client
        self.base_url = base_url.rstrip("/")
        # The upload host is separate in production; an overridden base URL (a proxy, a
        # fake) serves both.
        if upload_url is None:
            upload_url = DEFAULT_UPLOAD_URL if self.base_url == DEFAULT_BASE_URL else base_url
        self.upload_url = upload_url.rstrip("/")
        self._api_key = api_key
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client | None = None) -> HeyGen:
        """The client for `settings` (HEYGEN_API_KEY, VIDPIPE_HEYGEN_BASE_URL); refuses
        before anything is paid for when the key is missing."""
        if settings.heygen_api_key is None:
            raise PermanentProviderError(
                "heygen: no credentials: set HEYGEN_API_KEY", provider=PROVIDER
            )
        return cls(
            client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0)),
            api_key=settings.heygen_api_key,
            base_url=settings.heygen_base_url,
        )

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key.get_secret_value()}

    # ------------------------------------------------------------------ high level

    def talking_head(
        self,
        audio_url: str | os.PathLike[str],
        out: str | os.PathLike[str],
        *,
        avatar_id: str,
        on_job: JobCallback,
        aspect_ratio: str = "16:9",
        resume_job_id: str | None = None,
        background_url: str | None = None,
        resolution: str | None = None,
        clock: Clock | None = None,
        deadline_s: float = 3600.0,
    ) -> Usage:
        """The avatar speaking `audio_url` (a URL, or a local path which is uploaded
        first), written to `out` as MP4; re-attaches to `resume_job_id` if given."""
        clock = clock or self.clock
        start = clock.now()
        if resume_job_id:
            video_id = resume_job_id
            self._status(video_id, resuming=True)  # gone -> reported, never resubmitted
        else:
            url = str(audio_url)
            if not url.startswith(("http://", "https://")):
                url = self.upload_asset(Path(audio_url), clock=clock)
            body: dict[str, Any] = {
                "type": "avatar",
                "avatar_id": avatar_id,
                "audio_url": url,
                "aspect_ratio": aspect_ratio,
            }
            if resolution:
                body["resolution"] = resolution
            if background_url:
                body["background"] = {"type": "image", "url": background_url}
            video_id = self._create(body, clock=clock)
            on_job(video_id)
        data = poll_until(
            lambda: self._finished(video_id),
            clock=clock,
            deadline_s=max(1.0, deadline_s - (clock.now() - start)),
            provider=PROVIDER,
            what=f"video {video_id}",
            wait_first=not resume_job_id,
        )
        fetch_media(
            self.client,
            _video_url(data, video_id),
            out,
            clock=clock,
            provider=PROVIDER,
            refresh=lambda: _video_url(self._status(video_id), video_id),
        )
        duration = data.get("duration")
        if not isinstance(duration, int | float):
            raise PermanentProviderError(
                f"heygen: video {video_id} completed without a duration", provider=PROVIDER
            )
        return Usage(
            provider=PROVIDER,
            model=MODEL,
            unit="seconds",
            quantity=float(duration),
            request_id=video_id,
        )

    def upload_asset(self, path: str | os.PathLike[str], *, clock: Clock | None = None) -> str:
        """Upload a local file (audio: MP3/WAV, up to 50 MB) and return its HeyGen URL.

        The body is streamed from disk with the Content-Type of the file's extension
        (HeyGen checks that extension and format agree). Uploads are free, so a failed
        one is simply retried. The same file (by digest, same account) uploaded within
        `UPLOAD_REUSE_S` is not uploaded again: a task's retry reuses the asset."""
        file = Path(path)
        mime = mimetypes.guess_type(file.name)[0]
        if mime is None:
            raise PermanentProviderError(
                f"heygen: cannot tell the type of {file.name}; name it .mp3 or .wav",
                provider=PROVIDER,
            )
        size = file.stat().st_size
        key = (self.upload_url, self._account(), _digest(file) + file.suffix.lower())
        with _uploads_lock:
            known = _uploads.get(key)
        if known is not None and time.monotonic() - known[0] < UPLOAD_REUSE_S:
            return known[1]

        def upload() -> str:
            data = request_json(
                self.client,
                "POST",
                f"{self.upload_url}/v1/asset",
                provider=PROVIDER,
                content=_read_chunks(file),
                headers={**self._headers(), "content-type": mime, "content-length": str(size)},
            )
            asset = data.get("data") if isinstance(data, dict) else None
            url = asset.get("url") if isinstance(asset, dict) else None
            if not isinstance(url, str):
                raise TransientProviderError(
                    "heygen: asset upload answered without a url", provider=PROVIDER
                )
            return url

        url = retry_call(
            upload,
            clock=clock or self.clock,
            deadline_s=300.0,
            provider=PROVIDER,
            what="asset upload",
        )
        with _uploads_lock:
            now = time.monotonic()
            for stale in [k for k, (at, _) in _uploads.items() if now - at >= UPLOAD_REUSE_S]:
                del _uploads[stale]
            _uploads[key] = (now, url)
        return url

    def _account(self) -> str:
        """Which account uploads belong to, without keeping the key itself."""
        return hashlib.sha256(self._api_key.get_secret_value().encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ wire

    def _create(self, body: dict[str, Any], *, clock: Clock) -> str:
        token = f"vidpipe-{uuid.uuid4().hex[:20]}"
        body = {**body, "title": token, "callback_id": token}

        def create() -> str:
            data = request_json(
                self.client,
                "POST",
                f"{self.base_url}/v3/videos",
                provider=PROVIDER,
                json=body,
                headers=self._headers(),
            )
            video_id = (data.get("data") or {}).get("video_id") if isinstance(data, dict) else None
            if not isinstance(video_id, str):
                raise PermanentProviderError(
                    "heygen: create answered without a video_id", provider=PROVIDER
                )
            return video_id

        # 429 past 10 concurrent jobs: nothing was created; wait as told and try again.
        # Anything ambiguous: look the video up by its title token, never send it blind.
        return create_once(
            create,
            find=lambda _exc: self._find(token),
            clock=clock,
            deadline_s=1800.0,
            provider=PROVIDER,
            what="video create",
            hint=f"look for a video titled {token}",
        )

    def _find(self, token: str) -> str | None:
        """The id of the video created with this title token, if HeyGen has one."""
        data = request_json(
            self.client,
            "GET",
            f"{self.base_url}/v3/videos",
            provider=PROVIDER,
            params={"title": token, "limit": 10},
            headers=self._headers(),
        )
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TransientProviderError(
                "heygen: video list answered without data", provider=PROVIDER
            )
        ids = [
            item["id"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and token in str(item.get("title") or "")
        ]
        return ids[0] if ids else None

    def _status(self, video_id: str, *, resuming: bool = False) -> dict[str, Any]:
        try:
            data = request_json(
                self.client,
                "GET",
                f"{self.base_url}/v3/videos/{video_id}",
                provider=PROVIDER,
                headers=self._headers(),
            )
        except PermanentProviderError as exc:
            if resuming and exc.status in (404, 410):
                raise expired_job(PROVIDER, video_id, exc) from exc
            raise
        status = data.get("data") if isinstance(data, dict) else None
        if not isinstance(status, dict) or "status" not in status:
            raise TransientProviderError(
                "heygen: status answered without data.status", provider=PROVIDER
            )
        return status

    def _finished(self, video_id: str) -> dict[str, Any] | None:
        data = self._status(video_id)
        status = data["status"]
        if status in IN_PROGRESS:
            return None
        if status == "completed":
            return data
        if status == "failed":
            code = data.get("failure_code") or "unknown"
            message = data.get("failure_message") or "no message"
            raise PermanentProviderError(
                f"heygen: video {video_id} failed: {code}: {message}", provider=PROVIDER
            )
        raise PermanentProviderError(
            f"heygen: video {video_id} has unknown status {status!r}", provider=PROVIDER
        )


def _video_url(data: dict[str, Any], video_id: str) -> str:
    url = data.get("video_url")
    if not isinstance(url, str) or not url:
        raise TransientProviderError(
            f"heygen: video {video_id} has no video_url yet", provider=PROVIDER
        )
    return url


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            h.update(chunk)
    return h.hexdigest()


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk
