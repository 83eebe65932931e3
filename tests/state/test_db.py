"""vidpipe.db on SQLite and a real PostgreSQL: schema set-up, lifecycle, the stale-write guard."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, inspect, text, update
from sqlmodel import select

from vidpipe import db
from vidpipe.db import schema
from vidpipe.errors import SpecError, VidpipeError
from vidpipe.refs import MediaRef

SPEC = {
    "name": "demo",
    "mode": "placeholder",
    "nodes": [
        {"id": "script", "type": "asset", "asset": {"kind": "text", "text": "Hello"}},
        {
            "id": "voice",
            "type": "generate-voiceover",
            "inputs": {"script": "script"},
            "config": {"provider": "elevenlabs", "voice_id": "v1"},
        },
        {"id": "final", "type": "merge-videos", "inputs": {"segments": ["voice"]}},
    ],
}
NODES = [(node["id"], node["type"]) for node in SPEC["nodes"]]
REF = MediaRef(uri="file:///media/a.wav", kind="audio", sha256="a" * 64, bytes=10, duration_s=1.5)


def new_run(engine: Engine, **kwargs: object) -> db.Run:
    pipeline = db.upsert_pipeline(engine, "demo", SPEC)
    return db.create_run(engine, pipeline, mode="placeholder", node_ids_and_types=NODES, **kwargs)


def node(engine: Engine, run_id: str, node_id: str) -> db.NodeRun:
    row = db.get_node_run(engine, run_id, node_id)
    assert row is not None
    return row


# -- schema ----------------------------------------------------------------------------------


def test_init_db_is_idempotent_and_records_the_version(db_url_factory: Callable[[], str]) -> None:
    engine = db.make_engine(db_url_factory())
    assert db.init_db(engine) == db.CURRENT_SCHEMA_VERSION
    assert db.init_db(engine) == db.CURRENT_SCHEMA_VERSION
    tables = set(inspect(engine).get_table_names())
    expected = {"pipelines", "nodes", "runs", "node_runs", "approvals", "cost_entries"}
    assert expected | {"schema_version"} <= tables
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
    assert versions == [db.CURRENT_SCHEMA_VERSION]


def test_a_database_from_a_newer_vidpipe_is_refused(db_url_factory: Callable[[], str]) -> None:
    engine = db.make_engine(db_url_factory())
    db.init_db(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": 99})
    with pytest.raises(VidpipeError, match="schema version 99, newer"):
        db.init_db(engine)


def test_an_older_database_is_migrated_in_order(
    db_url_factory: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(db_url_factory())
    current = db.init_db(engine)
    applied: list[int] = []

    def add_note(conn: Connection) -> None:
        applied.append(current + 1)
        conn.execute(text("ALTER TABLE runs ADD COLUMN note VARCHAR(20)"))

    def then(conn: Connection) -> None:
        applied.append(current + 2)

    monkeypatch.setattr(schema, "CURRENT_SCHEMA_VERSION", current + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {current + 2: then, current + 1: add_note})
    assert db.init_db(engine) == current + 2
    assert applied == [current + 1, current + 2]
    assert "note" in {c["name"] for c in inspect(engine).get_columns("runs")}
    assert db.init_db(engine) == current + 2 and len(applied) == 2  # nothing runs twice


def test_a_version_1_database_gains_the_prefect_api_url_column(
    db_url_factory: Callable[[], str],
) -> None:
    engine = db.make_engine(db_url_factory())
    db.init_db(engine)
    with engine.begin() as conn:  # make it look like a database written by schema 1
        conn.execute(text("ALTER TABLE runs DROP COLUMN prefect_api_url"))
        conn.execute(text("UPDATE schema_version SET version = 1"))
    assert db.init_db(engine) == db.CURRENT_SCHEMA_VERSION
    assert "prefect_api_url" in {c["name"] for c in inspect(engine).get_columns("runs")}


def test_a_missing_migration_is_a_clear_error(
    db_url_factory: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(db_url_factory())
    db.init_db(engine)
    monkeypatch.setattr(schema, "CURRENT_SCHEMA_VERSION", schema.CURRENT_SCHEMA_VERSION + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", {})
    current = schema.CURRENT_SCHEMA_VERSION - 1
    with pytest.raises(VidpipeError, match=f"no migration registered from schema {current} to"):
        db.init_db(engine)


# -- pipelines -------------------------------------------------------------------------------


def test_upsert_pipeline_is_idempotent_for_the_same_content(engine: Engine) -> None:
    first = db.upsert_pipeline(engine, "demo", SPEC)
    reordered = dict(reversed(list(SPEC.items())))
    assert db.upsert_pipeline(engine, "demo", reordered).id == first.id
    changed = {**SPEC, "description": "edited"}
    assert db.upsert_pipeline(engine, "demo", changed).id != first.id
    with db.session_scope(engine) as session:
        rows = session.exec(select(db.NodeRow).where(db.NodeRow.pipeline_id == first.id)).all()
    by_id = {row.node_id: row for row in rows}
    assert set(by_id) == {"script", "voice", "final"}
    assert by_id["script"].config == {"asset": {"kind": "text", "text": "Hello"}}
    assert by_id["voice"].inputs == {"script": "script"}
    assert by_id["final"].inputs == {"segments": ["voice"]}
    assert first.spec_digest == db.spec_digest(SPEC)


def test_concurrent_upserts_of_one_file_make_one_row(engine: Engine) -> None:
    spec = {**SPEC, "description": f"race-{engine.dialect.name}-{id(engine)}"}
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def submit() -> None:
        barrier.wait()
        ids.append(db.upsert_pipeline(engine, "demo", spec).id)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1


# -- runs ------------------------------------------------------------------------------------


def test_create_run_queues_the_run_and_one_pending_node_each(engine: Engine) -> None:
    run = new_run(engine, budget_usd=5.0, refresh=["voice"])
    stored = db.get_run(engine, run.id)
    assert stored is not None
    assert (stored.status, stored.mode, stored.budget_usd, stored.refresh) == (
        "queued",
        "placeholder",
        5.0,
        ["voice"],
    )
    assert stored.created_at.tzinfo is not None
    rows = db.node_runs(engine, run.id)
    assert [(r.node_id, r.type, r.status, r.attempts) for r in rows] == [
        (node_id, node_type, "pending", 0) for node_id, node_type in NODES
    ]


def test_run_status_sets_timestamps_and_derives_actual_cost(engine: Engine) -> None:
    run = new_run(engine)
    running = db.set_run_status(engine, run.id, "running", flow_run_id="f-1", estimated_usd=2.0)
    assert running.started_at is not None and running.finished_at is None
    assert (running.flow_run_id, running.estimated_usd) == ("f-1", 2.0)
    db.set_run_status(engine, run.id, "awaiting_approval")
    again = db.set_run_status(engine, run.id, "running")
    assert again.started_at == running.started_at  # resuming does not restart the clock
    for node_id, cost in (("script", 0.25), ("voice", 1.0)):
        execution = db.start_node(engine, run.id, node_id)
        db.finish_node(engine, run.id, node_id, execution, status="completed", cost_usd=cost)
    done = db.set_run_status(engine, run.id, "completed", output=REF.model_dump())
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert done.finished_at.tzinfo == UTC
    assert done.actual_usd == pytest.approx(1.25)
    assert done.output_ref == REF
    assert done.flow_run_id == "f-1"  # None arguments keep what is stored


def test_unknown_statuses_and_runs_are_refused(engine: Engine) -> None:
    run = new_run(engine)
    with pytest.raises(ValueError, match="unknown run status"):
        db.set_run_status(engine, run.id, "done")
    with pytest.raises(VidpipeError, match="no run"):
        db.set_run_status(engine, "0" * 32, "running")
    execution = db.start_node(engine, run.id, "script")
    with pytest.raises(ValueError, match="unknown final node status"):
        db.finish_node(engine, run.id, "script", execution, status="running")
    with pytest.raises(VidpipeError, match="no node 'nope'"):
        db.start_node(engine, run.id, "nope")


def test_list_runs_newest_first(engine: Engine) -> None:
    made = [new_run(engine).id for _ in range(3)]
    listed = [run.id for run in db.list_runs(engine, limit=3)]
    assert listed == list(reversed(made))


def test_find_run_by_prefix(engine: Engine) -> None:
    runs = [new_run(engine) for _ in range(17)]  # 17 ids over 16 first digits: a clash
    target = runs[0]
    assert db.find_run(engine, target.id).id == target.id
    assert db.find_run(engine, target.id[:12].upper()).id == target.id
    first_digits = [run.id[0] for run in runs]
    clash = next(d for d in first_digits if first_digits.count(d) > 1)
    with pytest.raises(SpecError, match="ambiguous"):
        db.find_run(engine, clash)
    with pytest.raises(SpecError, match="no run matches"):
        db.find_run(engine, "0" * 32)
    with pytest.raises(SpecError, match="not a run id"):
        db.find_run(engine, "run-1")


# -- node lifecycle --------------------------------------------------------------------------


def test_node_lifecycle_pending_running_completed(engine: Engine) -> None:
    run = new_run(engine)
    execution = db.start_node(engine, run.id, "voice", provider="elevenlabs")
    row = node(engine, run.id, "voice")
    assert (row.status, row.attempts, row.execution_id, row.provider) == (
        "running",
        1,
        execution,
        "elevenlabs",
    )
    assert row.started_at is not None and row.finished_at is None
    assert db.finish_node(
        engine, run.id, "voice", execution, status="completed", output=REF, cost_usd=0.3
    )
    row = node(engine, run.id, "voice")
    assert (row.status, row.output_ref, row.cost_usd, row.cache_hit) == (
        "completed",
        REF,
        0.3,
        False,
    )
    assert row.finished_at is not None and row.finished_at >= row.started_at
    assert row.updated_at.tzinfo == UTC


def test_a_variant_copy_of_a_node_with_long_names_is_recorded(engine: Engine) -> None:
    """`NODE@VARIANT` of a 64-character id and a 64-character variant name (129), on
    SQLite and on PostgreSQL, where a VARCHAR's length is enforced."""
    planned = f"{'n' * 64}@{'v' * 64}"
    pipeline = db.upsert_pipeline(engine, "demo", SPEC)
    run = db.create_run(
        engine, pipeline, mode="placeholder", node_ids_and_types=[(planned, "reframe")]
    )
    execution = db.start_node(engine, run.id, planned, provider=None, cache_key="k" * 70)
    assert db.finish_node(engine, run.id, planned, execution, status="completed", output=REF)
    db.record_approval(engine, run.id, planned, round=1, decision="approve")
    assert node(engine, run.id, planned).status == "completed"


