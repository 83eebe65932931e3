"""vidpipe.storage.s3: the S3 media store against moto's S3 server, and its local cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from vidpipe.errors import StorageError
from vidpipe.refs import MediaRef
from vidpipe.storage import MediaStore, object_key, open_store
from vidpipe.storage.s3 import ReadThroughCache, S3Store, make_client, parse_s3_uri

MB = 1024 * 1024


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def key_of(ref: MediaRef) -> str:
    return parse_s3_uri(ref.uri)[1]


def test_boto3_takes_the_endpoint_from_aws_endpoint_url(aws_env: str) -> None:
    assert make_client().meta.endpoint_url == aws_env


def test_open_store_gives_an_s3_store_caching_under_home(aws_env: str, tmp_path: Path) -> None:
    from vidpipe.settings import get_settings

    store = open_store("s3://some-bucket/a/prefix/")
    assert isinstance(store, S3Store) and isinstance(store, MediaStore)
    assert (store.bucket, store.prefix, store.url) == (
        "some-bucket",
        "a/prefix",
        "s3://some-bucket/a/prefix",
    )
    assert store.cache.root == (get_settings().home / "cache").absolute()
    assert S3Store.from_url("s3://some-bucket").key_for("sha256/x") == "sha256/x"


def test_put_exists_download_and_presigned_url_round_trip(
    store: S3Store, bucket: str, s3: Any, tmp_path: Path
) -> None:
    data = os.urandom(3000)
    digest = hashlib.sha256(data).hexdigest()
    ref = store.put(write(tmp_path / "in" / "voice.WAV", data), kind="audio", duration_s=2.5)
    key = f"media/{object_key(digest, '.wav')}"
    assert ref == MediaRef(
        uri=f"s3://{bucket}/{key}", kind="audio", sha256=digest, bytes=3000, duration_s=2.5
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == 3000 and head["ContentType"] == "audio/x-wav"
    assert store.exists(ref) and store.exists(ref, verify=True)

    # Another worker (empty cache) downloads it; a provider fetches the presigned URL.
    other = S3Store(bucket, "media", cache_dir=tmp_path / "other-cache")
    path = other.local_path(ref)
    assert path.read_bytes() == data and path.is_relative_to(tmp_path / "other-cache")
    url = store.presigned_url(ref)
    assert urlparse(url).path.endswith(f"{digest}.wav")
    assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == [str(6 * 3600)]
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == data
    with pytest.raises(StorageError, match="7 days"):
        store.presigned_url(ref, expires_s=8 * 24 * 3600)


def test_text_round_trip_and_same_content_same_key(store: S3Store, tmp_path: Path) -> None:
    ref = store.put_text("Meet the new dashboard… ✓")
    assert ref.kind == "text" and ref.uri.endswith(".txt")
    assert store.put_text("Meet the new dashboard… ✓") == ref
    fresh = S3Store(store.bucket, store.prefix, cache_dir=tmp_path / "fresh")
    assert fresh.open_text(ref) == "Meet the new dashboard… ✓"
    video = store.put(write(tmp_path / "a.mp4", b"same bytes"), kind="video")
    again = store.put(write(tmp_path / "b" / "c.mp4", b"same bytes"), kind="video")
    assert again == video


def test_exists_is_false_when_gone_truncated_or_elsewhere(
    store: S3Store, bucket: str, s3: Any, tmp_path: Path
) -> None:
    ref = store.put(write(tmp_path / "clip.mp4", b"x" * 100), kind="video")
    assert not store.exists(ref.model_copy(update={"bytes": 99}))
    assert not store.exists(ref.model_copy(update={"uri": (tmp_path / "clip.mp4").as_uri()}))
    assert not store.exists(ref.model_copy(update={"uri": f"s3://other-{bucket}/{key_of(ref)}"}))
    s3.delete_object(Bucket=bucket, Key=key_of(ref))
    assert not store.exists(ref)  # the bucket decides, though the local cache has a copy
    fresh = S3Store(bucket, "media", cache_dir=tmp_path / "fresh")
    with pytest.raises(StorageError, match="media missing"):
        fresh.local_path(ref)


def test_a_short_download_is_refused_as_damaged(
    store: S3Store, bucket: str, s3: Any, tmp_path: Path
) -> None:
    ref = store.put(write(tmp_path / "clip.mp4", b"x" * 100), kind="video")
    s3.put_object(Bucket=bucket, Key=key_of(ref), Body=b"x" * 60)  # truncated behind our back
    fresh = S3Store(bucket, "media", cache_dir=tmp_path / "fresh")
    with pytest.raises(StorageError, match="damaged.*60 bytes, expected 100"):
        fresh.local_path(ref)
    assert not list((tmp_path / "fresh").rglob("*.mp4"))


def test_large_files_go_up_in_parts(bucket: str, s3: Any, tmp_path: Path) -> None:
    store = S3Store(bucket, "media", cache_dir=tmp_path / "cache", multipart_threshold=5 * MB)
    data = os.urandom(11 * MB)
    big = store.put(write(tmp_path / "big.mp4", data), kind="video")
    small = store.put(write(tmp_path / "small.mp4", b"tiny"), kind="video")
    assert s3.head_object(Bucket=bucket, Key=key_of(big))["ETag"].strip('"').endswith("-3")
    assert "-" not in s3.head_object(Bucket=bucket, Key=key_of(small))["ETag"]
    published = store.publish(big, "runs/demo/r1/final.mp4")  # a multipart copy, in S3
    assert published == f"s3://{bucket}/media/runs/demo/r1/final.mp4"
    body = s3.get_object(Bucket=bucket, Key="media/runs/demo/r1/final.mp4")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == big.sha256


def test_publish_stays_inside_the_store(store: S3Store, tmp_path: Path) -> None:
    ref = store.put(write(tmp_path / "clip.mp4", b"clip"), kind="video")
    for bad in ("../escape.mp4", "/abs.mp4", "sha256/ab/x.mp4", ""):
        with pytest.raises(StorageError, match="publish path"):
            store.publish(ref, bad)
    store.delete(ref)
    with pytest.raises(StorageError, match="media missing"):
        store.publish(ref, "runs/p/r/final.mp4")


def test_a_missing_bucket_is_named_without_credentials(aws_env: str, tmp_path: Path) -> None:
    store = S3Store("no-such-bucket-here", "media", cache_dir=tmp_path / "cache")
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist") as err:
        store.put_text("hello")
    assert "testing" not in str(err.value)
    ref = MediaRef(
        uri="s3://no-such-bucket-here/media/x.txt", kind="text", sha256="0" * 64, bytes=1
    )
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        store.exists(ref)


def test_two_workers_with_separate_caches_share_one_run(bucket: str, tmp_path: Path) -> None:
    """Worker A makes the voice, B (no shared disk) makes the clip from it, A merges."""
    worker_a = S3Store(bucket, "runs-media", cache_dir=tmp_path / "a")
    worker_b = S3Store(bucket, "runs-media", cache_dir=tmp_path / "b")
    voice = worker_a.put(write(tmp_path / "work-a" / "voice.wav", b"voice" * 100), kind="audio")

    assert worker_b.exists(voice)
    voice_on_b = worker_b.local_path(voice)
    assert voice_on_b.read_bytes() == b"voice" * 100
    clip_bytes = voice_on_b.read_bytes() + b"+picture"
    clip = worker_b.put(write(tmp_path / "work-b" / "clip.mp4", clip_bytes), kind="video")

    assert worker_a.local_path(clip).read_bytes() == clip_bytes
    assert worker_a.local_path(voice).is_relative_to(tmp_path / "a")
    assert worker_a.publish(clip, "runs/p/r/final.mp4").endswith("/runs-media/runs/p/r/final.mp4")


def test_the_local_cache_keeps_within_its_bound_dropping_least_recently_used(
    tmp_path: Path,
) -> None:
    cache = ReadThroughCache(tmp_path / "cache", max_bytes=1000)
    paths = []
    for n, stamp in zip(range(3), (100, 200, 300), strict=True):
        with cache.staging() as (tmp, out):
            out.write(bytes([n]) * 400)
            out.close()
            path = cache.path_for(f"{n:064x}", ".bin")
            paths.append(cache.adopt(tmp, f"{n:064x}", ".bin"))
            os.utime(path, (stamp, stamp))
        if n == 1:  # the first file is used again: now the second is the oldest
            assert cache.get(f"{0:064x}", ".bin", 400) == paths[0]
    assert [p.exists() for p in paths] == [True, False, True]
    assert cache.total_bytes() == 800
    assert cache.get(f"{1:064x}", ".bin", 400) is None
    assert cache.get(f"{0:064x}", ".bin", 399) is None  # wrong size: dropped, not trusted
    assert not paths[0].exists()
    assert not list((tmp_path / "cache").rglob("*.part"))
