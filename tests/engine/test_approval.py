"""Approval gates for real: the flow pauses on the session's Prefect server, and a
reviewer decides through `vidpipe approve|reject|revise` as from another terminal."""

from __future__ import annotations

import contextvars
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tasks.approval import ReviewDecision
from vidpipe import db
from vidpipe.cli import app, show_document
from vidpipe.errors import VidpipeError
from vidpipe.runs import open_run
from vidpipe.settings import get_settings
from vidpipe.spec import load_spec

GATED = """
name: gated
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - {id: side, type: generate-image, config: {provider: replicate, prompt: "independent"}}
  - id: review
    type: approval
    inputs: {items: [frame]}
    config: {instructions: "Is the sky right?", max_revisions: 1, timeout_s: GATE_TIMEOUT,
             on_timeout: GATE_ON_TIMEOUT}
  - id: shot
    type: generate-animation
    after: [review]
    inputs: {image: frame}
    config: {provider: veo3, prompt: "slow zoom", duration_s: 1}
"""


class Started:
    """A pipeline run in a background thread, as a `vidpipe run` in another terminal."""

    def __init__(self, path: Path):
        self.engine = db.make_engine(get_settings().resolved_database_url)
        db.init_db(self.engine)
        self.run_id = open_run(self.engine, load_spec(path)).id
        self.error: BaseException | None = None
        context = contextvars.copy_context()  # the test's Prefect settings, as in-process
        self.thread = threading.Thread(target=context.run, args=(self._run, path), daemon=True)
        self.thread.start()

    def _run(self, path: Path) -> None:
        from flows.pipeline import run_pipeline
        from vidpipe.runs import for_run

        try:
            with for_run(self.run_id):
                run_pipeline(pipeline=str(path))
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            self.error = exc

    def wait_status(self, status: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if db.get_run(self.engine, self.run_id).status == status:
                return
            time.sleep(0.2)
        raise AssertionError(f"run never reached {status}: {self.doc()['run']}")

    def wait_round(self, round_: int, timeout: float = 90) -> None:
        """Wait until the gate asks again: round_-1 decisions recorded, and paused."""
        deadline = time.monotonic() + timeout
        while len(self.doc()["approvals"]) < round_ - 1:
            assert time.monotonic() < deadline, "the decision was never recorded"
            time.sleep(0.2)
        self.wait_status("awaiting_approval", timeout)

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not finish"
        return self.doc()

    def doc(self) -> dict[str, Any]:
        return show_document(self.engine, self.run_id)

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(app, [args[0], self.run_id[:10], *args[1:]])


@pytest.fixture
def gated(home, write_pipeline):
    def start(timeout_s: int = 3600, on_timeout: str = "fail") -> Started:
        text = GATED.replace("GATE_ON_TIMEOUT", on_timeout).replace("GATE_TIMEOUT", str(timeout_s))
        return Started(write_pipeline("gated", text))

    return start


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in doc["nodes"]}


def test_the_resume_form_speaks_to_reviewers():
    schema = ReviewDecision.model_json_schema()
    for field in ("decision", "notes", "reviewer", "revisions"):
        assert schema["properties"][field]["title"]
        assert len(schema["properties"][field]["description"]) > 20


def test_approve_from_the_cli_resumes_the_run(gated):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    run = gated()
    run.wait_status("awaiting_approval")
    with get_client(sync_client=True) as client:
        review = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["gated-review-review"]))
        )[0].data
    assert "Is the sky right?" in review and "| frame | image |" in review
    assert "Cost so far: $0.00" in review and "Approving starts: shot." in review
    waiting = by_id(run.doc())
    assert waiting["review"]["status"] == "running"
    assert waiting["shot"]["status"] == "pending", "nothing after the gate starts early"
    result = run.cli("approve", "--reviewer", "alice", "--notes", "looks good")
    assert result.exit_code == 0, result.output
    doc = run.finish()
    assert run.error is None, run.error
    assert doc["run"]["status"] == "completed"
    assert {n["status"] for n in doc["nodes"]} == {"completed"}
    assert [(a["decision"], a["reviewer"], a["round"]) for a in doc["approvals"]] == [
        ("approve", "alice", 1)
    ]


