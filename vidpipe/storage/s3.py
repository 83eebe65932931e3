"""Media storage on S3: `S3Store`, and the bounded local cache its readers go through.

When a run's nodes are spread over workers that share no disk, the bucket is the only
place every worker can reach. So `S3Store` keeps the same content-addressed keys as the
local store, under a prefix (`{prefix}/sha256/ab/abcdef....mp4`, URI `s3://bucket/key`),
and a worker that needs an input it did not make downloads it once into a local
`ReadThroughCache` (FFmpeg wants paths). The cache is keyed by digest alone, is bounded in
size (least recently used files go first) and is written atomically, like the store.

- Endpoint, credentials and region come from boto3's own chain (`AWS_ENDPOINT_URL`,
  `AWS_ACCESS_KEY_ID`, profiles, instance roles...): vidpipe reads none of them, and no
  message ever carries them (a presigned URL is a credential too: never put one in an
  error).
- Large files go up in parts (`multipart_threshold`); publishing a run's result copies the
  object inside the bucket (`{prefix}/runs/{pipeline}/{run}/final.mp4`), so an operator
  finds it without the database and no byte travels through the worker.
- `presigned_url` hands an object to a provider for hours, with the real extension in the
  key (some providers sniff the type from it).
- `exists` asks the bucket, not the cache: a result whose object was deleted from the
  bucket is a cache miss for the engine, even on a worker that still holds a copy.
"""

from __future__ import annotations

import functools
import io
import mimetypes
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import urlparse

import boto3
import botocore.loaders
import botocore.session
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from vidpipe.errors import StorageError
from vidpipe.refs import Kind, MediaRef
from vidpipe.settings import get_settings
from vidpipe.storage.base import (
    check_kind,
    copy_hashing,
    extension,
    object_key,
    publish_parts,
    sha256_file,
    sync,
    temp_file,
)
from vidpipe.storage.s3_cache import DEFAULT_CACHE_BYTES, ReadThroughCache

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_MULTIPART_BYTES",
    "DEFAULT_PRESIGN_S",
    "MAX_PRESIGN_S",
    "S3Store",
    "ReadThroughCache",
    "make_client",
    "parse_s3_uri",
    "download_uri",
]

#: Files at least this big go up (and are copied) in parts of this size.
DEFAULT_MULTIPART_BYTES = 16 * 1024**2
#: Presigned URLs live for hours: a provider may queue a job long before it reads its input.
DEFAULT_PRESIGN_S = 6 * 3600
#: SigV4's limit: a presigned URL cannot live longer than 7 days.
MAX_PRESIGN_S = 7 * 24 * 3600

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_USERINFO = re.compile(r"//[^/@\s]+@")


@functools.cache
def _loader() -> Any:
    """botocore's service-model loader, shared: loading S3's model is most of a client's
    creation time (0.3 s), and the loader only reads files that never change."""
    return botocore.loaders.create_loader()


