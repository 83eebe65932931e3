"""Fixtures for the S3 tests: one moto S3 server per session (a real HTTP endpoint on
127.0.0.1, not in-process patching), a fresh bucket per test, boto3 pointed at the server
through its own AWS_* variables, and the engine fixtures for whole-pipeline tests."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine.conftest import home, run_file, write_pipeline  # noqa: F401 - shared fixtures

from vidpipe.settings import get_settings
from vidpipe.storage.s3 import S3Store, make_client


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3's own configuration, pointed at moto (and away from any real AWS profile)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return moto_endpoint


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
