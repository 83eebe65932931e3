"""Local fake provider servers: real HTTP on 127.0.0.1, speaking the contracts in
docs/providers.md (sections 1 to 4), with faults injected on demand.

Each fake runs a `ThreadingHTTPServer` in a daemon thread. Tests arm faults at a *point*
of the protocol (``submit``, ``poll``, ``download``, ``upload``, ``lookup``)::

    fake.inject("poll", "rate_limit", retry_after=7)   # next poll: 429 + Retry-After: 7
    fake.inject("download", "truncated")               # next download: short body

Fault kinds (each consumed once unless ``times=`` says otherwise):

    auth          401 with the provider's auth error body
    validation    422 with the provider's validation body
    rate_limit    429 with the provider's body; ``retry_after=`` adds the header
    server_error  500 with the provider's body
    slow          wait ``delay=`` real seconds, then answer normally (client timeouts);
                  with ``then="server_error"`` (any kind) answer that fault instead
    malformed     200 whose JSON body is cut off
    expired       403, the way S3 refuses an expired presigned link
    gone          404 (the provider no longer knows the job)
    truncated     the media with a Content-Length larger than the body sent

Faults that let the request do its work first (the job is created, the speech made) and
then lose the answer, the ambiguous outcomes of a paid create:

    created_then_error   500 with the provider's body (request-id headers kept)
    created_then_slow    wait ``delay=`` real seconds, then answer (the client timed out)
    created_then_drop    close the connection without answering
    created_then_no_audio  (ElevenLabs) 200 whose JSON has no ``audio_base64``

Each fake also answers its provider's documented lookup (point ``lookup``): HeyGen's
``GET /v3/videos?title=``, Replicate's ``GET /v1/predictions?created_after=``,
ElevenLabs' ``GET /v1/history?voice_id=``.

Jobs finish after ``polls_to_finish`` status fetches, or fail with ``outcome="failed"``.
Every fake counts creations (`submissions`, one body per create) so tests can assert a
job was paid for once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import itertools
import json
import math
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vidpipe.media import run_ffmpeg

__all__ = [
    "Request",
    "Reply",
    "FakeServer",
    "FakeElevenLabs",
    "FakeReplicate",
    "FakeHeyGen",
    "FakeVeo",
    "media_bytes",
    "SIGNATURE",
]

#: The query string of every presigned media link the fakes hand out: must never appear
#: in an error message.
SIGNATURE = "X-Amz-Signature=deadbeefSIGNATURE0123456789"


def media_bytes(name: str, size: int = 4096) -> bytes:
    """Deterministic bytes standing for a media file (tests compare bytes, not codecs)."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None  # a lie, for truncated downloads
    drop: bool = False  # close the connection without answering

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> Reply:
        return cls(
            status,
            json.dumps(data).encode(),
            {"content-type": "application/json", **headers},
        )


@dataclass
class Fault:
    kind: str
    times: int
    opts: dict[str, Any]


@dataclass
class Job:
    id: str
    body: Any
    polls_to_finish: int
    outcome: str
    polls: int = 0
    expired: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def state(self) -> str:
        """'queued', 'running', 'done' or 'failed', advancing one step per poll."""
        if self.polls == 0 and self.polls_to_finish > 1:
            return "queued"
        if self.polls < self.polls_to_finish:
            return "running"
        return "failed" if self.outcome == "failed" else "done"


