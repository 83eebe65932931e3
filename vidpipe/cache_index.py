"""Which work vidpipe's database says is done, read the quick way for `vidpipe plan`: the
output of the latest completed execution under a cache key (`completed_output`).

Importing SQLAlchemy and the table models costs about 0.4 s, more than everything else
`plan` does, so a SQLite database (the default, VIDPIPE_HOME/vidpipe.db, or any
`sqlite:///PATH`) is read with the standard library's sqlite3 instead, by the very query
`vidpipe.db.completed_output` makes (`vidpipe.cache_query`). It only reads
(`PRAGMA query_only`), and a database that does not exist yet holds nothing: `plan`
creates none. Any other database, and a SQLite file without the columns the query reads
(a schema older than cache keys), is read through `vidpipe.db`, which brings the schema
up to date first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidpipe import cache_query
from vidpipe.refs import MediaRef

__all__ = ["CacheIndex", "open_index", "sqlite_path"]


class CacheIndex:
    """Completed outputs by cache key: from a SQLite file through sqlite3, or through
    `vidpipe.db` with the engine `connect()` returns (made on first need)."""

    def __init__(self, path: Path | None, connect: Callable[[], Any]) -> None:
        self.path = path
        self._connect = connect
        self._engine: Any = None
        self._sqlite: sqlite3.Connection | None = None

    def completed_output(self, key: str) -> MediaRef | None:
        if self._engine is None and self.path is not None:
            if not self.path.is_file():
                return None
            try:
                return cache_query.completed_output(self._connection(), key)
            except sqlite3.OperationalError:  # no such table or column: an older schema
                self.close()
                self.path = None
        from vidpipe import db

        if self._engine is None:
            self._engine = self._connect()
        return db.completed_output(self._engine, key)

    def _connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            self._sqlite = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
            self._sqlite.execute("PRAGMA query_only = ON")
        return self._sqlite

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


def sqlite_path(database_url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL; None for any other database (or one with
    options, or in memory)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or "?" in database_url:
        return None
    path = database_url[len(prefix) :]
    return Path(path) if path and path != ":memory:" else None


def open_index(database_url: str, connect: Callable[[], Any]) -> CacheIndex:
    """The index of the database at `database_url`; `connect()` returns its SQLAlchemy
    engine, ready (schema up to date), when the quick way cannot answer."""
    return CacheIndex(sqlite_path(database_url), connect)
