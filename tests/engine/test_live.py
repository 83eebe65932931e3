"""Live mode end to end against local fakes of the four providers (real HTTP on
127.0.0.1, the documented contracts, real media), with the money rules: one billed line
per paid job, savings on cache hits, budgets that refuse before anything is paid and
that stop exactly the node that would pass them."""

from __future__ import annotations

import pytest

from engine.helpers import cli_run, wait_until
from vidpipe import db
from vidpipe.settings import get_settings

LIVE = """
name: live-demo
mode: live
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: script, type: asset, asset: {kind: text, text: "Hello from the live test."}}
  - id: voice
    type: generate-voiceover
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: v1}
  - id: host
    type: generate-talking-head
    inputs: {audio: voice}
    config: {provider: heygen, avatar_id: anna}
  - {id: frame, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - id: broll
    type: generate-animation
    inputs: {image: frame}
    config: {provider: veo3, prompt: "slow zoom", duration_s: 4}
  - {id: cut, type: merge-videos, inputs: {segments: [host, broll]}}
"""


def submissions(servers) -> dict[str, int]:
    return {name: len(fake.submissions) for name, fake in servers.items()}


def entries(run_id: str, kind: str = "billed") -> list[dict]:
    return db.cost_entries(db.make_engine(), run_id=run_id, kinds=[kind])


def test_a_live_run_pays_each_job_once_and_bills_it(run_file, write_pipeline, fakes):
    doc = run_file(write_pipeline("live", LIVE))
    assert doc["run"]["status"] == "completed", doc
    assert submissions(fakes) == {"elevenlabs": 1, "heygen": 1, "replicate": 1, "veo3": 1}
    billed = entries(doc["run"]["id"])
    assert sorted(e["provider"] for e in billed) == ["elevenlabs", "heygen", "replicate", "veo3"]
    assert all(e["amount_usd"] > 0 and e["request_id"] for e in billed)
    assert doc["run"]["actual_usd"] == pytest.approx(sum(e["amount_usd"] for e in billed))
    assert doc["run"]["estimated_usd"] > 0
    assert entries(doc["run"]["id"], "estimate") == [], "reservations are released"
    from prefect import get_client

    with get_client(sync_client=True) as client:
        limit = client.read_concurrency_limit_by_tag("provider:heygen").concurrency_limit
    assert limit == 10, "HeyGen's 10 concurrent jobs, created on first live use"
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["voice"]["cost_usd"] == pytest.approx(
        next(e["amount_usd"] for e in billed if e["provider"] == "elevenlabs")
    )


def test_a_live_rerun_pays_nothing_and_records_savings(run_file, write_pipeline, fakes):
    path = write_pipeline("live", LIVE)
    run_file(path)
    again = run_file(path)
    assert again["run"]["status"] == "completed"
    assert submissions(fakes) == {"elevenlabs": 1, "heygen": 1, "replicate": 1, "veo3": 1}
    assert again["run"]["estimated_usd"] == 0, "every paid node was expected from cache"
    assert entries(again["run"]["id"]) == []
    saved = entries(again["run"]["id"], "savings")
    assert sorted(e["provider"] for e in saved) == ["elevenlabs", "heygen", "replicate", "veo3"]


def test_a_budget_below_the_estimate_refuses_the_run_before_anything_is_paid(
    run_file, write_pipeline, fakes
):
    doc = run_file(write_pipeline("live", LIVE), budget_usd=0.5)
    assert doc["run"]["status"] == "failed"
    assert (
        "budget refused" in doc["run"]["error"]
        and "over its budget of $0.50" in (doc["run"]["error"])
    )
    assert submissions(fakes) == {"elevenlabs": 0, "heygen": 0, "replicate": 0, "veo3": 0}
    assert {n["status"] for n in doc["nodes"]} == {"skipped"}


def test_a_budget_that_runs_out_stops_exactly_the_node_that_would_pass_it(
    run_file, write_pipeline, fakes
):
    """The run starts within budget (the host's price is estimated from a 2 s script);
    the talking head then costs what the real 6 s of speech costs, and the b-roll after it
    is the node whose reservation would pass the budget: it stops, paying nothing."""
    from vidpipe import costs, ledger
    from vidpipe.plan import build_plan
    from vidpipe.spec import load_spec

    # One node after another (frame, voice, host, b-roll), so the order of reservations
    # (and so which node the budget stops) does not depend on thread timing.
    voice, broll = "    inputs: {script: script}\n", "    inputs: {image: frame}\n"
    sequential = LIVE.replace(broll, broll + "    after: [host]\n").replace(
        voice, voice + "    after: [frame]\n"
    )
    path = write_pipeline("live", sequential)
    estimate = costs.estimate_plan(
        build_plan(load_spec(path)),
        book=ledger.price_book(),
        mode="live",
        known=costs.read_asset_texts(load_spec(path)),
    )
    host = estimate.by_id["host"].usd
    # A slow speaker: the fake's speech lasts 6 s; the script's estimate is 2 s. A budget
    # between the estimate and what the host really needs stops the b-roll, and only it.
    fakes["elevenlabs"].chars_per_s = len("Hello from the live test.") / 6
    budget = float(estimate.marginal_usd) + 0.0001
    doc = run_file(path, budget_usd=budget)
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert host > 0
    assert doc["run"]["status"] == "failed"
    assert nodes["broll"]["status"] == "failed" and "budget exhausted" in nodes["broll"]["error"]
    assert nodes["cut"]["status"] == "skipped"
    for paid in ("voice", "frame", "host"):
        assert nodes[paid]["status"] == "completed", paid
    assert submissions(fakes)["veo3"] == 0, "the refused node paid nothing"
    billed = entries(doc["run"]["id"])
    assert sorted(e["provider"] for e in billed) == ["elevenlabs", "heygen", "replicate"]
    assert doc["run"]["actual_usd"] == pytest.approx(sum(e["amount_usd"] for e in billed))


