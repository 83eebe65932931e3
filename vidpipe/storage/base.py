"""What every media store shares: content addressing (`sha256_file`, `object_key`), the
`MediaStore` interface, and atomic writes (`temp_file`, `sync`, `fsync_dir`).

`LocalStore` (`vidpipe.storage.local`), `S3Store` and the S3 read-through cache
(`vidpipe.storage.s3`, `vidpipe.storage.s3_cache`) are built on these.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from vidpipe.errors import StorageError
from vidpipe.refs import KINDS, Kind, MediaRef

__all__ = [
    "CHUNK_SIZE",
    "TMP_DIR",
    "MediaStore",
    "TempFile",
    "sha256_file",
    "extension",
    "object_key",
    "temp_file",
    "publish_parts",
    "check_kind",
    "copy_hashing",
    "sync",
    "fsync_dir",
    "path_from_uri",
]

CHUNK_SIZE = 1024 * 1024
TMP_DIR = ".tmp"
SAFE_EXT = re.compile(r"^\.[a-z0-9]{1,10}$")

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


def extension(*names: str | None) -> str:
    """The first usable extension among `names`, lower-cased; '' if none is safe to keep."""
    for name in names:
        if not name:
            continue
        suffix = PurePosixPath(name).suffix.lower()
        if SAFE_EXT.match(suffix):
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


@contextlib.contextmanager
def temp_file(folder: Path) -> Iterator[TempFile]:
    """A temporary file in `folder`, always removed at the end unless renamed away.

    The body must `sync` it before renaming: the rename is the commit point, so the bytes
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
    if relative.parts[0] in ("sha256", TMP_DIR):
        raise StorageError(f"publish path may not be under {relative.parts[0]}/: {relpath!r}")
    return relative.parts


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise StorageError(f"unknown media kind {kind!r}; expected one of {', '.join(KINDS)}")


def copy_hashing(source: BinaryIO, out: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); skipped where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def path_from_uri(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise StorageError(f"not a local file URI: {uri}")
    if parsed.netloc not in ("", "localhost"):
        raise StorageError(f"file URI names another host: {uri}")
    return Path(unquote(parsed.path))
