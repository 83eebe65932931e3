"""Schedules and quick runs, tested for real: a Prefect server (SQLite) and `vidpipe serve`
started from a folder that is not the repository, whose path has a space.

What the test proves, and how:

- as shipped (prefect.yaml's schedules), the server's scheduler makes upcoming SCHEDULED
  flow runs for `nightly-batch` (02:00 UTC) and `sweep-stuck-runs` (every 600 s) within
  90 s of `vidpipe serve` starting, and its log has no `InvalidRequestError` (what
  SQLAlchemy 2.1 makes Prefect 3.8's scheduler raise every loop) nor any traceback;
- "quick runs" made through the REST API, as the UI's Quick run does, complete: the
  nightly batch with its default folder (the shipped `pipelines/nightly/`, found in the
  repository although `vidpipe serve` runs elsewhere), whose summary artifact lists
  `daily-recap.yaml` completed, and `run-pipeline` with `pipeline: explainer` (a name,
  found in the repository's `examples/`); vidpipe's own database, in the VIDPIPE_HOME
  with a space, has both runs completed;
- with VIDPIPE_SCHEDULE_OVERRIDES='{"sweep-stuck-runs": {"interval": 5}}' (and `vidpipe
  serve` started again), the server's schedule for the sweeper is every 5 s and one of
  its scheduled (auto-scheduled) runs really runs to COMPLETED.

Everything started here is stopped here, also on failure (`processes.stop`). About 50 s
on 2 cores: ~15 s for the server, scheduled runs ~5 s after `vidpipe serve` starts (the
scheduler's loop for recently changed deployments), ~15 s of quick runs, ~10 s for the
second `vidpipe serve` and its first sweep. `PREFECT_RUNNER_POLL_FREQUENCY=2` (default 10)
only makes `vidpipe serve` pick due runs up sooner.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
from integration.processes import wait_for as _wait_for

REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 120
SCHEDULED_TIMEOUT_S = 90
QUICK_RUN_TIMEOUT_S = 150
SWEEP_TIMEOUT_S = 60
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SCHEDULER_ERRORS = ("InvalidRequestError", "Traceback")


@dataclass
class Server:
    api_url: str
    log: Path

    def get(self, path: str) -> Any:
        return self._ask("GET", path, None)

    def post(self, path: str, body: dict) -> Any:
        return self._ask("POST", path, body)

    def _ask(self, method: str, path: str, body: dict | None) -> Any:
        """One API call; a busy server (429, 503) is asked again, as Prefect's client does,
        and so is a read that timed out (a filter or a GET: asking again changes nothing)."""
        deadline = time.monotonic() + 60
        reading = method == "GET" or path.endswith("/filter")
        while True:
            try:
                response = httpx.request(method, f"{self.api_url}{path}", json=body, timeout=30)
            except httpx.TimeoutException:
                if not reading or time.monotonic() > deadline:
                    raise
                continue
            if response.status_code not in (429, 503) or time.monotonic() > deadline:
                response.raise_for_status()
                return response.json()
            time.sleep(1)

    def deployment(self, name: str) -> dict:
        return self.get(f"/deployments/name/{name}/{name}")

    def flow_runs(self, deployment_id: str, **flow_runs: Any) -> list[dict]:
        return self.post(
            "/flow_runs/filter",
            {
                "flow_runs": flow_runs,
                "deployments": {"id": {"any_": [deployment_id]}},
                "sort": "EXPECTED_START_TIME_ASC",
            },
        )

    def assert_clean_log(self) -> None:
        text = self.log.read_text(errors="replace")
        found = [word for word in SCHEDULER_ERRORS if word in text]
        assert not found, f"the server log has {found}:\n{tail(self.log, 6000)}"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """`prefect server start` with its own PREFECT_HOME and SQLite database."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",  # not needed here; saves start-up time
        PREFECT_LOGGING_LEVEL="WARNING",  # errors and tracebacks still show
    )
    with running_prefect_server(home, port, env, timeout_s=SERVER_START_TIMEOUT_S) as log:
        yield Server(f"http://127.0.0.1:{port}/api", log)


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    log: Path

    def describe(self) -> str:
        return f"--- vidpipe serve log tail ---\n{tail(self.log, 4000)}"


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """Where `vidpipe serve` runs and VIDPIPE_HOME is: not the repository, with a space."""
    folder = tmp_path / "ops place" / "vidpipe home"
    folder.mkdir(parents=True)
    return folder


