"""Replicate predictions over httpx (contract: docs/providers.md section 4).

submit -> poll -> download:

* ``POST /v1/models/{owner}/{name}/predictions`` (official models, no version) or
  ``POST /v1/predictions`` with ``version`` (``owner/name:version`` or a bare version
  id), with ``Prefer: wait=N`` (a prediction that finishes within N s comes back done
  and saves the polls) and ``Cancel-After`` set to the deadline (Replicate then aborts
  or cancels it instead of running, and billing, past it).
* The prediction id goes to ``on_job`` before any polling; ``GET /v1/predictions/{id}``
  until ``succeeded | failed | canceled | aborted``.
* Output files are deleted after an hour, so they are copied at once (the first output
  URL goes to `out`).
* A file input is an HTTP(S) URL (a presigned S3 URL, say) passed as it is, or a local
  file sent as a data URL, which Replicate takes up to 256 KB: a larger still is
  re-encoded to a JPEG that fits (lower quality first, then smaller).

The create is retried only when it certainly created nothing (429, no connection);
polls and downloads retry every transient fault. Replicate has no idempotency key: a
create whose outcome is unknown (5xx, timeout, dropped connection) is looked up in the
documented prediction list (``GET /v1/predictions?created_after=…``, newest first) by
model or version, input and creation time; the one prediction found is re-attached, and
anything else fails the node as possibly billed instead of paying twice.

Usage, decided by what the response gives:

* a version (community, hardware-priced) model: ``gpu_seconds`` = ``metrics.predict_time``;
* an official model (billed per output): :meth:`Replicate.image` reports ``images``
  (the number of output files), :meth:`Replicate.animation` ``seconds`` (the requested
  duration: the response does not report the output's length); :meth:`Replicate.run`
  on an official model with no unit given falls back to ``gpu_seconds`` when
  ``predict_time`` is there, else ``predictions`` = 1.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from vidpipe.errors import MediaError, PermanentProviderError, TransientProviderError
from vidpipe.media import probe, run_ffmpeg
from vidpipe.providers.http import (
    SYSTEM_CLOCK,
    Clock,
    JobCallback,
    create_once,
    expired_job,
    fetch_media,
    poll_until,
    request_json,
)
from vidpipe.refs import Usage
from vidpipe.settings import Settings

__all__ = [
    "Replicate",
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_ANIMATION_MODEL",
    "TERMINAL",
    "DATA_URL_LIMIT",
]

PROVIDER = "replicate"
DEFAULT_IMAGE_MODEL = "black-forest-labs/flux-1.1-pro"
DEFAULT_ANIMATION_MODEL = "wan-video/wan-2.1-i2v-480p"
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
#: Replicate accepts data URLs for files up to 256 KB; larger inputs need a URL.
DATA_URL_LIMIT = 256 * 1024
#: A still too big for a data URL is scaled down no further than this (its short side).
MIN_SIDE = 16
_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
#: How far before our send time a prediction may be stamped (clock skew) and still be ours.
LOOKUP_SKEW = timedelta(minutes=2)
#: Pages of the prediction list read when looking a create up (100 predictions a page).
LOOKUP_PAGES = 5


class Replicate:
    """A Replicate client on an `httpx.Client` constructed by the caller."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_token: SecretStr,
        base_url: str = "https://api.replicate.com",
        clock: Clock = SYSTEM_CLOCK,
        wait_s: int = 60,
        create_timeout: httpx.Timeout | None = None,
    ):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self._token = api_token
        self.clock = clock
        self.wait_s = max(1, min(60, wait_s))
        # Prefer: wait holds the create up to wait_s: read a little longer than that.
        self.create_timeout = create_timeout or httpx.Timeout(self.wait_s + 10.0, connect=10.0)

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client | None = None) -> Replicate:
        """The client for `settings` (REPLICATE_API_TOKEN, VIDPIPE_REPLICATE_BASE_URL);
        refuses before anything is paid for when the token is missing."""
        if settings.replicate_api_token is None:
            raise PermanentProviderError(
                "replicate: no credentials: set REPLICATE_API_TOKEN", provider=PROVIDER
            )
        return cls(
            client or httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)),
            api_token=settings.replicate_api_token,
            base_url=settings.replicate_base_url,
        )

    # ------------------------------------------------------------------ high level

    def run(
        self,
        model_or_version: str,
        input: Mapping[str, Any],
        out: str | os.PathLike[str],
        *,
        on_job: JobCallback,
        resume_job_id: str | None = None,
        clock: Clock | None = None,
        deadline_s: float = 900.0,
        unit: str | None = None,
        quantity: float | None = None,
    ) -> Usage:
        """Run a prediction (or re-attach to `resume_job_id`) and copy its first output
        file to `out`. `unit`/`quantity` override the billing read from the response
        (see the module docstring)."""
        clock = clock or self.clock
        start = clock.now()
        if resume_job_id:
            prediction = self._get(resume_job_id, resuming=True)
        else:
            prediction = self._create(model_or_version, input, clock=clock, deadline_s=deadline_s)
            if not isinstance(prediction.get("id"), str):
                raise PermanentProviderError(
                    "replicate: create returned no prediction id", provider=PROVIDER
                )
            on_job(prediction["id"])
        job_id = prediction["id"]
        if prediction.get("status") not in TERMINAL:
            remaining = max(1.0, deadline_s - (clock.now() - start))
            prediction = poll_until(
                lambda: self._poll(job_id),
                clock=clock,
                deadline_s=remaining,
                provider=PROVIDER,
                what=f"prediction {job_id}",
                wait_first=True,
            )
        url = self._output_url(prediction, job_id)
        try:
            fetch_media(
                self.client,
                url,
                out,
                clock=clock,
                provider=PROVIDER,
                headers=self._auth() if url.startswith(self.base_url) else None,
            )
        except PermanentProviderError as exc:
            if exc.status in (403, 404, 410):  # outputs are deleted after an hour
                raise expired_job(PROVIDER, job_id, exc) from exc
            raise
        return self._usage(model_or_version, prediction, unit=unit, quantity=quantity)

    def image(
        self,
        prompt: str,
        out: str | os.PathLike[str],
        *,
        on_job: JobCallback,
        model: str = DEFAULT_IMAGE_MODEL,
        aspect_ratio: str = "16:9",
        seed: int | None = None,
        resume_job_id: str | None = None,
        clock: Clock | None = None,
        deadline_s: float = 600.0,
    ) -> Usage:
        """One image from `prompt` (input fields ``prompt``, ``aspect_ratio``, ``seed``,
        as the official image models name them); billed in images."""
        fields: dict[str, Any] = {"prompt": prompt, "aspect_ratio": aspect_ratio}
        if seed is not None:
            fields["seed"] = seed
        official = not _is_version(model)
        return self.run(
            model,
            fields,
            out,
            on_job=on_job,
            resume_job_id=resume_job_id,
            clock=clock,
            deadline_s=deadline_s,
            unit="images" if official else None,
        )

    def animation(
        self,
        prompt: str,
        out: str | os.PathLike[str],
        *,
        on_job: JobCallback,
        duration_s: float,
        model: str = DEFAULT_ANIMATION_MODEL,
        aspect_ratio: str | None = None,
        negative_prompt: str | None = None,
        image: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        resume_job_id: str | None = None,
        clock: Clock | None = None,
        deadline_s: float = 1800.0,
    ) -> Usage:
        """A clip from `prompt` (and `image`: a URL, sent as it is, or a local file, sent
        as a data URL of at most 256 KB, see :func:`fit_image`). Input names (``prompt``,
        ``duration``, ``aspect_ratio``, ``negative_prompt``, ``image``, ``seed``) are
        model-specific; these are the common ones. Official models bill in seconds of
        output."""
        fields: dict[str, Any] = {"prompt": prompt, "duration": duration_s}
        for key, value in {
            "aspect_ratio": aspect_ratio,
            "negative_prompt": negative_prompt,
            "seed": seed,
            "image": _image_input(image) if image is not None else None,
        }.items():
            if value is not None:
                fields[key] = value
        official = not _is_version(model)
        return self.run(
            model,
            fields,
            out,
            on_job=on_job,
            resume_job_id=resume_job_id,
            clock=clock,
            deadline_s=deadline_s,
            unit="seconds" if official else None,
            quantity=duration_s if official else None,
        )

    # ------------------------------------------------------------------ wire

    def _auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._token.get_secret_value()}"}

    def _create(
        self, ref: str, input: Mapping[str, Any], *, clock: Clock, deadline_s: float
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"input": dict(input)}
        if _is_version(ref):
            body["version"] = ref.split(":", 1)[-1]
            url = f"{self.base_url}/v1/predictions"
        else:
            owner, _, name = ref.partition("/")
            if not owner or not name:
                raise PermanentProviderError(
                    f"replicate: model must be 'owner/name' or a version, got {ref!r}",
                    provider=PROVIDER,
                )
            url = f"{self.base_url}/v1/models/{owner}/{name}/predictions"
        headers = {
            **self._auth(),
            "prefer": f"wait={self.wait_s}",
            "cancel-after": f"{max(1, int(deadline_s))}s",
        }

        sent_at = datetime.now(UTC)

        def create() -> dict[str, Any]:
            return _prediction(
                request_json(
                    self.client,
                    "POST",
                    url,
                    provider=PROVIDER,
                    json=body,
                    headers=headers,
                    timeout=self.create_timeout,
                )
            )

        return create_once(
            create,
            find=lambda _exc: self._find(body, ref, since=sent_at - LOOKUP_SKEW),
            clock=clock,
            deadline_s=min(deadline_s, 300.0),
            provider=PROVIDER,
            what="prediction create",
            hint=f"look for a prediction of {ref.split(':', 1)[0]} created after "
            f"{sent_at:%Y-%m-%d %H:%M:%S} UTC",
        )

    def _find(self, body: dict[str, Any], ref: str, *, since: datetime) -> dict[str, Any] | None:
        """The prediction this create made, from the list of predictions created since
        `since`: None when there is none; an error when several match (we cannot tell
        which one is ours)."""
        url: str | None = f"{self.base_url}/v1/predictions"
        params: dict[str, str] | None = {"created_after": since.isoformat().replace("+00:00", "Z")}
        found = []
        for _ in range(LOOKUP_PAGES):
            if url is None:
                break
            page = request_json(
                self.client, "GET", url, provider=PROVIDER, params=params, headers=self._auth()
            )
            results = page.get("results") if isinstance(page, dict) else None
            if not isinstance(results, list):
                raise TransientProviderError(
                    "replicate: prediction list answered without results", provider=PROVIDER
                )
            found += [p for p in results if _same_prediction(p, body, ref)]
            nxt = page.get("next")
            # Follow the cursor only on our own host: it carries our token.
            url = nxt if isinstance(nxt, str) and nxt.startswith(self.base_url) else None
            params = None
        if len(found) > 1:
            ids = ", ".join(str(p.get("id")) for p in found)
            raise PermanentProviderError(
                f"replicate: {len(found)} predictions match ({ids}); cannot tell which is ours",
                provider=PROVIDER,
            )
        return _prediction(found[0]) if found else None

    def _get(self, job_id: str, *, resuming: bool = False) -> dict[str, Any]:
        url = f"{self.base_url}/v1/predictions/{job_id}"
        try:
            return _prediction(
                request_json(self.client, "GET", url, provider=PROVIDER, headers=self._auth())
            )
        except PermanentProviderError as exc:
            if resuming and exc.status in (404, 410):
                raise expired_job(PROVIDER, job_id, exc) from exc
            raise

    def _poll(self, job_id: str) -> dict[str, Any] | None:
        prediction = self._get(job_id)
        return prediction if prediction.get("status") in TERMINAL else None

    def _output_url(self, prediction: dict[str, Any], job_id: str) -> str:
        status = prediction.get("status")
        if status != "succeeded":
            error = prediction.get("error") or "no error message"
            if status == "aborted":
                error = f"deadline passed before it started ({error})"
            raise PermanentProviderError(
                f"replicate: prediction {job_id} {status}: {error}", provider=PROVIDER
            )
        if prediction.get("data_removed"):
            raise expired_job(PROVIDER, job_id)
        output = prediction.get("output")
        urls = [output] if isinstance(output, str) else output
        if isinstance(urls, dict):  # some models name their outputs
            urls = list(urls.values())
        urls = [u for u in urls or [] if isinstance(u, str) and u.startswith(("http:", "https:"))]
        if not urls:
            raise PermanentProviderError(
                f"replicate: prediction {job_id} succeeded without a file output",
                provider=PROVIDER,
            )
        return urls[0]

    def _usage(
        self,
        ref: str,
        prediction: dict[str, Any],
        *,
        unit: str | None,
        quantity: float | None,
    ) -> Usage:
        model = prediction.get("model") or ref.split(":", 1)[0]
        predict_time = (prediction.get("metrics") or {}).get("predict_time")
        if unit is None:
            if isinstance(predict_time, int | float):
                unit, quantity = "gpu_seconds", float(predict_time)
            else:
                unit, quantity = "predictions", 1.0
        elif quantity is None:
            output = prediction.get("output")
            quantity = float(len(output)) if isinstance(output, list) else 1.0
        return Usage(
            provider=PROVIDER,
            model=model,
            unit=unit,
            quantity=quantity,
            request_id=prediction.get("id"),
        )


