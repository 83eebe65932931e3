"""Fixtures for observability: a fresh home and its database, runs made through
`vidpipe.db`, a real HTTP receiver on 127.0.0.1 standing in for an alert webhook, and
the recorder installed for the test only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from vidpipe import db, observers
from vidpipe.settings import clear_overrides, get_settings


@pytest.fixture(autouse=True)
def _own_log_context() -> Iterator[None]:
    """Ids a test binds (a job id noted by a client) stay in that test."""
    from vidpipe import logs

    token = logs._bound.set(None)
    yield
    logs._bound.reset(token)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh VIDPIPE_HOME; no alert channel, no log format from the caller."""
    monkeypatch.setenv("VIDPIPE_HOME", str(tmp_path / "home"))
    for name in ("VIDPIPE_DATABASE_URL", "VIDPIPE_STORAGE_URL", "VIDPIPE_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("VIDPIPE_ALERT_WEBHOOK_URL", "VIDPIPE_ALERT_BLOCK"):
        monkeypatch.delenv(name, raising=False)
    clear_overrides()
    yield tmp_path / "home"
    clear_overrides()
    get_settings.cache_clear()


@pytest.fixture
def engine(home: Path) -> Engine:
    engine = db.make_engine()
    db.init_db(engine)
    return engine


@pytest.fixture
def recorder(engine: Engine) -> Iterator[Any]:
    """The observability recorder, subscribed for this test (always recording)."""
    from vidpipe import observability
    from vidpipe.observability import recorder as module

    saved = {name: observers._observers[name] for name in observers.observers()}
    saved_recorder, module._recorder = module._recorder, None
    for name in saved:
        observers.unsubscribe(name)
    found = observability.install(flush_s=3600)
    try:
        yield found
    finally:
        observability.uninstall()
        module._recorder = saved_recorder
        for name, observer in saved.items():
            observers.subscribe(name, observer)


class Receiver:
    """An HTTP server that keeps every JSON object POSTed to it; `down` makes it answer
    503 (a webhook that is down)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if receiver.down:
                    self.send_response(503)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/T0SECRET/B0SECRET"

    def of(self, alert: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["alert"] == alert]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A webhook receiver, and VIDPIPE_ALERT_WEBHOOK_URL pointing at it."""
    found = Receiver()
    monkeypatch.setenv("VIDPIPE_ALERT_WEBHOOK_URL", found.url)
    get_settings.cache_clear()
    try:
        yield found
    finally:
        found.stop()


# -- runs made through vidpipe.db ----------------------------------------------------------

NODES = [("script", "asset"), ("voice", "generate-voiceover"), ("final", "merge-videos")]
REF = {"uri": "file:///media/x.mp4", "kind": "video", "sha256": "0" * 64, "bytes": 10}


def make_run(
    engine: Engine,
    pipeline: str = "explainer",
    *,
    status: str = "completed",
    seconds: float | None = None,
    cached: tuple[str, ...] = (),
    provider: str = "elevenlabs",
    refresh: tuple[str, ...] = (),
) -> str:
    """One run of three nodes, ended `status`; `seconds` sets its duration (start moved
    back), `cached` nodes are cache hits, the others did their work."""
    spec = {"name": pipeline, "nodes": [{"id": n, "type": t} for n, t in NODES]}
    row = db.upsert_pipeline(engine, pipeline, spec)
    run = db.create_run(engine, row, mode="live", node_ids_and_types=NODES, refresh=list(refresh))
    db.set_run_status(engine, run.id, "running")
    for node_id, node_type in NODES:
        if node_id in cached:
            db.record_cache_hit(engine, run.id, node_id, output=REF)
            continue
        key = f"{pipeline}-{node_id}"
        execution = db.start_node(
            engine,
            run.id,
            node_id,
            provider=provider if node_type.startswith("generate") else None,
            cache_key=key,
        )
        failed = status == "failed" and node_id == "final"
        db.finish_node(
            engine,
            run.id,
            node_id,
            execution,
            status="failed" if failed else "completed",
            error="merge failed" if failed else None,
        )
    if status in ("completed", "failed"):
        db.set_run_status(
            engine, run.id, status, error="final: merge failed" if status == "failed" else None
        )
    elif status != "running":
        db.end_run(engine, run.id, status, "ended by the test")
    if seconds is not None:
        stretch(engine, run.id, seconds)
    return run.id


def stretch(engine: Engine, run_id: str, seconds: float) -> None:
    """Make a run (and its nodes) have taken `seconds`: its start moved back."""
    with db.session_scope(engine) as session:
        run = session.get(db.Run, run_id)
        assert run is not None and run.finished_at is not None
        start = run.finished_at - timedelta(seconds=seconds)
        session.execute(update(db.Run).where(db.Run.id == run_id).values(started_at=start))
        session.execute(
            update(db.NodeRun)
            .where(db.NodeRun.run_id == run_id, db.NodeRun.cache_hit.is_(False))
            .values(started_at=start)
        )
