"""State: SQLModel tables for pipelines, runs and node runs, and the few operations on them.

SQLite is the embedded default (`VIDPIPE_HOME/vidpipe.db`); any SQLAlchemy URL works via
`VIDPIPE_DATABASE_URL`, and PostgreSQL is tested for real. No Prefect here: Prefect keeps
its own state; this is vidpipe's record of what was asked, what ran, what it produced and
what it cost, readable by the CLI without a Prefect server.

Rules the functions below keep (DESIGN.md "Conventions"):

- every function is one transaction, so a node's status and its output change together;
- counts are queried (GROUP BY), never kept in counters that could drift;
- each execution of a node carries a fresh execution id, and a write that names an older
  execution id is ignored: an attempt that finishes late (a retry already started, a
  worker presumed dead came back) cannot overwrite the newer attempt's record. The guard is
  a single conditional UPDATE, atomic on SQLite and PostgreSQL alike;
- on SQLite every write transaction starts with `BEGIN IMMEDIATE`, so concurrent writers
  (the task runner's threads, or several processes) queue on `busy_timeout` instead of
  failing with "database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    inspect,
    text,
    update,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, select

from vidpipe.errors import SpecError, VidpipeError
from vidpipe.refs import MediaRef
from vidpipe.settings import get_settings

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "MIGRATIONS",
    "RUN_STATUSES",
    "RUN_TERMINAL",
    "NODE_STATUSES",
    "NODE_TERMINAL",
    "Pipeline",
    "NodeRow",
    "Run",
    "NodeRun",
    "Approval",
    "CostEntry",
    "SchemaVersion",
    "make_engine",
    "reset_engines",
    "init_db",
    "session_scope",
    "spec_digest",
    "upsert_pipeline",
    "create_run",
    "set_run_status",
    "end_run",
    "live_runs",
    "run_for_flow_run",
    "start_node",
    "finish_node",
    "record_cache_hit",
    "record_external_job",
    "skip_nodes",
    "reopen_nodes",
    "job_in_flight",
    "completed_output",
    "record_approval",
    "approvals",
    "add_cost_entry",
    "delete_cost_entry",
    "cost_entries",
    "APPROVAL_DECISIONS",
    "get_run",
    "get_node_run",
    "list_runs",
    "node_runs",
    "run_counts",
    "find_run",
]

CURRENT_SCHEMA_VERSION = 5

RUN_STATUSES = (
    "queued",
    "running",
    "awaiting_approval",
    "completed",
    "failed",
    "rejected",
    "cancelled",
)
RUN_TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled"})
NODE_STATUSES = ("pending", "running", "completed", "failed", "skipped")
NODE_TERMINAL = frozenset({"completed", "failed", "skipped"})

_SQLITE_BUSY_TIMEOUT_S = 30.0
_BEGIN_OPTION = "vidpipe_sqlite_begin"


# -- column types ----------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC and tz-aware in Python, whatever the database keeps.

    SQLite has no time zones and hands back naive datetimes; comparing those with aware
    ones raises. Normalising here means callers never see a naive timestamp.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> JSON:
    """A JSON column where Python None is SQL NULL (so `IS NULL` means what it says)."""
    return JSON(none_as_null=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


# -- tables ----------------------------------------------------------------------------------


class Pipeline(SQLModel, table=True):
    """A pipeline file as submitted; the same content under the same name is one row."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("name", "spec_digest", name="uq_pipeline_name_digest"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(index=True, max_length=64)
    spec: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    spec_digest: str = Field(index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NodeRow(SQLModel, table=True):
    """One node of a pipeline, as declared (not as run: see NodeRun)."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("pipeline_id", "node_id", name="uq_node_pipeline_node"),)

    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: str = Field(foreign_key="pipelines.id", index=True, max_length=32)
    node_id: str = Field(max_length=64)
    type: str = Field(max_length=64)
    config: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    after: list[str] = Field(default_factory=list, sa_type=_json())


class Run(SQLModel, table=True):
    """One run of a pipeline: queued -> running -> (awaiting_approval -> running)* -> end."""

    __tablename__ = "runs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    pipeline_id: str = Field(foreign_key="pipelines.id", index=True, max_length=32)
    pipeline_name: str = Field(index=True, max_length=64)
    status: str = Field(default="queued", index=True, max_length=32)
    mode: str = Field(default="placeholder", max_length=32)
    flow_run_id: str | None = Field(default=None, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    estimated_usd: float | None = None
    actual_usd: float | None = None
    budget_usd: float | None = None
    output: dict[str, Any] | None = Field(default=None, sa_type=_json())
    error: str | None = Field(default=None, sa_type=Text)
    refresh: list[str] = Field(default_factory=list, sa_type=_json())
    #: The Prefect API the run's flow talks to, so a reviewer's CLI can resume it (schema 2).
    prefect_api_url: str | None = Field(default=None, max_length=255)
    #: Where the run's result was also published under a readable name (schema 4).
    published_uri: str | None = Field(default=None, max_length=1024)
    #: The process running the flow, `host:pid:start-ticks`, so a run whose process died
    #: is found and ended by the next command on that host (schema 5).
    runner: str | None = Field(default=None, max_length=255)

    @property
    def output_ref(self) -> MediaRef | None:
        return MediaRef.model_validate(self.output) if self.output else None


class NodeRun(SQLModel, table=True):
    """One node within one run: pending -> running -> completed | failed | skipped.

    `execution_id` names the execution that owns the row right now; `attempts` counts the
    executions started for it. `position` keeps the plan's order for display.
    """

    __tablename__ = "node_runs"
    __table_args__ = (UniqueConstraint("run_id", "node_id", name="uq_node_run_run_node"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    node_id: str = Field(max_length=64)
    type: str = Field(max_length=64)
    position: int = 0
    status: str = Field(default="pending", index=True, max_length=32)
    attempts: int = 0
    cache_hit: bool = False
    provider: str | None = Field(default=None, max_length=64)
    external_job_id: str | None = Field(default=None, max_length=255)
    execution_id: str | None = Field(default=None, max_length=32)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    output: dict[str, Any] | None = Field(default=None, sa_type=_json())
    error: str | None = Field(default=None, sa_type=Text)
    cost_usd: float | None = None
    #: The node's cache key, so a provider job in flight can be found again by another run
    #: doing the same work (schema 3).
    cache_key: str | None = Field(default=None, max_length=128, index=True)

    @property
    def output_ref(self) -> MediaRef | None:
        return MediaRef.model_validate(self.output) if self.output else None


class Approval(SQLModel, table=True):
    """A reviewer's decision at an approval gate (filled by the approvals issue)."""

    __tablename__ = "approvals"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    node_id: str = Field(max_length=64)
    round: int = 1
    decision: str = Field(max_length=16)  # approve | reject | revise | timeout
    reviewer: str | None = Field(default=None, max_length=255)
    notes: str | None = Field(default=None, sa_type=Text)
    revisions: dict[str, Any] | list[Any] | None = Field(default=None, sa_type=_json())
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CostEntry(SQLModel, table=True):
    """One line of the cost ledger (filled by the costs issue); `estimate` False = billed."""

    __tablename__ = "cost_entries"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    run_id: str | None = Field(default=None, foreign_key="runs.id", index=True, max_length=32)
    node_run_id: str | None = Field(default=None, foreign_key="node_runs.id", max_length=32)
    provider: str = Field(index=True, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    unit: str = Field(max_length=32)
    quantity: float = 0.0
    unit_price_usd: float = 0.0
    amount_usd: float = 0.0
    request_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    estimate: bool = False
    #: billed (a provider call), estimate (a reservation), savings (a paid cache hit). Schema 3.
    kind: str = Field(default="billed", max_length=16, index=True)
    node_id: str | None = Field(default=None, max_length=64)


class SchemaVersion(SQLModel, table=True):
    """The schema version this database is at: one row."""

    __tablename__ = "schema_version"

    version: int = Field(primary_key=True)
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


_TABLES = [
    model.__table__  # type: ignore[attr-defined]
    for model in (Pipeline, NodeRow, Run, NodeRun, Approval, CostEntry, SchemaVersion)
]


# -- engines and sessions --------------------------------------------------------------------

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
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


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
        conn.exec_driver_sql(f"BEGIN {mode}")


def _reader(engine: Engine) -> Engine:
    """The same engine, but SQLite read transactions start DEFERRED (they never block)."""
    return engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})


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


