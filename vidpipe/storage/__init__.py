"""The media store: where node outputs live, addressed by their content.

Nodes hand each other `MediaRef`s (a URI plus digest, size, kind, duration), never bytes.
The store behind those URIs is content-addressed: an object's key is its sha256
(`sha256/ab/abcdef....mp4`), so the same media made twice is stored once, a key never
changes meaning, and a cache entry can be checked by size (or re-hash) before it is
trusted.

`MediaStore` is the small interface the engine codes against; `LocalStore` implements it
on a folder (default `VIDPIPE_HOME/media`), `S3Store` on a bucket (same keys under a
prefix, read through a bounded local cache); `open_store(url)` picks one.
Writes are atomic: bytes go to a temporary file on the same filesystem, are fsync'ed, and
only then renamed into place, so a reader never sees half an object, and writers racing to
store the same content cannot corrupt it (both rename identical bytes to the same key).

Files: `base.py` (content addressing, the `MediaStore` interface, atomic writes),
`local.py` (`LocalStore`), `s3.py` (`S3Store`, S3 downloads) and `s3_cache.py` (its
bounded local read-through cache). boto3 is imported only when an S3 store is opened.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from vidpipe.errors import StorageError
from vidpipe.settings import get_settings
from vidpipe.storage.base import (
    CHUNK_SIZE,
    MediaStore,
    TempFile,
    object_key,
    path_from_uri,
    publish_parts,
    sha256_file,
    temp_file,
)
from vidpipe.storage.local import LocalStore

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
        return LocalStore(path_from_uri(url))
    if scheme == "s3":
        from vidpipe.storage.s3 import S3Store

        return S3Store.from_url(url)
    raise StorageError(f"unsupported storage URL {url!r}: use a folder or s3://bucket/prefix")