def test_work_that_does_not_depend_on_the_gate_keeps_running(gated):
    run = gated()
    run.wait_status("awaiting_approval")
    deadline = time.monotonic() + 60
    while by_id(run.doc())["side"]["status"] != "completed":
        assert time.monotonic() < deadline, "the independent node did not finish"
        time.sleep(0.2)
    assert db.get_run(run.engine, run.run_id).status == "awaiting_approval"
    run.cli("reject")
    run.finish()


def test_reject_ends_the_run_rejected_and_keeps_what_was_made(gated):
    run = gated()
    run.wait_status("awaiting_approval")
    assert run.cli("reject", "--notes", "wrong sky").exit_code == 0
    doc = run.finish()
    assert isinstance(run.error, VidpipeError) and run.error.exit_code == 3
    assert doc["run"]["status"] == "rejected"
    nodes = by_id(doc)
    assert nodes["shot"]["status"] == "skipped"
    assert nodes["frame"]["status"] == "completed" and nodes["frame"]["output"]
    assert doc["approvals"][0]["notes"] == "wrong sky"


def test_revise_reruns_the_revised_node_and_asks_again(gated):
    run = gated()
    run.wait_status("awaiting_approval")
    before = by_id(run.doc())["frame"]["output"]["sha256"]

    bad = run.cli("revise", "--set", "frame.colour=blue")
    assert bad.exit_code == 2 and "colour" in bad.output, "a bad revision is refused"
    outside = run.cli("revise", "--set", "shot.prompt=faster")
    assert outside.exit_code == 2 and "not reviewed by gate" in outside.output

    result = run.cli("revise", "--set", "frame.prompt=a blue sky", "--reviewer", "bo")
    assert result.exit_code == 0, result.output
    run.wait_round(2)
    after = by_id(run.doc())["frame"]["output"]["sha256"]
    assert after != before, "the revised frame was made again"
    assert run.cli("approve").exit_code == 0
    doc = run.finish()
    assert doc["run"]["status"] == "completed"
    assert [(a["decision"], a["round"]) for a in doc["approvals"]] == [
        ("revise", 1),
        ("approve", 2),
    ]
    assert doc["approvals"][0]["revisions"] == {"frame": {"prompt": "a blue sky"}}


def test_revisions_past_max_revisions_reject(gated):
    run = gated()  # max_revisions: 1
    run.wait_status("awaiting_approval")
    assert run.cli("revise", "--set", "frame.prompt=two").exit_code == 0
    run.wait_round(2)
    assert run.cli("revise", "--set", "frame.prompt=three").exit_code == 0
    doc = run.finish()
    assert doc["run"]["status"] == "rejected"
    assert [a["decision"] for a in doc["approvals"]] == ["revise", "revise"]


def test_a_cancel_just_before_the_gate_pauses_ends_the_run_cancelled(gated, monkeypatch):
    """The operator's Cancel lands after the gate announced itself (`awaiting_approval`)
    and before its pause: Prefect refuses the pause ("cannot be paused"), and the run ends
    `cancelled in Prefect`, as a Cancel seen while it waits ends it, not failed."""
    from prefect import get_client
    from prefect.client.schemas.objects import State, StateType
    from prefect.runtime import flow_run

    import tasks.approval as approval
    from flows.endings import CancelledInPrefect

    pause = approval.pause_flow_run

    def cancelled_first(**kwargs: Any) -> Any:
        with get_client(sync_client=True) as client:
            cancelling = State(type=StateType.CANCELLING, name="Cancelling")
            client.set_flow_run_state(flow_run.id, cancelling, force=True)
        return pause(**kwargs)

    monkeypatch.setattr(approval, "pause_flow_run", cancelled_first)
    started = gated()
    doc = started.finish()
    assert isinstance(started.error, CancelledInPrefect), started.error
    assert (doc["run"]["status"], doc["run"]["error"]) == ("cancelled", "cancelled in Prefect")
    assert {n["id"]: n["status"] for n in doc["nodes"]}["shot"] != "running"


def test_deciding_a_run_that_is_not_waiting_is_refused(gated):
    run = gated()
    run.wait_status("awaiting_approval")
    assert run.cli("approve", "--node", "frame").exit_code == 2
    assert run.cli("approve").exit_code == 0
    run.finish()
    late = run.cli("approve")
    assert late.exit_code == 2 and "not waiting" in late.output


