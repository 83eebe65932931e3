"""The media store: where node outputs live, addressed by their content.

Nodes hand each other `MediaRef`s (a URI plus digest, size, kind, duration), never bytes.
The store behind those URIs is content-addressed: an object's key is its sha256
(`sha256/ab/abcdef....mp4`), so the same media made twice is stored once, a key never
changes meaning, and a cache entry can be checked by size (or re-hash) before it is
trusted.

`MediaStore` is the small interface the engine codes against; `LocalStore` implements it
on a folder (default `VIDPIPE_HOME/media`), `vidpipe.s3.S3Store` on a bucket (same keys
under a prefix, read through a bounded local cache); `open_store(url)` picks one.
Writes are atomic: bytes go to a temporary file on the same filesystem, are fsync'ed, and
only then renamed into place, so a reader never sees half an object, and writers racing to
store the same content cannot corrupt it (both rename identical bytes to the same key).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from vidpipe.errors import StorageError
from vidpipe.refs import KINDS, Kind, MediaRef
from vidpipe.settings import get_settings

__all__ = [
    "CHUNK_SIZE",
    "MediaStore",
    "LocalStore",
    "TempFile",
    "open_store",
    "sha256_file",
    "object_key",
    "publish_parts",
    "temp_file",
]

CHUNK_SIZE = 1024 * 1024
_TMP_DIR = ".tmp"
_SAFE_EXT = re.compile(r"^\.[a-z0-9]{1,10}$")

#: A temporary file being written: its path and its open (binary, writable) handle.
TempFile = tuple[Path, BinaryIO]


def sha256_file(path: Path | str) -> str:
    """The file's sha256, hex; streamed in 1 MiB chunks so size never costs memory."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _extension(*names: str | None) -> str:
    """The first usable extension among `names`, lower-cased; '' if none is safe to keep."""
    for name in names:
        if not name:
            continue
        suffix = PurePosixPath(name).suffix.lower()
        if _SAFE_EXT.match(suffix):
            return suffix
    return ""


def object_key(sha256: str, ext: str = "") -> str:
    """`sha256/ab/abcdef...ext`: two-character fan-out keeps folders small."""
    return f"sha256/{sha256[:2]}/{sha256}{ext}"


@runtime_checkable
class MediaStore(Protocol):
    """Where media lives. Every method is safe to call from several threads at once."""

    def put(
        self,
        path: Path,
        *,
        kind: Kind,
        duration_s: float | None = None,
        name_hint: str | None = None,
    ) -> MediaRef:
        """Store a file's content (idempotent) and return its reference."""
        ...

    def put_text(self, text: str) -> MediaRef:
        """Store text (UTF-8, `.txt`) and return its reference."""
        ...

    def exists(self, ref: MediaRef, *, verify: bool = False) -> bool:
        """Whether the object is there with the right size (and, if `verify`, digest)."""
        ...

    def local_path(self, ref: MediaRef) -> Path:
        """A local file holding the object, to read (FFmpeg wants paths)."""
        ...

    def open_text(self, ref: MediaRef) -> str:
        """The object's content as UTF-8 text."""
        ...

    def publish(self, ref: MediaRef, relpath: str) -> str:
        """Copy the object to a human-readable place under the store; returns its URI."""
        ...

    def delete(self, ref: MediaRef) -> None:
        """Remove the object, if present."""
        ...


