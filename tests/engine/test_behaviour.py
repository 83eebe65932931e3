"""Retries, artifacts and the `vidpipe run` command, on the session's Prefect server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasks.runtime import is_transient
from vidpipe.errors import MediaError, PermanentProviderError, SpecError, TransientProviderError

TINY = "video: {width: 160, height: 90, fps: 10}"


class _Flaky(BaseHTTPRequestHandler):
    """Serves /script.txt, answering 503 to the first `failures` requests."""

    failures = 1
    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits += 1
        if type(self).hits <= type(self).failures:
            self.send_response(503)
            self.end_headers()
            return
        if self.path == "/missing.txt":
            self.send_response(404)
            self.end_headers()
            return
        body = b"Fetched from a flaky server."
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server(monkeypatch):
    """A loopback server, which asset URLs may reach only when the operator allows it."""
    from vidpipe.settings import get_settings

    monkeypatch.setenv("VIDPIPE_ALLOW_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    _Flaky.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TransientProviderError("429", status=429), True),
        (TimeoutError("slow"), True),
        (ConnectionError("reset"), True),
        (PermanentProviderError("422", status=422), False),
        (MediaError("corrupt"), False),
        (SpecError("bad"), False),
        (ValueError("bug"), False),
    ],
)
def test_only_transient_failures_are_retried(error, transient):
    assert is_transient(error) is transient


def test_a_transient_failure_is_retried_then_succeeds(run_file, write_pipeline, flaky_server):
    path = write_pipeline(
        "flaky",
        f"""
        name: flaky
        {TINY}
        nodes:
          - {{id: script, type: asset, asset: {{kind: text, url: "{flaky_server}/script.txt"}}}}
          - id: voice
            type: generate-voiceover
            inputs: {{script: script}}
            config: {{provider: elevenlabs, voice_id: v1}}
        """,
    )
    doc = run_file(path)
    script = next(n for n in doc["nodes"] if n["id"] == "script")
    assert doc["run"]["status"] == "completed"
    assert script["attempts"] == 2, "one 503, then success"
    assert _Flaky.hits == 2


def test_a_client_error_is_not_retried(run_file, write_pipeline, flaky_server):
    _Flaky.failures = 0
    path = write_pipeline(
        "missing",
        f"""
        name: missing
        {TINY}
        nodes:
          - {{id: script, type: asset, asset: {{kind: text, url: "{flaky_server}/missing.txt"}}}}
        """,
    )
    try:
        doc = run_file(path)
    finally:
        _Flaky.failures = 1
    script = doc["nodes"][0]
    assert script["status"] == "failed"
    assert script["attempts"] == 1
    assert "404" in script["error"] and "script" in script["error"]


def test_run_publishes_progress_and_summary_artifacts(run_file, write_pipeline):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    path = write_pipeline(
        "artifacts",
        f"""
        name: artifacts
        {TINY}
        nodes:
          - {{id: a, type: generate-image, config: {{provider: local, prompt: one}}}}
          - {{id: b, type: generate-image, config: {{provider: local, prompt: two}}}}
        """,
    )
    doc = run_file(path)
    with get_client(sync_client=True) as client:
        keys = {"artifacts-progress", "artifacts-summary"}
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=sorted(keys)))
        )
    by_key = {a.key: a for a in found}
    assert set(by_key) == keys
    assert by_key["artifacts-progress"].data == 100
    summary = by_key["artifacts-summary"].data
    assert doc["run"]["id"] in summary and "| a | generate-image | completed |" in summary


def test_cli_run_prints_the_run_id_first_and_the_show_document_last(home, write_pipeline):
    from vidpipe.cli import app

    path = write_pipeline(
        "cli",
        f"""
        name: cli-run
        {TINY}
        nodes:
          - {{id: card, type: generate-image, config: {{provider: replicate, prompt: hi}}}}
        """,
    )
    result = CliRunner().invoke(app, ["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    doc = json.loads(lines[-1])
    assert lines[0] == doc["run"]["id"]
    assert doc["run"]["status"] == "completed"
    assert doc["nodes"][0]["output"]["kind"] == "image"

    shown = CliRunner().invoke(app, ["show", doc["run"]["id"][:8], "--json"])
    assert json.loads(shown.stdout)["run"]["id"] == doc["run"]["id"]
    listed = CliRunner().invoke(app, ["runs", "--json"])
    assert doc["run"]["id"] in {r["id"] for r in json.loads(listed.stdout)}


def test_cli_run_exit_codes(home, write_pipeline, tmp_path: Path):
    from vidpipe.cli import app

    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    failing = write_pipeline(
        "failing",
        f"""
        name: cli-failing
        {TINY}
        nodes:
          - {{id: clip, type: asset, asset: {{kind: video, path: bad.mp4}}}}
        """,
    )
    result = CliRunner().invoke(app, ["run", str(failing), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert doc["run"]["status"] == "failed" and "clip" in doc["run"]["error"]

    invalid = write_pipeline("invalid", "name: x\nnodes: []\n")
    assert CliRunner().invoke(app, ["run", str(invalid)]).exit_code == 2
    assert CliRunner().invoke(app, ["run", str(failing), "--refresh", "nope"]).exit_code == 2
    assert CliRunner().invoke(app, ["show", "ffffffff"]).exit_code == 2