# -- schema set-up ---------------------------------------------------------------------------

Migration = Callable[[Connection], None]


# MIGRATIONS[n] upgrades a database at version n-1 to version n. They run, in order, on the
# old schema before create_all adds the tables that are new in this version.
def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    """ALTER TABLE ... ADD COLUMN, unless it is there (a table just made by create_all)."""
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _add_prefect_api_url(conn: Connection) -> None:
    _add_column(conn, "runs", "prefect_api_url", "VARCHAR(255)")


def _add_cost_kind(conn: Connection) -> None:
    _add_column(conn, "cost_entries", "kind", "VARCHAR(16) NOT NULL DEFAULT 'billed'")
    _add_column(conn, "cost_entries", "node_id", "VARCHAR(64)")
    _add_column(conn, "node_runs", "cache_key", "VARCHAR(128)")
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_node_runs_cache_key ON node_runs (cache_key)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_cost_entries_kind ON cost_entries (kind)"))


def _add_published_uri(conn: Connection) -> None:
    _add_column(conn, "runs", "published_uri", "VARCHAR(1024)")


def _add_runner(conn: Connection) -> None:
    _add_column(conn, "runs", "runner", "VARCHAR(255)")


MIGRATIONS: dict[int, Migration] = {
    2: _add_prefect_api_url,
    3: _add_cost_kind,
    4: _add_published_uri,
    5: _add_runner,
}


