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


def test_a_run_reads_its_file_once_and_again_once_it_changed(run_file, write_pipeline, monkeypatch):
    """The run's name and the run share one reading of the file; an edit is seen by the
    next run, even one made at once with the same size."""
    import flows.pipeline as pipeline

    read: list[str] = []
    original = pipeline.load_spec

    def counting(source, **kwargs):
        read.append(str(source))
        return original(source, **kwargs)

    monkeypatch.setattr(pipeline, "load_spec", counting)
    text = """
        name: once-1
        nodes:
          - {id: a, type: asset, asset: {kind: text, text: one}}
        """
    path = write_pipeline("once_1", text)
    assert run_file(path)["run"]["status"] == "completed"
    assert read == [str(path)]
    path.write_text(path.read_text().replace("text: one", "text: two"))  # same size
    doc = run_file(path)
    assert read == [str(path)] * 2
    assert doc["run"]["status"] == "completed"
    assert not doc["nodes"][0]["cache_hit"], "the edited text was read, so made anew"


def test_objects_made_before_the_first_run_are_frozen_out_of_collections(run_file, write_pipeline):
    import gc

    path = write_pipeline(
        "frozen", "name: frozen\nnodes:\n  - {id: a, type: asset, asset: {kind: text, text: x}}\n"
    )
    assert run_file(path)["run"]["status"] == "completed"
    assert gc.get_freeze_count() > 10_000  # the imports, at least


NINE = "\n".join(
    ["name: records-9", "nodes:"]
    + [f"  - {{id: n_{i}, type: asset, asset: {{kind: text, text: 'text {i}'}}}}" for i in range(9)]
)


def test_records_in_a_linked_folder_resolve_it_once_per_process(
    home, run_file, write_pipeline, walks, tmp_path
):
    """Prefect's local result folder resolves its real path at every record it touches;
    the node tasks' records do not (a symbolic link and a space on the way, as a user's
    results folder may have): found again all the same, in the folder the link leads to,
    with no `realpath` walk per node."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    real = tmp_path / "real results"
    real.mkdir()
    link = tmp_path / "linked folder"
    link.symlink_to(real, target_is_directory=True)
    path = write_pipeline("records_9", NINE)
    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: link / "results 2"}):
        assert run_file(path)["run"]["status"] == "completed"
        assert len(list((real / "results 2").iterdir())) == 9  # one record per node
        walks.clear()
        doc = run_file(path)
    assert doc["run"]["status"] == "completed"
    assert all(n["cache_hit"] for n in doc["nodes"]), doc["nodes"]
    # Prefect's folder walks twice per record touched, ten times per node task; what is
    # left is the flow run's own (its result record), not the nodes'.
    under = [w for w in walks if "results 2" in w]
    assert len(under) < len(doc["nodes"]), under
