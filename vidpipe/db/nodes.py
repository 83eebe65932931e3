"""Node runs: one node within one run, started under a fresh execution id and finished only
by the execution that still owns it; skipping, reopening, and reading them back."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, or_, update
from sqlmodel import select

from vidpipe import cache_query
from vidpipe.errors import VidpipeError
from vidpipe.refs import MediaRef

from .engine import _one_read, _reader, session_scope
from .tables import NODE_STATUSES, NODE_TERMINAL, NodeRun, _check_status, _ref_json, new_id, utcnow
from .writer import enqueue, flush, write

#: Which rows a per-node write may change: the node's row (`row`), only while this
#: execution owns it (`owned`, the stale-write guard), only before it ended (`unended`).
_WHERE = {
    "row": (NodeRun.run_id == bindparam("w_run"), NodeRun.node_id == bindparam("w_node")),
    "owned": (
        NodeRun.run_id == bindparam("w_run"),
        NodeRun.node_id == bindparam("w_node"),
        NodeRun.execution_id == bindparam("w_execution"),
    ),
    "unended": (
        NodeRun.run_id == bindparam("w_run"),
        NodeRun.node_id == bindparam("w_node"),
        # Two comparisons, not IN: an IN list is expanded at each execution, and these
        # statements are compiled once (`_Update.sqlite`).
        or_(NodeRun.status == "pending", NodeRun.status == "running"),
    ),
}
#: Values computed in the database: a start counts an attempt; a cache hit keeps the
#: start time of a node that had started.
_COMPUTED = {
    "": {},
    "start": {"attempts": NodeRun.attempts + 1},
    "hit": {"started_at": func.coalesce(NodeRun.started_at, bindparam("w_now"))},
}


#: A positional parameter the caller must give (not a literal of the statement).
_GIVEN = object()


@dataclass(frozen=True)
class _Compiled:
    """A statement in one dialect's own words: its SQL, and for each positional parameter
    in order, its name, its fixed value (a literal of the statement; `_GIVEN` for one the
    caller gives) and the function that turns a Python value into the driver's
    (SQLAlchemy's own, from the column's type)."""

    sql: str
    params: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's arguments; a parameter the caller must give and did not raises
        KeyError, as SQLAlchemy would refuse it."""
        out = []
        for name, fixed, convert in self.params:
            value = values[name] if fixed is _GIVEN else fixed
            out.append(convert(value) if convert else value)
        return tuple(out)