def make_client() -> Any:
    """An S3 client from boto3's own configuration chain (endpoint, keys, region, profile).

    A fresh session each time, so the environment is read when the client is made; SigV4
    everywhere (presigned URLs included; required by newer regions and most S3-compatible
    stores); a connection pool big enough for the engine's threads.
    """
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    config = Config(signature_version="s3v4", max_pool_connections=32)
    return boto3.session.Session(botocore_session=core).client("s3", config=config)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> `("bucket", "some/key")`; the key may be empty."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"not an s3://bucket/key URI: {uri}")
    if parsed.query or parsed.fragment:
        raise StorageError(f"an s3:// URI takes no query or fragment: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error(exc: Exception, what: str, bucket: str) -> StorageError:
    """One clear line for a boto3 failure; endpoint user-info redacted, no credentials."""
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code in _NO_BUCKET:
            return StorageError(f"S3 bucket '{bucket}' does not exist ({what})")
        if code in ("403", "AccessDenied"):
            return StorageError(
                f"S3 access denied to bucket '{bucket}' ({what}): check the AWS credentials"
            )
        message = exc.response.get("Error", {}).get("Message", "") or ""
        return StorageError(f"S3 {what} failed: {code} {message}".strip())
    if isinstance(exc, NoCredentialsError):
        return StorageError(
            f"S3 {what} failed: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, a profile, or an instance role)"
        )
    text = _USERINFO.sub("//***@", str(exc))
    return StorageError(f"S3 {what} failed: {type(exc).__name__}: {text}")


_BOTO_ERRORS = (ClientError, BotoCoreError, Boto3Error)


class S3Store:
    """A MediaStore on `s3://bucket/prefix`, read through a local cache (module docstring).

    `client` is any boto3 S3 client (default: `make_client()`); `cache_dir` defaults to
    `VIDPIPE_HOME/cache`. Every method is safe to call from several threads at once.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any | None = None,
        cache_dir: Path | str | None = None,
        cache_max_bytes: int = DEFAULT_CACHE_BYTES,
        multipart_threshold: int = DEFAULT_MULTIPART_BYTES,
        multipart_chunksize: int | None = None,
    ) -> None:
        if not bucket:
            raise StorageError("an S3 store needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else make_client()
        self.cache = ReadThroughCache(
            cache_dir if cache_dir is not None else get_settings().home / "cache",
            cache_max_bytes,
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize or multipart_threshold,
        )
        self._bucket_checked = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Store:
        """The store for `s3://bucket/prefix` (the prefix may be empty)."""
        bucket, prefix = parse_s3_uri(url)
        return cls(bucket, prefix, **options)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, cache={str(self.cache.root)!r})"

    def key_for(self, relkey: str) -> str:
        """A key under this store's prefix."""
        return f"{self.prefix}/{relkey}" if self.prefix else relkey

    # -- writing -----------------------------------------------------------------------------

    def put(
        self,
        path: Path,
        *,
        kind: Kind,
        duration_s: float | None = None,
        name_hint: str | None = None,
    ) -> MediaRef:
        """Store `path`'s content under its digest (extension from the name, else the hint).

        The file is read once, hashed while it is copied into the local cache (the worker
        that made it is likely to read it next), and uploaded from there unless the bucket
        already holds the object.
        """
        check_kind(kind)
        path = Path(path)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after the copy
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
        with handle:
            ext = extension(path.name, name_hint)
            return self._put_stream(handle, kind=kind, ext=ext, duration_s=duration_s)

    def put_text(self, text: str) -> MediaRef:
        return self._put_stream(io.BytesIO(text.encode("utf-8")), kind="text", ext=".txt")

    def _put_stream(
        self, source: BinaryIO, *, kind: Kind, ext: str, duration_s: float | None = None
    ) -> MediaRef:
        self._check_bucket()
        with self.cache.staging() as (tmp_path, out):
            digest, size = copy_hashing(source, out)
            sync(out)
            key = self.key_for(object_key(digest, ext))
            if self._size_of(key) != size:
                self._upload(tmp_path, key)
            self.cache.adopt(tmp_path, digest, ext)
        return MediaRef(
            uri=f"s3://{self.bucket}/{key}",
            kind=kind,
            sha256=digest,
            bytes=size,
            duration_s=duration_s,
        )

    def _upload(self, path: Path, key: str) -> None:
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        try:
            self.client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self.transfer,
            )
        except _BOTO_ERRORS as exc:
            raise _error(exc, f"upload to s3://{self.bucket}/{key}", self.bucket) from None

    def publish(self, ref: MediaRef, relpath: str) -> str:
        """Copy the object, inside S3, to `{prefix}/{relpath}`; returns its `s3://` URI.

        A server-side copy (in parts when large): the bytes never pass through the worker.
        """
        target = self.key_for("/".join(publish_parts(relpath)))
        bucket, key = parse_s3_uri(ref.uri)
        self._check_bucket()
        try:
            self.client.copy(
                {"Bucket": bucket, "Key": key}, self.bucket, target, Config=self.transfer
            )
        except _BOTO_ERRORS as exc:
            if isinstance(exc, ClientError) and _code(exc) in _NOT_FOUND:
                raise StorageError(f"media missing: {ref.uri}") from None
            raise _error(exc, f"copy of {ref.uri} to {target}", self.bucket) from None
        return f"s3://{self.bucket}/{target}"

    def delete(self, ref: MediaRef) -> None:
        """Remove the object from the bucket (and this worker's cached copy)."""
        key = self._own_key(ref)
        if key is None:
            raise StorageError(f"{ref.uri} is not in this store ({self.url})")
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except _BOTO_ERRORS as exc:
            raise _error(exc, f"delete of {ref.uri}", self.bucket) from None
        self.cache.discard(ref.sha256, PurePosixPath(key).suffix)

    # -- reading -----------------------------------------------------------------------------

    def exists(self, ref: MediaRef, *, verify: bool = False) -> bool:
        """Whether the bucket holds the object at the right size (and digest, if `verify`).

        The bucket decides, not the local cache. A reference into another store (a local
        file, another bucket) is not here. Anything but "not found" (no bucket, no access,
        no connection) raises: silently calling it a miss would pay for the work again.
        """
        key = self._own_key(ref)
        if key is None or self._size_of(key) != ref.bytes:
            return False
        if not verify:
            return True
        path = self.local_path(ref)
        if sha256_file(path) == ref.sha256:
            return True
        self.cache.discard(ref.sha256, PurePosixPath(key).suffix)
        return False

    def local_path(self, ref: MediaRef) -> Path:
        """A local file with the object: the cached copy, else downloaded into the cache."""
        bucket, key = parse_s3_uri(ref.uri)
        ext = PurePosixPath(key).suffix
        cached = self.cache.get(ref.sha256, ext, ref.bytes)
        if cached is not None:
            return cached

        def fetch(tmp_path: Path) -> None:
            try:
                self.client.download_file(bucket, key, str(tmp_path), Config=self.transfer)
            except _BOTO_ERRORS as exc:
                if isinstance(exc, ClientError) and _code(exc) in _NOT_FOUND:
                    raise StorageError(f"media missing: {ref.uri}") from None
                raise _error(exc, f"download of {ref.uri}", bucket) from None

        return self.cache.fill(ref, ext, fetch)

    def open_text(self, ref: MediaRef) -> str:
        path = self.local_path(ref)
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"cannot read {ref.uri} as text: {exc}") from None

    def presigned_url(self, ref: MediaRef, expires_s: int = DEFAULT_PRESIGN_S) -> str:
        """A GET URL for the object that works without credentials for `expires_s` seconds.

        For handing inputs to providers; the key ends with the file's real extension. The
        URL is itself a credential: log it no more than a password.
        """
        if not 1 <= expires_s <= MAX_PRESIGN_S:
            raise StorageError(f"presigned URLs last 1 s to 7 days, not {expires_s} s")
        bucket, key = parse_s3_uri(ref.uri)
        try:
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
            )
        except _BOTO_ERRORS as exc:
            raise _error(exc, f"presigning {ref.uri}", bucket) from None

    # -- helpers -----------------------------------------------------------------------------

    def _own_key(self, ref: MediaRef) -> str | None:
        """The ref's key if it names an object in this store's bucket, else None."""
        try:
            bucket, key = parse_s3_uri(ref.uri)
        except StorageError:
            return None
        return key if bucket == self.bucket and key else None

    def _size_of(self, key: str) -> int | None:
        """The object's size, or None if the bucket does not hold it."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                self._check_bucket()  # a missing bucket also answers 404: say which
                return None
            raise _error(exc, f"lookup of s3://{self.bucket}/{key}", self.bucket) from None
        except _BOTO_ERRORS as exc:
            raise _error(exc, f"lookup of s3://{self.bucket}/{key}", self.bucket) from None
        return int(head["ContentLength"])

    def _check_bucket(self) -> None:
        """Fail with the bucket's name (once found, it is not asked again)."""
        if self._bucket_checked:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND | _NO_BUCKET:
                raise StorageError(
                    f"S3 bucket '{self.bucket}' does not exist (storage {self.url})"
                ) from None
            raise _error(exc, f"access to bucket '{self.bucket}'", self.bucket) from None
        except _BOTO_ERRORS as exc:
            raise _error(exc, f"access to bucket '{self.bucket}'", self.bucket) from None
        self._bucket_checked = True


def download_uri(uri: str, dest: Path, *, client: Any | None = None) -> Path:
    """Download `s3://bucket/key` to `dest` (written to a temporary name, then renamed).

    For asset nodes: the same boto3 configuration (endpoint, credentials) as the store.
    A missing object or bucket raises a StorageError that names the URI.
    """
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise StorageError(f"{uri} names no object (a key is needed: s3://bucket/key)")
    client = client if client is not None else make_client()
    dest = Path(dest)
    with temp_file(dest.parent) as (tmp_path, out):
        out.close()
        try:
            client.download_file(bucket, key, str(tmp_path))
        except _BOTO_ERRORS as exc:
            if isinstance(exc, ClientError) and _code(exc) in _NOT_FOUND:
                raise StorageError(f"{uri} does not exist") from None
            raise _error(exc, f"download of {uri}", bucket) from None
        os.replace(tmp_path, dest)
    return dest
