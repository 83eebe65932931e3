"""Whole placeholder pipelines with `VIDPIPE_STORAGE_URL=s3://...` against moto's server, on
the session's Prefect harness."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from vidpipe.media import probe
from vidpipe.refs import MediaRef
from vidpipe.storage.s3 import S3Store, parse_s3_uri

PIPELINE = """
name: on-s3
video: {width: 160, height: 90, fps: 10}
nodes:
  - id: script
    type: asset
    asset: {kind: text, text: "Hello there. A short test of media kept in a bucket."}
  - id: voice
    type: generate-voiceover
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: v1}
  - id: host
    type: generate-talking-head
    inputs: {audio: voice}
    config: {provider: heygen, avatar_id: anna}
  - id: code
    type: render-code
    config: {code: "print('hi')", language: python, chars_per_second: 40, hold_s: 0.5}
  - id: cut
    type: merge-videos
    inputs: {segments: [host, code]}
"""


def outputs(doc: dict[str, Any]) -> dict[str, MediaRef]:
    return {n["id"]: MediaRef.model_validate(n["output"]) for n in doc["nodes"] if n["output"]}


def ran(doc: dict[str, Any]) -> set[str]:
    """Nodes whose body ran in this run (completed, not from cache)."""
    return {n["id"] for n in doc["nodes"] if n["status"] == "completed" and not n["cache_hit"]}


def test_a_pipeline_leaves_its_media_and_final_video_in_the_bucket(
    run_file, write_pipeline, s3_home: Path, s3: Any, bucket: str
) -> None:
    doc = run_file(write_pipeline("on-s3", PIPELINE))
    assert doc["run"]["status"] == "completed", doc
    for ref in outputs(doc).values():
        assert ref.uri.startswith(f"s3://{bucket}/prefix/sha256/"), ref.uri
        assert s3.head_object(Bucket=bucket, Key=parse_s3_uri(ref.uri)[1])["ContentLength"]
    final_key = f"prefix/runs/on-s3/{doc['run']['id']}/final.mp4"
    final = s3.get_object(Bucket=bucket, Key=final_key)["Body"].read()
    out = MediaRef.model_validate(doc["run"]["output"])
    assert len(final) == out.bytes
    fresh = S3Store(bucket, "prefix", cache_dir=s3_home / "another-worker")
    info = probe(fresh.local_path(out))
    assert info.has_video and info.has_audio and (info.width, info.height) == (160, 90)
    assert not (s3_home / "media" / "sha256").exists()  # nothing kept beside the cache


def test_a_deleted_object_is_made_again_and_a_bare_worker_reads_inputs_from_the_bucket(
    run_file, write_pipeline, s3_home: Path, s3: Any, bucket: str
) -> None:
    """The second run has lost the voice's object and runs on an empty disk (as if on
    another machine): the voice is made again, the merge downloads its inputs."""
    from tasks.run_info import _store

    path = write_pipeline("on-s3", PIPELINE)
    first = run_file(path)
    assert first["run"]["status"] == "completed", first
    voice = outputs(first)["voice"]
    s3.delete_object(Bucket=bucket, Key=parse_s3_uri(voice.uri)[1])
    shutil.rmtree(s3_home / "cache")
    _store.cache_clear()

    second = run_file(path, refresh=["cut"])
    assert second["run"]["status"] == "completed", second
    assert ran(second) == {"voice", "cut"}  # the voice's bytes are the same: host is cached
    assert outputs(second)["voice"] == voice
    assert s3.head_object(Bucket=bucket, Key=parse_s3_uri(voice.uri)[1])["ContentLength"]
    for node in ("host", "code"):
        key = parse_s3_uri(outputs(second)[node].uri)[1]
        assert (s3_home / "cache" / key.removeprefix("prefix/")).is_file(), node


def test_a_worker_with_its_own_home_takes_every_node_from_the_shared_bucket_and_database(
    run_file, write_pipeline, s3_home: Path, tmp_path: Path, monkeypatch
) -> None:
    """Two workers: separate homes (Prefect results, S3 cache), one database, one bucket.
    The second worker's run of the same pipeline makes nothing: every node is a hit."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    from tasks.run_info import _store
    from vidpipe.settings import get_settings

    monkeypatch.setenv("VIDPIPE_DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    get_settings.cache_clear()
    path = write_pipeline("on-s3", PIPELINE)
    first = run_file(path)
    assert first["run"]["status"] == "completed", first

    other = tmp_path / "worker_2 home"
    monkeypatch.setenv("VIDPIPE_HOME", str(other))
    get_settings.cache_clear()
    _store.cache_clear()
    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: other / "results"}):
        second = run_file(path)
    assert second["run"]["status"] == "completed", second
    assert ran(second) == set(), "every node came from the shared cache"
    assert outputs(second) == outputs(first)
    assert {p.name for p in (other / "results").iterdir()} == {
        p.name for p in (s3_home / "results").iterdir()
    }, "the second worker's own result records, rebuilt from the database"