@pytest.mark.slow
def test_timeouts_fail_or_approve_as_the_gate_says(home, write_pipeline):
    def start(name: str, on_timeout: str) -> Started:
        text = GATED.replace("GATE_ON_TIMEOUT", on_timeout).replace("GATE_TIMEOUT", "60")
        return Started(write_pipeline(name, text.replace("name: gated", f"name: {name}")))

    failing, approving = start("times-out", "fail"), start("times-in", "approve")
    failed, approved = failing.finish(timeout=150), approving.finish(timeout=150)

    assert failed["run"]["status"] == "failed"
    assert "approval timed out after 60 s" in failed["run"]["error"]
    assert by_id(failed)["shot"]["status"] == "skipped"
    assert [a["decision"] for a in failed["approvals"]] == ["timeout"]

    assert approved["run"]["status"] == "completed"
    assert [(a["decision"], a["reviewer"]) for a in approved["approvals"]] == [
        ("approve", "timeout")
    ]


TWO_GATES = """
name: two-gates
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame, type: generate-image, config: {provider: replicate, prompt: "frame"}}
  - {id: first, type: approval, inputs: {items: [frame]}}
  - id: shot
    type: generate-animation
    after: [first]
    inputs: {image: frame}
    config: {provider: veo3, prompt: "zoom", duration_s: 1}
  - {id: second, type: approval, inputs: {items: [shot]}}
  - id: voice
    type: generate-voiceover
    after: [second]
    config: {provider: elevenlabs, voice_id: v1, text: "Done."}
"""


def test_two_gates_in_one_run_are_decided_in_turn(home, write_pipeline):
    run = Started(write_pipeline("two-gates", TWO_GATES))
    run.wait_status("awaiting_approval")
    assert by_id(run.doc())["first"]["status"] == "running"
    assert run.cli("approve", "--node", "second").exit_code == 2, "second is not waiting yet"
    assert run.cli("approve", "--node", "first").exit_code == 0
    run.wait_round(2)
    assert by_id(run.doc())["second"]["status"] == "running"
    assert by_id(run.doc())["shot"]["status"] == "completed"
    assert run.cli("approve").exit_code == 0
    doc = run.finish()
    assert doc["run"]["status"] == "completed"
    assert [a["node"] for a in doc["approvals"]] == ["first", "second"]


def test_a_reviewer_in_another_process_resumes_the_run(gated, home: Path):
    import os
    import subprocess
    import sys

    run = gated()
    run.wait_status("awaiting_approval")
    env = {**os.environ, "VIDPIPE_HOME": str(home)}
    listed = subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "runs", "--status", "awaiting_approval", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [r["id"] for r in json.loads(listed.stdout)] == [run.run_id]
    decided = subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "approve", run.run_id[:8], "--reviewer", "eve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert decided.returncode == 0, decided.stderr
    doc = run.finish()
    assert doc["run"]["status"] == "completed"
    assert doc["approvals"][0]["reviewer"] == "eve"


def test_a_gate_the_variants_share_pauses_once_and_a_revision_reaches_every_variant(
    home, write_pipeline
):
    text = GATED.replace("GATE_ON_TIMEOUT", "fail").replace("GATE_TIMEOUT", "3600")
    text += "variants: [{name: take_1}, {name: take_2, set: {shot.duration_s: 2}}]\n"
    run = Started(write_pipeline("gated-takes", text))
    run.wait_status("awaiting_approval")
    waiting = by_id(run.doc())
    assert "review" in waiting and {"shot@take_1", "shot@take_2"} <= set(waiting)
    result = run.cli("revise", "--set", "frame.prompt=a blue sky")
    assert result.exit_code == 0, result.output
    run.wait_round(2)
    assert run.cli("approve").exit_code == 0
    doc = run.finish()
    assert doc["run"]["status"] == "completed", doc["run"]["error"]
    assert [a["node"] for a in doc["approvals"]] == ["review", "review"]
    nodes = by_id(doc)
    assert nodes["frame"]["attempts"] == 2  # made again once, for both takes
    assert [v["name"] for v in doc["variants"] if v["published"]] == ["take_1", "take_2"]
    durations = [v["output"]["duration_s"] for v in doc["variants"]]
    assert durations[0] == pytest.approx(1, abs=0.2) and durations[1] == pytest.approx(2, abs=0.2)
