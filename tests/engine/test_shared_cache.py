"""One cache for every worker: two vidpipe homes (two workers, each with its own Prefect
result folder) sharing one database and one media store never pay twice for the same
work, whether one runs after the other or both at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from providers.fakes import FakeElevenLabs, FakeReplicate

from engine.helpers import cli_run, wait_until
from vidpipe import db
from vidpipe.settings import get_settings

PAID = """
name: shared-work
mode: live
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: script, type: asset, asset: {kind: text, text: "One cache for every worker."}}
  - id: voice_1
    type: generate-voiceover
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: v1}
  - {id: frame_2, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
"""


@pytest.fixture
def shared(home: Path, tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """Two homes, one database and one media store (a folder whose path has a space)."""
    store = tmp_path / "shared media"
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    monkeypatch.setenv("VIDPIPE_STORAGE_URL", str(store))
    get_settings.cache_clear()
    return {"a": home, "b": tmp_path / "worker_2 home", "store": store}


@contextlib.contextmanager
def worker_home(home: Path, monkeypatch) -> Iterator[None]:
    """Act as the worker whose home (and Prefect result folder) is `home`."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    monkeypatch.setenv("VIDPIPE_HOME", str(home))
    get_settings.cache_clear()
    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: home / "results"}):
        yield


@pytest.fixture
def paid_fakes(shared, tmp_path_factory, monkeypatch):
    from engine.conftest import _real_media

    folder = str(tmp_path_factory.mktemp("fake-media"))
    servers = {"elevenlabs": FakeElevenLabs(), "replicate": FakeReplicate(polls_to_finish=1)}
    for fake in servers.values():
        fake.make_media = lambda name, size: _real_media(name, folder)
        fake.start()
    monkeypatch.setenv("ELEVENLABS_API_KEY", servers["elevenlabs"].api_key)
    monkeypatch.setenv("VIDPIPE_ELEVENLABS_BASE_URL", servers["elevenlabs"].url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", servers["replicate"].api_key)
    monkeypatch.setenv("VIDPIPE_REPLICATE_BASE_URL", servers["replicate"].url)
    get_settings.cache_clear()
    yield servers
    for fake in servers.values():
        fake.stop()


def paid(servers) -> dict[str, int]:
    return {name: len(fake.submissions) for name, fake in servers.items()}


def test_a_second_worker_takes_the_first_workers_work_from_the_shared_cache(
    shared, paid_fakes, run_file, write_pipeline, monkeypatch
):
    path = write_pipeline("shared", PAID)
    first = run_file(path)
    assert first["run"]["status"] == "completed", first
    assert paid(paid_fakes) == {"elevenlabs": 1, "replicate": 1}

    with worker_home(shared["b"], monkeypatch):
        second = run_file(path)
    assert second["run"]["status"] == "completed", second
    assert paid(paid_fakes) == {"elevenlabs": 1, "replicate": 1}, "no provider called again"
    nodes = {n["id"]: n for n in second["nodes"]}
    assert all(nodes[n]["cache_hit"] for n in ("script", "voice_1", "frame_2")), nodes
    assert second["run"]["estimated_usd"] == 0, "the estimate saw the same cache"
    records = {w: {p.name for p in (shared[w] / "results").iterdir()} for w in "ab"}
    assert records["a"] == records["b"], "the second worker's records, rebuilt from the database"


def test_two_workers_starting_the_same_paid_node_together_pay_once(
    shared, paid_fakes, write_pipeline, monkeypatch
):
    """The first worker's image job is slow to answer; the second worker, started while
    it is in flight, waits for it instead of paying again, and both runs complete."""
    paid_fakes["replicate"].inject("poll", "slow", delay=10)
    path = write_pipeline("shared", PAID)
    engine = db.make_engine(get_settings().resolved_database_url)
    with cli_run(path, shared["a"]) as (first, _):
        wait_until(
            lambda: paid(paid_fakes)["replicate"] == 1, timeout=60, what="the first job started"
        )
        with cli_run(path, shared["b"]) as (second, _):
            for run_id in (first, second):
                wait_until(
                    lambda run_id=run_id: db.get_run(engine, run_id).status in db.RUN_TERMINAL,
                    timeout=90,
                    what=f"run {run_id} ended",
                )
    assert paid(paid_fakes) == {"elevenlabs": 1, "replicate": 1}
    assert db.get_run(engine, first).status == "completed"
    assert db.get_run(engine, second).status == "completed"
    waited = db.get_node_run(engine, second, "frame_2")
    made = db.get_node_run(engine, first, "frame_2")
    assert waited.cache_hit and waited.output == made.output
    assert waited.started_at < made.finished_at, "the second run was there before the first ended"
    savings = db.cost_entries(engine, run_id=second, kinds=["savings"])
    assert [e["provider"] for e in savings if e["node_id"] == "frame_2"] == ["replicate"]
    assert db.cost_entries(engine, run_id=second, kinds=["billed"]) == []