def test_a_schema_7_database_gains_run_variants_and_longer_node_ids(
    db_url_factory: Callable[[], str],
) -> None:
    engine = db.make_engine(db_url_factory())
    db.init_db(engine)
    with engine.begin() as conn:  # as schema 7 made it
        conn.execute(text("ALTER TABLE runs DROP COLUMN variants"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE node_runs ALTER COLUMN node_id TYPE VARCHAR(64)"))
        conn.execute(text("UPDATE schema_version SET version = 7"))
    assert db.init_db(engine) == db.CURRENT_SCHEMA_VERSION
    assert "variants" in {c["name"] for c in inspect(engine).get_columns("runs")}
    widths = {c["name"]: c["type"] for c in inspect(engine).get_columns("node_runs")}
    if engine.dialect.name == "postgresql":
        assert widths["node_id"].length == 160


def test_a_failed_node_records_its_error_and_no_output(engine: Engine) -> None:
    run = new_run(engine)
    execution = db.start_node(engine, run.id, "voice")
    assert db.finish_node(engine, run.id, "voice", execution, status="failed", error="HTTP 422")
    row = node(engine, run.id, "voice")
    assert (row.status, row.error, row.output) == ("failed", "HTTP 422", None)


def test_a_cache_hit_is_recorded(engine: Engine) -> None:
    run = new_run(engine)
    execution = db.start_node(engine, run.id, "script")
    db.finish_node(
        engine, run.id, "script", execution, status="completed", output=REF, cache_hit=True
    )
    assert node(engine, run.id, "script").cache_hit is True


def test_a_cache_hit_without_an_execution_is_recorded(engine: Engine) -> None:
    run = new_run(engine)
    assert db.record_cache_hit(engine, run.id, "script", output=REF.model_dump())
    row = node(engine, run.id, "script")
    assert (row.status, row.cache_hit, row.output_ref, row.attempts) == ("completed", True, REF, 0)
    assert row.started_at is not None and row.finished_at is not None
    assert not db.record_cache_hit(engine, run.id, "script", output=REF)  # already ended


def test_skip_touches_only_pending_nodes(engine: Engine) -> None:
    run = new_run(engine)
    execution = db.start_node(engine, run.id, "script")
    db.finish_node(engine, run.id, "script", execution, status="failed", error="boom")
    skipped = db.skip_nodes(
        engine, run.id, ["script", "voice", "final"], "upstream 'script' failed"
    )
    assert skipped == 2
    rows = {r.node_id: r for r in db.node_runs(engine, run.id)}
    assert rows["script"].status == "failed"
    assert {rows["voice"].status, rows["final"].status} == {"skipped"}
    assert rows["voice"].error == "upstream 'script' failed"
    assert rows["voice"].finished_at is not None
    assert db.skip_nodes(engine, run.id, [], "nothing") == 0


def test_a_stale_execution_cannot_overwrite_a_newer_one(engine: Engine) -> None:
    run = new_run(engine)
    older = db.start_node(engine, run.id, "voice")
    assert db.record_external_job(engine, run.id, "voice", older, "job-1")
    newer = db.start_node(engine, run.id, "voice")  # a retry takes over
    assert newer != older

    # the older attempt finishes late: ignored, nothing changes
    assert not db.finish_node(
        engine, run.id, "voice", older, status="failed", error="late", cost_usd=9.0
    )
    assert not db.record_external_job(engine, run.id, "voice", older, "job-stale")
    row = node(engine, run.id, "voice")
    assert (row.status, row.execution_id, row.attempts, row.error, row.cost_usd) == (
        "running",
        newer,
        2,
        None,
        None,
    )
    assert row.external_job_id == "job-1"  # kept across attempts: resume, don't pay twice

    assert db.finish_node(engine, run.id, "voice", newer, status="completed", output=REF)
    assert not db.finish_node(engine, run.id, "voice", older, status="failed", error="later")
    row = node(engine, run.id, "voice")
    assert (row.status, row.output_ref, row.error) == ("completed", REF, None)


def test_status_and_output_change_in_one_statement(engine: Engine) -> None:
    """One UPDATE, guarded by the execution id. Seen at the driver on SQLite, where the
    node writes run in SQLite's words on the driver's connection, not through
    SQLAlchemy's execution (whose events would not see them)."""
    run = new_run(engine)
    execution = db.start_node(engine, run.id, "voice")
    statements: list[str] = []

    def capture(statement: str) -> None:
        if "node_runs" in statement:
            statements.append(statement)

    def traced(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(capture)

    def sent(_conn, _cursor, statement: str, *_args: object) -> None:
        capture(statement)

    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        db.reset_engines()  # connections made from here on are traced
        engine = db.make_engine(str(engine.url))
        event.listen(engine, "connect", traced)
    else:
        event.listen(engine, "before_cursor_execute", sent)
    try:
        db.finish_node(engine, run.id, "voice", execution, status="completed", output=REF)
    finally:
        if not sqlite:
            event.remove(engine, "before_cursor_execute", sent)
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("UPDATE")
    assert "status" in statements[0] and "output" in statements[0]
    assert "execution_id" in statements[0].split("WHERE", 1)[1]
    assert node(engine, run.id, "voice").status == "completed"


def test_node_writes_in_sqlites_words_store_what_sqlalchemy_stores(engine: Engine) -> None:
    """On SQLite a node's writes skip SQLAlchemy's execution (`_Update.run`); each column
    must hold exactly what SQLAlchemy itself would write: timestamps, JSON, booleans."""
    from vidpipe.db.nodes import _update
    from vidpipe.db.tables import utcnow

    run = new_run(engine)
    now = utcnow()
    values = {
        "status": "completed",
        "output": REF.model_dump(mode="json"),
        "cache_hit": True,
        "error": None,
        "finished_at": now,
        "updated_at": now,
        "cost_usd": 1.25,
    }
    statement = _update("row", tuple(sorted(values)), "start")
    with engine.begin() as conn:
        ours = statement.run(conn, {"w_run": run.id, "w_node": "script", **values})
        theirs = conn.execute(statement.statement, {"w_run": run.id, "w_node": "voice", **values})
    assert ours == theirs.rowcount == 1
    columns = "status, output, cache_hit, error, finished_at, updated_at, cost_usd, attempts"
    with engine.connect() as conn:
        stored = {
            row[0]: row[1:]
            for row in conn.exec_driver_sql(
                f"SELECT node_id, {columns} FROM node_runs WHERE run_id = ?"
                if engine.dialect.name == "sqlite"
                else f"SELECT node_id, {columns} FROM node_runs WHERE run_id = %s",
                (run.id,),
            )
        }
    assert stored["script"] == stored["voice"]
    assert stored["script"][-1] == 1  # the attempt the start counts
    row = node(engine, run.id, "script")
    assert (row.output_ref, row.cache_hit, row.finished_at) == (REF, True, now)


def test_counts_are_queried_not_kept(engine: Engine) -> None:
    run = new_run(engine)
    assert db.run_counts(engine, run.id) == {
        "pending": 3,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "skipped": 0,
    }
    execution = db.start_node(engine, run.id, "script")
    db.finish_node(engine, run.id, "script", execution, status="completed", output=REF)
    db.start_node(engine, run.id, "voice")
    counts = db.run_counts(engine, run.id)
    assert (counts["pending"], counts["running"], counts["completed"]) == (1, 1, 1)
    # a change made behind the API's back shows up at once: nothing is cached or counted
    with engine.begin() as conn:
        conn.execute(
            update(db.NodeRun)
            .where(db.NodeRun.run_id == run.id, db.NodeRun.node_id == "final")
            .values(status="failed")
        )
    assert db.run_counts(engine, run.id)["failed"] == 1


def test_reading_back_gives_aware_utc_timestamps(engine: Engine) -> None:
    run = new_run(engine)
    stored = db.get_run(engine, run.id)
    assert stored is not None
    assert stored.created_at.tzinfo == UTC and stored.updated_at.tzinfo == UTC


def test_approvals_are_appended(engine: Engine) -> None:
    run = new_run(engine)
    db.record_approval(engine, run.id, "final", decision="revise", revisions={"voice.speed": 1.1})
    db.record_approval(engine, run.id, "final", round=2, decision="approve", reviewer="ana")
    with db.session_scope(engine) as session:
        rows = session.exec(
            select(db.Approval).where(db.Approval.run_id == run.id).order_by(db.Approval.round)
        ).all()
    assert [(a.round, a.decision, a.revisions) for a in rows] == [
        (1, "revise", {"voice.speed": 1.1}),
        (2, "approve", None),
    ]
    with pytest.raises(ValueError, match="approval decision"):
        db.record_approval(engine, run.id, "final", decision="maybe")


# -- SQLite specifics ------------------------------------------------------------------------


def test_sqlite_engine_defaults_follow_settings(tmp_path, monkeypatch) -> None:
    engine = db.make_engine()
    try:
        assert engine is db.make_engine()  # one engine per URL per process
        assert engine.url.database == str((tmp_path / "home" / "vidpipe.db").resolve())
        db.init_db(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.reset_engines()


def test_sqlite_survives_eight_concurrent_writer_threads(sqlite_url: str) -> None:
    """The task runner's threads write at once: no 'database is locked', no lost update."""
    engine = db.make_engine(sqlite_url)
    db.init_db(engine)
    pipeline = db.upsert_pipeline(engine, "demo", SPEC)
    nodes = [(f"n{i}", "asset") for i in range(8)]
    runs = [
        db.create_run(engine, pipeline, mode="placeholder", node_ids_and_types=nodes)
        for _ in range(3)
    ]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            for run in runs:
                for _ in range(5):
                    execution = db.start_node(engine, run.id, f"n{index}")
                    db.record_external_job(engine, run.id, f"n{index}", execution, "j")
                    db.run_counts(engine, run.id)
                    db.set_run_status(engine, run.id, "running")
                    with db.session_scope(engine) as session:  # read, then write: no lost update
                        row = session.get(db.Run, run.id)
                        row.estimated_usd = (row.estimated_usd or 0) + 1
                    db.finish_node(
                        engine, run.id, f"n{index}", execution, status="completed", output=REF
                    )
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors, errors[0]
        for run in runs:
            rows = db.node_runs(engine, run.id)
            assert {r.status for r in rows} == {"completed"}
            assert {r.attempts for r in rows} == {5}
            assert db.get_run(engine, run.id).estimated_usd == 8 * 5
    finally:
        db.reset_engines()


def test_the_cache_lookup_reads_through_its_index_old_databases_included(engine) -> None:
    """The lookup every node task makes reads one key's rows, not every completed node run
    (schema 9 gives a schema 8 database the index too)."""
    from sqlalchemy import inspect, text

    from vidpipe.cache_query import COMPLETED_OUTPUT

    db.init_db(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_node_runs_cache_lookup"))
        conn.execute(text("UPDATE schema_version SET version = 8"))
    assert db.init_db(engine) == db.CURRENT_SCHEMA_VERSION == 9
    names = {i["name"] for i in inspect(engine).get_indexes("node_runs")}
    assert "ix_node_runs_cache_lookup" in names
    if engine.dialect.name != "sqlite":
        return  # the query plan checked below is SQLite's, of the query SQLite is sent
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {COMPLETED_OUTPUT}", ("k",)).all()
    assert [row[-1] for row in plan] == [
        "SEARCH node_runs USING INDEX ix_node_runs_cache_lookup (cache_key=? AND status=?)"
    ]
