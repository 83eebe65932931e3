"""`ReadThroughCache`: local copies of S3 objects, keyed by digest, bounded in size."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from vidpipe.errors import StorageError
from vidpipe.refs import MediaRef
from vidpipe.storage.base import TMP_DIR, TempFile, fsync_dir, object_key, temp_file

__all__ = ["DEFAULT_CACHE_BYTES", "ReadThroughCache"]

#: The local cache's default bound: enough for a few runs' worth of clips.
DEFAULT_CACHE_BYTES = 5 * 1024**3


class ReadThroughCache:
    """Local copies of stored objects, keyed by digest, at most `max_bytes` in total.

    Files are written to `.tmp/` and renamed into place, so a reader never sees half a
    file. When the total goes over the bound, the files used longest ago (by the later of
    atime and mtime; `get` touches what it hands out) are removed. A path handed out may
    therefore vanish later, but only after every more recently used file has: keep the
    bound well above one run's working set. Deleting an open file is safe on POSIX.
    """

    def __init__(self, root: Path | str, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes <= 0:
            raise StorageError(f"cache size bound must be positive, got {max_bytes}")
        self.root = Path(root).expanduser().absolute()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReadThroughCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    def path_for(self, sha256: str, ext: str) -> Path:
        return self.root / object_key(sha256, ext)

    def get(self, sha256: str, ext: str, size: int) -> Path | None:
        """The cached file if it is complete (right size), marked as just used; else None."""
        path = self.path_for(sha256, ext)
        try:
            if path.stat().st_size == size:
                os.utime(path)
                return path
            path.unlink(missing_ok=True)  # truncated or foreign: fetch again
        except OSError:
            pass
        return None

    def staging(self) -> contextlib.AbstractContextManager[TempFile]:
        """A temporary file in the cache, to fill and then `adopt` (or drop)."""
        return temp_file(self.root / TMP_DIR)

    def adopt(self, tmp_path: Path, sha256: str, ext: str) -> Path:
        """Move a complete temporary file to its place, then keep the cache in its bound."""
        final = self.path_for(sha256, ext)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, final)
        except OSError as exc:
            raise StorageError(f"cannot write under {self.root}: {exc.strerror or exc}") from None
        fsync_dir(final.parent)
        self.evict(keep=final)
        return final

    def fill(self, ref: MediaRef, ext: str, fetch: Callable[[Path], None]) -> Path:
        """Fetch `ref`'s object into the cache with `fetch(tmp_path)`; its size is checked."""
        with self.staging() as (tmp_path, out):
            out.close()  # `fetch` writes by path (boto3 downloads by name)
            fetch(tmp_path)
            got = tmp_path.stat().st_size
            if got != ref.bytes:
                raise StorageError(
                    f"media damaged: {ref.uri} has {got} bytes, expected {ref.bytes}"
                )
            return self.adopt(tmp_path, ref.sha256, ext)

    def discard(self, sha256: str, ext: str) -> None:
        with contextlib.suppress(OSError):
            self.path_for(sha256, ext).unlink(missing_ok=True)

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Remove least recently used files until the total is within the bound."""
        with self._lock:
            entries = sorted(self._entries(), key=lambda entry: entry[2])
            total = sum(size for _, size, _ in entries)
            removed = []
            for path, size, _ in entries:
                if total <= self.max_bytes:
                    break
                if path == keep:
                    continue
                with contextlib.suppress(OSError):
                    path.unlink()
                    total -= size
                    removed.append(path)
            return removed

    def _entries(self) -> list[tuple[Path, int, float]]:
        """(path, size, last use) of every complete file in the cache."""
        entries = []
        for path in (self.root / "sha256").glob("*/*"):
            with contextlib.suppress(OSError):
                st = path.stat()
                entries.append((path, st.st_size, max(st.st_atime, st.st_mtime)))
        return entries