@dataclass(frozen=True)
class _Update:
    """An UPDATE of a node's row, built once per shape (`_update`)."""

    statement: Any

    @functools.cached_property
    def sqlite(self) -> _Compiled:
        """The statement for SQLite's driver, run on the writer's connection as it is:
        SQLAlchemy's execution path cost several times the statement itself."""
        from sqlalchemy.dialects import sqlite

        dialect = sqlite.dialect()
        compiled = self.statement.compile(dialect=dialect)
        params = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            params.append((name, _GIVEN if bind.required else bind.value, convert))
        return _Compiled(sql=compiled.string, params=tuple(params))

    def run(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Run it in `conn`'s transaction; how many rows it changed."""
        if conn.dialect.name != "sqlite":
            return conn.execute(self.statement, dict(values)).rowcount
        compiled = self.sqlite
        cursor = conn.connection.driver_connection.execute(compiled.sql, compiled.args(values))
        return cursor.rowcount


@functools.cache
def _update(where: str, columns: tuple[str, ...], computed: str) -> _Update:
    """An UPDATE of a node's row setting `columns` (each bound by its name), built once per
    shape: node tasks write their row twice each, and building the statement every time
    cost more than running it."""
    table = NodeRun.__table__  # type: ignore[attr-defined]
    values = {c: bindparam(c, type_=table.c[c].type) for c in columns}
    return _Update(update(table).where(*_WHERE[where]).values(**values, **_COMPUTED[computed]))


def _write_row(
    engine: Engine, where: str, keys: dict[str, Any], values: dict[str, Any], computed: str = ""
) -> int:
    """Run one prebuilt UPDATE of a node's row as a committed write (through the
    database's writer, `.writer`); returns how many rows it changed."""
    return write(engine, _row_update(where, keys, values, computed))


def _row_update(
    where: str, keys: dict[str, Any], values: dict[str, Any], computed: str = ""
) -> Callable[[Connection], int]:
    """The write `_write_row` makes, to be run in a connection's transaction."""
    statement = _update(where, tuple(sorted(values)), computed)
    params = {**keys, **values}
    return lambda conn: statement.run(conn, params)


def start_node(
    engine: Engine,
    run_id: str,
    node_id: str,
    *,
    provider: str | None = None,
    cache_key: str | None = None,
    wait: bool = True,
) -> str:
    """Mark a node running under a fresh execution id and return that id.

    The new id supersedes any earlier execution: from now on only writes naming it count.
    The external job id is kept on purpose, so a retry resumes polling a job already paid
    for instead of submitting it again.

    `wait=False` returns the id without waiting for the write to commit (`writer.enqueue`):
    for a node whose work is free to do again, since a kill before that commit leaves the
    node as it was. The execution's later writes are applied after it all the same, and
    its `finish_node` raises the error this one would have (no such node).
    """
    execution_id = new_id()
    now = utcnow()
    values: dict[str, Any] = {
        "status": "running",
        "execution_id": execution_id,
        "started_at": now,
        "finished_at": None,
        "updated_at": now,
        "error": None,
        "output": None,
        "cache_hit": False,
    }
    if provider is not None:
        values["provider"] = provider
    if cache_key is not None:
        values["cache_key"] = cache_key
    keys = {"w_run": run_id, "w_node": node_id}
    start = _row_update("row", keys, values, "start")
    if wait:
        if write(engine, start) == 0:
            raise VidpipeError(f"no node {node_id!r} in run {run_id!r}")
        return execution_id
    started = _unconfirmed_starts[execution_id] = enqueue(engine, start)
    started.add_done_callback(lambda _: _forget_if_started(execution_id))
    return execution_id


#: Starts queued without waiting (`start_node(wait=False)`) by execution id, until seen to
#: have changed their node's row; `finish_node` raises the error of one that did not.
_unconfirmed_starts: dict[str, Future[int]] = {}


def _forget_if_started(execution_id: str) -> None:
    started = _unconfirmed_starts.get(execution_id)
    if started is not None and started.exception() is None and started.result() == 1:
        _unconfirmed_starts.pop(execution_id, None)


def _confirm_start(run_id: str, node_id: str, execution_id: str, *, wait: bool = True) -> None:
    """Raise the error of this execution's start, had it been queued and not applied (not
    `wait`ing for a start still queued: then its error is not known)."""
    started = _unconfirmed_starts.pop(execution_id, None)
    if started is None or not (wait or started.done()):
        return
    if started.result() == 0:
        raise VidpipeError(f"no node {node_id!r} in run {run_id!r}")


def _guarded_update(
    engine: Engine, run_id: str, node_id: str, execution_id: str, values: dict[str, Any]
) -> bool:
    """One UPDATE that applies only if `execution_id` still owns the row."""
    keys = {"w_run": run_id, "w_node": node_id, "w_execution": execution_id}
    return _write_row(engine, "owned", keys, values) == 1


def finish_node(
    engine: Engine,
    run_id: str,
    node_id: str,
    execution_id: str,
    *,
    status: str,
    output: MediaRef | Mapping[str, Any] | None = None,
    cache_hit: bool = False,
    error: str | None = None,
    cost_usd: float | None = None,
    external_job_id: str | None = None,
    wait: bool = True,
) -> bool | None:
    """Record how an execution ended: status, output and cost in one statement.

    Returns False, changing nothing, when `execution_id` is stale (a newer execution has
    started since): the late writer must not overwrite the newer record.

    `wait=False` queues the write and returns None at once (`writer.enqueue`), as
    `start_node` may: for work free to do again, as a kill before the commit leaves the
    node running, to be done again. This process's reads of node runs wait for it.
    """
    _check_status(status, NODE_TERMINAL, "final node status")
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "output": _ref_json(output),
        "cache_hit": cache_hit,
        "error": error,
        "finished_at": now,
        "updated_at": now,
    }
    if cost_usd is not None:
        values["cost_usd"] = cost_usd
    if external_job_id is not None:
        values["external_job_id"] = external_job_id
    if not wait:
        keys = {"w_run": run_id, "w_node": node_id, "w_execution": execution_id}
        enqueue(engine, _row_update("owned", keys, values))
        _confirm_start(run_id, node_id, execution_id, wait=False)
        return None
    applied = _guarded_update(engine, run_id, node_id, execution_id, values)
    _confirm_start(run_id, node_id, execution_id)  # committed by now: writes go in order
    return applied


def record_cache_hit(
    engine: Engine, run_id: str, node_id: str, *, output: MediaRef | Mapping[str, Any]
) -> bool:
    """Record a node answered from the cache: `completed`, `cache_hit`, its output.

    For nodes whose task body never ran (so `start_node` was never called). The row gets a
    fresh execution id, which locks out any stale writer. A node that already ended is
    left alone; returns whether the row changed.
    """
    now = utcnow()
    values = {
        "status": "completed",
        "cache_hit": True,
        "output": _ref_json(output),
        "execution_id": new_id(),
        "error": None,
        "finished_at": now,
        "updated_at": now,
    }
    keys = {"w_run": run_id, "w_node": node_id, "w_now": now}
    return _write_row(engine, "unended", keys, values, "hit") == 1


def record_external_job(
    engine: Engine, run_id: str, node_id: str, execution_id: str, job_id: str
) -> bool:
    """Persist a provider's job id before polling it (same stale-execution guard)."""
    values = {"external_job_id": job_id, "updated_at": utcnow()}
    return _guarded_update(engine, run_id, node_id, execution_id, values)


