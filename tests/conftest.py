"""Shared fixtures: one Prefect test harness per session (started only by tests that ask
for it), and a fresh VIDPIPE_HOME per test with settings re-read."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/, for pgcluster

from pgcluster import PgCluster  # noqa: E402

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Tests that start `vidpipe` without a PREFECT_API_URL use a temporary Prefect server, not
# a local one left running in a tmp home; tests of the local server set it back.
os.environ.setdefault("VIDPIPE_SERVER", "ephemeral")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A temporary Prefect server for the whole session (starting one costs ~15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def vidpipe_home(tmp_path: Path, monkeypatch) -> Path:
    """A fresh VIDPIPE_HOME (database, media, Prefect results) for one test."""
    from vidpipe.settings import get_settings

    home = tmp_path / "vidpipe-home"
    monkeypatch.setenv("VIDPIPE_HOME", str(home))
    monkeypatch.delenv("VIDPIPE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VIDPIPE_STORAGE_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


NO_POSTGRES = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under "
    "/usr/lib/postgresql/*/bin; install the postgresql package to run these tests"
)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster.from_path()
    if cluster is None:
        pytest.skip(NO_POSTGRES)
    cluster.start()
    try:
        yield cluster
    finally:
        from vidpipe import db

        db.reset_engines()  # close pooled connections before the server goes away
        cluster.stop()


@pytest.fixture(scope="session")
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh PostgreSQL database for the session, as a SQLAlchemy (psycopg 3) URL."""
    return pg_cluster.create_database(f"vidpipe_{uuid.uuid4().hex[:12]}")


# -- S3: one moto server per session (a real HTTP endpoint on 127.0.0.1, not in-process
# patching), and boto3 pointed at it through its own AWS_* variables.


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