class _QuietServer(ThreadingHTTPServer):
    """A client that timed out and hung up (the `slow` fault) is expected, not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    """A provider fake: routing, fault injection, job book-keeping, media links."""

    provider = "fake"
    api_key = "test-secret-key-0123456789"

    #: Makes the bytes of a media file by name (its extension says the kind); the
    #: default stands bytes in for media. Engine tests set a maker of real media.
    make_media: Callable[[str, int], bytes] | None = None

    def media_for(self, name: str, size: int = 4096) -> bytes:
        return (self.make_media or media_bytes)(name, size)

    def __init__(self, *, polls_to_finish: int = 2, outcome: str = "done"):
        self.polls_to_finish = polls_to_finish
        self.outcome = outcome
        self.faults: dict[str, list[Fault]] = {}
        self.submissions: list[Any] = []
        self.requests: list[Request] = []
        self.jobs: dict[str, Job] = {}
        self.media: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave in separate writes

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = fake.dispatch(request)
                if reply.drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                declared = reply.content_length
                self.send_header(
                    "content-length", str(declared if declared is not None else len(reply.body))
                )
                if declared is not None and declared != len(reply.body):
                    self.send_header("connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ faults and jobs

    def inject(self, point: str, kind: str, *, times: int = 1, **opts: Any) -> None:
        with self._lock:
            self.faults.setdefault(point, []).append(Fault(kind, times, opts))

    def _take_fault(self, point: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(point) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def new_job(self, body: Any, prefix: str = "job") -> Job:
        with self._lock:
            job = Job(f"{prefix}-{next(self._ids)}", body, self.polls_to_finish, self.outcome)
            self.jobs[job.id] = job
            self.submissions.append(body)
            return job

    def expire(self, job_id: str) -> None:
        self.jobs[job_id].expired = True

    def media_url(self, name: str, data: bytes) -> str:
        self.media[name] = data
        return f"{self.url}/files/{name}?{SIGNATURE}"

    def requests_to(self, method: str, path_part: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, request: Request) -> Reply:
        self.requests.append(request)
        point = self.point_of(request)
        fault = self._take_fault(point) if point else None
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.opts.get("delay", 0.5))
                if fault.opts.get("then"):
                    return self.fault_reply(Fault(fault.opts["then"], 1, {}))
            elif fault.kind.startswith("created_then_"):
                return self.lose_answer(fault, self.route_authorized(request))
            elif fault.kind != "truncated":
                return self.fault_reply(fault)
        if request.path.startswith("/files/"):
            reply = self.serve_media(request.path.removeprefix("/files/"))
        else:
            reply = self.route_authorized(request)
        if fault is not None and fault.kind == "truncated" and reply.status == 200:
            reply.content_length = len(reply.body)
            reply.body = reply.body[: len(reply.body) // 2]
        return reply

    def route_authorized(self, request: Request) -> Reply:
        if not self.authorized(request):
            return self.error(401, "unauthorized", "Invalid API key")
        return self.route(request)

    def lose_answer(self, fault: Fault, done: Reply) -> Reply:
        """The work of the request is done (`done` is its answer); the client hears an
        error, a timeout or a dropped connection instead."""
        if fault.kind == "created_then_slow":
            time.sleep(fault.opts.get("delay", 0.5))
            return done
        if fault.kind == "created_then_drop":
            return Reply(drop=True)
        if fault.kind == "created_then_error":
            reply = self.error(500, "internal_error", "Internal server error")
            for name in ("request-id", "x-request-id"):
                if name in done.headers:
                    reply.headers[name] = done.headers[name]
            return reply
        raise ValueError(f"unknown fault {fault.kind!r}")

    def serve_media(self, name: str) -> Reply:
        data = self.media.get(name)
        if data is None:
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        return Reply(200, data, {"content-type": "application/octet-stream"})

    def fault_reply(self, fault: Fault) -> Reply:
        kind = fault.kind
        if kind == "auth":
            return self.error(401, "unauthorized", "Invalid API key")
        if kind == "validation":
            return self.validation_error(fault.opts.get("field", "input"), "field required")
        if kind == "rate_limit":
            reply = self.error(429, "rate_limit_exceeded", "Too many concurrent requests")
            if "retry_after" in fault.opts:
                reply.headers["retry-after"] = str(fault.opts["retry_after"])
            return reply
        if kind == "server_error":
            return self.error(500, "internal_error", "Internal server error")
        if kind == "malformed":
            return Reply(200, b'{"data": {"status": "proc', {"content-type": "application/json"})
        if kind == "expired":
            return Reply(
                403,
                b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                {"content-type": "application/xml"},
            )
        if kind == "gone":
            return self.error(404, "not_found", "Not found")
        raise ValueError(f"unknown fault {kind!r}")

    # ------------------------------------------------------------------ per provider

    def point_of(self, request: Request) -> str | None:
        if request.path.startswith("/files/"):
            return "download"
        return None

    def authorized(self, request: Request) -> bool:
        return True

    def route(self, request: Request) -> Reply:
        return self.error(404, "not_found", f"no route {request.method} {request.path}")

    def error(self, status: int, code: str, message: str) -> Reply:
        return Reply.json(status, {"error": {"code": code, "message": message}})

    def validation_error(self, field_name: str, message: str) -> Reply:
        return self.error(422, "validation_error", f"{field_name}: {message}")


# --------------------------------------------------------------------------- ElevenLabs


#: Characters a second the fake ElevenLabs speaks (about 150 words a minute).
SPOKEN_CHARS_PER_S = 15


#: ElevenLabs' raw formats: bytes a sample.
_RAW_FORMATS = {"pcm": ("s16le", 2), "ulaw": ("mulaw", 1), "alaw": ("alaw", 1)}


@functools.lru_cache(maxsize=16)
def _speech_unit(output_format: str) -> tuple[bytes, ...]:
    """One second of a quiet tone in `output_format`, made once by FFmpeg and cut in
    pieces that may be repeated: MP3 frames encoded without a bit reservoir (each frame
    stands alone), or raw samples (for WAV: 16-bit PCM)."""
    codec, rate, bitrate = _format_parts(output_format)
    if codec == "mp3":
        opts = ["-c:a", "libmp3lame", "-b:a", f"{bitrate}k", "-reservoir", "0",
                "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3"]  # fmt: skip
    else:
        opts = ["-f", _RAW_FORMATS.get(codec, ("s16le", 2))[0]]
    with tempfile.TemporaryDirectory(prefix="fake-speech-") as tmp:
        out = Path(tmp) / "unit"
        run_ffmpeg(
            ["-f", "lavfi", "-i", f"sine=frequency=200:sample_rate={rate}:duration=1",
             "-af", "volume=0.3", "-ac", "1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
             *opts, str(out)],
            operation="fake speech",
            output=out,
        )  # fmt: skip
        data = out.read_bytes()
    if codec != "mp3":
        return (data,)
    frames, at = [], 0
    samples = 1152 if rate >= 32000 else 576  # MPEG-1 Layer III, else MPEG-2
    while at + 4 <= len(data):
        size = samples // 8 * bitrate * 1000 // rate + (data[at + 2] >> 1 & 1)  # + padding
        frames.append(data[at : at + size])
        at += size
    return tuple(frames)


def _format_parts(output_format: str) -> tuple[str, int, int]:
    """(codec, sample rate, kbit/s) of an ElevenLabs `output_format` the fake speaks."""
    codec, _, rest = output_format.partition("_")
    rate, _, bitrate = rest.partition("_")
    if codec not in ("mp3", "wav", *_RAW_FORMATS) or not rate.isdigit():
        raise ValueError(f"the fake does not speak {output_format!r}")
    return codec, int(rate), int(bitrate or 128)


def speech_audio(seconds: float, output_format: str) -> bytes:
    """Real audio of `seconds` (a quiet tone) in an ElevenLabs `output_format`, the way
    ElevenLabs sends it: MP3 without ID3 or Xing header (CBR frames), WAV, or raw PCM,
    u-law or A-law; other formats raise ValueError. Only the first call for a format
    runs FFmpeg; the rest repeat its pieces."""
    codec, rate, _ = _format_parts(output_format)
    unit = _speech_unit(output_format)
    if codec == "mp3":
        count = math.ceil(seconds * rate / (1152 if rate >= 32000 else 576))
        return b"".join(unit[i % len(unit)] for i in range(count))
    width = _RAW_FORMATS.get(codec, ("s16le", 2))[1]
    size = round(seconds * rate) * width
    raw = (unit[0] * math.ceil(size / len(unit[0])))[:size]
    if codec != "wav":
        return raw
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(raw)
    return buffer.getvalue()


def spoken_seconds(text: str, chars_per_s: float = SPOKEN_CHARS_PER_S) -> float:
    """How long the fake takes to say `text` (at `chars_per_s`)."""
    return round(max(0.5, len(text) / chars_per_s), 2)


def character_alignment(text: str, seconds: float | None = None) -> dict[str, list]:
    """ElevenLabs' character alignment of `text`: its characters evenly over the time
    the fake takes to say it (`seconds`, by default at its usual rate)."""
    step = (seconds or spoken_seconds(text)) / max(1, len(text))
    return {
        "characters": list(text),
        "character_start_times_seconds": [round(i * step, 3) for i in range(len(text))],
        "character_end_times_seconds": [round((i + 1) * step, 3) for i in range(len(text))],
    }


class FakeElevenLabs(FakeServer):
    """``POST /v1/text-to-speech/{voice_id}/with-timestamps``: JSON with real audio
    (base64, :func:`speech_audio` of :func:`spoken_seconds`) and the character alignment
    of exactly the text sent; per-model character limits; both ``detail`` error shapes.
    `speech_for(text)` is the audio it answers for a text, so joins can be checked."""

    provider = "elevenlabs"
    limits = {"eleven_v3": 3000, "eleven_multilingual_v2": 10000, "eleven_flash_v2_5": 40000}

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.history: list[dict[str, Any]] = []  # newest last
        #: How fast it speaks: a slower speaker makes longer audio for the same text.
        self.chars_per_s = SPOKEN_CHARS_PER_S

    @staticmethod
    def speech_for(
        text: str, output_format: str = "mp3_44100_128", chars_per_s: float = SPOKEN_CHARS_PER_S
    ) -> bytes:
        return speech_audio(spoken_seconds(text, chars_per_s), output_format)

    def start(self) -> FakeElevenLabs:
        """Serve, with the default format's audio made beforehand (clients' short read
        timeouts then never wait for FFmpeg)."""
        self.speech_for("warm")
        super().start()
        return self

    def point_of(self, request: Request) -> str | None:
        if request.path.startswith("/v1/text-to-speech/"):
            return "submit"
        return "lookup" if request.path == "/v1/history" else None

    def authorized(self, request: Request) -> bool:
        return request.headers.get("xi-api-key") == self.api_key

    def error(self, status: int, code: str, message: str) -> Reply:
        code = {
            "unauthorized": "invalid_api_key",
            "rate_limit_exceeded": "too_many_concurrent_requests",
        }.get(code, code)
        return Reply.json(status, {"detail": {"status": code, "message": message}})

    def validation_error(self, field_name: str, message: str) -> Reply:
        return Reply.json(
            422,
            {"detail": [{"loc": ["body", field_name], "msg": message, "type": "missing"}]},
        )

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.kind == "rate_limit":  # ElevenLabs never sends Retry-After
            return self.error(429, "too_many_concurrent_requests", "Too many concurrent requests")
        if fault.kind == "quota":
            return self.error(401, "quota_exceeded", "This request exceeds your quota")
        return super().fault_reply(fault)

    def lose_answer(self, fault: Fault, done: Reply) -> Reply:
        """``created_then_no_audio``: the speech is made, and the answer (200) has no
        audio in it."""
        if fault.kind == "created_then_no_audio" and done.status == 200:
            data = json.loads(done.body)
            del data["audio_base64"]
            headers = {k: v for k, v in done.headers.items() if k != "content-type"}
            return Reply.json(200, data, **headers)
        return super().lose_answer(fault, done)

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/v1/history":
            voice = request.query.get("voice_id")
            items = [h for h in reversed(self.history) if voice in (None, h["voice_id"])]
            items = items[: int(request.query.get("page_size", 100))]
            return Reply.json(
                200,
                {
                    "history": items,
                    "has_more": False,
                    "last_history_item_id": items[-1]["history_item_id"] if items else None,
                },
            )
        segments = request.path.split("/")  # "", v1, text-to-speech, {voice_id}, with-...
        if request.method != "POST" or segments[4:] != ["with-timestamps"]:
            return super().route(request)
        body = request.json()
        if not isinstance(body, dict) or not body.get("text"):
            return self.validation_error("text", "field required")
        text, model = body["text"], body.get("model_id", "eleven_multilingual_v2")
        output_format = request.query.get("output_format", "mp3_44100_128")
        if len(text) > self.limits.get(model, 10000):
            return self.error(400, "max_character_limit_exceeded", f"Text is too long for {model}")
        try:
            audio = self.speech_for(text, output_format, self.chars_per_s)
        except ValueError:
            return self.validation_error("output_format", "unsupported output format")
        with self._lock:
            self.submissions.append({**body, "output_format": request.query.get("output_format")})
            n = len(self.submissions)
            self.history.append(
                {
                    "history_item_id": f"hist-{n}",
                    "request_id": f"req-{n}",
                    "voice_id": segments[3],
                    "model_id": model,
                    "text": text,
                    "date_unix": int(time.time()),
                    "character_count_change_from": 0,
                    "character_count_change_to": len(text),
                    "content_type": "audio/mpeg",
                    "state": "created",
                }
            )
        alignment = character_alignment(text, spoken_seconds(text, self.chars_per_s))
        return Reply.json(
            200,
            {
                "audio_base64": base64.b64encode(audio).decode(),
                "alignment": alignment,
                "normalized_alignment": alignment,
            },
            **{
                "request-id": f"req-{n}",
                "history-item-id": f"hist-{n}",
                "character-cost": str(len(text)),
                "current-concurrent-requests": "1",
                "maximum-concurrent-requests": "10",
            },
        )


# --------------------------------------------------------------------------- Replicate


class FakeReplicate(FakeServer):
    """Predictions: create (201; ``Prefer: wait`` returns it finished when it takes no
    polls), ``GET /v1/predictions/{id}`` (starting -> processing -> succeeded | failed),
    problem+json errors, ``metrics.predict_time``, signed output links."""

    provider = "replicate"
    predict_time = 3.804328

    def point_of(self, request: Request) -> str | None:
        if request.method == "POST" and request.path.endswith("/predictions"):
            return "submit"
        if request.method == "GET" and request.path.startswith("/v1/predictions/"):
            return "poll"
        if request.method == "GET" and request.path == "/v1/predictions":
            return "lookup"
        return super().point_of(request)

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def error(self, status: int, code: str, message: str) -> Reply:
        titles = {401: "Unauthenticated", 404: "Not found", 429: "Too Many Requests"}
        detail = {
            401: "You did not pass a valid authentication token",
            429: "Request was throttled. Your rate limit resets in ~30s.",
        }.get(status, message)
        data = {"title": titles.get(status, "Error"), "detail": detail, "status": status}
        return Reply(
            status, json.dumps(data).encode(), {"content-type": "application/problem+json"}
        )

    def validation_error(self, field_name: str, message: str) -> Reply:
        data = {
            "title": "Input validation failed",
            "status": 422,
            "detail": f"- input.{field_name}: {message}",
            "invalid_fields": [
                {"type": "required", "field": f"input.{field_name}", "description": message}
            ],
        }
        return Reply(422, json.dumps(data).encode(), {"content-type": "application/problem+json"})

    def prediction(self, job: Job) -> dict[str, Any]:
        state = job.state()
        status = {"queued": "starting", "running": "processing"}.get(state, state)
        status = {"done": "succeeded"}.get(status, status)
        data: dict[str, Any] = {
            "id": job.id,
            "model": job.extra["model"],
            "version": job.extra.get("version", "hidden"),
            "input": job.body.get("input"),
            "source": "api",
            "created_at": job.extra["created_at"],
            "status": status,
            "output": None,
            "error": None,
            "metrics": {},
            "urls": {
                "get": f"{self.url}/v1/predictions/{job.id}",
                "cancel": f"{self.url}/v1/predictions/{job.id}/cancel",
            },
        }
        if status == "succeeded":
            name = f"{job.id}/out-0.png"
            if name not in self.media:
                self.media_url(name, self.media_for(name))
            data["output"] = [f"{self.url}/files/{name}?{SIGNATURE}"]
            data["metrics"] = {"predict_time": self.predict_time, "total_time": 4.2}
        elif status == "failed":
            data["error"] = "CUDA out of memory"
        return data

    def route(self, request: Request) -> Reply:
        path = request.path
        if request.method == "POST" and path.endswith("/predictions"):
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
                return self.validation_error("input", "input is required")
            if "prompt" not in body["input"]:
                return self.validation_error("prompt", "prompt is required")
            if path.startswith("/v1/models/"):
                model = path.removeprefix("/v1/models/").removesuffix("/predictions")
            else:
                model = "someone/community-model"
            job = self.new_job(body, prefix="pred")
            job.extra.update(
                created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                model=model,
                version=body.get("version", "hidden"),
                prefer=request.headers.get("prefer"),
                cancel_after=request.headers.get("cancel-after"),
            )
            headers = {}
            if request.headers.get("prefer", "").startswith("wait"):
                headers["preference-applied"] = "wait"
            return Reply.json(201, self.prediction(job), **headers)
        if request.method == "GET" and path.startswith("/v1/predictions/"):
            job = self.jobs.get(path.rsplit("/", 1)[-1])
            if job is None or job.expired:
                return self.error(404, "not_found", "Not found")
            job.polls += 1
            return Reply.json(200, self.prediction(job))
        if request.method == "GET" and path == "/v1/predictions":
            after = datetime.fromisoformat(request.query.get("created_after", "2000-01-01Z"))
            jobs = [
                j
                for j in reversed(self.jobs.values())
                if datetime.fromisoformat(j.extra["created_at"]) >= after
            ]
            results = [self.prediction(j) for j in jobs]
            return Reply.json(200, {"next": None, "previous": None, "results": results})
        return super().route(request)


# --------------------------------------------------------------------------- HeyGen


class FakeHeyGen(FakeServer):
    """v3 videos (create, status with fresh presigned links per fetch), the legacy asset
    upload, and 429 + Retry-After past `max_concurrent` unfinished jobs."""

    provider = "heygen"
    max_concurrent = 10
    duration = 12.48

    def point_of(self, request: Request) -> str | None:
        if request.method == "POST" and request.path == "/v3/videos":
            return "submit"
        if request.method == "GET" and request.path.startswith("/v3/videos/"):
            return "poll"
        if request.method == "GET" and request.path == "/v3/videos":
            return "lookup"
        if request.path == "/v1/asset":
            return "upload"
        return super().point_of(request)

    def authorized(self, request: Request) -> bool:
        return request.headers.get("x-api-key") == self.api_key

    def route(self, request: Request) -> Reply:
        reply = self._route(request)
        reply.headers.setdefault("x-request-id", f"hgreq-{len(self.requests)}")
        return reply

    def _route(self, request: Request) -> Reply:
        path = request.path
        if request.method == "GET" and path == "/v3/videos":  # the list, by title substring
            title = request.query.get("title", "")
            found = [
                {**self.status(j), "title": j.body.get("title")}
                for j in reversed(self.jobs.values())
                if title in str(j.body.get("title") or "")
            ]
            limit = int(request.query.get("limit", 10))
            return Reply.json(
                200,
                {"data": found[:limit], "has_more": len(found) > limit, "next_token": None},
            )
        if request.method == "POST" and path == "/v1/asset":
            name = f"asset-{next(self._ids)}"
            self.media[name] = request.body
            return Reply.json(
                200,
                {
                    "code": 100,
                    "message": "Success",
                    "data": {
                        "id": name,
                        "url": f"{self.url}/files/{name}",
                        "content_type": request.headers.get("content-type"),
                    },
                },
            )
        if request.method == "POST" and path == "/v3/videos":
            body = request.json()
            if not isinstance(body, dict) or not body.get("avatar_id"):
                return self.validation_error("avatar_id", "is required")
            if body.get("type") != "avatar":
                return self.validation_error("type", "must be one of avatar, image")
            running = [j for j in self.jobs.values() if j.state() in ("queued", "running")]
            if len(running) >= self.max_concurrent:
                reply = self.error(429, "rate_limit_exceeded", "Concurrent job limit reached")
                reply.headers["retry-after"] = "30"
                return reply
            job = self.new_job(body, prefix="vid")
            return Reply.json(
                200, {"data": {"video_id": job.id, "status": "waiting", "output_format": "mp4"}}
            )
        if request.method == "GET" and path.startswith("/v3/videos/"):
            job = self.jobs.get(path.rsplit("/", 1)[-1])
            if job is None or job.expired:
                return self.error(404, "not_found", "Video not found")
            job.polls += 1
            return Reply.json(200, {"data": self.status(job)})
        return super().route(request)

    def status(self, job: Job) -> dict[str, Any]:
        state = job.state()
        status = {"queued": "pending", "running": "processing", "done": "completed"}.get(
            state, state
        )
        data: dict[str, Any] = {
            "id": job.id,
            "status": status,
            "video_url": None,
            "duration": None,
            "failure_code": None,
            "failure_message": None,
            "title": job.body.get("title"),
        }
        if status == "completed":
            name = f"{job.id}.mp4"
            data["video_url"] = self.media_url(name, self.media_for(name, 8192)).replace(
                SIGNATURE, f"{SIGNATURE}&n={job.polls}"
            )
            data["duration"] = self.duration
        elif status == "failed":
            data["failure_code"] = "avatar_not_found"
            data["failure_message"] = "The avatar could not be found"
        return data


# --------------------------------------------------------------------------- Veo


class FakeVeo(FakeServer):
    """Veo on Vertex (bearer; ``:predictLongRunning`` + ``:fetchPredictOperation``, video
    inline as base64 or as a gs:// URI) and on the Gemini API (``x-goog-api-key``; ``GET
    /v1beta/{name}``; a file URI that redirects). ``outcome`` may be ``"rai"`` (every
    sample filtered) or ``"failed"`` (an operation error); ``output`` is ``"inline"`` or
    ``"gcs"`` on Vertex."""

    provider = "veo"

    def __init__(self, *, output: str = "inline", **kw: Any):
        super().__init__(**kw)
        self.output = output

    def point_of(self, request: Request) -> str | None:
        if request.path.endswith(":predictLongRunning"):
            return "submit"
        if request.path.endswith(":fetchPredictOperation") or "/operations/" in request.path:
            return "poll"
        if request.path.endswith(":download"):
            return "file_link"  # answers with a redirect to /files/ (the "download" point)
        if request.path.startswith("/download/"):
            return "download"
        return super().point_of(request)

    def authorized(self, request: Request) -> bool:
        if request.path.startswith("/v1beta/"):
            return request.headers.get("x-goog-api-key") == self.api_key
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def error(self, status: int, code: str, message: str) -> Reply:
        google = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            422: "INVALID_ARGUMENT",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
        }.get(status, "UNKNOWN")
        return Reply.json(status, {"error": {"code": status, "message": message, "status": google}})

    def validation_error(self, field_name: str, message: str) -> Reply:
        return self.error(400, "invalid", f"Invalid value at '{field_name}': {message}")

    def route(self, request: Request) -> Reply:
        path = request.path
        if request.method == "POST" and path.endswith(":predictLongRunning"):
            body = request.json()
            instances = body.get("instances") if isinstance(body, dict) else None
            if not instances or not instances[0].get("prompt"):
                return self.validation_error("instances[0].prompt", "prompt is required")
            model_path = path.removesuffix(":predictLongRunning").lstrip("/")
            job = self.new_job(body, prefix="op")
            prefix = model_path.split("/", 1)[1]  # without the API version
            return Reply.json(200, {"name": f"{prefix}/operations/{job.id}"})
        if request.method == "POST" and path.endswith(":fetchPredictOperation"):
            name = (request.json() or {}).get("operationName", "")
            return self._operation(name, vertex=True)
        if request.method == "GET" and "/operations/" in path:
            return self._operation(path.removeprefix("/v1beta/"), vertex=False)
        if request.method == "GET" and path.endswith(":download"):
            file_id = path.rsplit("/", 1)[-1].removesuffix(":download")
            return Reply(302, b"", {"location": f"{self.url}/files/{file_id}.mp4?{SIGNATURE}"})
        if request.method == "GET" and path.startswith("/download/storage/v1/b/"):
            return self.serve_media(path.rsplit("/o/", 1)[-1].replace("%2F", "/"))
        return super().route(request)

    def _operation(self, name: str, *, vertex: bool) -> Reply:
        job = self.jobs.get(name.rsplit("/", 1)[-1])
        if job is None or job.expired:
            return self.error(404, "not_found", f"Operation {name} not found")
        job.polls += 1
        state = job.state()
        if state in ("queued", "running"):
            return Reply.json(200, {"name": name, "done": False, "metadata": {}})
        if self.outcome == "failed":
            error = {"code": 3, "message": "Unsupported input image format"}
            return Reply.json(200, {"name": name, "done": True, "error": error})
        video = self.media_for(f"{job.id}.mp4", 6000)
        rai = self.outcome == "rai"
        reasons = ["Video generation was blocked by a safety filter (celebrity)."] if rai else []
        if vertex:
            videos = []
            if not rai and self.output == "inline":
                videos = [
                    {
                        "bytesBase64Encoded": base64.b64encode(video).decode(),
                        "mimeType": "video/mp4",
                    }
                ]
            elif not rai:
                self.media[f"out/{job.id}.mp4"] = video
                videos = [{"gcsUri": f"gs://bucket/out/{job.id}.mp4", "mimeType": "video/mp4"}]
            response = {
                "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "videos": videos,
                "raiMediaFilteredCount": len(reasons),
                "raiMediaFilteredReasons": reasons,
            }
        else:
            samples = []
            if not rai:
                self.media[f"{job.id}.mp4"] = video
                uri = f"{self.url}/v1beta/files/{job.id}:download?alt=media"
                samples = [{"video": {"uri": uri}}]
            response = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
                "PredictLongRunningResponse",
                "generateVideoResponse": {
                    "generatedSamples": samples,
                    "raiMediaFilteredCount": len(reasons),
                    "raiMediaFilteredReasons": reasons,
                },
            }
        return Reply.json(200, {"name": name, "done": True, "response": response})


#: The credential and base-URL variables that point vidpipe at each fake, by provider.
_ENV = {
    "elevenlabs": ("ELEVENLABS_API_KEY", "VIDPIPE_ELEVENLABS_BASE_URL"),
    "heygen": ("HEYGEN_API_KEY", "VIDPIPE_HEYGEN_BASE_URL"),
    "replicate": ("REPLICATE_API_TOKEN", "VIDPIPE_REPLICATE_BASE_URL"),
    "veo3": ("VIDPIPE_VEO_ACCESS_TOKEN", "VIDPIPE_VEO_BASE_URL"),
}


def provider_env(servers: dict[str, FakeServer]) -> dict[str, str]:
    """The environment that sends vidpipe's live providers to these running fakes."""
    env = {}
    for name, fake in servers.items():
        key, url = _ENV[name]
        env[key], env[url] = fake.api_key, fake.url
    if "veo3" in servers:
        env |= {"VIDPIPE_VEO_PROJECT": "test-project", "VIDPIPE_VEO_LOCATION": "us-central1"}
    return env