def _serve(server: Server, place: Path, log_name: str, **extra: str) -> Served:
    """`vidpipe serve` in another process, started in `place` (VIDPIPE_HOME too)."""
    env = clean_env(
        PREFECT_API_URL=server.api_url,
        PREFECT_HOME=str(place / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        # How often serve() asks the server for runs due (default 10 s): only saves time.
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        VIDPIPE_HOME=str(place),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    log = place.parent / log_name
    return Served(spawn_vidpipe(["serve"], env=env, log=log, cwd=place), log)


def _deployments(server: Server, served: Served) -> dict[str, dict]:
    names = ("run-pipeline", "nightly-batch", "sweep-stuck-runs", "evaluate-alerts")

    def check() -> dict[str, dict] | None:
        found = server.post("/deployments/filter", {})
        by_name = {d["name"]: d for d in found}
        return by_name if set(names) <= set(by_name) else None

    return _wait_for("the four deployments served", check, SCHEDULED_TIMEOUT_S, served)


def _when(run: dict) -> datetime:
    return datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))


def _quick_run(server: Server, deployment: dict, parameters: dict | None = None) -> str:
    """A flow run of the deployment, now: what the UI's Quick run does."""
    made = server.post(
        f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters or {}}
    )
    return made["id"]


def _finished(server: Server, ids: list[str], served: Served) -> dict[str, dict]:
    def check() -> dict[str, dict] | None:
        runs = server.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}})
        if len(runs) == len(ids) and all(r["state_type"] in TERMINAL for r in runs):
            return {r["id"]: r for r in runs}
        return None

    return _wait_for("the quick runs finished", check, QUICK_RUN_TIMEOUT_S, served, every=2)


