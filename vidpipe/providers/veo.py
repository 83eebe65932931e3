"""Google Veo over httpx (contract: docs/providers.md section 3).

Two APIs behind one switch, ``api="vertex"`` (the default: Veo GA models live there) or
``api="gemini"`` (the Developer API, where Veo is reportedly being retired):

==========  =====================================================  ==========================
            vertex                                                 gemini
==========  =====================================================  ==========================
auth        ``Authorization: Bearer <access token>``               ``x-goog-api-key``
submit      ``POST /v1/projects/{p}/locations/{l}/publishers/      ``POST /v1beta/models/
            google/models/{m}:predictLongRunning``                 {m}:predictLongRunning``
poll        ``POST /v1/{model resource}:fetchPredictOperation``    ``GET /v1beta/{name}``
            ``{"operationName": name}``
result      ``response.videos[0]``: ``bytesBase64Encoded`` or      ``response.generateVideo
            ``gcsUri`` (downloaded through the GCS JSON API)       Response.generatedSamples
                                                                   [0].video.uri`` (key sent)
==========  =====================================================  ==========================

The operation name goes to ``on_job`` before polling. Veo documents no idempotency key
and no way to find an operation by what was submitted, so a submit whose outcome is
unknown (5xx, timeout, dropped connection after sending) is never sent again: it fails
with :class:`~vidpipe.errors.AmbiguousCreateError` (the node is then recorded as possibly
billed); a 429 or a connection never made is waited out and sent again.

A finished operation whose samples were all removed by the safety filter
(``raiMediaFilteredCount``) is a permanent failure naming the filter's reasons; an
operation ``error`` is permanent with Google's message.

Usage: ``seconds`` = the requested ``duration_s`` (Veo bills per generated second and
does not report the length back).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from vidpipe.errors import PermanentProviderError, TransientProviderError
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

__all__ = ["Veo", "DEFAULT_MODEL", "GEMINI_BASE_URL", "vertex_base_url"]

PROVIDER = "veo3"
DEFAULT_MODEL = "veo-3.1-fast-generate-001"
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
STORAGE_BASE_URL = "https://storage.googleapis.com"


def vertex_base_url(location: str) -> str:
    """The Vertex AI host for a location (``global`` has no regional prefix)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class Veo:
    """A Veo client on an `httpx.Client` constructed by the caller.

    `credential` is the OAuth access token (vertex) or the API key (gemini). Access
    tokens expire after about an hour: the engine builds a client per node run.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        credential: SecretStr,
        api: Literal["vertex", "gemini"] = "vertex",
        project: str | None = None,
        location: str = "us-central1",
        base_url: str | None = None,
        storage_url: str = STORAGE_BASE_URL,
        clock: Clock = SYSTEM_CLOCK,
    ):
        if api not in ("vertex", "gemini"):
            raise ValueError(f"api must be 'vertex' or 'gemini', got {api!r}")
        if api == "vertex" and not project:
            raise PermanentProviderError(
                "veo3: Vertex AI needs a project: set VIDPIPE_VEO_PROJECT", provider=PROVIDER
            )
        self.client = client
        self.api = api
        self.project = project
        self.location = location
        default = vertex_base_url(location) if api == "vertex" else GEMINI_BASE_URL
        self.base_url = (base_url or default).rstrip("/")
        self.storage_url = storage_url.rstrip("/")
        self._credential = credential
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        client: httpx.Client | None = None,
        *,
        api: Literal["vertex", "gemini"] = "vertex",
    ) -> Veo:
        """The client for `settings`: VIDPIPE_VEO_ACCESS_TOKEN (the bearer token, or the
        API key with ``api="gemini"``), VIDPIPE_VEO_PROJECT, VIDPIPE_VEO_LOCATION
        (default us-central1), VIDPIPE_VEO_BASE_URL. Refuses without credentials."""
        if settings.veo_access_token is None:
            raise PermanentProviderError(
                "veo3: no credentials: set VIDPIPE_VEO_ACCESS_TOKEN", provider=PROVIDER
            )
        return cls(
            client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0)),
            credential=settings.veo_access_token,
            api=api,
            project=settings.veo_project,
            location=settings.veo_location or "us-central1",
            base_url=settings.veo_base_url,
        )

    def _headers(self) -> dict[str, str]:
        secret = self._credential.get_secret_value()
        if self.api == "vertex":
            return {"authorization": f"Bearer {secret}"}
        return {"x-goog-api-key": secret}

    # ------------------------------------------------------------------ high level

    def animation(
        self,
        prompt: str,
        out: str | os.PathLike[str],
        *,
        duration_s: int,
        on_job: JobCallback,
        aspect_ratio: str = "16:9",
        model: str = DEFAULT_MODEL,
        negative_prompt: str | None = None,
        image_path: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        resume_job_id: str | None = None,
        clock: Clock | None = None,
        deadline_s: float = 1200.0,
    ) -> Usage:
        """`duration_s` seconds of video from `prompt` (and a first frame from
        `image_path`), written to `out`; re-attaches to the operation `resume_job_id`."""
        clock = clock or self.clock
        start = clock.now()
        if resume_job_id:
            name = resume_job_id
            self._operation(name, resuming=True)
        else:
            name = self._submit(
                self._body(prompt, duration_s, aspect_ratio, negative_prompt, image_path, seed),
                model,
                clock=clock,
            )
            on_job(name)
        operation = poll_until(
            lambda: self._finished(name),
            clock=clock,
            deadline_s=max(1.0, deadline_s - (clock.now() - start)),
            first_s=5.0,
            max_s=10.0,
            provider=PROVIDER,
            what=f"operation {name}",
            wait_first=not resume_job_id,
        )
        self._save(operation, name, Path(out), clock=clock)
        return Usage(
            provider=PROVIDER,
            model=model,
            unit="seconds",
            quantity=float(duration_s),
            request_id=name,
        )

    # ------------------------------------------------------------------ wire

    def _body(
        self,
        prompt: str,
        duration_s: int,
        aspect_ratio: str,
        negative_prompt: str | None,
        image_path: str | os.PathLike[str] | None,
        seed: int | None,
    ) -> dict[str, Any]:
        instance: dict[str, Any] = {"prompt": prompt}
        if image_path is not None:
            path = Path(image_path)
            instance["image"] = {
                "bytesBase64Encoded": base64.b64encode(path.read_bytes()).decode(),
                "mimeType": mimetypes.guess_type(path.name)[0] or "image/png",
            }
        parameters: dict[str, Any] = {
            "sampleCount": 1,
            "durationSeconds": int(duration_s),  # a JSON number: 4, 6 or 8
            "aspectRatio": aspect_ratio,
        }
        if negative_prompt:
            parameters["negativePrompt"] = negative_prompt
        if image_path is not None:
            parameters["personGeneration"] = "allow_adult"
        if seed is not None and self.api == "vertex":  # the Gemini API rejects seed
            parameters["seed"] = seed
        return {"instances": [instance], "parameters": parameters}

    def _submit(self, body: dict[str, Any], model: str, *, clock: Clock) -> str:
        if self.api == "vertex":
            url = (
                f"{self.base_url}/v1/projects/{self.project}/locations/{self.location}"
                f"/publishers/google/models/{model}:predictLongRunning"
            )
        else:
            url = f"{self.base_url}/v1beta/models/{model}:predictLongRunning"

        def submit() -> str:
            data = request_json(
                self.client, "POST", url, provider=PROVIDER, json=body, headers=self._headers()
            )
            name = data.get("name") if isinstance(data, dict) else None
            if not isinstance(name, str) or "/operations/" not in name:
                raise PermanentProviderError(
                    "veo3: submit answered without an operation name", provider=PROVIDER
                )
            return name

        return create_once(
            submit,
            find=None,  # no documented lookup of an operation by its request
            clock=clock,
            deadline_s=600.0,
            provider=PROVIDER,
            what="video submit",
            hint=f"look for a recent {model} operation in project {self.project}"
            if self.api == "vertex"
            else f"look for a recent {model} operation",
        )

    def _operation(self, name: str, *, resuming: bool = False) -> dict[str, Any]:
        try:
            if self.api == "vertex":
                model_resource = name.split("/operations/", 1)[0]
                data = request_json(
                    self.client,
                    "POST",
                    f"{self.base_url}/v1/{model_resource}:fetchPredictOperation",
                    provider=PROVIDER,
                    json={"operationName": name},
                    headers=self._headers(),
                )
            else:
                data = request_json(
                    self.client,
                    "GET",
                    f"{self.base_url}/v1beta/{name}",
                    provider=PROVIDER,
                    headers=self._headers(),
                )
        except PermanentProviderError as exc:
            if resuming and exc.status in (404, 410):
                raise expired_job(PROVIDER, name, exc) from exc
            raise
        if not isinstance(data, dict):
            raise TransientProviderError("veo3: operation is not an object", provider=PROVIDER)
        return data

    def _finished(self, name: str) -> dict[str, Any] | None:
        operation = self._operation(name)
        if not operation.get("done"):
            return None
        error = operation.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else str(error)
            code = error.get("code") if isinstance(error, dict) else None
            raise PermanentProviderError(
                f"veo3: operation {name} failed: {code}: {message}", provider=PROVIDER
            )
        return operation

    def _save(self, operation: dict[str, Any], name: str, out: Path, *, clock: Clock) -> None:
        response = operation.get("response") or {}
        if self.api == "gemini":
            response = response.get("generateVideoResponse") or {}
            samples = [s.get("video") or {} for s in response.get("generatedSamples") or []]
        else:
            samples = list(response.get("videos") or [])
        if not samples:
            reasons = "; ".join(response.get("raiMediaFilteredReasons") or []) or "no reason given"
            if response.get("raiMediaFilteredCount"):
                raise PermanentProviderError(
                    f"veo3: operation {name}: the video was blocked by Google's safety "
                    f"filter: {reasons}",
                    provider=PROVIDER,
                )
            raise PermanentProviderError(
                f"veo3: operation {name} finished without a video", provider=PROVIDER
            )
        video = samples[0]
        inline = video.get("bytesBase64Encoded") or video.get("encodedVideo")
        if inline:
            _write_base64(inline, out)
            return
        uri = video.get("uri") or video.get("gcsUri")
        if not isinstance(uri, str):
            raise PermanentProviderError(
                f"veo3: operation {name}: video has neither bytes nor a URI", provider=PROVIDER
            )
        if uri.startswith("gs://"):
            bucket, _, obj = uri.removeprefix("gs://").partition("/")
            uri = f"{self.storage_url}/download/storage/v1/b/{bucket}/o/{quote(obj, safe='')}"
            uri += "?alt=media"
        try:
            fetch_media(
                self.client, uri, out, clock=clock, provider=PROVIDER, headers=self._headers()
            )
        except PermanentProviderError as exc:
            if exc.status in (403, 404, 410):  # Gemini files are kept two days
                raise expired_job(PROVIDER, name, exc) from exc
            raise


def _write_base64(data: str, out: Path) -> None:
    """Decode an inline video to `out` atomically. The bytes came inside a JSON document
    already held in memory; Vertex with ``storageUri`` avoids that for long videos."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TransientProviderError(
            "veo3: inline video is not valid base64", provider=PROVIDER
        ) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.urandom(4).hex()}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
