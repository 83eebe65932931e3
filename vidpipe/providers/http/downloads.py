"""Downloading media: :func:`download` and :func:`save_response` stream a body to a file
atomically, checking its length; :func:`fetch_media` retries and refreshes expired links.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import httpx

from vidpipe.errors import PermanentProviderError, TransientProviderError
from vidpipe.providers.http.clocks import Clock
from vidpipe.providers.http.failures import raise_for_provider, request_id_of
from vidpipe.providers.http.redaction import safe_url
from vidpipe.providers.http.reporting import answered, report
from vidpipe.providers.http.sending import send_stream

CHUNK_SIZE = 1024 * 1024


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
    answered(provider)
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
    error = TransientProviderError(
        f"{provider}: download of {safe_url(str(response.request.url))} truncated: "
        f"got {got}{of} bytes{why}",
        provider=provider,
        status=response.status_code,
        request_id=request_id_of(response),
    )
    return report(error, "truncated")  # type: ignore[return-value]


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
