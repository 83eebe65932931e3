"""Schema set-up: creating the tables, the schema version a database is at, and the
migrations that bring an older database up to CURRENT_SCHEMA_VERSION."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, inspect, text
from sqlmodel import SQLModel, select

from vidpipe.errors import VidpipeError

from .tables import (
    _TABLES,
    CACHE_LOOKUP_INDEX,
    OBSERVABILITY_INDEXES,
    PLANNED_ID_LENGTH,
    SchemaVersion,
    utcnow,
)

CURRENT_SCHEMA_VERSION = 9


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


def _add_work_claims(conn: Connection) -> None:
    """Nothing to alter: `work_claims` is a new table, made by create_all."""


def _add_observability(conn: Connection) -> None:
    """Nothing to alter: `provider_errors`, `provider_calls` and `alerts` are new tables,
    made by create_all; the indexes the metrics and alert queries read through are added
    to the tables that exist already."""
    for name, table, columns in _OBSERVABILITY_INDEXES:
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"))


def _add_variants(conn: Connection) -> None:
    """Each run's variants, and node ids long enough for a variant's copy of a node
    (`NODE@VARIANT`); SQLite does not enforce VARCHAR lengths."""
    _add_column(conn, "runs", "variants", "JSON")
    if conn.dialect.name != "postgresql":
        return
    present = set(inspect(conn).get_table_names())  # older schemas lack some of them
    for table in ("node_runs", "approvals", "cost_entries", "work_claims", "provider_errors"):
        if table in present:
            conn.execute(
                text(f"ALTER TABLE {table} ALTER COLUMN node_id TYPE VARCHAR({PLANNED_ID_LENGTH})")
            )


def _add_cache_lookup_index(conn: Connection) -> None:
    """The cache lookup's own index (`tables.CACHE_LOOKUP_INDEX`): with it the lookup no
    longer scans every completed node run through the status index."""
    name, table, columns = CACHE_LOOKUP_INDEX
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})"))


#: Indexes on older tables that scrapes, alerts and reports read through (schema 7); a
#: new database gets them from create_all (`tables.OBSERVABILITY_INDEXES`).
_OBSERVABILITY_INDEXES = OBSERVABILITY_INDEXES


MIGRATIONS: dict[int, Migration] = {
    2: _add_prefect_api_url,
    3: _add_cost_kind,
    4: _add_published_uri,
    5: _add_runner,
    6: _add_work_claims,
    7: _add_observability,
    8: _add_variants,
    9: _add_cache_lookup_index,
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
