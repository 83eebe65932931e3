"""Media a reviewer's browser can open: the links review pages and run summaries carry,
the thumbnails they show, and the HTTP endpoint that serves a local media store.

- `browser_url(store, ref)`: on S3 a presigned URL; on a local store a signed, expiring
  link (`vidpipe.media_links`) to the endpoint at `VIDPIPE_MEDIA_URL`. Links last
  `VIDPIPE_MEDIA_LINK_TTL_S` (S3 caps presigned URLs at 7 days).
- `markdown_link(store, ref)`: the same as a Markdown link, or the object's location
  when no link can be made.
- `thumbnail_url(store, ref)`: a small JPEG of an image, or a poster frame of a video
  (1 s in, or the first frame of a shorter clip), made by FFmpeg. In a local store it is
  kept beside the object (`sha256/ab/abcdef....thumb.jpg`), made once and never fsync'ed:
  it can always be made again. On S3 it is stored like any object.
- `signing_key()`: `VIDPIPE_MEDIA_SIGNING_KEY`, else a random key made once and kept in
  `VIDPIPE_HOME/media-link.key` (mode 0600), so that `vidpipe media serve` and the flows
  of one home agree. It never leaves this process: not in a log line, a response, an
  error or an artifact.
- `serve_media(root, key)`: the endpoint (stdlib `ThreadingHTTPServer` in a daemon
  thread): GET and HEAD of `/media/{key}?exp=...&sig=...`; 403 for a link that is not
  signed, is tampered with or has expired, 404 for anything that is not an object inside
  the store; the object's Content-Type; byte ranges (206) so a browser can seek a video.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any

from vidpipe import media_links
from vidpipe.errors import SpecError, StorageError, VidpipeError
from vidpipe.refs import MediaRef
from vidpipe.settings import Settings, SettingsError, get_settings
from vidpipe.storage import CHUNK_SIZE, LocalStore, MediaStore
from vidpipe.storage.base import path_from_uri

__all__ = [
    "KEY_FILE",
    "THUMB_WIDTH",
    "signing_key",
    "browser_url",
    "markdown_link",
    "thumbnail_url",
    "thumbnail_args",
    "local_key",
    "media_port",
    "MediaServer",
    "serve_media",
    "local_media_root",
    "start_media",
    "start_beside",
]

#: The file in VIDPIPE_HOME holding the signing key when the setting is unset.
KEY_FILE = "media-link.key"
#: The widest thumbnail, in pixels (smaller pictures keep their size).
THUMB_WIDTH = 320
#: The longest a presigned S3 URL may last (SigV4's limit).
MAX_PRESIGN_S = 7 * 24 * 3600

log = logging.getLogger("vidpipe.media")


# -- the signing key ----------------------------------------------------------------------


def signing_key(settings: Settings | None = None) -> bytes:
    """The key media links are signed with (see the module docstring)."""
    settings = settings or get_settings()
    if settings.media_signing_key is not None:
        value = settings.media_signing_key.get_secret_value()
        if len(value) < 16:
            raise SettingsError(
                "bad settings: VIDPIPE_MEDIA_SIGNING_KEY: use at least 16 characters "
                "(32 random ones are best)"
            )
        return value.encode()
    return _key_file(Path(settings.home))


def _key_file(home: Path) -> bytes:
    """The home's key, made on first use: written to a private temporary file, then
    linked into place, so processes starting together all end up with the same key."""
    path = home / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    home.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=home, prefix=".media-link-", suffix=".part")  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise StorageError(f"{path} holds no usable key: delete it to make a new one")
    return value.encode()


# -- links and thumbnails -----------------------------------------------------------------


def local_key(store: LocalStore, uri: str) -> str | None:
    """The key of the file `uri` names inside a local store, or None if it is elsewhere."""
    try:
        path = path_from_uri(uri).resolve()
    except (StorageError, ValueError, OSError):
        return None
    root = store.root.resolve()
    if not path.is_relative_to(root) or path == root:
        return None
    key = path.relative_to(root).as_posix()
    return key if media_links.safe_key(key) else None


def _signed(key: str, settings: Settings, now: float | None) -> str:
    expires = media_links.expiry(time.time() if now is None else now, settings.media_link_ttl_s)
    return media_links.signed_url(settings.media_url, key, signing_key(settings), expires)


def browser_url(store: MediaStore, ref: MediaRef, *, now: float | None = None) -> str:
    """A URL a browser opens `ref`'s object with (any object of the store: an output, a
    published copy, a thumbnail). Raises StorageError for an object outside the store."""
    settings = get_settings()
    presign = getattr(store, "presigned_url", None)
    if presign is not None:
        return presign(ref, expires_s=min(settings.media_link_ttl_s, MAX_PRESIGN_S))
    key = local_key(store, ref.uri) if isinstance(store, LocalStore) else None
    if key is None:
        raise StorageError(f"{ref.uri} is not an object of the media store")
    return _signed(key, settings, now)


def markdown_link(store: MediaStore, ref: MediaRef, text: str | None = None) -> str:
    """A Markdown link to `ref`'s object (its file name unless `text` is given), or its
    location in a code span when no link can be made (a store that cannot serve it)."""
    from urllib.parse import urlsplit

    name = text or PurePosixPath(urlsplit(ref.uri).path).name or ref.kind
    try:
        return f"[{name}]({browser_url(store, ref)})"
    except (VidpipeError, OSError) as exc:
        log.warning("no media link for %s: %s", ref.uri, exc)
        return f"`{ref.uri}`"


def thumbnail_args(source: Path, target: Path, ref: MediaRef) -> list[str]:
    """FFmpeg's arguments for `ref`'s thumbnail: one frame (a video's at 1 s, or its
    first of a shorter clip), at most THUMB_WIDTH wide, as JPEG."""
    seek = 1.0 if ref.kind == "video" and (ref.duration_s or 0) > 1.0 else 0.0
    scale = f"scale='min({THUMB_WIDTH},iw)':-2"
    one_frame = ["-frames:v", "1", "-vf", scale, "-q:v", "4", "-update", "1"]
    return ["-ss", f"{seek:g}", "-i", str(source), *one_frame, str(target)]


def _make_thumbnail(source: Path, target: Path, ref: MediaRef) -> None:
    from vidpipe.media import run_ffmpeg

    args = thumbnail_args(source, target, ref)
    run_ffmpeg(args, operation=f"thumbnail of {ref.kind}", output=target)


def thumbnail_url(store: MediaStore, ref: MediaRef, *, now: float | None = None) -> str | None:
    """A link to a JPEG thumbnail of an image or a poster frame of a video (None for
    other kinds); see the module docstring."""
    if ref.kind not in ("image", "video"):
        return None
    if isinstance(store, LocalStore):
        source = store.local_path(ref)
        target = source.with_name(f"{ref.sha256}.thumb.jpg")
        if not target.is_file() or target.stat().st_size == 0:
            _make_thumbnail(source, target, ref)  # written aside, renamed into place
        key = local_key(store, target.as_uri())
        if key is None:
            raise StorageError(f"{ref.uri} is not an object of the media store")
        return _signed(key, get_settings(), now)
    folder = Path(tempfile.mkdtemp(prefix="vidpipe-thumb-"))
    try:
        target = folder / f"{ref.sha256}.thumb.jpg"
        _make_thumbnail(store.local_path(ref), target, ref)
        return browser_url(store, store.put(target, kind="image"), now=now)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def media_port(url: str) -> int:
    """The port a media URL names (80 or 443 when it names none)."""
    from urllib.parse import urlsplit

    split = urlsplit(url)
    return split.port or (443 if split.scheme == "https" else 80)


# -- the endpoint -------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """One request: signature, expiry, key, then the object (whole or a range)."""

    server_version = "vidpipe-media"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection is closed after this many seconds
    root: Path
    secret: bytes

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._respond(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(body=False)

    def _respond(self, *, body: bool) -> None:
        verdict = media_links.check_request(self.path, self.secret, time.time())
        if verdict.status != 200:
            return self._refuse(verdict.status, verdict.reason)
        try:
            path = (self.root / verdict.key).resolve()
            found = path.is_relative_to(self.root) and path.is_file()
            size = path.stat().st_size if found else 0
        except OSError:
            found = False
        if not found:
            return self._refuse(404, "not found")
        try:
            span = media_links.byte_range(self.headers.get("Range"), size)
        except ValueError:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        first, last = span if span is not None else (0, size - 1)
        self.send_response(200 if span is None else 206)
        self.send_header("Content-Type", media_links.content_type(verdict.key))
        self.send_header("Content-Length", str(max(0, last - first + 1)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "private, max-age=3600")
        self.send_header("X-Content-Type-Options", "nosniff")
        if span is not None:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if body:
            self._send_bytes(path, first, last - first + 1)

    def _send_bytes(self, path: Path, start: int, count: int) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError), open(path, "rb") as src:
            src.seek(start)
            while count > 0:
                chunk = src.read(min(CHUNK_SIZE, count))
                if not chunk:
                    break
                self.wfile.write(chunk)
                count -= len(chunk)

    def _refuse(self, status: int, reason: str) -> None:
        text = f"{reason}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # The path without its query: a link's signature opens the object, so it is not
        # written anywhere.
        path = self.path.split("?", 1)[0]
        log.info("%s %s %s", self.command, path, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug("media endpoint: " + format, *args)


class MediaServer:
    """The endpoint, listening in a daemon thread until `stop`."""

    def __init__(self, httpd: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.httpd, self.thread = httpd, thread

    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def serve_media(
    root: Path | str, secret: bytes, *, host: str = "127.0.0.1", port: int = 8765
) -> MediaServer:
    """Serve the local media store at `root` on host:port (port 0: a free one). Raises
    OSError when the address cannot be bound."""
    handler = type("MediaHandler", (_Handler,), {"root": Path(root).resolve(), "secret": secret})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.1,), name="vidpipe-media", daemon=True
    )  # polls for `stop` every 0.1 s
    thread.start()
    return MediaServer(httpd, thread)


def local_media_root() -> Path | None:
    """The local media store's folder, or None when the store is on S3 (its review pages
    carry presigned URLs: nothing to serve)."""
    settings = get_settings()
    if settings.storage_url and settings.storage_url.startswith("s3://"):
        return None
    from vidpipe.storage import open_store

    store = open_store()
    return store.root if isinstance(store, LocalStore) else None


def start_media(host: str, port: int, option: str = "--port") -> MediaServer:
    """Serve the local media store's signed links in a background thread; SpecError (one
    line) for a bad port, a store on S3 or an address that cannot be bound."""
    _check_port(port, option)
    root = local_media_root()
    if root is None:
        raise SpecError(
            "the media store is on S3: review pages link presigned URLs, nothing to serve"
        )
    return _serve_root(root, host, port, option)


def start_beside(port: int | None = None, option: str = "--media-port") -> MediaServer | None:
    """The endpoint on 127.0.0.1 beside another service (`vidpipe serve`, the local
    Prefect server): on `port`, else on VIDPIPE_MEDIA_URL's. None when the store is on S3
    and no port was asked for; SpecError (one line) when one was, or when the port cannot
    be bound."""
    root = local_media_root()
    if root is None:
        if port is not None:
            raise SpecError(f"{option}: the media store is on S3, nothing to serve")
        return None
    chosen = port if port is not None else media_port(get_settings().media_url)
    return _serve_root(root, "127.0.0.1", chosen, option)


def _check_port(port: int, option: str) -> None:
    if not 0 <= port <= 65535:
        raise SpecError(f"{option} must be 0..65535, got {port}")


def _serve_root(root: Path, host: str, port: int, option: str) -> MediaServer:
    _check_port(port, option)
    secret = signing_key(get_settings())
    try:
        return serve_media(root, secret, host=host, port=port)
    except OSError as exc:
        raise SpecError(f"cannot serve media on {host}:{port}: {exc.strerror or exc}") from None
