"""A run's progress artifact: made once by a run shorter than a second, and sent at most
once a second while nodes stream in, its last state always sent at the end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from flows.report import PROGRESS_EVERY_S


@pytest.fixture
def artifact_requests(monkeypatch) -> Iterator[list[tuple[float, str, str]]]:
    """(when, method, key) of each artifact request this process sends: POST makes an
    artifact (its key), PATCH updates the progress artifact. Every artifact made must
    belong to a flow run (checked at the end: a request from a node's thread that failed
    here would only be logged)."""
    sent: list[tuple[float, str, str]] = []
    orphans: list[str] = []
    original = httpx.Client.send

    def send(self, request, **kwargs):
        made = request.method == "POST" and request.url.path.endswith("/artifacts/")
        if made or (request.method == "PATCH" and "/artifacts/" in request.url.path):
            body = json.loads(request.content or b"{}")
            key = body.get("key") or ""
            if made and not body.get("flow_run_id"):
                orphans.append(key)
            sent.append((time.monotonic(), request.method, key))
        return original(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)
    yield sent
    assert not orphans, f"artifacts made for no flow run: {orphans}"


def _latest(key: str):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def test_a_short_run_makes_its_progress_artifact_once(run_file, write_pipeline, artifact_requests):
    path = write_pipeline(
        "quick",
        """
        name: quick
        nodes:
          - {id: a, type: asset, asset: {kind: text, text: one}}
          - {id: b, type: asset, asset: {kind: text, text: two}, after: [a]}
        """,
    )
    started = time.monotonic()
    doc = run_file(path)
    assert doc["run"]["status"] == "completed"
    progress = _latest("quick-progress")
    assert len(progress) == 1 and progress[0].data == 100
    assert progress[0].description.startswith("2/2 nodes finished")
    made = sorted(k for _, m, k in artifact_requests if m == "POST")
    assert made == ["quick-progress", "quick-summary"]  # nothing billed: no invoice table
    _spaced(artifact_requests, "quick-progress", started)
    assert {a.key for a in _latest("quick-summary")} == {"quick-summary"}


def test_progress_goes_out_at_most_once_a_second(
    run_file, write_pipeline, artifact_requests, monkeypatch
):
    monkeypatch.setenv("VIDPIPE_PLACEHOLDER_LATENCY_S", "0.3")
    from vidpipe.settings import get_settings

    get_settings.cache_clear()
    nodes = "\n".join(
        f"  - {{id: n{i}, type: generate-image, "
        f"config: {{provider: local, prompt: shot {i}, seed: {i}}}"
        + (f", after: [n{i - 1}]" if i else "")
        + "}"
        for i in range(8)
    )
    text = f"name: steady\nmode: placeholder\nvideo: {{width: 64, height: 36}}\nnodes:\n{nodes}\n"
    path = write_pipeline("steady", text)
    started = time.monotonic()
    doc = run_file(path)
    assert doc["run"]["status"] == "completed"
    assert time.monotonic() - started > 2.4  # eight nodes of 0.3 s, one after another
    progress = _latest("steady-progress")
    assert len(progress) == 1 and progress[0].data == 100
    sent = _spaced(artifact_requests, "steady-progress", started)
    assert len(sent) >= 3  # made, updated while the nodes ran, and at the end


def test_progress_made_from_a_nodes_thread_belongs_to_the_flow_run(
    run_file, write_pipeline, artifact_requests, monkeypatch
):
    """With no wait between updates and no timer, the node that ends first makes the
    progress artifact from its own thread (its task run's done callback), where Prefect
    has no flow run in context: it must still be the flow run's."""
    import warnings

    from flows import report

    monkeypatch.setattr(report, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(report, "_update_later", lambda tracker, delay: None)
    path = write_pipeline(
        "from_a_node_1",
        """
        name: from-a-node-1
        nodes:
          - {id: a, type: asset, asset: {kind: text, text: one}}
          - {id: b, type: asset, asset: {kind: text, text: two}}
        """,
    )
    with warnings.catch_warnings(record=True) as warned:  # from every thread
        warnings.simplefilter("always")
        doc = run_file(path)
    assert doc["run"]["status"] == "completed"
    assert not [w for w in warned if "outside of a flow" in str(w.message)]
    made = [k for _, m, k in artifact_requests if m == "POST"]
    assert made.count("from-a-node-1-progress") == 1
    (progress,) = _latest("from-a-node-1-progress")
    from vidpipe import db

    assert str(progress.flow_run_id) == db.get_run(db.make_engine(), doc["run"]["id"]).flow_run_id


def _spaced(requests: list[tuple[float, str, str]], key: str, started: float) -> list[float]:
    """When the progress artifact was sent; each time but the run's last one at least a
    second after the previous one (the first: a second after the run started)."""
    sent = [t for t, m, k in requests if m == "PATCH" or k == key]
    gaps = [b - a for a, b in zip([started, *sent[:-1]], sent[:-1], strict=False)]
    assert not gaps or min(gaps) >= PROGRESS_EVERY_S * 0.95, gaps
    return sent


def test_nodes_ending_while_a_progress_request_is_in_flight_do_not_queue_for_it(
    run_file, write_pipeline, artifact_requests, monkeypatch
):
    """A slow server: each artifact request takes 0.3 s. With no wait between updates,
    every node that ends tries to send the progress; those that find a request in flight
    leave what they changed to one later update instead of each waiting its turn (a node's
    thread held up for a round trip is a worker the next node cannot use)."""
    from flows import report

    monkeypatch.setattr(report, "PROGRESS_EVERY_S", 0.0)
    original = httpx.Client.send  # the fixture's, which records the request

    def slow(self, request, **kwargs):
        body = (request.content or b"").decode()
        if "/artifacts/" in request.url.path and "summary" not in body:  # made or updated
            time.sleep(0.3)
        return original(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", slow)
    nodes = "\n".join(
        f"  - {{id: part_{i}, type: asset, asset: {{kind: text, text: part {i}}}}}"
        for i in range(12)
    )
    path = write_pipeline("slow server", f"name: slow-server\nnodes:\n{nodes}\n")
    doc = run_file(path)
    assert doc["run"]["status"] == "completed"
    sent = [t for t, m, k in artifact_requests if m == "PATCH" or k == "slow-server-progress"]
    assert 1 <= len(sent) <= 5, len(sent)  # not one per node end (27 when each waited)
    (progress,) = _latest("slow-server-progress")
    assert progress.data == 100 and progress.description.startswith("12/12 nodes finished")
