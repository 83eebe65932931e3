"""This home's local Prefect server, for real, driven as a user drives it: `vidpipe server
start|stop|status`, a stale record replaced, two cold starts making one server, a
`vidpipe run` that starts it on first use and pauses on it, a paused run keeping it alive,
and the idle stop. Every process started here is stopped here."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from integration.processes import clean_env, free_port, stop, tail

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GATED = """
name: local-gate
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame_1, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - {id: review_1, type: approval, inputs: {items: [frame_1]}}
  - {id: after_2, type: generate-image, after: [review_1], config: {provider: local, prompt: x}}
"""


def env(home: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        VIDPIPE_HOME=str(home),
        VIDPIPE_SERVER="local",
        PREFECT_HOME=str(home.parent / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        **extra,
    )


def vidpipe(home: Path, *args: str, timeout: float = 200, **extra: str):
    return subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", *args],
        env=env(home, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def supervisors(home: Path) -> list[int]:
    """The supervising processes running for `home` (by their command line)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"vidpipe.localserver" in words and str(home).encode() in words:
            state = (cmdline.parent / "stat").read_text().rpartition(")")[2].split()[0]
            if state != "Z":
                found.append(int(cmdline.parent.name))
    return found


def record(home: Path) -> dict:
    return json.loads((home / "server" / "server.json").read_text())


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


@pytest.fixture
def home(tmp_path: Path):
    folder = tmp_path / "a home" / "vidpipe"
    folder.mkdir(parents=True)
    yield folder
    subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "server", "stop"],
        env=env(folder),
        capture_output=True,
        timeout=120,
    )
    for pid in supervisors(folder):  # whatever a failed test left
        os.kill(pid, 9)


@pytest.mark.timeout(600)
def test_start_status_stop_a_stale_record_and_two_cold_starts(home: Path, tmp_path: Path):
    assert vidpipe(home, "server", "status").returncode == 1
    assert vidpipe(home, "server", "stop").returncode == 0, "stop with none running is fine"

    # a stale record: its process is gone and its port is taken by someone else
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    (home / "server").mkdir()
    (home / "server" / "server.json").write_text(
        json.dumps(
            {
                "port": port,
                "api_url": f"http://127.0.0.1:{port}/api",
                "ui_url": f"http://127.0.0.1:{port}",
                "supervisor": f"{socket.gethostname()}:999999:1",
                "started_at": 0,
            }
        )
    )
    try:
        assert vidpipe(home, "server", "status").returncode == 1

        # two cold starts at the same moment make one server
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "vidpipe.cli", "server", "start", "--background"],
                env=env(home),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=200) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        started = [o for o, _ in outs if o.startswith("started")]
        assert len(started) == 1, outs
        assert len(supervisors(home)) == 1
    finally:
        taken.close()
    found = record(home)
    assert found["port"] != port, "the stale record was replaced"
    shown = vidpipe(home, "server", "status")
    assert shown.returncode == 0 and found["ui_url"] in shown.stdout
    assert httpx.get(f"{found['api_url']}/health", timeout=10).status_code == 200
    assert httpx.get(found["ui_url"], timeout=10).status_code == 200, "the UI is there"

    stopped = vidpipe(home, "server", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    wait_until(lambda: not supervisors(home), 30, "the server outlived `server stop`")
    assert vidpipe(home, "server", "status").returncode == 1
    assert vidpipe(home, "server", "stop").returncode == 0


@pytest.mark.timeout(600)
def test_a_run_starts_it_pauses_on_it_keeps_it_alive_and_it_stops_when_idle(
    home: Path, tmp_path: Path
):
    pipeline = tmp_path / "a home" / "gate file.yaml"
    pipeline.write_text(textwrap.dedent(GATED))
    media_url = f"http://127.0.0.1:{free_port()}"
    idle = {"VIDPIPE_SERVER_IDLE_S": "4", "VIDPIPE_MEDIA_URL": media_url}
    log = tmp_path / "run.log"
    with log.open("w") as errors:
        run = subprocess.Popen(
            [sys.executable, "-m", "vidpipe.cli", "run", str(pipeline)],
            env=env(home, **idle),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    try:
        run_id = run.stdout.readline().strip()
        assert run_id, tail(log)

        def paused() -> bool:
            listed = vidpipe(home, "runs", "--status", "awaiting_approval", "--json", **idle)
            return run_id in listed.stdout

        if not _wait(paused, 200):
            server_log = tail(home / "server" / "server.log")
            pytest.fail(f"the run never paused (exit {run.poll()}):\n{tail(log)}\n{server_log}")
        assert "Prefect UI: http://127.0.0.1:" in log.read_text(), "where the UI is, once"
        # The review page's media links open: the server's media companion serves them.
        found = httpx.post(
            f"{record(home)['api_url']}/artifacts/filter",
            json={"artifacts": {"type": {"any_": ["markdown"]}}},
            timeout=10,
        ).json()
        links = {u for a in found for u in re.findall(rf"{media_url}/media/[^)\s\"<]+", a["data"])}
        assert links, [a["key"] for a in found]
        for url in links:
            assert httpx.get(url.replace("&amp;", "&"), timeout=10).status_code == 200, url
        time.sleep(12)  # three idle periods: the paused run keeps the server up
        assert vidpipe(home, "server", "status", **idle).returncode == 0
        approved = vidpipe(home, "approve", run_id, **idle)
        assert approved.returncode == 0, approved.stderr
        out, _ = run.communicate(timeout=200)
        assert run.returncode == 0, tail(log)
        assert f"run {run_id}: completed" in out
        page = next(w for w in out.split() if "/runs/flow-run/" in w)
        flow_run_id = page.rsplit("/", 1)[1]
        api = record(home)["api_url"]
        answer = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10)
        assert answer.status_code == 200, "the run is on the local server its page names"
        assert answer.json()["state_type"] == "COMPLETED"
        text = log.read_text()
        assert "Starting temporary server" not in text, "no temporary server"
        assert text.count("Prefect UI: http://127.0.0.1:") == 1
    finally:
        stop([run])
    wait_until(lambda: not supervisors(home), 90, "the idle server did not stop itself")
    assert vidpipe(home, "server", "status").returncode == 1


@pytest.mark.timeout(600)
def test_the_demo_runs_on_the_local_server_and_names_its_page(home: Path):
    """`make demo`'s program (`python -m vidpipe.demo`): validate, plan, then the run, in
    one process; the run must be on the local server whose page it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "vidpipe.demo"],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "output: " in done.stdout and "final.mp4" in done.stdout
    page = next(w for w in done.stdout.split() if "/runs/flow-run/" in w)
    api = record(home)["api_url"]
    answer = httpx.get(f"{api}/flow_runs/{page.rsplit('/', 1)[1]}", timeout=10)
    assert answer.status_code == 200, "the demo's run is on the server it names"
    assert "vidpipe server stop" in done.stdout
    assert "Starting temporary server" not in done.stderr
