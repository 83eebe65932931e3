"""Talking to a provider over HTTP: the one submit -> poll -> download helper all live
clients share.

Every network call goes through an `httpx.Client` the caller constructs (tests hand in
one pointed at a local fake server), and every wait goes through an injected
:class:`Clock` (tests hand in one that advances instantly and records its sleeps).

How HTTP failures become vidpipe errors, drawn once:

    httpx.Response / httpx.TransportError
    ├── 2xx                                   returned
    ├── 408, 425, 429, 5xx                    TransientProviderError (429: retry_after_s)
    ├── other 4xx (400/401/402/403/404/422)   PermanentProviderError(status=...)
    ├── transport error, timeout              TransientProviderError (status None)
    └── 2xx whose JSON does not parse         TransientProviderError (malformed JSON)

A paid *create* is sent once per known outcome (:func:`create_once`): a failure that
certainly created nothing (a 429, a connection never made) is waited out and sent again;
one whose outcome is unknown (a 5xx, a timeout or a dropped connection after the request
went out, a 2xx that did not parse) is resolved by the provider's own lookup of the job
(re-attached when found) or fails with :class:`~vidpipe.errors.AmbiguousCreateError`,
which nothing retries.

Messages carry the provider's own words (decoded from the body shapes listed in
providers.md) and never a secret: the values of the request's credential headers, bearer
tokens and URL query strings (signed URLs) are redacted.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from vidpipe.errors import (
    AmbiguousCreateError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)

__all__ = [
    "CHUNK_SIZE",
    "CREDENTIAL_HEADERS",
    "Clock",
    "SystemClock",
    "FakeClock",
    "SYSTEM_CLOCK",
    "JobCallback",
    "poll_until",
    "retry_call",
    "safe_to_resubmit",
    "create_once",
    "Exists",
    "ambiguous_create",
    "request_id_of",
    "send",
    "send_stream",
    "json_of",
    "request_json",
    "raise_for_provider",
    "provider_message",
    "parse_retry_after",
    "redact",
    "safe_url",
    "download",
    "save_response",
    "fetch_media",
    "expired_job",
]

T = TypeVar("T")

CHUNK_SIZE = 1024 * 1024
#: Request headers whose values are secrets (names lower-case).
CREDENTIAL_HEADERS = ("authorization", "xi-api-key", "x-api-key", "x-goog-api-key")
#: Called with the provider's job id as soon as it is known, before any polling, so the
#: engine can persist it and re-attach after a crash instead of paying again.
JobCallback = Callable[[str], None]

_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_MAX_MESSAGE = 500


# --------------------------------------------------------------------------- clocks


class Clock(Protocol):
    """Time as the pollers see it: injected so tests never wait in real time."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class SystemClock:
    """The real clock: monotonic time, real sleeps."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


@dataclass
class FakeClock:
    """A clock whose `sleep` advances `now` at once and records the wait (for tests and
    benchmarks; lives here so every test suite uses the same one)."""

    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


SYSTEM_CLOCK: Clock = SystemClock()


# --------------------------------------------------------------------------- polling


def poll_until(
    fetch_status: Callable[[], T | None],
    *,
    clock: Clock,
    deadline_s: float,
    first_s: float = 2.0,
    max_s: float = 10.0,
    factor: float = 1.5,
    provider: str = "",
    what: str = "job",
    retry_if: Callable[[TransientProviderError], bool] | None = None,
    wait_first: bool = False,
) -> T:
    """Call `fetch_status` until it returns something other than None.

    Between calls it waits `first_s`, growing by `factor` up to `max_s`. A
    TransientProviderError from `fetch_status` is retried (after its `retry_after_s` when
    the provider gave one, e.g. a 429's Retry-After) unless `retry_if` says no; a
    PermanentProviderError propagates at once. When the next wait would pass `deadline_s`
    (measured from the first call) a TransientProviderError says the wait timed out: the
    job may still finish, and its id was persisted, so a retry can re-attach to it.
    `wait_first` waits `first_s` before the first call (a job just created is not done).
    """
    start = clock.now()
    interval = first_s
    if wait_first:
        clock.sleep(min(first_s, deadline_s))
        interval = min(interval * factor, max_s)
    last_error: TransientProviderError | None = None
    while True:
        asked: float | None = None
        try:
            result = fetch_status()
        except TransientProviderError as exc:
            if retry_if is not None and not retry_if(exc):
                raise
            last_error, asked = exc, exc.retry_after_s
        except httpx.TransportError as exc:  # a fetch that did not go through `send`
            last_error = _transport_error(exc, provider)
        else:
            if result is not None:
                return result
        wait = max(asked, 0.0) if asked is not None else interval
        remaining = deadline_s - (clock.now() - start)
        if remaining <= 0 or (asked is not None and asked > remaining):
            detail = f"; last error: {last_error}" if last_error else ""
            raise TransientProviderError(
                f"{provider}: {what} not finished after {deadline_s:g} s{detail}",
                provider=provider,
                status=last_error.status if last_error else None,
            ) from last_error
        clock.sleep(min(wait, remaining))
        interval = min(interval * factor, max_s)


def safe_to_resubmit(exc: TransientProviderError) -> bool:
    """Whether a failed *create* request certainly created nothing, so sending it again
    cannot pay twice: a 429 (refused), or a request that never left (connect refused,
    DNS, connect timeout, no free connection in the pool). A 5xx, a read timeout or a
    dropped connection after the request went out is ambiguous: :func:`create_once` looks
    the job up instead."""
    return exc.status == 429 or isinstance(exc.__cause__, _NOT_SENT)


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


#: HTTP statuses with which the provider's application itself answered a create it could
#: not complete: when its lookup then finds no job, nothing was created. A gateway's 502 or
#: 504, a 503, a timeout or a dropped connection may hide a create still running.
_ANSWERED_STATUSES = frozenset({500})
#: Waits before each lookup of a create whose outcome is unknown.
LOOKUP_WAITS_S: tuple[float, ...] = (2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Exists:
    """A lookup's answer for a job that exists (so it bills) but cannot be taken over
    (ElevenLabs: the speech was made, its audio did not arrive)."""

    detail: str
    request_id: str | None = None


class _NotCreated(TransientProviderError):
    """A create whose failure the provider's lookup showed created nothing."""


def ambiguous_create(
    provider: str,
    what: str,
    cause: ProviderError,
    *,
    request_id: str | None = None,
    hint: str = "",
    lookup_error: BaseException | None = None,
) -> AmbiguousCreateError:
    """The error for a paid create that may exist: one line saying so, what happened, the
    provider's request id and where to look."""
    request_id = request_id or cause.request_id
    parts = [f"the request went out, then: {cause}"]
    if request_id:
        parts.append(f"request id {request_id}")
    if hint:
        parts.append(hint)
    if lookup_error is not None:
        parts.append(f"the lookup failed: {lookup_error}")
    return AmbiguousCreateError(
        f"{provider}: {what} may have been created: check the provider before re-running "
        f"({'; '.join(parts)})",
        provider=provider,
        status=cause.status,
        request_id=request_id,
    )


def create_once(
    create: Callable[[], T],
    *,
    find: Callable[[TransientProviderError], T | Exists | None] | None,
    clock: Clock,
    deadline_s: float,
    provider: str,
    what: str,
    hint: str = "",
    lookup_waits_s: Sequence[float] = LOOKUP_WAITS_S,
) -> T:
    """Send a paid create, never twice blind.

    * Refused for sure (429, connection refused): waited out (Retry-After) and sent again
      until `deadline_s`; past it the TransientProviderError is safe for a task retry.
    * Outcome unknown (5xx, timeout or dropped connection after sending, a 2xx that did
      not parse): `find(error)` looks the job up by what the client sent (a correlation
      id, the input and time) after each of `lookup_waits_s`. A job found is returned as
      if the create had answered (the caller persists its id); a job that exists but
      cannot be used (:class:`Exists`), a lookup that keeps failing, or no job found
      after an ambiguous outcome raises :class:`AmbiguousCreateError`. Only when the
      provider's application answered (HTTP 500) and two lookups found nothing is the
      create sent again.
    * `find` None (the provider documents no lookup): AmbiguousCreateError at once.

    `hint` says where to look for the job in the error (a title, a correlation id).
    """

    def attempt() -> T:
        try:
            return create()
        except TransientProviderError as exc:
            if safe_to_resubmit(exc):
                raise
            return resolve(exc)

    def resolve(exc: TransientProviderError) -> T:
        if find is None:
            raise ambiguous_create(provider, what, exc, hint=hint) from exc
        misses, lookup_error = 0, None
        for wait in lookup_waits_s:
            clock.sleep(wait)
            try:
                found = find(exc)
            except AmbiguousCreateError:
                raise
            except ProviderError as error:
                lookup_error = error
                if isinstance(error, PermanentProviderError):
                    break
                continue
            except httpx.TransportError as error:
                lookup_error = _transport_error(error, provider)
                continue
            if isinstance(found, Exists):
                raise ambiguous_create(
                    provider,
                    what,
                    exc,
                    request_id=found.request_id,
                    hint="; ".join(filter(None, (found.detail, hint))),
                ) from exc
            if found is not None:
                return found
            misses, lookup_error = misses + 1, None
            if misses >= 2 and exc.status in _ANSWERED_STATUSES:
                raise _NotCreated(
                    f"{provider}: {what} failed and created nothing (looked up): {exc}",
                    provider=provider,
                    status=exc.status,
                ) from exc
        raise ambiguous_create(provider, what, exc, hint=hint, lookup_error=lookup_error) from exc

    return retry_call(
        attempt,
        clock=clock,
        deadline_s=deadline_s,
        provider=provider,
        what=what,
        retry_if=lambda exc: isinstance(exc, _NotCreated) or safe_to_resubmit(exc),
    )


def retry_call(
    call: Callable[[], T],
    *,
    clock: Clock,
    deadline_s: float,
    provider: str = "",
    what: str = "request",
    retry_if: Callable[[TransientProviderError], bool] | None = None,
    first_s: float = 1.0,
    max_s: float = 10.0,
) -> T:
    """Run `call` once, retrying its transient failures (see :func:`poll_until`)."""
    return poll_until(
        call,  # a call returns its result, never None
        clock=clock,
        deadline_s=deadline_s,
        first_s=first_s,
        max_s=max_s,
        provider=provider,
        what=what,
        retry_if=retry_if,
    )


# --------------------------------------------------------------------------- requests


def send(client: httpx.Client, request: httpx.Request, *, provider: str) -> httpx.Response:
    """Send `request` and raise for a failure status; transport errors become transient.

    The response is read in full; media bodies go through :func:`send_stream` and
    :func:`save_response` instead.
    """
    try:
        response = client.send(request)
    except httpx.TransportError as exc:
        raise _transport_error(exc, provider, request) from exc
    raise_for_provider(response, provider)
    return response


def send_stream(client: httpx.Client, request: httpx.Request, *, provider: str) -> httpx.Response:
    """Send `request` without reading the body (the caller closes the response);
    transport errors become transient. Redirects are followed (Gemini file downloads)."""
    try:
        return client.send(request, stream=True, follow_redirects=True)
    except httpx.TransportError as exc:
        raise _transport_error(exc, provider, request) from exc


def _transport_error(
    exc: httpx.TransportError, provider: str, request: httpx.Request | None = None
) -> TransientProviderError:
    try:
        request = request or exc.request
    except RuntimeError:  # an exception raised outside a request has none
        request = None
    where = f" ({request.method} {safe_url(str(request.url))})" if request is not None else ""
    text = redact(str(exc) or type(exc).__name__, _secrets_of(request))
    return TransientProviderError(
        f"{provider}: {type(exc).__name__}{where}: {text}", provider=provider
    )


def json_of(response: httpx.Response, *, provider: str) -> Any:
    """The response's JSON; a body that does not parse is a transient fault (a proxy's
    HTML error page, a truncated body)."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        snippet = redact(response.text[:120], _secrets_of(response.request))
        raise TransientProviderError(
            f"{provider}: malformed JSON in HTTP {response.status_code} response: {snippet!r}",
            provider=provider,
            status=response.status_code,
        ) from exc


def request_json(
    client: httpx.Client, method: str, url: str, *, provider: str, **kwargs: Any
) -> Any:
    """One JSON request: build, :func:`send`, :func:`json_of`. `kwargs` go to
    `httpx.Client.build_request` (json, params, headers, timeout)."""
    request = client.build_request(method, url, **kwargs)
    return json_of(send(client, request, provider=provider), provider=provider)


def raise_for_provider(response: httpx.Response, provider: str) -> None:
    """Raise the vidpipe error for a failed response (see the module's tree); do nothing
    for a success. The message is the provider's own, decoded and redacted."""
    if response.is_success:
        return
    if not response.is_closed:  # a streamed response: error bodies are small
        response.read()
    status = response.status_code
    message = redact(provider_message(response), _secrets_of(response.request))
    text = f"{provider}: HTTP {status}: {message}" if message else f"{provider}: HTTP {status}"
    request_id = request_id_of(response)
    if status in _TRANSIENT_STATUSES or status >= 500:
        raise TransientProviderError(
            text,
            provider=provider,
            status=status,
            retry_after_s=parse_retry_after(response),
            request_id=request_id,
        )
    raise PermanentProviderError(text, provider=provider, status=status, request_id=request_id)


#: Response headers carrying the provider's id of a request: ``request-id`` (ElevenLabs),
#: ``X-Request-Id`` (HeyGen v3).
REQUEST_ID_HEADERS = ("request-id", "x-request-id")


def request_id_of(response: httpx.Response) -> str | None:
    """The provider's id of this request, from its headers or (ElevenLabs) its error body's
    ``detail.request_id``; None when it sent none."""
    for name in REQUEST_ID_HEADERS:
        if response.headers.get(name):
            return response.headers[name][:255]
    if response.is_success or not response.is_closed:
        return None
    try:
        detail = response.json().get("detail")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    found = detail.get("request_id") if isinstance(detail, dict) else None
    return str(found)[:255] if found else None


def provider_message(response: httpx.Response) -> str:
    """The provider's own error message, from whichever body shape it uses:

    * ElevenLabs: ``{"detail": {"status", "message"}}`` or ``{"detail": [{"loc","msg"}]}``
    * HeyGen v3 ``{"error": {"code", "message"}}``; legacy ``{"code", "message"}``
    * Google: ``{"error": {"code", "message", "status"}}``
    * Replicate (problem+json): ``{"title", "detail", "invalid_fields"}``

    Anything else: the start of the body as text.
    """
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _clip(" ".join(response.text.split()))
    return _clip(_message_from(data))


def _message_from(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(filter(None, (_message_from(item) for item in data)))
    if not isinstance(data, dict):
        return json.dumps(data)
    parts: list[str] = []
    detail = data.get("detail")
    if "title" in data:  # Replicate problem+json
        parts.append(str(data["title"]))
        if detail:
            parts.append(str(detail))
        for item in data.get("invalid_fields") or []:
            if isinstance(item, dict) and item.get("description"):
                parts.append(f"{item.get('field', '?')}: {item['description']}")
        return ": ".join(parts[:2]) + "".join(f"; {p}" for p in parts[2:])
    if isinstance(detail, list):  # ElevenLabs / FastAPI validation
        items = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc") or [])
                items.append(f"{loc}: {item.get('msg', '')}".strip(": "))
            else:
                items.append(str(item))
        return "validation failed: " + "; ".join(items)
    if isinstance(detail, dict):  # ElevenLabs
        code = detail.get("status") or detail.get("code")
        msg = detail.get("message") or ""
        return f"{code}: {msg}" if code and msg else str(code or msg)
    if isinstance(detail, str):
        return detail
    error = data.get("error")
    if isinstance(error, dict):  # HeyGen v3, Google
        code = error.get("status") or error.get("code")
        msg = error.get("message") or error.get("detail") or ""
        return f"{code}: {msg}" if code and msg else str(code or msg)
    if isinstance(error, str) and error:
        return error
    if data.get("message"):  # HeyGen legacy
        code = data.get("code")
        return f"{code}: {data['message']}" if code is not None else str(data["message"])
    return json.dumps(data)[:_MAX_MESSAGE]


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before retrying, if the provider said: ``retry-after-ms``,
    ``Retry-After`` in seconds or as an HTTP date, or Google's ``RetryInfo.retryDelay``
    ("46s") in the error details. None when it did not (ElevenLabs never does)."""
    headers = response.headers
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    try:
        error = response.json().get("error", {})
        for item in error.get("details") or []:
            match = _RETRY_DELAY.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        pass
    return None


# --------------------------------------------------------------------------- redaction

_BEARER = re.compile(r"(?i)\b(bearer|token|key)([\s=:]+)[A-Za-z0-9._~+/=-]{8,}")
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*")


def _secrets_of(request: httpx.Request | None) -> list[str]:
    if request is None:
        return []
    found = []
    for name in CREDENTIAL_HEADERS:
        value = request.headers.get(name)
        if value:
            found.append(value)
            if " " in value:  # "Bearer <token>": the token alone too
                found.append(value.split(" ", 1)[1])
    return found


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secret values, bearer tokens or URL query strings."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    text = _URL_QUERY.sub(r"\1?[redacted]", text)
    return _BEARER.sub(r"\1\2[redacted]", text)


def safe_url(url: str) -> str:
    """A URL fit for a message: the query string (signatures, keys) removed."""
    return url.split("?", 1)[0] + ("?[redacted]" if "?" in url else "")


# --------------------------------------------------------------------------- downloads


def download(
    client: httpx.Client,
    url: str,
    out: str | os.PathLike[str],
    *,
    expected_bytes: int | None = None,
    headers: Mapping[str, str] | None = None,
    provider: str = "",
) -> int:
    """Stream `url` to `out` (see :func:`save_response`); returns the bytes written."""
    request = client.build_request("GET", url, headers=dict(headers or {}))
    response = send_stream(client, request, provider=provider)
    try:
        return save_response(response, out, expected_bytes=expected_bytes, provider=provider)
    finally:
        response.close()


def save_response(
    response: httpx.Response,
    out: str | os.PathLike[str],
    *,
    expected_bytes: int | None = None,
    provider: str = "",
) -> int:
    """Write a streamed response body to `out`, atomically, in 1 MiB chunks.

    The body goes to a temporary file beside `out`; its length is checked against
    Content-Length and `expected_bytes`, it is fsynced, and only then renamed over `out`.
    A short body raises TransientProviderError and leaves nothing at `out`, so a
    truncated file is never promoted. Memory stays flat whatever the size.
    """
    raise_for_provider(response, provider)
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.urandom(4).hex()}.part")
    declared = _content_length(response)
    written = 0
    try:
        with open(tmp, "wb") as fh:
            try:
                for chunk in _chunks(response.iter_bytes(), CHUNK_SIZE):
                    fh.write(chunk)
                    written += len(chunk)
            except httpx.TransportError as exc:  # the peer closed early, a read timed out
                raise _truncated(provider, response, written, declared, exc) from exc
            received = response.num_bytes_downloaded
            if declared is not None and received != declared:
                raise _truncated(provider, response, received, declared)
            if expected_bytes is not None and written != expected_bytes:
                raise _truncated(provider, response, written, expected_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return written


def _chunks(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Re-chunk to at most `size` bytes without holding more than one chunk."""
    buf = bytearray()
    for piece in pieces:
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def _content_length(response: httpx.Response) -> int | None:
    if response.headers.get("content-encoding", "identity") != "identity":
        return None  # the length of the encoded body, not of what we write
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _truncated(
    provider: str,
    response: httpx.Response,
    got: int,
    wanted: int | None,
    cause: Exception | None = None,
) -> TransientProviderError:
    of = f" of {wanted}" if wanted is not None else ""
    why = f" ({type(cause).__name__})" if cause else ""
    return TransientProviderError(
        f"{provider}: download of {safe_url(str(response.request.url))} truncated: "
        f"got {got}{of} bytes{why}",
        provider=provider,
        status=response.status_code,
        request_id=request_id_of(response),
    )


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fetch_media(
    client: httpx.Client,
    url: str,
    out: str | os.PathLike[str],
    *,
    clock: Clock,
    provider: str,
    refresh: Callable[[], str] | None = None,
    headers: Mapping[str, str] | None = None,
    attempts: int = 3,
    first_s: float = 2.0,
) -> int:
    """Download a finished job's media, retrying from scratch after transient faults
    (truncation, 5xx, dropped connections) up to `attempts` times.

    Result links are presigned and expire; when the download is refused (403, 404, 410)
    and `refresh` is given, it is called once for a fresh link (HeyGen: fetch the status
    again) and the download is tried again.
    """
    refreshed = False
    wait = first_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return download(client, url, out, headers=headers, provider=provider)
        except PermanentProviderError as exc:
            if refresh is None or refreshed or exc.status not in (403, 404, 410):
                raise
            refreshed = True
            url = refresh()
        except TransientProviderError:
            if attempt >= attempts:
                raise
            clock.sleep(wait)
            wait *= 2


def expired_job(
    provider: str, job_id: str, cause: ProviderError | None = None
) -> PermanentProviderError:
    """The error for a re-attached job the provider no longer knows: reported, never
    silently submitted (and paid for) again."""
    why = f" ({cause})" if cause else ""
    return PermanentProviderError(
        f"{provider}: job {job_id} expired; not resubmitting to avoid paying twice{why}",
        provider=provider,
        status=getattr(cause, "status", None),
    )
