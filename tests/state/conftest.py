"""Fixtures for the state tests: SQLite and a real, throwaway PostgreSQL cluster.

The cluster starts once per session (about a second); each test that needs a pristine
database asks `db_url_factory` for one, the rest share `pg_url`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from vidpipe import db
from vidpipe.settings import get_settings


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep every test away from ./.vidpipe: settings point at a fresh folder."""
    monkeypatch.setenv("VIDPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIDPIPE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VIDPIPE_STORAGE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file (its folder does not exist yet: make_engine must create it)."""
    return f"sqlite:///{tmp_path / 'state' / 'vidpipe.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database a test runs on; PostgreSQL ones are `integration` (a real server)."""
    return request.param


@pytest.fixture
def db_url_factory(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], str]:
    """Makes pristine, empty databases of the test's backend (for schema tests)."""
    counter = iter(range(1_000))

    def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'fresh{next(counter)}.db'}"
        cluster = request.getfixturevalue("pg_cluster")
        return cluster.create_database(f"vidpipe_{uuid.uuid4().hex[:12]}")

    return make


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An initialised engine on SQLite (fresh file) or PostgreSQL (the session database)."""
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    engine = db.make_engine(url)
    db.init_db(engine)
    yield engine
    db.reset_engines()  # no pool outlives its test's temporary folder
