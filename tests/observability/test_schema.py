"""Schema 7: a database at schema 6 gains the provider log, the alert log and the
indexes the metrics read through, keeping what it held."""

from __future__ import annotations

from sqlalchemy import inspect, text

from vidpipe import db

from .conftest import make_run


def test_a_schema_6_database_is_migrated(engine) -> None:
    run_id = make_run(engine)
    with engine.begin() as conn:
        for table in ("provider_errors", "provider_calls", "alerts"):
            conn.execute(text(f"DROP TABLE {table}"))
        for name in ("ix_runs_finished_at", "ix_node_runs_finished_at"):
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(text("UPDATE schema_version SET version = 6"))
    assert db.init_db(engine) == db.CURRENT_SCHEMA_VERSION
    found = inspect(engine)
    assert {"provider_errors", "provider_calls", "alerts"} <= set(found.get_table_names())
    assert "ix_runs_finished_at" in {i["name"] for i in found.get_indexes("runs")}
    assert "ix_node_runs_finished_at" in {i["name"] for i in found.get_indexes("node_runs")}
    assert db.get_run(engine, run_id).status == "completed"
    db.record_provider_error(engine, provider="heygen", kind="timeout")
    assert len(db.provider_errors(engine)) == 1