def reopen_nodes(engine: Engine, run_id: str, node_ids: Iterable[str]) -> int:
    """Put nodes back to `pending` to run again in the same run (a reviewer's revision).

    A fresh execution id locks out writes from their earlier executions.
    """
    ids = list(node_ids)
    if not ids:
        return 0
    now = utcnow()
    with session_scope(engine) as session:
        result = session.execute(
            update(NodeRun)
            .where(NodeRun.run_id == run_id, NodeRun.node_id.in_(ids))  # type: ignore[attr-defined]
            .values(
                status="pending",
                output=None,
                cache_hit=False,
                error=None,
                execution_id=new_id(),
                finished_at=None,
                updated_at=now,
            )
        )
        return result.rowcount  # type: ignore[attr-defined]


def skip_nodes(engine: Engine, run_id: str, node_ids: Iterable[str], reason: str) -> int:
    """Mark pending nodes `skipped` (an upstream failed or was rejected); returns how many.

    Nodes that already started or ended are left alone: a skip never rewrites history.
    """
    ids = list(node_ids)
    if not ids:
        return 0
    now = utcnow()
    statement = (
        update(NodeRun)
        .where(
            NodeRun.run_id == run_id,
            NodeRun.node_id.in_(ids),  # type: ignore[attr-defined]
            NodeRun.status == "pending",
        )
        .values(status="skipped", error=reason, finished_at=now, updated_at=now)
    )
    with session_scope(engine) as session:
        return session.execute(statement).rowcount  # type: ignore[attr-defined]


def job_in_flight(engine: Engine, cache_key: str) -> str | None:
    """A provider job already submitted for this cache key and never finished (its worker
    died, or the run was stopped): re-attach to it instead of paying for a new one."""
    query = (
        select(NodeRun.external_job_id)
        .where(
            NodeRun.cache_key == cache_key,
            NodeRun.external_job_id.is_not(None),  # type: ignore[union-attr]
            NodeRun.status == "running",
        )
        .order_by(NodeRun.updated_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    with session_scope(_reader(engine)) as session:
        return session.exec(query).first()  # type: ignore[call-overload]


#: `completed_output`'s query, built once: every node task asks it before it runs.
_COMPLETED = (
    select(NodeRun.output)
    .where(NodeRun.cache_key == bindparam("cache_key"), NodeRun.status == "completed")
    .order_by(NodeRun.updated_at.desc())  # type: ignore[attr-defined]
    .limit(1)
)


def completed_output(engine: Engine, cache_key: str) -> MediaRef | None:
    """The output of the latest completed execution of this work, if any (for predicting
    cache hits before a run, and deciding them in one). One read with no transaction
    around it; on SQLite, the query in SQLite's words on the driver's connection (every
    node task asks it, and SQLAlchemy's execution path cost several times the query)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            return cache_query.completed_output(raw.driver_connection, cache_key)
        finally:
            raw.close()
    with _one_read(engine).connect() as conn:
        row = conn.execute(_COMPLETED, {"cache_key": cache_key}).first()
    output = row[0] if row is not None else None
    return MediaRef.model_validate(output) if output else None


def get_node_run(engine: Engine, run_id: str, node_id: str) -> NodeRun | None:
    """A node run, with what this process queued for it written (`flush`)."""
    flush(engine)
    with session_scope(_reader(engine)) as session:
        query = select(NodeRun).where(NodeRun.run_id == run_id, NodeRun.node_id == node_id)
        return session.exec(query).first()  # type: ignore[call-overload]


def node_runs(engine: Engine, run_id: str) -> list[NodeRun]:
    """A run's node runs in plan order, with what this process queued written (`flush`)."""
    flush(engine)
    with session_scope(_reader(engine)) as session:
        query = select(NodeRun).where(NodeRun.run_id == run_id).order_by(NodeRun.position)
        return list(session.exec(query).all())  # type: ignore[call-overload]


def node_states(engine: Engine, run_id: str) -> list[Any]:
    """A run's nodes in plan order, as rows of `node_id`, `type`, `status` and `cache_hit`
    only: what the progress artifact counts while nodes stream in, read in one statement
    with no node-run objects built; what this process queued is written first (`flush`)."""
    flush(engine)
    query = (
        select(NodeRun.node_id, NodeRun.type, NodeRun.status, NodeRun.cache_hit)
        .where(NodeRun.run_id == run_id)
        .order_by(NodeRun.position)  # type: ignore[arg-type]
    )
    with _one_read(engine).connect() as conn:
        return list(conn.execute(query).all())


def run_counts(engine: Engine, run_id: str) -> dict[str, int]:
    """How many of a run's nodes are in each status (every status present, zeros included)."""
    counts = dict.fromkeys(NODE_STATUSES, 0)
    with session_scope(_reader(engine)) as session:
        rows = session.execute(
            select(NodeRun.status, func.count())
            .where(NodeRun.run_id == run_id)
            .group_by(NodeRun.status)
        ).all()
    counts.update({status: int(count) for status, count in rows})
    return counts
