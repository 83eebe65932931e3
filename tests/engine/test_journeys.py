"""Users' journeys, taken as users take them: `vidpipe` in other processes, on the
session's Prefect server, in a home whose path has spaces.

- Gates whose ids SPEC allows (with `_`, digits, `-`) pause, and a reviewer decides them
  with `vidpipe approve|reject|revise` from another process; so does the shipped example.
- Every way a run can end leaves it ended, with its reason, and no node still `running`
  or `pending` inside it: refused credentials, bad settings, a budget, a cancellation in
  Prefect, SIGTERM, Ctrl-C, SIGKILL.
- An error the user caused prints vidpipe's one line, never a traceback (unless --debug).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from vidpipe import db
from vidpipe.cli import show_document
from vidpipe.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]

GATED = """
name: gate-ids
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame_1, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - {id: GATE, type: approval, inputs: {items: [frame_1]}, config: {max_revisions: 2}}
  - id: shot_2
    type: generate-animation
    after: [GATE]
    inputs: {image: frame_1}
    config: {provider: veo3, prompt: "slow zoom", duration_s: 1}
"""

LIVE_VOICE = """
name: live-voice
mode: live
nodes:
  - {id: line_1, type: generate-voiceover,
     config: {provider: elevenlabs, voice_id: v1, text: "Hello there, this is a test."}}
"""


@pytest.fixture
def spaced(home: Path, tmp_path: Path) -> Path:
    """A folder for pipeline files whose path has a space, as users' folders do."""
    folder = tmp_path / "my pipelines"
    folder.mkdir()
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPIPE_")}
    return {
        **env,
        "VIDPIPE_HOME": str(home),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "results"),
        **extra,
    }


