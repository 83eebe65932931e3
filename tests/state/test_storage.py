"""vidpipe.storage: the local, content-addressed media store."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from vidpipe.errors import StorageError
from vidpipe.refs import MediaRef
from vidpipe.storage import LocalStore, MediaStore, object_key, open_store, sha256_file


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "media root")  # a space: URIs must round-trip it


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix == ".part"]


def test_sha256_file_streams_large_files(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one 1 MiB chunk, not a multiple
    path = write(tmp_path / "big.bin", data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(StorageError, match="cannot read"):
        sha256_file(tmp_path / "missing.bin")


def test_put_exists_local_path_round_trip(store: LocalStore, tmp_path: Path) -> None:
    data = b"RIFF fake wav"
    ref = store.put(write(tmp_path / "in" / "voice.WAV", data), kind="audio", duration_s=2.5)
    digest = hashlib.sha256(data).hexdigest()
    assert (ref.kind, ref.sha256, ref.bytes, ref.duration_s) == ("audio", digest, len(data), 2.5)
    assert ref.uri.startswith("file:///")
    path = store.local_path(ref)
    assert (
        path
        == store.root / object_key(digest, ".wav")
        == store.root / f"sha256/{digest[:2]}/{digest}.wav"
    )
    assert path.read_bytes() == data
    assert store.exists(ref) and store.exists(ref, verify=True)
    assert isinstance(store, MediaStore)


def test_put_text_and_open_text(store: LocalStore) -> None:
    ref = store.put_text("Meet the new dashboard… ✓")
    assert ref.kind == "text" and ref.uri.endswith(".txt")
    assert store.open_text(ref) == "Meet the new dashboard… ✓"
    assert store.put_text("Meet the new dashboard… ✓") == ref


def test_same_content_same_key_whatever_the_name(store: LocalStore, tmp_path: Path) -> None:
    first = store.put(write(tmp_path / "a.mp4", b"same bytes"), kind="video")
    object_path = store.local_path(first)
    inode = object_path.stat().st_ino
    second = store.put(write(tmp_path / "other" / "b.mp4", b"same bytes"), kind="video")
    assert second.uri == first.uri
    assert object_path.stat().st_ino == inode  # idempotent: not written again
    different = store.put(write(tmp_path / "c.mp4", b"other bytes"), kind="video")
    assert different.uri != first.uri
    assert len(list((store.root / "sha256").rglob("*.mp4"))) == 2


def test_extension_comes_from_the_file_else_the_name_hint(
    store: LocalStore, tmp_path: Path
) -> None:
    download = write(tmp_path / "tmpdownload", b"png bytes")
    assert store.put(download, kind="image", name_hint="frame.PNG").uri.endswith(".png")
    odd = write(tmp_path / "clip.m p4", b"x")
    assert Path(store.put(odd, kind="video").uri).suffix == ""  # unsafe suffixes are dropped


def test_writes_leave_no_temporary_files(store: LocalStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a.mp3", b"a" * 10_000), kind="audio")
    store.put(write(tmp_path / "again.mp3", b"a" * 10_000), kind="audio")  # dropped duplicate
    store.put_text("hello")
    with pytest.raises(StorageError, match="cannot read"):
        store.put(tmp_path / "missing.mp3", kind="audio")
    with pytest.raises(StorageError, match="unknown media kind"):
        store.put(tmp_path / "a.mp3", kind="sound")  # type: ignore[arg-type]
    assert temp_files(store.root) == []
    assert list((store.root / ".tmp").iterdir()) == []


def test_concurrent_writers_of_the_same_content(store: LocalStore, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    sources = [write(tmp_path / f"src{i}.mp4", data) for i in range(8)]
    barrier = threading.Barrier(8)
    refs: list[MediaRef] = []

    def put(path: Path) -> None:
        barrier.wait()
        refs.append(store.put(path, kind="video"))

    threads = [threading.Thread(target=put, args=(path,)) for path in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refs) == 8 and len({ref.uri for ref in refs}) == 1
    assert store.exists(refs[0], verify=True)
    assert temp_files(store.root) == []


def test_exists_is_false_once_the_object_is_gone_or_damaged(
    store: LocalStore, tmp_path: Path
) -> None:
    ref = store.put(write(tmp_path / "a.mp4", b"0123456789"), kind="video")
    path = store.local_path(ref)

    path.write_bytes(b"01234")  # truncated
    assert not store.exists(ref)
    with pytest.raises(StorageError, match="damaged") as info:
        store.local_path(ref)
    assert ref.uri in str(info.value)

    path.write_bytes(b"9876543210")  # same size, other content: only verify notices
    assert store.exists(ref) and not store.exists(ref, verify=True)

    store.delete(ref)
    assert not path.exists() and not store.exists(ref)
    with pytest.raises(StorageError, match="missing") as info:
        store.local_path(ref)
    assert ref.uri in str(info.value)
    store.delete(ref)  # deleting twice is fine


def test_refs_from_elsewhere_are_not_deleted(store: LocalStore, tmp_path: Path) -> None:
    outside = write(tmp_path / "precious.mp4", b"keep me")
    ref = MediaRef(uri=outside.as_uri(), kind="video", sha256="0" * 64, bytes=7)
    with pytest.raises(StorageError, match="not in this store"):
        store.delete(ref)
    assert outside.exists()
    s3_ref = MediaRef(uri="s3://bucket/key.mp4", kind="video", sha256="0" * 64, bytes=7)
    assert not store.exists(s3_ref)


def test_publish_copies_to_a_readable_path(store: LocalStore, tmp_path: Path) -> None:
    ref = store.put(write(tmp_path / "final.mp4", b"final cut"), kind="video")
    uri = store.publish(ref, "runs/demo/abc123/final.mp4")
    published = store.root / "runs" / "demo" / "abc123" / "final.mp4"
    assert uri == published.as_uri()
    assert published.read_bytes() == b"final cut"
    published.write_bytes(b"edited by a person")  # the original must not change
    assert store.exists(ref, verify=True)

    newer = store.put(write(tmp_path / "v2.mp4", b"second cut"), kind="video")
    store.publish(newer, "runs/demo/abc123/final.mp4")  # replaces
    assert published.read_bytes() == b"second cut"
    assert temp_files(store.root) == []
    for bad in ("../escape.mp4", "/etc/final.mp4", "sha256/ab/x.mp4"):
        with pytest.raises(StorageError):
            store.publish(ref, bad)


def test_open_store_from_settings_and_urls(tmp_path: Path, monkeypatch) -> None:
    default = open_store()
    assert isinstance(default, LocalStore)
    assert default.root == (tmp_path / "home" / "media").absolute()
    assert not default.root.exists()  # nothing is created until something is written

    assert open_store(str(tmp_path / "folder")).root == tmp_path / "folder"
    assert open_store((tmp_path / "a b").as_uri()).root == tmp_path / "a b"
    from vidpipe.storage.s3 import S3Store

    s3_store = open_store("s3://bucket/prefix")
    assert isinstance(s3_store, S3Store)
    assert (s3_store.bucket, s3_store.prefix) == ("bucket", "prefix")
    with pytest.raises(StorageError, match="unsupported storage URL"):
        open_store("ftp://host/media")

    from vidpipe.settings import get_settings

    monkeypatch.setenv("VIDPIPE_STORAGE_URL", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    assert open_store().root == tmp_path / "elsewhere"
    monkeypatch.setenv("VIDPIPE_STORAGE_URL", "s3://bucket/media")
    get_settings.cache_clear()
    assert isinstance(open_store(), S3Store)


def test_text_is_written_anew_over_a_damaged_object_and_by_threads_at_once(
    store: LocalStore,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ref = store.put_text("voice over, take 1")
    path = store.local_path(ref)
    path.write_text("cut")  # damaged: the wrong size
    assert not store.exists(ref)
    assert store.put_text("voice over, take 1") == ref
    assert store.open_text(ref) == "voice over, take 1"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with ThreadPoolExecutor(8) as pool:
        refs = set(pool.map(lambda i: store.put_text(f"line {i % 3}"), range(48)))
    assert len(refs) == 3
    assert sorted(store.open_text(r) for r in refs) == ["line 0", "line 1", "line 2"]
    assert not any((store.root / ".tmp").iterdir()), "no temporary file left"
