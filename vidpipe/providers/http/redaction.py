"""Keeping secrets out of messages: the values of the request's credential headers,
bearer tokens and URL query strings (signed URLs) are redacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

#: Request headers whose values are secrets (names lower-case).
CREDENTIAL_HEADERS = ("authorization", "xi-api-key", "x-api-key", "x-goog-api-key")

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
