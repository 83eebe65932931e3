"""A shared Prefect server behind basic auth (`PREFECT_SERVER_API_AUTH_STRING` on the
server, `PREFECT_API_AUTH_STRING` on every client), for real: a `vidpipe run` pauses at a
gate on it, a reviewer without the credentials is refused in one line, one with them
approves; `vidpipe serve` (a runner, as a worker is) serves a deployment whose quick run
completes. The secret never shows in any output."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from integration.processes import (
    clean_env,
    free_port,
    running_prefect_server,
    spawn_vidpipe,
    stop,
    tail,
)

SECRET = "reviewer:s3cret-Auth-7731"
GATED = """
name: behind-auth
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame_1, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - {id: check_2, type: approval, inputs: {items: [frame_1]}}
  - {id: after_3, type: generate-image, after: [check_2], config: {provider: local, prompt: x}}
"""

QUICK = """
name: quick-behind-auth
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame_1, type: generate-image, config: {provider: local, prompt: "a red sky"}}
"""


def _header() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(SECRET.encode()).decode()}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_server_behind_basic_auth_serves_runs_reviews_and_deployments(tmp_path: Path):
    from vidpipe import db

    server_home = tmp_path / "server"
    server_home.mkdir()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_env = clean_env(
        PREFECT_HOME=str(server_home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{server_home / 'p.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_API_AUTH_STRING=SECRET,
    )
    home = tmp_path / "vidpipe home"
    pipeline = tmp_path / "behind auth.yaml"
    pipeline.write_text(textwrap.dedent(GATED))

    def env(with_auth: bool) -> dict[str, str]:
        extra = {"PREFECT_API_AUTH_STRING": SECRET} if with_auth else {}
        return clean_env(
            PREFECT_API_URL=api,
            PREFECT_HOME=str(tmp_path / "client"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            VIDPIPE_HOME=str(home),
            **extra,
        )

    def vidpipe(*args: str, with_auth: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vidpipe.cli", *args],
            env=env(with_auth),
            capture_output=True,
            text=True,
            timeout=120,
        )

    with running_prefect_server(server_home, port, server_env, timeout_s=120):
        assert httpx.post(f"{api}/flow_runs/filter", json={}).status_code == 401
        run_log = tmp_path / "run.log"
        with run_log.open("w") as log:
            runner = subprocess.Popen(
                [sys.executable, "-m", "vidpipe.cli", "run", str(pipeline)],
                env=env(True),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        served = None
        try:
            run_id = runner.stdout.readline().strip()
            engine = db.make_engine(f"sqlite:///{home / 'vidpipe.db'}")
            deadline = time.monotonic() + 120
            while db.get_run(engine, run_id).status != "awaiting_approval":
                assert runner.poll() is None, tail(run_log)
                assert time.monotonic() < deadline, tail(run_log)
                time.sleep(0.5)

            refused = vidpipe("approve", run_id, with_auth=False)
            assert refused.returncode == 1
            assert "PREFECT_API_AUTH_STRING" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr
            assert db.get_run(engine, run_id).status == "awaiting_approval"

            approved = vidpipe("approve", run_id)
            assert approved.returncode == 0, approved.stderr
            out, _ = runner.communicate(timeout=120)
            assert runner.returncode == 0, tail(run_log)
            assert db.get_run(engine, run_id).status == "completed"
            texts = [out, run_log.read_text(), refused.stderr, approved.stdout, approved.stderr]
            assert not any(SECRET in t or "s3cret" in t for t in texts)

            # `vidpipe serve` (a runner, as a worker is) authenticates with the same variable
            serve_log = tmp_path / "serve.log"
            served = spawn_vidpipe(
                ["serve"], env={**env(True), "PREFECT_RUNNER_POLL_FREQUENCY": "2"}, log=serve_log
            )
            deadline = time.monotonic() + 90
            while True:
                found = httpx.post(
                    f"{api}/deployments/filter", json={}, headers=_header(), timeout=30
                ).json()
                deployment = {d["name"]: d for d in found}.get("run-pipeline")
                if deployment:
                    break
                assert served.poll() is None and time.monotonic() < deadline, tail(serve_log)
                time.sleep(1)
            deadline = time.monotonic() + 60
            while True:  # as Prefect's own client does: a busy server (503) is asked again
                answer = httpx.post(
                    f"{api}/deployments/{deployment['id']}/create_flow_run",
                    json={"parameters": {"pipeline": QUICK}},
                    headers=_header(),
                    timeout=30,
                )
                if answer.status_code not in (429, 503) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert answer.status_code in (200, 201), (answer.status_code, answer.text)
            made = answer.json()
            deadline = time.monotonic() + 150
            while True:
                state = httpx.get(
                    f"{api}/flow_runs/{made['id']}", headers=_header(), timeout=30
                ).json()["state_type"]
                if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                assert time.monotonic() < deadline, tail(serve_log)
                time.sleep(2)
            assert state == "COMPLETED", tail(serve_log)
            assert SECRET not in serve_log.read_text(errors="replace")
        finally:
            stop([p for p in (runner, served) if p is not None])
            db.reset_engines()