def init_db(engine: Engine) -> int:
    """Create the tables if needed and bring the schema to CURRENT_SCHEMA_VERSION.

    Idempotent and safe to call at every start-up, also from several processes at once
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock). Returns the version.
    Raises VidpipeError if the database was written by a newer vidpipe.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7340761)")
        SchemaVersion.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]
        found = conn.execute(select(func.max(SchemaVersion.version))).scalar_one_or_none()
        if found is not None and found > CURRENT_SCHEMA_VERSION:
            raise VidpipeError(
                f"the database is at schema version {found}, newer than this vidpipe "
                f"understands ({CURRENT_SCHEMA_VERSION}): upgrade vidpipe"
            )
        if found is not None and _has_core_tables(conn):
            _migrate(conn, found)
        SQLModel.metadata.create_all(conn, tables=_TABLES, checkfirst=True)
        if found != CURRENT_SCHEMA_VERSION:
            conn.execute(SchemaVersion.__table__.delete())  # type: ignore[attr-defined]
            conn.execute(
                SchemaVersion.__table__.insert().values(  # type: ignore[attr-defined]
                    version=CURRENT_SCHEMA_VERSION, applied_at=utcnow()
                )
            )
    return CURRENT_SCHEMA_VERSION


def _has_core_tables(conn: Connection) -> bool:
    return inspect(conn).has_table("runs")


def _migrate(conn: Connection, found: int) -> None:
    for target in range(found + 1, CURRENT_SCHEMA_VERSION + 1):
        migration = MIGRATIONS.get(target)
        if migration is None:
            raise VidpipeError(f"no migration registered from schema {target - 1} to {target}")
        migration(conn)


# -- pipelines and runs ----------------------------------------------------------------------


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_digest(spec: Mapping[str, Any]) -> str:
    """sha256 of the spec's canonical JSON: key order and whitespace do not matter."""
    return hashlib.sha256(_canonical_json(spec).encode()).hexdigest()


_NODE_STRUCTURE = frozenset({"id", "type", "inputs", "after", "config", "title"})


