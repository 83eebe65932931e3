"""The engine on a real (temporary) Prefect server, real FFmpeg and real SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vidpipe import db
from vidpipe.media import probe
from vidpipe.refs import MediaRef
from vidpipe.storage import LocalStore


def nodes_by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in doc["nodes"]}


def ran(doc: dict[str, Any]) -> set[str]:
    """Nodes whose body ran in this run (completed, not from cache)."""
    return {n["id"] for n in doc["nodes"] if n["status"] == "completed" and not n["cache_hit"]}


TINY = "video: {width: 160, height: 90, fps: 10}"

BASIC = f"""
name: basic
{TINY}
nodes:
  - id: script
    type: asset
    asset: {{kind: text, text: "Hello there. This is a short test of the engine."}}
  - id: voice
    type: generate-voiceover
    inputs: {{script: script}}
    config: {{provider: elevenlabs, voice_id: v1}}
  - id: host
    type: generate-talking-head
    inputs: {{audio: voice}}
    config: {{provider: heygen, avatar_id: anna}}
  - id: code
    type: render-code
    config: {{code: "print('hi')", language: python, chars_per_second: 40, hold_s: 0.5}}
  - id: cut
    type: merge-videos
    inputs: {{segments: [host, code]}}
"""


def test_runs_a_pipeline_to_a_playable_video(run_file, write_pipeline, home: Path):
    doc = run_file(write_pipeline("basic", BASIC))
    assert doc["run"]["status"] == "completed", doc
    nodes = nodes_by_id(doc)
    assert {n["status"] for n in nodes.values()} == {"completed"}
    out = MediaRef.model_validate(doc["run"]["output"])
    path = LocalStore(home / "media").local_path(out)
    info = probe(path)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (160, 90)
    voice = nodes["voice"]["output"]["duration_s"]
    code = nodes["code"]["output"]["duration_s"]
    assert info.duration_s == pytest.approx(voice + code, abs=0.5)
    published = home / "media" / "runs" / "basic" / doc["run"]["id"] / "final.mp4"
    assert published.is_file()
    assert doc["run"]["published"] == published.as_uri()


def test_dependencies_are_honoured(run_file, write_pipeline):
    doc = run_file(write_pipeline("basic", BASIC))
    engine = db.make_engine()
    rows = {r.node_id: r for r in db.node_runs(engine, doc["run"]["id"])}
    for node, ups in {"voice": ["script"], "host": ["voice"], "cut": ["host", "code"]}.items():
        for up in ups:
            assert rows[node].started_at >= rows[up].finished_at, (node, up)


def test_independent_branches_overlap(run_file, write_pipeline, monkeypatch):
    from vidpipe.settings import get_settings

    monkeypatch.setenv("VIDPIPE_PLACEHOLDER_LATENCY_S", "1.5")
    get_settings.cache_clear()
    path = write_pipeline(
        "branches",
        f"""
        name: branches
        {TINY}
        nodes:
          - {{id: a, type: generate-image, config: {{provider: replicate, prompt: one}}}}
          - {{id: b, type: generate-image, config: {{provider: replicate, prompt: two}}}}
          - {{id: c, type: generate-image, config: {{provider: replicate, prompt: three}}}}
        """,
    )
    doc = run_file(path)
    assert doc["run"]["status"] == "completed"
    rows = db.node_runs(db.make_engine(), doc["run"]["id"])
    latest_start = max(r.started_at for r in rows)
    earliest_end = min(r.finished_at for r in rows)
    assert latest_start < earliest_end, "the three independent nodes did not overlap"


def test_a_failed_node_skips_only_its_dependents(run_file, write_pipeline, tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"this is not a video at all")
    path = write_pipeline(
        "failing",
        f"""
        name: failing
        {TINY}
        nodes:
          - {{id: clip, type: asset, asset: {{kind: video, path: broken.mp4}}}}
          - {{id: other, type: generate-image, config: {{provider: local, prompt: fine}}}}
          - id: code
            type: render-code
            config: {{code: "x = 1", language: python, chars_per_second: 50, hold_s: 0.2}}
          - {{id: cut, type: merge-videos, inputs: {{segments: [clip, code]}}}}
          - id: pip
            type: compose-video
            inputs: {{background: cut, overlay: other}}
        """,
    )
    doc = run_file(path)
    nodes = nodes_by_id(doc)
    assert doc["run"]["status"] == "failed"
    assert nodes["clip"]["status"] == "failed"
    assert "broken.mp4" in nodes["clip"]["error"] and "clip" in nodes["clip"]["error"]
    assert nodes["clip"]["attempts"] == 1, "bad media is not retried"
    assert nodes["cut"]["status"] == "skipped"
    assert nodes["pip"]["status"] == "skipped"
    assert nodes["other"]["status"] == "completed"
    assert nodes["code"]["status"] == "completed"
    assert "clip" in doc["run"]["error"]


def test_same_file_again_is_all_cache_hits(run_file, write_pipeline):
    path = write_pipeline("basic", BASIC)
    first = run_file(path)
    second = run_file(path)
    assert ran(first) == {n["id"] for n in first["nodes"]}
    assert ran(second) == set()
    assert all(n["cache_hit"] for n in second["nodes"])
    assert all(n["attempts"] == 0 for n in second["nodes"]), "no node body ran again"
    assert second["run"]["output"]["sha256"] == first["run"]["output"]["sha256"]


def test_editing_one_node_reruns_it_and_its_dependents_only(run_file, write_pipeline):
    path = write_pipeline("basic", BASIC)
    run_file(path)
    path.write_text(path.read_text().replace("hold_s: 0.5", "hold_s: 0.8"))
    doc = run_file(path)
    assert ran(doc) == {"code", "cut"}


def test_identical_work_in_two_pipelines_is_done_once(run_file, write_pipeline):
    run_file(write_pipeline("basic", BASIC))
    other = BASIC.replace("name: basic", "name: other-pipeline").replace("id: cut", "id: joined")
    doc = run_file(write_pipeline("other", other))
    assert ran(doc) == set(), "every node's work was already done by the first pipeline"


def test_deleted_media_is_a_miss_and_is_made_again(run_file, write_pipeline, home: Path):
    path = write_pipeline("basic", BASIC)
    first = run_file(path)
    voice = MediaRef.model_validate(nodes_by_id(first)["voice"]["output"])
    store = LocalStore(home / "media")
    store.delete(voice)
    doc = run_file(path)
    assert "voice" in ran(doc)
    assert store.exists(voice), "the deleted voiceover was made again"
    assert doc["run"]["status"] == "completed"
    # Deterministic placeholders: the same bytes again, so dependents stay cached.
    assert ran(doc) == {"voice"}
    # And a third run follows the cache again.
    assert ran(run_file(path)) == set()


def test_refresh_reruns_a_node_and_its_dependents(run_file, write_pipeline):
    path = write_pipeline("basic", BASIC)
    run_file(path)
    doc = run_file(path, refresh=["voice"])
    assert ran(doc) == {"voice", "host", "cut"}


def test_runs_on_postgresql(run_file, write_pipeline, pg_url, monkeypatch):
    from vidpipe.settings import get_settings

    monkeypatch.setenv("VIDPIPE_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    doc = run_file(write_pipeline("basic", BASIC))
    assert doc["run"]["status"] == "completed"
    engine = db.make_engine(pg_url)
    assert engine.dialect.name == "postgresql"
    assert db.run_counts(engine, doc["run"]["id"])["completed"] == 5


def test_unknown_refresh_node_is_refused(run_file, write_pipeline):
    from flows.pipeline import run_pipeline
    from vidpipe.errors import SpecError

    with pytest.raises(SpecError, match="nope"):
        run_pipeline(pipeline=str(write_pipeline("basic", BASIC)), refresh=["nope"])