def _summary(server: Server, flow_run_id: str) -> str:
    found = server.post(
        "/artifacts/filter",
        {
            "artifacts": {
                "key": {"any_": ["nightly-batch-summary"]},
                "flow_run_id": {"any_": [flow_run_id]},
            }
        },
    )
    assert len(found) == 1, found
    return found[0]["data"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_served_schedules_make_runs_and_quick_runs_complete(server: Server, place: Path) -> None:
    from vidpipe import db

    started = time.monotonic()
    # -- as shipped ------------------------------------------------------------------------
    served = _serve(server, place, "serve-1.log")
    try:
        deployments = _deployments(server, served)
        nightly, sweep = deployments["nightly-batch"], deployments["sweep-stuck-runs"]
        alerts = deployments["evaluate-alerts"]

        def upcoming() -> tuple[list[dict], list[dict], list[dict]] | None:
            scheduled = {"state": {"type": {"any_": ["SCHEDULED"]}}}
            n = server.flow_runs(nightly["id"], **scheduled)
            s = server.flow_runs(sweep["id"], **scheduled)
            a = server.flow_runs(alerts["id"])  # every minute: the first may have run already
            return (n, s, a) if n and s and a else None

        nightly_runs, sweep_runs, alert_runs = _wait_for(
            "scheduled runs of nightly-batch, sweep-stuck-runs and evaluate-alerts",
            upcoming,
            SCHEDULED_TIMEOUT_S,
            served,
        )
        print(f"scheduled runs after {time.monotonic() - started:.0f} s")
        assert all(r["auto_scheduled"] for r in nightly_runs + sweep_runs + alert_runs)
        assert all(
            (_when(r).hour, _when(r).minute, _when(r).second) == (2, 0, 0) for r in nightly_runs
        ), [r["expected_start_time"] for r in nightly_runs]
        if len(sweep_runs) > 1:
            assert _when(sweep_runs[1]) - _when(sweep_runs[0]) == timedelta(seconds=600)
        server.assert_clean_log()

        # Quick runs, from the API: the nightly batch's default folder and a pipeline name
        # both resolve in the repository, though `vidpipe serve` runs in `place`.
        batch_id = _quick_run(server, nightly)
        pipeline_id = _quick_run(server, deployments["run-pipeline"], {"pipeline": "explainer"})
        alerts_id = _quick_run(server, alerts)
        runs = _finished(server, [batch_id, pipeline_id, alerts_id], served)
        report = "\n".join(
            f"{r['name']} {r['state_type']}: {r['state'].get('message')}" for r in runs.values()
        )
        assert {r["state_type"] for r in runs.values()} == {"COMPLETED"}, (
            f"{report}\n{served.describe()}"
        )
        print(f"quick runs completed after {time.monotonic() - started:.0f} s")
        summary = _summary(server, batch_id)
        rows = [line for line in summary.splitlines() if line.startswith("| daily-recap.yaml |")]
        assert len(rows) == 1 and "| completed |" in rows[0], summary
        assert str(REPO / "pipelines" / "nightly") in summary, summary
        assert "Traceback" not in served.log.read_text(errors="replace"), served.describe()
    finally:
        stop([served.proc])

    # vidpipe's own database, in the VIDPIPE_HOME whose path has a space.
    engine = db.make_engine(f"sqlite:///{place / 'vidpipe.db'}")
    try:
        vp_runs = {r.pipeline_name: r for r in db.list_runs(engine, limit=50)}
        for name in ("daily-recap", "product-explainer"):
            assert vp_runs[name].status == "completed", (name, vp_runs[name].error)
        assert vp_runs["product-explainer"].flow_run_id == pipeline_id
    finally:
        db.reset_engines()

    # -- the sweeper every 5 s (VIDPIPE_SCHEDULE_OVERRIDES), served again -----------------
    overrides = json.dumps({"sweep-stuck-runs": {"interval": 5}})
    served = _serve(server, place, "serve-2.log", VIDPIPE_SCHEDULE_OVERRIDES=overrides)
    try:

        def every_five_seconds() -> dict | None:
            found = server.deployment("sweep-stuck-runs")
            intervals = [s["schedule"].get("interval") for s in found["schedules"]]
            return found if intervals == [5.0] and not found.get("paused") else None

        sweep = _wait_for("the sweeper's 5 s schedule", every_five_seconds, 60, served)

        def swept() -> list[dict]:
            done = server.flow_runs(sweep["id"], state={"type": {"any_": ["COMPLETED"]}})
            return [r for r in done if r["auto_scheduled"]]  # not a filter field

        done = _wait_for("a scheduled sweep run completed", swept, SWEEP_TIMEOUT_S, served)
        print(f"a scheduled sweep completed after {time.monotonic() - started:.0f} s")
        assert done[0]["auto_scheduled"] and done[0]["state_type"] == "COMPLETED"
        server.assert_clean_log()
    finally:
        stop([served.proc])
    server.assert_clean_log()


GATED = """
name: deployed-gate
video: {width: 160, height: 90, fps: 10}
nodes:
  - {id: frame_1, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - {id: storyboard_review, type: approval, inputs: {items: [frame_1]}}
  - id: shot_2
    type: generate-animation
    after: [storyboard_review]
    inputs: {image: frame_1}
    config: {provider: veo3, prompt: "slow zoom", duration_s: 1}
"""


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_deployment_run_pauses_at_its_gate_then_is_approved_or_cancelled(
    server: Server, place: Path
) -> None:
    """Two `run-pipeline` runs from the API (as the UI's Run form), each pausing at a gate
    whose id has `_`: a reviewer approves one with `vidpipe approve` from another process;
    the other is cancelled through the API (the UI's Cancel), and vidpipe records it
    `cancelled` with no node left running."""
    from sqlalchemy.exc import OperationalError

    from vidpipe import db

    served = _serve(server, place, "serve-gates.log")
    engine = db.make_engine(f"sqlite:///{place / 'vidpipe.db'}")
    try:
        deployment = _deployments(server, served)["run-pipeline"]
        approved_id = _quick_run(server, deployment, {"pipeline": GATED})
        cancelled_id = _quick_run(server, deployment, {"pipeline": GATED})

        def paused() -> dict[str, Any] | None:
            try:  # the file, then its tables, are made by the first run
                runs = {r.flow_run_id: r for r in db.list_runs(engine, limit=10)}
            except OperationalError:
                return None
            both = [runs.get(approved_id), runs.get(cancelled_id)]
            ok = all(r is not None and r.status == "awaiting_approval" for r in both)
            return runs if ok else None

        runs = _wait_for("both runs paused at their gate", paused, QUICK_RUN_TIMEOUT_S, served)
        decided = subprocess.run(
            [sys.executable, "-m", "vidpipe.cli", "approve", runs[approved_id].id[:8]],
            env=clean_env(VIDPIPE_HOME=str(place), PREFECT_API_URL=server.api_url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert decided.returncode == 0, decided.stderr
        server.post(
            f"/flow_runs/{cancelled_id}/set_state",
            {"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True},
        )
        finished = _finished(server, [approved_id, cancelled_id], served)
        assert finished[approved_id]["state_type"] == "COMPLETED", served.describe()
        assert finished[cancelled_id]["state_type"] == "CANCELLED", served.describe()

        def ended() -> bool:
            states = {r.flow_run_id: r.status for r in db.list_runs(engine, limit=10)}
            return states[approved_id] == "completed" and states[cancelled_id] == "cancelled"

        _wait_for("vidpipe recorded both endings", ended, 60, served)
        cancelled = db.run_for_flow_run(engine, cancelled_id)
        assert "cancelled" in cancelled.error
        nodes = {n.node_id: n.status for n in db.node_runs(engine, cancelled.id)}
        assert nodes == {"frame_1": "completed", "storyboard_review": "failed", "shot_2": "skipped"}
    finally:
        stop([served.proc])
        db.reset_engines()


# -- the same code, without a server -----------------------------------------------------


def test_schedule_overrides_replace_one_deployments_schedules(monkeypatch) -> None:
    from deployments import read_deployments
    from vidpipe.settings import get_settings

    monkeypatch.setenv(
        "VIDPIPE_SCHEDULE_OVERRIDES",
        '{"sweep-stuck-runs": {"interval": 5}, "nightly-batch": {"cron": "30 3 * * *", '
        '"timezone": "Europe/Paris"}}',
    )
    get_settings.cache_clear()
    try:
        specs = {s.name: s for s in read_deployments()}
    finally:
        get_settings.cache_clear()
    (sweep,) = specs["sweep-stuck-runs"].schedule_objects()
    assert sweep.interval == timedelta(seconds=5)
    (nightly,) = specs["nightly-batch"].schedule_objects()
    assert (nightly.cron, nightly.timezone) == ("30 3 * * *", "Europe/Paris")
    assert specs["run-pipeline"].schedules == []
    # `{}` reads the file alone.
    plain = {s.name: s for s in read_deployments(overrides={})}
    assert plain["sweep-stuck-runs"].schedules == [{"interval": 600, "active": True}]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"sweep-stuck-runs": {"interval": 5}', "must be a JSON object"),
        ('["sweep-stuck-runs"]', "must be a JSON object"),
        ('{"sweeper": {"interval": 5}}', "unknown deployment 'sweeper'"),
        ('{"sweep-stuck-runs": {"interval": 0}}', "interval is a number of seconds"),
        ('{"sweep-stuck-runs": {"interval": "5"}}', "interval is a number of seconds"),
        ('{"sweep-stuck-runs": {"every": 5}}', "unknown key every"),
        ('{"sweep-stuck-runs": {"active": false}}', "exactly one of cron"),
        ('{"sweep-stuck-runs": {"interval": 5, "cron": "* * * * *"}}', "exactly one of cron"),
        ('{"nightly-batch": {"cron": "61 2 * * *"}}', "nightly-batch"),
        ('{"nightly-batch": {"cron": "0 2 * * *", "timezone": "Mars/Base"}}', "time zone"),
    ],
)
def test_bad_schedule_overrides_name_the_variable(monkeypatch, value: str, message: str) -> None:
    from deployments import read_deployments
    from vidpipe.errors import SpecError
    from vidpipe.settings import get_settings

    monkeypatch.setenv("VIDPIPE_SCHEDULE_OVERRIDES", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="VIDPIPE_SCHEDULE_OVERRIDES") as raised:
            read_deployments()
    finally:
        get_settings.cache_clear()
    assert message in str(raised.value)
    assert isinstance(raised.value, SpecError)  # `vidpipe serve` prints it as one line


def test_vidpipe_serve_refuses_a_bad_override_in_one_line(tmp_path: Path) -> None:
    """Before it contacts any server (the API URL below answers nothing)."""
    proc = subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "serve"],
        cwd=tmp_path,
        env=clean_env(
            PREFECT_API_URL="http://127.0.0.1:9/api",
            PREFECT_HOME=str(tmp_path / "prefect"),
            VIDPIPE_HOME=str(tmp_path / "home"),
            VIDPIPE_SCHEDULE_OVERRIDES='{"sweeper": {"interval": 5}}',
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "VIDPIPE_SCHEDULE_OVERRIDES: unknown deployment 'sweeper'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_relative_folders_are_the_working_directorys_else_the_repositorys(
    tmp_path: Path,
) -> None:
    from vidpipe.pipelines import resolve_folder, resolve_pipeline

    assert resolve_folder("examples", cwd=tmp_path) == REPO / "examples"
    assert resolve_folder("pipelines/nightly", cwd=tmp_path) == REPO / "pipelines" / "nightly"
    assert resolve_folder("examples", cwd=REPO) == Path("examples")
    (tmp_path / "examples").mkdir()  # the working directory's own folder wins
    assert resolve_folder("examples", cwd=tmp_path) == Path("examples")
    assert resolve_folder("nowhere", cwd=tmp_path) == Path("nowhere")
    assert resolve_folder(tmp_path / "abs", cwd=REPO) == tmp_path / "abs"
    # a pipeline name from another working directory finds the shipped examples
    other = tmp_path / "elsewhere"
    other.mkdir()
    import os

    before = Path.cwd()
    os.chdir(other)
    try:
        assert resolve_pipeline("explainer", "examples") == str(REPO / "examples/explainer.yaml")
    finally:
        os.chdir(before)