def test_a_live_node_without_credentials_is_refused_up_front(
    run_file, write_pipeline, fakes, monkeypatch
):
    monkeypatch.delenv("HEYGEN_API_KEY")
    get_settings.cache_clear()
    from flows.pipeline import run_pipeline
    from vidpipe.errors import SpecError

    with pytest.raises(SpecError, match="HEYGEN_API_KEY"):
        run_pipeline(pipeline=str(write_pipeline("live", LIVE)))
    assert sum(submissions(fakes).values()) == 0


def test_costs_and_plan_commands_show_the_ledger_and_the_cache(run_file, write_pipeline, fakes):
    import json

    from typer.testing import CliRunner

    from vidpipe.cli import app

    path = write_pipeline("live", LIVE)
    before = json.loads(CliRunner().invoke(app, ["plan", str(path), "--json"]).stdout)
    assert before["marginal_usd"] == pytest.approx(before["total_usd"]) and before["total_usd"] > 0
    doc = run_file(path)
    after = json.loads(CliRunner().invoke(app, ["plan", str(path), "--json"]).stdout)
    assert all(n["expected_cached"] for n in after["nodes"] if n["type"] != "approval")
    assert after["marginal_usd"] == 0

    bill = json.loads(CliRunner().invoke(app, ["costs", doc["run"]["id"], "--json"]).stdout)
    assert {line["provider"] for line in bill["lines"]} >= {
        "elevenlabs",
        "heygen",
        "replicate",
        "veo3",
    }
    assert bill["total_usd"] == pytest.approx(round(bill["subtotal_usd"] * 1.2, 2), abs=0.01)
    assert bill["subtotal_usd"] == pytest.approx(doc["run"]["actual_usd"], abs=0.01)
    by_provider = json.loads(
        CliRunner().invoke(app, ["costs", "--by", "provider", "--json"]).stdout
    )["totals"]
    assert set(by_provider) == {"elevenlabs", "heygen", "replicate", "veo3"}
    csv = CliRunner().invoke(app, ["costs", doc["run"]["id"], "--csv"]).stdout
    assert csv.splitlines()[0].startswith("kind,") and len(csv.splitlines()) >= 5
    assert CliRunner().invoke(app, ["costs", "--by", "color"]).exit_code == 2


def test_a_worker_killed_while_polling_is_reattached_and_pays_once(
    run_file, write_pipeline, fakes, home
):
    """A live run dies (SIGKILL) while HeyGen renders; the next run of the same file finds
    the job in flight by its cache key and polls it: one submission in all."""
    path = write_pipeline(
        "crash",
        LIVE.split("  - {id: frame")[0].replace("name: live-demo", "name: crash-demo"),
    )
    fakes["heygen"].polls_to_finish = 10_000  # still rendering when the worker dies
    with cli_run(path, home) as (run_id, engine):
        wait_until(
            lambda: db.get_node_run(engine, run_id, "host").external_job_id,
            timeout=120,
            what="the HeyGen job was never submitted",
        )
    job_id = db.get_node_run(engine, run_id, "host").external_job_id
    assert len(fakes["heygen"].submissions) == 1

    for job in fakes["heygen"].jobs.values():  # the render finishes while nobody polls
        job.polls_to_finish = 0
    doc = run_file(path)
    assert doc["run"]["status"] == "completed", doc["run"]
    assert len(fakes["heygen"].submissions) == 1, "re-attached, not submitted again"
    assert len(fakes["elevenlabs"].submissions) == 1, "the voice came from cache"
    assert db.get_node_run(engine, doc["run"]["id"], "host").external_job_id == job_id
    heygen_bills = [e for e in entries(doc["run"]["id"]) if e["provider"] == "heygen"]
    assert len(heygen_bills) == 1


# --------------------------------------------------------------------------- lost creates


def posts(fake, path_part: str) -> int:
    return len(fake.requests_to("POST", path_part))