def _node_rows(pipeline_id: str, spec: Mapping[str, Any]) -> list[NodeRow]:
    """NodeRow per declared node; type-specific top-level keys (e.g. `asset`) go to config."""
    rows = []
    for index, node in enumerate(spec.get("nodes") or []):
        if not isinstance(node, Mapping) or "id" not in node or "type" not in node:
            raise SpecError(f"nodes[{index}]: a node needs an 'id' and a 'type'")
        config = dict(node.get("config") or {})
        config.update({k: v for k, v in node.items() if k not in _NODE_STRUCTURE})
        rows.append(
            NodeRow(
                pipeline_id=pipeline_id,
                node_id=str(node["id"]),
                type=str(node["type"]),
                config=config,
                inputs=dict(node.get("inputs") or {}),
                after=list(node.get("after") or []),
            )
        )
    return rows


def upsert_pipeline(engine: Engine, name: str, spec: Mapping[str, Any]) -> Pipeline:
    """The Pipeline row for this name and content, created (with its nodes) on first sight.

    Two processes submitting the same file at once both end up with the one row: the
    loser of the insert race reads the winner's.
    """
    try:
        content = json.loads(_canonical_json(spec))
    except (TypeError, ValueError) as exc:
        raise SpecError(f"pipeline {name!r}: the spec is not JSON-serialisable: {exc}") from None
    digest = spec_digest(content)
    existing = _find_pipeline(engine, name, digest)
    if existing is not None:
        return existing
    pipeline = Pipeline(name=name, spec=content, spec_digest=digest)
    nodes = _node_rows(pipeline.id, content)
    try:
        with session_scope(engine) as session:
            session.add(pipeline)
            session.flush()  # the parent row first: foreign keys are enforced
            session.add_all(nodes)
    except IntegrityError:
        existing = _find_pipeline(engine, name, digest)
        if existing is None:
            raise
        return existing
    return pipeline


def _find_pipeline(engine: Engine, name: str, digest: str) -> Pipeline | None:
    with session_scope(_reader(engine)) as session:
        query = select(Pipeline).where(Pipeline.name == name, Pipeline.spec_digest == digest)
        return session.exec(query).first()  # type: ignore[call-overload]


def create_run(
    engine: Engine,
    pipeline: Pipeline,
    *,
    mode: str,
    budget_usd: float | None = None,
    refresh: Iterable[str] = (),
    node_ids_and_types: list[tuple[str, str]],
    runner: str | None = None,
) -> Run:
    """A new run, `queued`, with one `pending` NodeRun per node (in the order given);
    `runner` is the process that will carry it out (`vidpipe.liveness`)."""
    run = Run(
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        mode=mode,
        budget_usd=budget_usd,
        refresh=list(refresh),
        runner=runner,
    )
    with session_scope(engine) as session:
        session.add(run)
        session.flush()
        session.add_all(
            NodeRun(run_id=run.id, node_id=node_id, type=node_type, position=position)
            for position, (node_id, node_type) in enumerate(node_ids_and_types)
        )
    return run


