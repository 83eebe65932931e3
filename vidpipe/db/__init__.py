"""State: SQLModel tables for pipelines, runs and node runs, and the few operations on them.

SQLite is the embedded default (`VIDPIPE_HOME/vidpipe.db`); any SQLAlchemy URL works via
`VIDPIPE_DATABASE_URL`, and PostgreSQL is tested for real. No Prefect here: Prefect keeps
its own state; this is vidpipe's record of what was asked, what ran, what it produced and
what it cost, readable by the CLI without a Prefect server.

Rules the functions of this package keep (docs/architecture.md "Conventions"):

- every function is one transaction, so a node's status and its output change together;
- counts are queried (GROUP BY), never kept in counters that could drift;
- each execution of a node carries a fresh execution id, and a write that names an older
  execution id is ignored: an attempt that finishes late (a retry already started, a
  worker presumed dead came back) cannot overwrite the newer attempt's record. The guard is
  a single conditional UPDATE, atomic on SQLite and PostgreSQL alike;
- on SQLite every write transaction starts with `BEGIN IMMEDIATE`, so concurrent writers
  (several processes) queue on `busy_timeout` instead of failing with "database is
  locked" when a read lock cannot be upgraded; within a process, node-state writes go
  through one writer thread that commits them in batches (`writer`).

Files: tables (tables, column types, status vocabularies) · engine (engines, sessions) ·
schema (init_db, schema version, migrations) · writer (batched SQLite writes) ·
pipelines · runs (lifecycle, endings,
lookups) · nodes (node runs, the stale-execution guard) · approval_log · costs (the ledger) ·
claims (who is doing a piece of paid work now, across workers) · provider_log (failed
provider calls, calls per hour) · alert_log (alert episodes and their notices) ·
statistics (aggregates for metrics, alerts and the success report).
"""

from __future__ import annotations

from . import statistics
from .alert_log import (
    ALERT_STATES,
    list_alerts,
    notice_failed,
    notice_sent,
    open_alert,
    open_alerts,
    pending_notices,
    resolve_alert,
    take_notice,
)
from .approval_log import APPROVAL_DECISIONS, approvals, record_approval
from .claims import Holder, claim_work, release_work, work_holder
from .costs import add_cost_entry, cost_entries, delete_cost_entry
from .engine import make_engine, reset_engines, session_scope
from .nodes import (
    completed_output,
    finish_node,
    get_node_run,
    job_in_flight,
    node_runs,
    node_states,
    record_cache_hit,
    record_external_job,
    reopen_nodes,
    run_counts,
    skip_nodes,
    start_node,
)
from .pipelines import spec_digest, upsert_pipeline
from .provider_log import (
    CallCount,
    add_provider_calls,
    hour_of,
    last_answered,
    provider_errors,
    record_provider_error,
)
from .runs import (
    create_run,
    end_run,
    find_run,
    get_run,
    list_runs,
    live_runs,
    run_for_flow_run,
    set_run_status,
)
from .schema import CURRENT_SCHEMA_VERSION, MIGRATIONS, Migration, init_db
from .tables import (
    NODE_STATUSES,
    NODE_TERMINAL,
    RUN_STATUSES,
    RUN_TERMINAL,
    AlertRow,
    Approval,
    CostEntry,
    NodeRow,
    NodeRun,
    Pipeline,
    ProviderCalls,
    ProviderErrorRow,
    Run,
    SchemaVersion,
    UTCDateTime,
    WorkClaim,
    new_id,
    utcnow,
)
from .writer import flush as flush_writes

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
    "WorkClaim",
    "Holder",
    "claim_work",
    "release_work",
    "work_holder",
    "SchemaVersion",
    "UTCDateTime",
    "Migration",
    "utcnow",
    "new_id",
    "make_engine",
    "reset_engines",
    "flush_writes",
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
    "node_states",
    "run_counts",
    "find_run",
    "ProviderErrorRow",
    "ProviderCalls",
    "AlertRow",
    "CallCount",
    "record_provider_error",
    "add_provider_calls",
    "provider_errors",
    "last_answered",
    "hour_of",
    "ALERT_STATES",
    "open_alert",
    "resolve_alert",
    "open_alerts",
    "list_alerts",
    "pending_notices",
    "take_notice",
    "notice_sent",
    "notice_failed",
    "statistics",
]
