"""The tables (SQLModel) and their column types, the status vocabularies, and the helpers
that shape values before they are written: canonical JSON, a MediaRef as its `output` JSON,
and the check that a status is one of the vocabulary's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from vidpipe.refs import MediaRef

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


#: Longest id of a planned node: a file's id (64) `@` a variant's name (64), with room
#: for the ids a run adds (`brand.apply@...`). Schema 8 widened the columns from 64.
PLANNED_ID_LENGTH = 160


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
    #: Each variant's name, output and published location, in the file's order: `[{"name",
    #: "output", "published"}]` (schema 8).
    variants: list[dict[str, Any]] | None = Field(default=None, sa_type=_json())

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
    node_id: str = Field(max_length=PLANNED_ID_LENGTH)
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
    node_id: str = Field(max_length=PLANNED_ID_LENGTH)
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
    node_id: str | None = Field(default=None, max_length=PLANNED_ID_LENGTH)


class WorkClaim(SQLModel, table=True):
    """Which execution is doing a piece of paid work now, by the work's cache key: the
    first to insert the row does the work, others wait for its result (schema 6)."""

    __tablename__ = "work_claims"

    cache_key: str = Field(primary_key=True, max_length=128)
    run_id: str = Field(max_length=32)
    node_id: str = Field(max_length=PLANNED_ID_LENGTH)
    execution_id: str = Field(max_length=32)
    claimed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SchemaVersion(SQLModel, table=True):
    """The schema version this database is at: one row."""

    __tablename__ = "schema_version"

    version: int = Field(primary_key=True)
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProviderErrorRow(SQLModel, table=True):
    """One provider call that failed (and may have been retried): which provider, what
    kind of failure, its HTTP status, when, and the run and node it served (schema 7)."""

    __tablename__ = "provider_errors"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    provider: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=32)
    status: int | None = None
    message: str | None = Field(default=None, sa_type=Text)
    run_id: str | None = Field(default=None, max_length=32, index=True)
    node_id: str | None = Field(default=None, max_length=PLANNED_ID_LENGTH)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ProviderCalls(SQLModel, table=True):
    """Calls made to a provider per UTC hour and pipeline, failed ones included, and when
    one last answered: the denominator of the API failure rate and the evidence that a
    provider is up (schema 7)."""

    __tablename__ = "provider_calls"

    provider: str = Field(primary_key=True, max_length=64)
    pipeline: str = Field(primary_key=True, max_length=64)
    hour: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    calls: int = 0
    failed: int = 0
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertRow(SQLModel, table=True):
    """One episode of an alert: it fired when its condition started and resolved when it
    ended; each of the two notices is delivered once (schema 7).

    `open_key` is the alert's identity (its name and labels) while it fires and NULL once
    resolved: unique, so two processes cannot open the same episode twice.
    """

    __tablename__ = "alerts"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    alert: str = Field(max_length=64, index=True)
    open_key: str | None = Field(default=None, max_length=512, unique=True)
    state: str = Field(default="firing", max_length=16, index=True)  # firing | resolved
    severity: str = Field(max_length=16)
    summary: str = Field(sa_type=Text)
    value: float | None = None
    threshold: float | None = None
    labels: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    fired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Delivery of the firing notice, then of the resolved one: when it was sent, when a
    #: sender last took it (so two evaluators do not both send it), the last error.
    fire_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolve_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    channel: str | None = Field(default=None, max_length=64)
    delivery_error: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0


#: Indexes on older tables that the metrics, alert and report queries read through
#: (windows by end time), as (name, table, columns): declared here for new databases,
#: added by the schema 7 migration to existing ones.
OBSERVABILITY_INDEXES = (
    ("ix_runs_finished_at", "runs", "finished_at"),
    ("ix_node_runs_finished_at", "node_runs", "finished_at"),
)
for _name, _table, _column in OBSERVABILITY_INDEXES:
    _model = Run if _table == "runs" else NodeRun
    Index(_name, _model.__table__.c[_column])  # type: ignore[attr-defined]

#: The cache lookup every node makes (`nodes.completed_output`: the latest completed row of
#: a cache key) reads through this one index (schema 9). With only the single-column
#: indexes, SQLite chose the status index and scanned every completed node run of the
#: home's history, so each lookup grew with the history.
CACHE_LOOKUP_INDEX = (
    "ix_node_runs_cache_lookup",
    "node_runs",
    ("cache_key", "status", "updated_at"),
)
Index(CACHE_LOOKUP_INDEX[0], *(NodeRun.__table__.c[c] for c in CACHE_LOOKUP_INDEX[2]))  # type: ignore[attr-defined]


_TABLES = [
    model.__table__  # type: ignore[attr-defined]
    for model in (
        Pipeline,
        NodeRow,
        Run,
        NodeRun,
        Approval,
        CostEntry,
        WorkClaim,
        ProviderErrorRow,
        ProviderCalls,
        AlertRow,
        SchemaVersion,
    )
]


# -- values as written -----------------------------------------------------------------------


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _ref_json(output: MediaRef | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A MediaRef (or its dict, validated) as the JSON kept in `output` columns."""
    if output is None:
        return None
    ref = output if isinstance(output, MediaRef) else MediaRef.model_validate(dict(output))
    return ref.model_dump(mode="json")


def _check_status(status: str, allowed: Iterable[str], what: str) -> None:
    if status not in allowed:
        raise ValueError(f"unknown {what} {status!r}; expected one of {sorted(allowed)}")
