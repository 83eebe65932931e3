"""Signed, expiring links to objects of a local media store: pure functions, no I/O.

A link is `{VIDPIPE_MEDIA_URL}/media/{key}?exp={expiry}&sig={signature}`:

- `key` is the object's key in the store (`sha256/ab/abcdef....png`, a thumbnail beside
  it, a published `runs/PIPELINE/RUN/final.mp4`), percent-encoded part by part;
- `exp` is when the link stops working, in Unix seconds;
- `sig` is HMAC-SHA256, under the signing key, of `{key}\\n{exp}` (hexadecimal), so a
  link opens exactly one object until exactly its expiry: changing the key, the expiry or
  the signature breaks it, and nobody without the key can make one.

`check_request` is what the endpoint (`vidpipe.media_server`) asks of each request: the
signature is compared in constant time, then the expiry, then whether the key may name an
object at all (no `..`, no absolute path, no hidden file such as a half-written one).
Also here: the Content-Type of a key, and the byte range a `Range` header asks for.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = [
    "PATH_PREFIX",
    "Verdict",
    "signature",
    "expiry",
    "signed_url",
    "safe_key",
    "check_request",
    "content_type",
    "byte_range",
]

#: The path under which the endpoint serves objects.
PATH_PREFIX = "/media/"
#: The longest key a link may name.
MAX_KEY_CHARS = 1024

_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".txt": "text/plain; charset=utf-8",
    ".srt": "text/plain; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".json": "application/json",
}


@dataclass(frozen=True)
class Verdict:
    """What a request may have: `status` 200 with the object's `key`, else 403 (no valid
    signature, or expired) or 404 (a key no object can have), with a reason for people."""

    status: int
    key: str | None = None
    reason: str = ""


def signature(secret: bytes, key: str, expires: int) -> str:
    """HMAC-SHA256 of `{key}\\n{expires}` under `secret`, hexadecimal."""
    message = f"{key}\n{int(expires)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def expiry(now: float, ttl_s: float) -> int:
    """When a link made at `now` for `ttl_s` seconds stops working (Unix seconds)."""
    return int(now) + int(ttl_s)


def signed_url(base_url: str, key: str, secret: bytes, expires: int) -> str:
    """The link to `key` under `base_url` (e.g. `http://127.0.0.1:8765`), valid until
    `expires`."""
    path = "/".join(quote(part, safe="") for part in key.split("/"))
    sig = signature(secret, key, expires)
    return f"{base_url.rstrip('/')}{PATH_PREFIX}{path}?exp={int(expires)}&sig={sig}"


def safe_key(key: str) -> bool:
    """Whether `key` can name an object inside the store: relative, no `.` or `..` part,
    no hidden part (temporary files start with a dot), no backslash or control character."""
    if not key or len(key) > MAX_KEY_CHARS or key.startswith("/") or "\\" in key:
        return False
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return False
    parts = key.split("/")
    return all(part and not part.startswith(".") for part in parts)


def check_request(target: str, secret: bytes, now: float) -> Verdict:
    """Decide a request for `target` (the request line's path and query)."""
    split = urlsplit(target)
    if not split.path.startswith(PATH_PREFIX):
        return Verdict(404, reason="not found")
    try:
        key = unquote(split.path[len(PATH_PREFIX) :], errors="strict")
    except UnicodeDecodeError:
        return Verdict(404, reason="not found")
    query = parse_qs(split.query, keep_blank_values=True)
    exp, sig = query.get("exp", []), query.get("sig", [])
    if len(exp) != 1 or len(sig) != 1 or not exp[0].isdigit():
        return Verdict(403, reason="forbidden: the link is not signed")
    expected = signature(secret, key, int(exp[0]))
    if not hmac.compare_digest(expected.encode(), sig[0].encode()):
        return Verdict(403, reason="forbidden: the link's signature does not match")
    if int(exp[0]) < now:
        return Verdict(403, reason="forbidden: the link has expired")
    if not safe_key(key):
        return Verdict(404, reason="not found")
    return Verdict(200, key=key)


def content_type(key: str) -> str:
    """The Content-Type an object is served with, from its extension."""
    return _TYPES.get(PurePosixPath(key).suffix.lower(), "application/octet-stream")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes (first, last; inclusive) a `Range` header asks of an object of `size`
    bytes, or None for the whole object (no header, several ranges, or one we do not
    read: a server may always answer those in full).

    Raises ValueError when the range starts beyond the object (416).
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, dash, last = header[len("bytes=") :].strip().partition("-")
    if not dash or not (first or last):
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:  # the last N bytes
        if int(last) == 0 or size == 0:
            raise ValueError("an empty suffix range, or a range of an empty object")
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size:
        raise ValueError(f"range starts at {start}, beyond {size} bytes")
    if end < start:
        return None
    return start, min(end, size - 1)
