"""Operating vidpipe: saved blocks, the nightly batch, the stuck-run sweeper."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from engine.helpers import cli_run, wait_until
from vidpipe import db, sweeper
from vidpipe.settings import clear_overrides, get_settings

TINY = "video: {width: 160, height: 90, fps: 10}"


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def test_blocks_register_and_a_saved_block_wins_over_the_environment(home, monkeypatch):
    from blocks import ElevenLabsCredentials, apply_saved_blocks

    registered = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "blocks"],
        env={**os.environ, "PREFECT_API_URL": _api_url()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert registered.returncode == 0, registered.stderr
    assert "vidpipe ElevenLabs" in registered.stdout

    monkeypatch.setenv("ELEVENLABS_API_KEY", "from-the-environment")
    get_settings.cache_clear()
    block = ElevenLabsCredentials(api_key="from-the-block-0123")
    block.save("vidpipe", overwrite=True)
    try:
        assert "from-the-block-0123" not in repr(block)
        assert apply_saved_blocks() == ["elevenlabs_api_key"]
        assert get_settings().elevenlabs_api_key.get_secret_value() == "from-the-block-0123"
    finally:
        ElevenLabsCredentials.delete("vidpipe")
        clear_overrides()
    assert get_settings().elevenlabs_api_key.get_secret_value() == "from-the-environment"


def test_the_nightly_batch_isolates_failures(home, tmp_path: Path):
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from flows.nightly import nightly_batch

    folder = tmp_path / "nightly"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"not a video")
    (folder / "a-good.yaml").write_text(
        f"name: good\n{TINY}\nnodes:\n"
        "  - {id: card, type: generate-image, config: {provider: local, prompt: ok}}\n"
    )
    (folder / "b-failing.yaml").write_text(
        f"name: failing\n{TINY}\nnodes:\n"
        "  - {id: clip, type: asset, asset: {kind: video, path: broken.mp4}}\n"
    )
    (folder / "c-invalid.yaml").write_text("name: Not A Slug\nnodes: []\n")
    state = nightly_batch(folder=str(folder), return_state=True)
    rows = state.result()
    assert [(r["file"], r["status"]) for r in rows] == [
        ("a-good.yaml", "completed"),
        ("b-failing.yaml", "failed"),
        ("c-invalid.yaml", "invalid"),
    ]
    assert "clip" in rows[1]["error"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["nightly-batch-summary"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    assert "1 of 3 completed" in found[0].data


def test_the_sweeper_repairs_a_run_killed_mid_node(home, run_file, tmp_path: Path):
    pipeline = tmp_path / "slow.yaml"
    pipeline.write_text(
        f"name: slow\n{TINY}\nnodes:\n"
        "  - {id: card, type: generate-image, config: {provider: replicate, prompt: slow}}\n"
        "  - {id: fast, type: asset, asset: {kind: text, text: quick}}\n"
    )
    with cli_run(pipeline, home, VIDPIPE_PLACEHOLDER_LATENCY_S="120") as (run_id, engine):
        wait_until(
            lambda: (
                db.get_node_run(engine, run_id, "card").status == "running"
                # the fast node's cached result is written (after its row says completed)
                and any((home / "results").glob("vidpipe-*"))
            ),
            timeout=90,
            what="the slow node never started, or the fast one never finished",
        )
    assert db.get_run(engine, run_id).status == "running"

    assert sweeper.sweep(engine, threshold=timedelta(hours=1)) == [], "not stuck long enough"
    swept = sweeper.sweep(engine, threshold=timedelta(seconds=0))
    assert [s.run_id for s in swept] == [run_id]
    run = db.get_run(engine, run_id)
    card = db.get_node_run(engine, run_id, "card")
    assert run.status == "failed" and "swept" in run.error
    assert card.status == "failed" and "no progress" in card.error

    doc = run_file(pipeline)  # a re-run loses nothing already made
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert doc["run"]["status"] == "completed"
    assert nodes["fast"]["cache_hit"] is True


def test_a_run_whose_flow_run_crashed_is_swept_at_once(home, write_pipeline):
    from vidpipe.runs import open_run
    from vidpipe.spec import load_spec

    engine = db.make_engine(get_settings().resolved_database_url)
    db.init_db(engine)
    spec = load_spec(
        write_pipeline(
            "crashy",
            f"name: crashy\n{TINY}\nnodes:\n"
            "  - {id: a, type: asset, asset: {kind: text, text: x}}\n",
        )
    )
    run_id = open_run(engine, spec).id
    db.set_run_status(engine, run_id, "running", flow_run_id="fr-1")
    swept = sweeper.sweep(engine, flow_run_states={"fr-1": "CRASHED"})
    assert [s.run_id for s in swept] == [run_id]
    assert "CRASHED" in db.get_run(engine, run_id).error
    assert db.get_node_run(engine, run_id, "a").status == "skipped"


def test_a_run_whose_flow_run_was_cancelled_is_swept_cancelled(home, write_pipeline):
    from vidpipe.runs import open_run
    from vidpipe.spec import load_spec

    engine = db.make_engine(get_settings().resolved_database_url)
    db.init_db(engine)
    spec = load_spec(
        write_pipeline(
            "waits",
            f"name: waits\n{TINY}\nnodes:\n"
            "  - {id: a, type: asset, asset: {kind: text, text: x}}\n"
            "  - {id: gate_1, type: approval, inputs: {items: [a]}}\n",
        )
    )
    run_id = open_run(engine, spec).id
    db.set_run_status(engine, run_id, "running", flow_run_id="fr-2")
    gate = db.start_node(engine, run_id, "gate_1")
    assert gate
    db.set_run_status(engine, run_id, "awaiting_approval")
    assert sweeper.sweep(engine, threshold=timedelta(seconds=0)) == [], "waiting is not stuck"
    swept = sweeper.sweep(engine, flow_run_states={"fr-2": "CANCELLED"})
    assert [s.run_id for s in swept] == [run_id]
    run = db.get_run(engine, run_id)
    assert run.status == "cancelled" and "cancelled" in run.error
    assert {n.node_id: n.status for n in db.node_runs(engine, run_id)} == {
        "a": "skipped",
        "gate_1": "failed",
    }
