"""What a run started in this process costs beyond its nodes: flow runs share one Prefect
client, and a fully cached run sends the requests it needs and no more."""

from __future__ import annotations

import time

import httpx
import pytest

from flows.report import PROGRESS_EVERY_S


@pytest.fixture
def requests(monkeypatch) -> list[tuple[str, str]]:
    """(method, path) of each Prefect API request this process sends."""
    sent: list[tuple[str, str]] = []
    original = httpx.Client.send

    def send(self, request, **kwargs):
        sent.append((request.method, request.url.path))
        return original(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)
    return sent


def test_a_cached_run_reuses_the_client_and_sends_few_requests(run_file, write_pipeline, requests):
    path = write_pipeline(
        "lean",
        """
        name: lean
        nodes:
          - {id: a, type: asset, asset: {kind: text, text: one}}
          - {id: b, type: asset, asset: {kind: text, text: two}, after: [a]}
        """,
    )
    assert run_file(path)["run"]["status"] == "completed"
    requests.clear()
    started = time.monotonic()
    doc = run_file(path)
    took = time.monotonic() - started
    assert doc["run"]["status"] == "completed"
    assert all(n["cache_hit"] for n in doc["nodes"])
    paths = [p for _, p in requests]
    assert not any(p.endswith("/csrf-token") for p in paths)  # no new client
    blocks = [p for p in paths if "block" in p]
    assert blocks == ["/api/block_documents/filter"]  # the saved blocks: one request
    made = [p for m, p in requests if m == "POST" and p.endswith("/artifacts/")]
    assert len(made) == 2  # the progress artifact and the summary, once each
    updates = [p for m, p in requests if m == "PATCH" and "/artifacts/" in p]
    assert len(updates) <= int(took / PROGRESS_EVERY_S)  # none in a run under a second