def test_lost_creates_are_looked_up_or_fail_as_possibly_billed_and_are_never_resent(
    run_file, write_pipeline, fakes
):
    """HeyGen, Replicate and Veo each create the job and then answer 500. HeyGen's video
    (by its title token) and Replicate's prediction (in the list) are found and finished;
    Veo documents no lookup, so the b-roll fails, is not retried by the task, and its
    estimate is on the ledger as possibly billed, apart from the invoice's total."""
    import json

    from typer.testing import CliRunner

    from vidpipe import costs, ledger
    from vidpipe.cli import app
    from vidpipe.plan import build_plan
    from vidpipe.spec import load_spec

    for name in ("heygen", "replicate", "veo3"):
        fakes[name].inject("submit", "created_then_error")
    path = write_pipeline("live", LIVE)
    doc = run_file(path)
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert doc["run"]["status"] == "failed"
    for done in ("voice", "host", "frame"):
        assert nodes[done]["status"] == "completed", nodes[done]
    assert nodes["broll"]["status"] == "failed" and nodes["cut"]["status"] == "skipped"
    assert (
        "may have been created: check the provider before re-running" in (nodes["broll"]["error"])
    )
    assert posts(fakes["heygen"], "/v3/videos") == 1
    assert posts(fakes["heygen"], "/v1/asset") == 1
    assert posts(fakes["replicate"], "/predictions") == 1
    assert posts(fakes["veo3"], ":predictLongRunning") == 1
    engine = db.make_engine()
    assert db.get_node_run(engine, doc["run"]["id"], "broll").attempts == 1, "not retried"
    [video] = fakes["heygen"].jobs  # found by the lookup, polled, billed
    assert db.get_node_run(engine, doc["run"]["id"], "host").external_job_id == video

    [maybe] = entries(doc["run"]["id"], "possibly_billed")
    spec = load_spec(path)
    estimate = costs.estimate_plan(
        build_plan(spec), book=ledger.price_book(), mode="live", known=costs.read_asset_texts(spec)
    )
    assert (maybe["provider"], maybe["node_id"]) == ("veo3", "broll")
    assert maybe["amount_usd"] == pytest.approx(float(estimate.by_id["broll"].usd))
    billed = entries(doc["run"]["id"])
    assert sorted(e["provider"] for e in billed) == ["elevenlabs", "heygen", "replicate"]
    assert entries(doc["run"]["id"], "estimate") == [], "reservations are released"

    bill = json.loads(CliRunner().invoke(app, ["costs", doc["run"]["id"], "--json"]).stdout)
    [row] = [r for r in bill["lines"] if "(possibly billed" in r["node"]]
    assert row["node"].startswith("broll") and row["amount"].startswith("possibly $")
    assert bill["subtotal_usd"] == pytest.approx(sum(e["amount_usd"] for e in billed), abs=0.01)
    text = CliRunner().invoke(app, ["costs", doc["run"]["id"]]).stdout
    assert "Possibly billed (not in the total)" in text


def test_speech_made_but_lost_fails_once_with_its_request_id(run_file, write_pipeline, fakes):
    fakes["elevenlabs"].inject("submit", "created_then_error")
    voice_only = LIVE.split("  - id: host")[0]
    doc = run_file(write_pipeline("voice", voice_only))
    [voice] = [n for n in doc["nodes"] if n["id"] == "voice"]
    assert voice["status"] == "failed" and "request id req-1" in voice["error"]
    assert posts(fakes["elevenlabs"], "/v1/text-to-speech/") == 1
    [maybe] = entries(doc["run"]["id"], "possibly_billed")
    assert maybe["request_id"] == "req-1" and maybe["amount_usd"] > 0
    assert entries(doc["run"]["id"]) == []


def test_task_retries_reuse_the_upload_and_reattach_to_the_job(
    run_file, write_pipeline, fakes, monkeypatch
):
    """Attempt 1 uploads the audio, then HeyGen refuses the create (429 asking for more
    than the create's deadline: nothing was created). Attempt 2 reuses the upload, creates
    the video and loses its download three times. Attempt 3 polls that same video again:
    one upload, one video, one bill."""
    from tasks import TASKS
    from vidpipe.providers.http import SystemClock

    monkeypatch.setattr(TASKS["generate-talking-head"], "retry_delay_seconds", [0, 0, 0])
    real_sleep = SystemClock.sleep
    monkeypatch.setattr(SystemClock, "sleep", lambda self, s: real_sleep(self, min(s, 0.2)))
    heygen = fakes["heygen"]
    heygen.inject("submit", "rate_limit", retry_after=7200)
    heygen.inject("download", "truncated", times=3)
    doc = run_file(write_pipeline("host", LIVE.split("  - {id: frame")[0]))
    assert doc["run"]["status"] == "completed", doc["run"]
    host = db.get_node_run(db.make_engine(), doc["run"]["id"], "host")
    assert host.attempts == 3
    assert posts(heygen, "/v1/asset") == 1, "the upload is reused"
    assert posts(heygen, "/v3/videos") == 2 and len(heygen.submissions) == 1
    assert [host.external_job_id] == list(heygen.jobs)
    assert [e["provider"] for e in entries(doc["run"]["id"])].count("heygen") == 1