class LocalStore:
    """A MediaStore on a local folder; URIs are `file://` URIs of absolute paths."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root if root is not None else get_settings().media_root)
        self.root = self.root.expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- writing -----------------------------------------------------------------------------

    def put(
        self,
        path: Path,
        *,
        kind: Kind,
        duration_s: float | None = None,
        name_hint: str | None = None,
    ) -> MediaRef:
        """Store `path`'s content under its digest, keeping its extension (else name_hint's).

        The file is read once: hashed while it is copied to a temporary file, which is then
        renamed to its key. If the key is already there the copy is simply dropped.
        """
        _check_kind(kind)
        path = Path(path)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after the copy
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
        with handle:
            return self._put_stream(
                handle, kind=kind, ext=_extension(path.name, name_hint), duration_s=duration_s
            )

    def put_text(self, text: str) -> MediaRef:
        return self._put_stream(io.BytesIO(text.encode("utf-8")), kind="text", ext=".txt")

    def _put_stream(
        self, source: BinaryIO, *, kind: Kind, ext: str, duration_s: float | None = None
    ) -> MediaRef:
        with temp_file(self.root / _TMP_DIR) as (tmp_path, out):
            digest, size = _copy_hashing(source, out)
            _sync(out)
            key = object_key(digest, ext)
            final = self.root / key
            if not (final.is_file() and final.stat().st_size == size):
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_path, final)
                _fsync_dir(final.parent)
        return MediaRef(
            uri=final.as_uri(), kind=kind, sha256=digest, bytes=size, duration_s=duration_s
        )

    def publish(self, ref: MediaRef, relpath: str) -> str:
        """Copy the object to `root/relpath` (e.g. `runs/{pipeline}/{run}/final.mp4`).

        A copy, not a link: people open, edit and move published files, and that must never
        alter the content-addressed original. Replaces an earlier file atomically.
        """
        source = self.local_path(ref)
        target = self._published_path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        with temp_file(target.parent) as (tmp_path, out), open(source, "rb") as src:
            shutil.copyfileobj(src, out, CHUNK_SIZE)
            _sync(out)
            os.replace(tmp_path, target)
        return target.as_uri()

    def _published_path(self, relpath: str) -> Path:
        return self.root.joinpath(*publish_parts(relpath))

    def delete(self, ref: MediaRef) -> None:
        path = _path_from_uri(ref.uri)
        if not path.is_relative_to(self.root):
            raise StorageError(f"{ref.uri} is not in this store ({self.root})")
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {ref.uri}: {exc.strerror or exc}") from None

    # -- reading -----------------------------------------------------------------------------

    def exists(self, ref: MediaRef, *, verify: bool = False) -> bool:
        """True only for a complete object of this store: present, right size, and right
        digest if asked. An object of another store (another VIDPIPE_HOME) is not ours:
        a cached result pointing there is a miss, so homes never share media by accident."""
        try:
            path = _path_from_uri(ref.uri)
            if not path.resolve().is_relative_to(self.root.resolve()):
                return False
            if path.stat().st_size != ref.bytes:
                return False
        except (OSError, ValueError, StorageError):
            return False
        if not verify:
            return True
        try:
            return sha256_file(path) == ref.sha256
        except StorageError:
            return False

    def local_path(self, ref: MediaRef) -> Path:
        """The object's own path. Raises StorageError if it is missing or truncated."""
        path = _path_from_uri(ref.uri)
        try:
            size = path.stat().st_size
        except OSError:
            raise StorageError(f"media missing: {ref.uri}") from None
        if size != ref.bytes:
            raise StorageError(f"media damaged: {ref.uri} has {size} bytes, expected {ref.bytes}")
        return path

    def open_text(self, ref: MediaRef) -> str:
        path = self.local_path(ref)
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"cannot read {ref.uri} as text: {exc}") from None


@contextlib.contextmanager
def temp_file(folder: Path) -> Iterator[TempFile]:
    """A temporary file in `folder`, always removed at the end unless renamed away.

    The body must `_sync` it before renaming: the rename is the commit point, so the bytes
    have to be on disk first. Every store (and the S3 read-through cache) writes this way.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="put-", suffix=".part")
    except OSError as exc:
        raise StorageError(f"cannot write under {folder}: {exc.strerror or exc}") from None
    tmp_path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield tmp_path, out
    except OSError as exc:
        raise StorageError(f"cannot write under {folder}: {exc.strerror or exc}") from None
    finally:
        tmp_path.unlink(missing_ok=True)  # already renamed on success: nothing to do


def publish_parts(relpath: str) -> tuple[str, ...]:
    """`relpath`'s parts, refused if it would leave the store or land among the objects.

    Shared by every store, so that `runs/...` means the same on a disk and in a bucket.
    """
    relative = PurePosixPath(relpath)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise StorageError(f"publish path must stay inside the store: {relpath!r}")
    if relative.parts[0] in ("sha256", _TMP_DIR):
        raise StorageError(f"publish path may not be under {relative.parts[0]}/: {relpath!r}")
    return relative.parts


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise StorageError(f"unknown media kind {kind!r}; expected one of {', '.join(KINDS)}")


def _copy_hashing(source: BinaryIO, out: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); skipped where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _path_from_uri(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise StorageError(f"not a local file URI: {uri}")
    if parsed.netloc not in ("", "localhost"):
        raise StorageError(f"file URI names another host: {uri}")
    return Path(unquote(parsed.path))


def open_store(url: str | None = None) -> MediaStore:
    """The store for `url` (default: the settings' storage URL, else VIDPIPE_HOME/media).

    A folder path or `file://` URL gives a LocalStore, `s3://bucket/prefix` an S3Store
    (boto3 is imported only then, so a local set-up never pays for it).
    """
    if url is None:
        settings = get_settings()
        url = settings.storage_url
        if url is None or "://" not in url:
            return LocalStore(settings.media_root)
    scheme = urlparse(url).scheme if "://" in url else ""
    if scheme == "":
        return LocalStore(Path(url))
    if scheme == "file":
        return LocalStore(_path_from_uri(url))
    if scheme == "s3":
        from vidpipe.s3 import S3Store

        return S3Store.from_url(url)
    raise StorageError(f"unsupported storage URL {url!r}: use a folder or s3://bucket/prefix")