def _ref_json(output: MediaRef | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A MediaRef (or its dict, validated) as the JSON kept in `output` columns."""
    if output is None:
        return None
    ref = output if isinstance(output, MediaRef) else MediaRef.model_validate(dict(output))
    return ref.model_dump(mode="json")


def _check_status(status: str, allowed: Iterable[str], what: str) -> None:
    if status not in allowed:
        raise ValueError(f"unknown {what} {status!r}; expected one of {sorted(allowed)}")


def _nodes_cost(run_id: str) -> Any:
    """The run's actual cost, as a subquery: the SUM of its node runs' costs."""
    return select(func.sum(NodeRun.cost_usd)).where(NodeRun.run_id == run_id).scalar_subquery()


def set_run_status(
    engine: Engine,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    output: MediaRef | Mapping[str, Any] | None = None,
    flow_run_id: str | None = None,
    estimated_usd: float | None = None,
    actual_usd: float | None = None,
    prefect_api_url: str | None = None,
    published_uri: str | None = None,
    runner: str | None = None,
) -> Run:
    """Move a run to `status` in one UPDATE; returns the updated row.

    `started_at` is set the first time the run is `running`; `finished_at` when it ends.
    On an ending status without an explicit `actual_usd`, the actual cost is the SUM of
    its node runs' costs (queried, in the same statement). Arguments left None keep the
    stored value.
    """
    _check_status(status, RUN_STATUSES, "run status")
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "running":
        values["started_at"] = func.coalesce(Run.started_at, now)
    if status in RUN_TERMINAL:
        values["finished_at"] = now
        values["actual_usd"] = actual_usd if actual_usd is not None else _nodes_cost(run_id)
    elif actual_usd is not None:
        values["actual_usd"] = actual_usd
    optional = {
        "error": error,
        "output": _ref_json(output),
        "flow_run_id": flow_run_id,
        "estimated_usd": estimated_usd,
        "prefect_api_url": prefect_api_url,
        "published_uri": published_uri,
        "runner": runner,
    }
    values.update({key: value for key, value in optional.items() if value is not None})
    with session_scope(engine) as session:
        result = session.execute(update(Run).where(Run.id == run_id).values(**values))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise VidpipeError(f"no run {run_id!r}")
        return session.get_one(Run, run_id, populate_existing=True)


def end_run(engine: Engine, run_id: str, status: str, reason: str) -> bool:
    """End a run that is still live (queued, running, awaiting approval) as `status`, with
    `reason` as its error, leaving nothing inside it unfinished; one transaction.

    Its running nodes become `failed` with the reason under a fresh execution id (so a
    late write from the attempt that was running is ignored), its pending nodes
    `skipped` ("the run ended first"), and its budget reservations are released.
    Returns False, changing nothing, when the run had already ended: the first ending
    wins, so a run recorded `cancelled` is not turned `failed` by the unwinding that
    follows.
    """
    _check_status(status, RUN_TERMINAL, "final run status")
    now = utcnow()
    with session_scope(engine) as session:
        ended = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status.notin_(RUN_TERMINAL))  # type: ignore[attr-defined]
            .values(
                status=status,
                error=reason[:2000],
                finished_at=now,
                updated_at=now,
                actual_usd=_nodes_cost(run_id),
            )
        )
        if ended.rowcount == 0:  # type: ignore[attr-defined]
            return False
        session.execute(
            update(NodeRun)
            .where(NodeRun.run_id == run_id, NodeRun.status == "running")
            .values(
                status="failed",
                error=reason[:2000],
                execution_id=new_id(),
                finished_at=now,
                updated_at=now,
            )
        )
        session.execute(
            update(NodeRun)
            .where(NodeRun.run_id == run_id, NodeRun.status == "pending")
            .values(status="skipped", error="the run ended first", finished_at=now, updated_at=now)
        )
        session.execute(
            delete(CostEntry).where(CostEntry.run_id == run_id, CostEntry.kind == "estimate")
        )
    return True


def live_runs(engine: Engine) -> list[Run]:
    """Runs that have not ended (queued, running, awaiting approval), oldest first."""
    with session_scope(_reader(engine)) as session:
        query = (
            select(Run)
            .where(Run.status.notin_(RUN_TERMINAL))  # type: ignore[attr-defined]
            .order_by(Run.created_at)
        )
        return list(session.exec(query).all())  # type: ignore[call-overload]


def run_for_flow_run(engine: Engine, flow_run_id: str) -> Run | None:
    """The run a Prefect flow run carried out, if any."""
    with session_scope(_reader(engine)) as session:
        query = select(Run).where(Run.flow_run_id == flow_run_id)
        return session.exec(query).first()  # type: ignore[call-overload]


# -- node runs -------------------------------------------------------------------------------


def start_node(
    engine: Engine,
    run_id: str,
    node_id: str,
    *,
    provider: str | None = None,
    cache_key: str | None = None,
) -> str:
    """Mark a node running under a fresh execution id and return that id.

    The new id supersedes any earlier execution: from now on only writes naming it count.
    The external job id is kept on purpose, so a retry resumes polling a job already paid
    for instead of submitting it again.
    """
    execution_id = new_id()
    now = utcnow()
    values: dict[str, Any] = {
        "status": "running",
        "execution_id": execution_id,
        "attempts": NodeRun.attempts + 1,
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
    with session_scope(engine) as session:
        result = session.execute(
            update(NodeRun)
            .where(NodeRun.run_id == run_id, NodeRun.node_id == node_id)
            .values(**values)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise VidpipeError(f"no node {node_id!r} in run {run_id!r}")
    return execution_id


def _guarded_update(
    engine: Engine, run_id: str, node_id: str, execution_id: str, values: dict[str, Any]
) -> bool:
    """One UPDATE that applies only if `execution_id` still owns the row."""
    statement = (
        update(NodeRun)
        .where(
            NodeRun.run_id == run_id,
            NodeRun.node_id == node_id,
            NodeRun.execution_id == execution_id,
        )
        .values(**values)
    )
    with session_scope(engine) as session:
        return session.execute(statement).rowcount == 1  # type: ignore[attr-defined]


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
) -> bool:
    """Record how an execution ended: status, output and cost in one statement.

    Returns False, changing nothing, when `execution_id` is stale (a newer execution has
    started since): the late writer must not overwrite the newer record.
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
    return _guarded_update(engine, run_id, node_id, execution_id, values)


def record_cache_hit(
    engine: Engine, run_id: str, node_id: str, *, output: MediaRef | Mapping[str, Any]
) -> bool:
    """Record a node answered from the cache: `completed`, `cache_hit`, its output.

    For nodes whose task body never ran (so `start_node` was never called). The row gets a
    fresh execution id, which locks out any stale writer. A node that already ended is
    left alone; returns whether the row changed.
    """
    now = utcnow()
    statement = (
        update(NodeRun)
        .where(
            NodeRun.run_id == run_id,
            NodeRun.node_id == node_id,
            NodeRun.status.in_(("pending", "running")),  # type: ignore[attr-defined]
        )
        .values(
            status="completed",
            cache_hit=True,
            output=_ref_json(output),
            execution_id=new_id(),
            error=None,
            started_at=func.coalesce(NodeRun.started_at, now),
            finished_at=now,
            updated_at=now,
        )
    )
    with session_scope(engine) as session:
        return session.execute(statement).rowcount == 1  # type: ignore[attr-defined]


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


def completed_output(engine: Engine, cache_key: str) -> MediaRef | None:
    """The output of the latest completed execution of this work, if any (for predicting
    cache hits before a run)."""
    query = (
        select(NodeRun.output)
        .where(NodeRun.cache_key == cache_key, NodeRun.status == "completed")
        .order_by(NodeRun.updated_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    with session_scope(_reader(engine)) as session:
        output = session.exec(query).first()  # type: ignore[call-overload]
    return MediaRef.model_validate(output) if output else None


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


APPROVAL_DECISIONS = ("approve", "reject", "revise", "timeout")


def record_approval(
    engine: Engine,
    run_id: str,
    node_id: str,
    *,
    round: int = 1,
    decision: str,
    reviewer: str | None = None,
    notes: str | None = None,
    revisions: Mapping[str, Any] | list[Any] | None = None,
) -> Approval:
    """Append a reviewer's decision at a gate (approvals are a log: never updated)."""
    _check_status(decision, APPROVAL_DECISIONS, "approval decision")
    approval = Approval(
        run_id=run_id,
        node_id=node_id,
        round=round,
        decision=decision,
        reviewer=reviewer,
        notes=notes,
        revisions=json.loads(_canonical_json(revisions)) if revisions is not None else None,
    )
    with session_scope(engine) as session:
        session.add(approval)
    return approval


# -- queries ---------------------------------------------------------------------------------


# -- the cost ledger ---------------------------------------------------------------------------


def add_cost_entry(engine: Engine, **fields: Any) -> CostEntry:
    """Append one ledger line (the columns of `CostEntry`)."""
    entry = CostEntry(**fields)
    with session_scope(engine) as session:
        session.add(entry)
    return entry


def delete_cost_entry(engine: Engine, entry_id: str) -> None:
    """Drop a line: only reservations are ever dropped, once their billed line is written."""
    with session_scope(engine) as session:
        session.execute(
            delete(CostEntry).where(CostEntry.id == entry_id, CostEntry.kind == "estimate")
        )


def cost_entries(
    engine: Engine,
    *,
    run_id: str | None = None,
    since: datetime | None = None,
    kinds: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Ledger lines, oldest first, each with its run's pipeline name joined in."""
    query = select(CostEntry, Run.pipeline_name).join(Run, CostEntry.run_id == Run.id, isouter=True)
    if run_id is not None:
        query = query.where(CostEntry.run_id == run_id)
    if since is not None:
        query = query.where(CostEntry.created_at >= since)
    if kinds is not None:
        query = query.where(CostEntry.kind.in_(list(kinds)))  # type: ignore[attr-defined]
    query = query.order_by(CostEntry.created_at, CostEntry.id)
    with session_scope(_reader(engine)) as session:
        rows = session.exec(query).all()  # type: ignore[call-overload]
    return [{**entry.model_dump(), "pipeline": pipeline} for entry, pipeline in rows]


def approvals(engine: Engine, run_id: str) -> list[Approval]:
    """A run's approval decisions, oldest first."""
    with session_scope(engine) as session:
        query = select(Approval).where(Approval.run_id == run_id)
        return list(session.exec(query.order_by(Approval.decided_at, Approval.id)))


def get_run(engine: Engine, run_id: str) -> Run | None:
    with session_scope(_reader(engine)) as session:
        return session.get(Run, run_id)


def get_node_run(engine: Engine, run_id: str, node_id: str) -> NodeRun | None:
    with session_scope(_reader(engine)) as session:
        query = select(NodeRun).where(NodeRun.run_id == run_id, NodeRun.node_id == node_id)
        return session.exec(query).first()  # type: ignore[call-overload]


def list_runs(engine: Engine, limit: int = 20, status: str | None = None) -> list[Run]:
    """The most recent runs first, optionally only those in one status."""
    with session_scope(_reader(engine)) as session:
        query = select(Run)
        if status is not None:
            query = query.where(Run.status == status)
        query = query.order_by(Run.created_at.desc(), Run.id).limit(limit)  # type: ignore[attr-defined]
        return list(session.exec(query).all())  # type: ignore[call-overload]


def node_runs(engine: Engine, run_id: str) -> list[NodeRun]:
    """A run's node runs in plan order."""
    with session_scope(_reader(engine)) as session:
        query = select(NodeRun).where(NodeRun.run_id == run_id).order_by(NodeRun.position)
        return list(session.exec(query).all())  # type: ignore[call-overload]


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


_ID_PREFIX = re.compile(r"^[0-9a-f]{1,32}$")


def find_run(engine: Engine, prefix: str) -> Run:
    """The run whose id is, or starts with, `prefix` (a CLI convenience, like git's).

    Raises SpecError when nothing matches or the prefix is ambiguous.
    """
    prefix = prefix.strip().lower()
    if not _ID_PREFIX.match(prefix):
        raise SpecError(f"{prefix!r} is not a run id (expected hexadecimal characters)")
    with session_scope(_reader(engine)) as session:
        exact = session.get(Run, prefix)
        if exact is not None:
            return exact
        query = select(Run).where(Run.id.startswith(prefix)).limit(2)  # type: ignore[attr-defined]
        matches = list(session.exec(query).all())  # type: ignore[call-overload]
    if not matches:
        raise SpecError(f"no run matches {prefix!r}")
    if len(matches) > 1:
        raise SpecError(f"run id prefix {prefix!r} is ambiguous: give more characters")
    return matches[0]
