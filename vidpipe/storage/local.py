"""`LocalStore`: the media store on a local folder (default `VIDPIPE_HOME/media`)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from vidpipe.errors import StorageError
from vidpipe.refs import Kind, MediaRef
from vidpipe.settings import get_settings
from vidpipe.storage.base import (
    CHUNK_SIZE,
    TMP_DIR,
    check_kind,
    copy_hashing,
    extension,
    fsync_dir,
    object_key,
    path_from_uri,
    publish_parts,
    sha256_file,
    sync,
    temp_file,
)

__all__ = ["LocalStore"]


class LocalStore:
    """A MediaStore on a local folder; URIs are `file://` URIs of absolute paths."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root if root is not None else get_settings().media_root)
        self.root = self.root.expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    @functools.cached_property
    def _real_root(self) -> Path:
        """The root with its symlinks resolved, once: every cache check compares to it."""
        return self.root.resolve()

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
        check_kind(kind)
        path = Path(path)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after the copy
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
        with handle:
            return self._put_stream(
                handle, kind=kind, ext=extension(path.name, name_hint), duration_s=duration_s
            )

    def put_text(self, text: str) -> MediaRef:
        """Store text: atomic, but not fsync'ed. Text is only ever an asset's, free to make
        again (`vidpipe run --refresh NODE`) should a power failure lose it; media, which
        may have been paid for, is always fsync'ed.

        Every inline-text node stores its text, so this is the short way: hashed in memory,
        an object already stored is left as it is, and folders are made only when a write
        finds them missing (half the system calls of `_put_stream`)."""
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        final = self.root / object_key(digest, ".txt")
        ref = MediaRef(uri=final.as_uri(), kind="text", sha256=digest, bytes=len(data))
        try:
            if os.stat(final).st_size == len(data):
                return ref
        except OSError:
            pass
        tmp = self.root / TMP_DIR / f"put-{uuid.uuid4().hex}.part"
        try:
            _write_new(tmp, data)
            try:
                os.replace(tmp, final)
            except FileNotFoundError:  # the object's folder is new
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
        except BaseException as exc:  # renamed away on success: only a failure leaves it
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                message = f"cannot write under {self.root}: {exc.strerror or exc}"
                raise StorageError(message) from None
            raise
        return ref

    def _put_stream(
        self,
        source: BinaryIO,
        *,
        kind: Kind,
        ext: str,
        duration_s: float | None = None,
    ) -> MediaRef:
        with temp_file(self.root / TMP_DIR) as (tmp_path, out):
            digest, size = copy_hashing(source, out)
            sync(out)
            key = object_key(digest, ext)
            final = self.root / key
            if not (final.is_file() and final.stat().st_size == size):
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_path, final)
                fsync_dir(final.parent)
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
            sync(out)
            os.replace(tmp_path, target)
        return target.as_uri()

    def _published_path(self, relpath: str) -> Path:
        return self.root.joinpath(*publish_parts(relpath))

    def delete(self, ref: MediaRef) -> None:
        path = path_from_uri(ref.uri)
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
            path = path_from_uri(ref.uri)
            if not path.resolve().is_relative_to(self._real_root):
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
        path = path_from_uri(ref.uri)
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


def _write_new(path: Path, data: bytes) -> None:
    """Write `data` to a new file at `path` (owner-only, as `tempfile.mkstemp` makes
    them), making its folder if it is missing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