def _same_prediction(prediction: Any, body: dict[str, Any], ref: str) -> bool:
    """Whether a listed prediction is the one `body` asked for: created through the API,
    the same version (or model), the same input (a data URL only has to be there: the
    list may show Replicate's copy of the file)."""
    if not isinstance(prediction, dict) or prediction.get("source") not in (None, "api"):
        return False
    if "version" in body:
        if prediction.get("version") != body["version"]:
            return False
    elif prediction.get("model") != ref:
        return False
    listed = prediction.get("input")
    if not isinstance(listed, dict):
        return False
    for key, value in body["input"].items():
        if key not in listed:
            return False
        if isinstance(value, str) and value.startswith("data:"):
            continue
        if listed[key] != value:
            return False
    return True


def _is_version(ref: str) -> bool:
    return ":" in ref or bool(_VERSION_ID.match(ref))


def _prediction(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or "id" not in data:
        raise TransientProviderError(
            "replicate: response is not a prediction object", provider=PROVIDER
        )
    return data


def _image_input(image: str | os.PathLike[str]) -> str:
    """A URL as it is; a local file as a data URL, re-encoded to fit when too big."""
    if isinstance(image, str) and image.startswith(("http://", "https://", "data:")):
        return image
    path = Path(image)
    data = path.read_bytes()
    if len(data) <= DATA_URL_LIMIT:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    else:
        mime, data = "image/jpeg", fit_image(path, DATA_URL_LIMIT)
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def fit_image(path: Path, limit: int = DATA_URL_LIMIT) -> bytes:
    """The still at `path` as a JPEG of at most `limit` bytes: the best quality (FFmpeg's
    ``-q:v`` 2 to 31) that fits at its own size, else scaled down, keeping its aspect
    ratio, until one fits. PermanentProviderError, naming the file, if none does."""
    size = path.stat().st_size
    where = f"replicate: image {path} ({size} bytes, over the {limit}-byte data URL limit)"
    try:
        info = probe(path)
        if not info.width or not info.height:
            raise PermanentProviderError(f"{where} has no picture", provider=PROVIDER)
        with tempfile.TemporaryDirectory(prefix="vidpipe-replicate-") as tmp:
            out = Path(tmp) / "image.jpg"

            def jpeg(width: int, height: int, quality: int) -> bytes:
                scale = f"scale={width}:{height},setsar=1"
                args = ["-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-vf", scale]
                args += ["-pix_fmt", "yuvj420p", "-q:v", str(quality), "-update", "1", str(out)]
                run_ffmpeg(args, operation="fit image", output=out)
                return out.read_bytes()

            factor = 1.0
            while True:
                width = max(1, round(info.width * factor))
                height = max(1, round(info.height * factor))
                worst = jpeg(width, height, 31)
                if len(worst) <= limit:
                    best, low, high = worst, 2, 30  # the best quality that fits
                    while low <= high:
                        quality = (low + high) // 2
                        data = jpeg(width, height, quality)
                        if len(data) <= limit:
                            best, high = data, quality - 1
                        else:
                            low = quality + 1
                    return best
                if min(width, height) <= MIN_SIDE:
                    raise PermanentProviderError(
                        f"{where} does not fit even as a {width}x{height} JPEG; "
                        "use an S3 media store to pass it as a URL",
                        provider=PROVIDER,
                    )
                factor *= min(0.9, 0.95 * (limit / len(worst)) ** 0.5)
    except MediaError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PermanentProviderError(
            f"{where} cannot be re-encoded: {reason}", provider=PROVIDER
        ) from None
