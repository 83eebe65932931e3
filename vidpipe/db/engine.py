"""Engines and sessions: one engine per database URL per process, SQLite tuned for
concurrent writers (WAL, busy timeout, `BEGIN IMMEDIATE`), and the one-transaction session."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from vidpipe.settings import get_settings

_SQLITE_BUSY_TIMEOUT_S = 30.0
_BEGIN_OPTION = "vidpipe_sqlite_begin"


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _normalise_url(url: str) -> str:
    """Plain `postgresql://` URLs would ask for psycopg2; vidpipe ships psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | None = None) -> Engine:
    """The process's engine for `url` (default: the settings' database), made on first use.

    One engine per URL per process: engines own connection pools, and several pools on one
    SQLite file only add lock contention.
    """
    url = _normalise_url(url or get_settings().resolved_database_url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _build_engine(url)
            _engines[url] = engine
        return engine


def reset_engines() -> None:
    """Dispose every cached engine (tests; a forked child must not share its parent's pool)."""
    from .writer import stop_writers

    with _engines_lock:
        stop_writers()
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _with_begin.cache_clear()


def _build_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": _SQLITE_BUSY_TIMEOUT_S}
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, else each sees its own DB
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    _install_sqlite_hooks(engine, wal=not in_memory)
    return engine


def _install_sqlite_hooks(engine: Engine, *, wal: bool) -> None:
    """WAL, busy timeout, NORMAL sync, foreign keys; and our own BEGIN (IMMEDIATE by default).

    pysqlite's own transaction handling defers BEGIN until the first write, which turns a
    read-then-write transaction into a lock upgrade that SQLite refuses at once under
    contention. Taking the write lock at BEGIN makes writers wait their turn instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (SQLAlchemy's recipe)
        cursor = dbapi_conn.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        if mode:  # none for `_one_read`: the statement is its own transaction
            conn.exec_driver_sql(f"BEGIN {mode}")


def _reader(engine: Engine) -> Engine:
    """The same engine, but SQLite read transactions start DEFERRED (they never block)."""
    return _with_begin(engine, "DEFERRED")


def _one_read(engine: Engine) -> Engine:
    """The same engine for a read of one statement: on SQLite no BEGIN at all, since a
    lone SELECT is a transaction of its own (the cache lookup every node task makes)."""
    return _with_begin(engine, "")


@functools.cache
def _with_begin(engine: Engine, mode: str) -> Engine:
    """`engine` whose SQLite transactions begin in `mode`, made once per engine and mode."""
    return engine.execution_options(**{_BEGIN_OPTION: mode})


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises.

    Objects stay readable after the block (expire_on_commit=False): callers get plain
    detached rows, not lazy proxies that would need the session again. On SQLite the
    transaction holds the write lock from its start, so read-modify-write is safe; on
    PostgreSQL (READ COMMITTED) lock the rows you mean to change (`with_for_update()`).
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
