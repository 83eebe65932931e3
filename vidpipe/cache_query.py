"""The cache lookup in SQLite's own words: the output of the latest completed execution
under a cache key. One query and one reading of its row for its two readers, both of
which skip SQLAlchemy's execution: `vidpipe.db.completed_output` (every node task asks
it) and `vidpipe.cache_index` (`vidpipe plan`, which does not import SQLAlchemy at all).
It reads through the index `ix_node_runs_cache_lookup` (cache key, status, update
time)."""

from __future__ import annotations

import json
import sqlite3

from vidpipe.refs import MediaRef

__all__ = ["COMPLETED_OUTPUT", "completed_output"]

COMPLETED_OUTPUT = (
    "SELECT output FROM node_runs WHERE cache_key = ? AND status = 'completed' "
    "ORDER BY updated_at DESC LIMIT 1"
)


def completed_output(connection: sqlite3.Connection, key: str) -> MediaRef | None:
    """The output recorded under `key` on a sqlite3 connection, or None (sqlite3's
    OperationalError, e.g. for a schema without the columns, is the caller's)."""
    row = connection.execute(COMPLETED_OUTPUT, (key,)).fetchone()
    output = json.loads(row[0]) if row is not None and row[0] is not None else None
    return MediaRef.model_validate(output) if output else None