def vidpipe(home: Path, *args: str, timeout: float = 180, **env: str):
    """A `vidpipe` command in another process, waited for."""
    return subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", *args],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Running:
    """`vidpipe run` left running in another process (as in a second terminal)."""

    def __init__(self, home: Path, *args: str, **env: str):
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vidpipe.cli", "run", *args],
            env=cli_env(home, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.run_id = self.proc.stdout.readline().strip()
        assert self.run_id, self.proc.stderr.read()
        self.engine = db.make_engine(get_settings().resolved_database_url)

    def status(self) -> str:
        return db.get_run(self.engine, self.run_id).status

    def wait_status(self, *statuses: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.status() not in statuses:
            if time.monotonic() > deadline:
                raise AssertionError(f"run never reached {statuses}: {self.doc()['run']}")
            if self.proc.poll() is not None and self.status() not in statuses:
                raise AssertionError(f"vidpipe run exited {self.proc.returncode}: {self.err()}")
            time.sleep(0.3)

    def wait_approvals(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.doc()["approvals"]) < count:
            assert time.monotonic() < deadline, "the decision was never recorded"
            time.sleep(0.3)

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        self._err = err
        return self.proc.returncode, out, err

    def err(self) -> str:
        with contextlib.suppress(Exception):
            return self.proc.stderr.read()
        return ""

    def doc(self) -> dict[str, Any]:
        return show_document(self.engine, self.run_id)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@contextlib.contextmanager
def running(home: Path, *args: str, **env: str) -> Iterator[Running]:
    run = Running(home, *args, **env)
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.kill()


def assert_ended(doc: dict[str, Any], status: str, reason: str | None = None) -> None:
    """The run ended as `status` with its reason, and nothing inside it is unfinished."""
    run = doc["run"]
    assert run["status"] == status, run
    if status != "completed":
        assert run["error"], f"a {status} run must say why"
    if reason is not None:
        assert reason in run["error"], run["error"]
    unfinished = [
        (n["id"], n["status"]) for n in doc["nodes"] if n["status"] in ("running", "pending")
    ]
    assert unfinished == [], f"nodes left unfinished in a {status} run: {unfinished}"


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text[-3000:]


# --------------------------------------------------------------------------- gates


@pytest.mark.parametrize("gate", ["storyboard_review", "gate-2", "r3_v_9"])
def test_a_gate_id_with_underscores_digits_and_dashes_pauses_and_is_approved(
    home: Path, spaced: Path, gate: str
):
    path = write(spaced, "gated", GATED.replace("GATE", gate))
    with running(home, str(path)) as run:
        run.wait_status("awaiting_approval")
        gates = [n for n in run.doc()["nodes"] if n["id"] == gate]
        assert gates[0]["status"] == "running"
        decided = vidpipe(home, "approve", run.run_id[:8], "--reviewer", "rev_1")
        assert decided.returncode == 0, decided.stderr
        code, out, err = run.finish()
    assert code == 0, err[-3000:]
    no_traceback(err)
    doc = run.doc()
    assert_ended(doc, "completed")
    assert [(a["node"], a["decision"], a["reviewer"]) for a in doc["approvals"]] == [
        (gate, "approve", "rev_1")
    ]


def test_gates_a_b_and_a_dash_b_pause_in_turn_and_are_revised_and_rejected(
    home: Path, spaced: Path
):
    """Two ids that differ only in `_` and `-` are two pauses; a revision asks again;
    a rejection ends the run `rejected`, exit code 3."""
    text = GATED.replace("GATE", "a_b") + (
        "  - {id: a-b, type: approval, inputs: {items: [shot_2]}}\n"
        "  - {id: after_2, type: generate-image, after: [a-b],\n"
        "     config: {provider: replicate, prompt: never made}}\n"
    )
    path = write(spaced, "two gates", text)
    with running(home, str(path)) as run:
        run.wait_status("awaiting_approval")
        revised = vidpipe(home, "revise", run.run_id, "--set", "frame_1.prompt=a blue sky")
        assert revised.returncode == 0, revised.stderr
        run.wait_approvals(1)
        run.wait_status("awaiting_approval")
        assert vidpipe(home, "approve", run.run_id, "--node", "a_b").returncode == 0
        run.wait_approvals(2)
        run.wait_status("awaiting_approval")
        rejected = vidpipe(home, "reject", run.run_id, "--notes", "not yet")
        assert rejected.returncode == 0, rejected.stderr
        code, out, err = run.finish()
    assert code == 3, err[-3000:]
    no_traceback(err)
    doc = run.doc()
    assert_ended(doc, "rejected", "a-b")
    assert [(a["node"], a["decision"]) for a in doc["approvals"]] == [
        ("a_b", "revise"),
        ("a_b", "approve"),
        ("a-b", "reject"),
    ]
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["frame_1"]["attempts"] == 2  # made again with the revised prompt
    assert nodes["after_2"]["status"] == "skipped"


@pytest.mark.slow
def test_the_shipped_teaser_pauses_and_a_reviewer_approves_it(home: Path):
    """`vidpipe run examples/launch-teaser.yaml`, no --approve: the storyboard gate waits,
    a reviewer approves from another terminal, the teaser is published."""
    with running(home, str(ROOT / "examples" / "launch-teaser.yaml")) as run:
        run.wait_status("awaiting_approval", timeout=180)
        listed = vidpipe(home, "runs", "--status", "awaiting_approval")
        assert run.run_id in listed.stdout
        assert vidpipe(home, "approve", run.run_id[:8]).returncode == 0
        code, out, err = run.finish(timeout=300)
    assert code == 0, err[-3000:]
    no_traceback(err)
    assert_ended(run.doc(), "completed")
    published = run.doc()["run"]["published"]
    assert published and published.endswith("final.mp4")


# --------------------------------------------------------------------------- endings


def test_refused_credentials_end_the_run_failed_with_the_reason(home: Path, spaced: Path):
    path = write(spaced, "live voice", LIVE_VOICE)
    result = vidpipe(home, "run", str(path))
    assert result.returncode == 2, result.stderr
    no_traceback(result.stderr)
    assert "ELEVENLABS_API_KEY" in result.stderr
    run_id = result.stdout.splitlines()[0]
    engine = db.make_engine(get_settings().resolved_database_url)
    assert_ended(show_document(engine, run_id), "failed", "ELEVENLABS_API_KEY")


@pytest.mark.parametrize(
    ("env", "args", "says"),
    [
        (
            {"VIDPIPE_DAILY_SOFT_USD": "200", "VIDPIPE_DAILY_HARD_USD": "150"},
            (),
            "VIDPIPE_DAILY_SOFT_USD (200) is above VIDPIPE_DAILY_HARD_USD (150)",
        ),
        ({"VIDPIPE_DAILY_HARD_USD": "-5"}, (), "VIDPIPE_DAILY_HARD_USD"),
        ({"VIDPIPE_DAILY_SOFT_USD": "lots"}, (), "VIDPIPE_DAILY_SOFT_USD"),
        ({}, ("--budget", "-5"), "--budget"),
        ({}, ("--mode", "dry"), "--mode"),
    ],
)
def test_bad_settings_are_refused_at_start_in_one_line(
    home: Path, spaced: Path, env: dict[str, str], args: tuple[str, ...], says: str
):
    path = write(spaced, "live voice", LIVE_VOICE)
    result = vidpipe(home, "run", str(path), *args, **env)
    assert result.returncode == 2
    assert result.stdout == "", "no run is opened"
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    engine = db.make_engine(get_settings().resolved_database_url)
    db.init_db(engine)
    assert db.list_runs(engine) == []


def test_a_budget_refusal_ends_the_run_failed_in_one_line(home: Path, spaced: Path):
    path = write(spaced, "live voice", LIVE_VOICE)
    result = vidpipe(home, "run", str(path), "--budget", "0.000001", ELEVENLABS_API_KEY="sk-x")
    assert result.returncode == 4, result.stderr
    no_traceback(result.stderr)
    run_id = result.stdout.splitlines()[0]
    engine = db.make_engine(get_settings().resolved_database_url)
    assert_ended(show_document(engine, run_id), "failed", "budget")
    debug = vidpipe(
        home, "--debug", "run", str(path), "--budget", "0.000001", ELEVENLABS_API_KEY="sk-x"
    )
    assert debug.returncode == 4 and "Traceback" in debug.stderr, "--debug shows it"
    assert "sk-x" not in debug.stderr + debug.stdout


def test_a_corrupt_asset_fails_its_node_in_one_line(home: Path, spaced: Path):
    (spaced / "broken frame.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really an image")
    path = write(
        spaced,
        "corrupt",
        """
        name: corrupt
        video: {width: 160, height: 90, fps: 10}
        nodes:
          - {id: pic_1, type: asset, asset: {kind: image, path: "broken frame.png"}}
          - {id: clip, type: generate-animation, inputs: {image: pic_1},
             config: {provider: veo3, prompt: "zoom", duration_s: 1}}
        """,
    )
    result = vidpipe(home, "run", str(path))
    assert result.returncode == 1
    no_traceback(result.stderr)
    run_id = result.stdout.splitlines()[0]
    engine = db.make_engine(get_settings().resolved_database_url)
    doc = show_document(engine, run_id)
    assert_ended(doc, "failed", "pic_1")
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["pic_1"]["status"] == "failed" and nodes["clip"]["status"] == "skipped"


def test_a_run_cancelled_in_prefect_ends_cancelled(home: Path, spaced: Path):
    """As the Prefect UI's Cancel button does: the flow run goes Cancelling; the paused
    `vidpipe run` records `cancelled`, stops, and Prefect shows it Cancelled."""
    path = write(spaced, "gated", GATED.replace("GATE", "check_1"))
    with running(home, str(path)) as run:
        run.wait_status("awaiting_approval")
        found = db.get_run(run.engine, run.run_id)
        api = found.prefect_api_url.rstrip("/")
        answer = httpx.post(
            f"{api}/flow_runs/{found.flow_run_id}/set_state",
            json={"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True},
        )
        assert answer.status_code in (200, 201), answer.text
        run.wait_status("cancelled", timeout=60)
        code, out, err = run.finish(timeout=60)
        state = httpx.get(f"{api}/flow_runs/{found.flow_run_id}").json()["state"]["type"]
    assert code == 1
    no_traceback(err)
    assert_ended(run.doc(), "cancelled", "cancelled in Prefect")
    assert state == "CANCELLED"


@pytest.mark.parametrize(
    ("sig", "code", "reason"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")],
)
def test_a_signal_to_vidpipe_run_ends_the_run_cancelled(
    home: Path, spaced: Path, sig: int, code: int, reason: str
):
    path = write(spaced, "gated", GATED.replace("GATE", "gate_1"))
    with running(home, str(path)) as run:
        run.wait_status("awaiting_approval")
        os.kill(run.proc.pid, sig)
        exit_code, out, err = run.finish(timeout=60)
    assert exit_code == code, err[-3000:]
    no_traceback(err)
    assert_ended(run.doc(), "cancelled", reason)


def test_a_killed_vidpipe_run_is_ended_by_the_next_command(home: Path, spaced: Path):
    path = write(spaced, "gated", GATED.replace("GATE", "gate_1"))
    with running(home, str(path)) as run:
        run.wait_status("awaiting_approval")
        run.kill()
    assert run.status() == "awaiting_approval", "nothing could record the kill"
    listed = vidpipe(home, "runs")
    assert listed.returncode == 0
    assert f"run {run.run_id} ended as failed" in listed.stderr
    assert_ended(run.doc(), "failed", "ended without finishing the run")


@pytest.mark.slow
def test_media_longer_than_the_limit_is_refused_before_ffmpeg_works_on_it(run_file, spaced: Path):
    """An asset over an hour, and a merge whose segments add up to over an hour, fail
    their node with the limit, in one line (`vidpipe.limits.MAX_MEDIA_S`)."""
    from vidpipe import limits, media

    def still_video(name: str, seconds: float) -> None:
        media.run_ffmpeg(
            ["-f", "lavfi", "-i", "color=c=blue:s=16x16:r=1", "-t", f"{seconds:g}"]
            + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
            + [str(spaced / name)],
            operation="make a long clip",
        )

    still_video("long clip.mp4", limits.MAX_MEDIA_S + 5)
    still_video("half.mp4", limits.MAX_MEDIA_S / 2 + 5)
    path = write(
        spaced,
        "long media",
        """
        name: long-media
        video: {width: 160, height: 90, fps: 10}
        nodes:
          - {id: long_1, type: asset, asset: {kind: video, path: "long clip.mp4"}}
          - {id: half_1, type: asset, asset: {kind: video, path: half.mp4}}
          - {id: half_2, type: asset, asset: {kind: video, path: half.mp4}}
          - {id: joined, type: merge-videos, inputs: {segments: [half_1, half_2]}}
        """,
    )
    doc = run_file(path)
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["long_1"]["status"] == "failed"
    assert "at most 3,600 s" in nodes["long_1"]["error"]
    assert nodes["half_1"]["status"] == "completed"
    assert nodes["joined"]["status"] == "failed"
    assert "at most 3,600 s of video in one merge" in nodes["joined"]["error"]
    assert_ended(doc, "failed")
