"""How HTTP failures become vidpipe errors, drawn once:

    httpx.Response / httpx.TransportError
    ├── 2xx                                   returned
    ├── 408, 425, 429, 5xx                    TransientProviderError (429: retry_after_s)
    ├── other 4xx (400/401/402/403/404/422)   PermanentProviderError(status=...)
    ├── transport error, timeout              TransientProviderError (status None)
    └── 2xx whose JSON does not parse         TransientProviderError (malformed JSON)

Messages carry the provider's own words (decoded from the body shapes listed under
"Errors" in sections 1 to 4 of docs/providers.md) and never a secret: the values of the
request's credential headers, bearer tokens and URL query strings (signed URLs) are
redacted. Each failure is reported once to the observers (`reporting`).
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from vidpipe.errors import PermanentProviderError, TransientProviderError
from vidpipe.providers.http.redaction import _secrets_of, redact, safe_url
from vidpipe.providers.http.reporting import kind_of_transport, report

_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_MAX_MESSAGE = 500


def _transport_error(
    exc: httpx.TransportError, provider: str, request: httpx.Request | None = None
) -> TransientProviderError:
    try:
        request = request or exc.request
    except RuntimeError:  # an exception raised outside a request has none
        request = None
    where = f" ({request.method} {safe_url(str(request.url))})" if request is not None else ""
    text = redact(str(exc) or type(exc).__name__, _secrets_of(request))
    error = TransientProviderError(
        f"{provider}: {type(exc).__name__}{where}: {text}", provider=provider
    )
    return report(error, kind_of_transport(exc))  # type: ignore[return-value]


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
        raise report(
            TransientProviderError(
                text,
                provider=provider,
                status=status,
                retry_after_s=parse_retry_after(response),
                request_id=request_id,
            )
        )
    raise report(
        PermanentProviderError(text, provider=provider, status=status, request_id=request_id)
    )


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
