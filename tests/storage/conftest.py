"""Fixtures for the S3 tests: a fresh bucket per test on the session's moto S3 server
(tests/conftest.py: `moto_endpoint`, `aws_env`), and the engine fixtures for
whole-pipeline tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine.conftest import home, run_file, write_pipeline  # noqa: F401 - shared fixtures

from vidpipe.settings import get_settings
from vidpipe.storage.s3 import S3Store, make_client


@pytest.fixture
def s3(aws_env: str) -> Any:
    """A plain boto3 client, to look into buckets behind the store's back."""
    return make_client()


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, empty bucket for one test."""
    name = f"vidpipe-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def store(bucket: str, tmp_path: Path) -> S3Store:
    return S3Store(bucket, "media", cache_dir=tmp_path / "cache")


@pytest.fixture
def s3_home(home: Path, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:  # noqa: F811
    """An engine home whose media store is `s3://{bucket}/prefix` (cache: home/cache)."""
    from tasks.run_info import _store

    monkeypatch.setenv("VIDPIPE_STORAGE_URL", f"s3://{bucket}/prefix")
    get_settings.cache_clear()
    _store.cache_clear()
    yield home
    _store.cache_clear()
    get_settings.cache_clear()
