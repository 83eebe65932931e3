"""Many workers, tested for real: a Prefect server on PostgreSQL, `prefect deploy` from
`prefect.yaml`, two process workers, six runs of `run-pipeline`.

What the test proves, and how:

- `prefect deploy --name run-pipeline` from the repository makes a deployment on the
  `vidpipe-process` pool whose pull step moves flow runs into the repository (workers are
  started elsewhere on purpose) and whose form has the docstring's descriptions. (Only
  `run-pipeline` is deployed: `--all` would add the sweeper's 10-minute schedule.)
- all six flow runs end COMPLETED (polled through the REST API);
- both workers ran some. The signal is the flow run's `labels["prefect.worker.name"]`,
  which a worker writes only once the server accepted its Pending proposal, i.e. for the
  runs it really started. It is cross-checked against each worker's own log: the runs it
  logged "Worker 'wN' submitting flow run '<id>'" for, less those it logged "Aborted
  submission" for (the other worker had them). Each worker takes at most 3 runs at once
  (`--limit 3`) and a run lasts several seconds, so six runs triggered together go to
  both;
- vidpipe's own tables (another database of the same PostgreSQL cluster) hold six runs
  `completed`, each linked to its flow run id, with every node run `completed`, none a
  cache hit, and the final video published in the shared media folder. Each worker has
  its own VIDPIPE_HOME (Prefect result records); they share the database and the media.

Everything started here is stopped here, also on failure: workers get SIGTERM, then
SIGKILL after 20 s (a Prefect 3.8.8 worker does not stop on SIGTERM), then any flow-run
process they left; then the server; the cluster is the session's (conftest `pg_cluster`).
About 60 s on 2 cores, 20 of them waiting for the workers to ignore SIGTERM.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from integration.processes import clean_env, free_port, running_prefect_server, stop

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
POOL = "vidpipe-process"
DEPLOYMENT = "run-pipeline/run-pipeline"
WORKERS = ("w1", "w2")
RUNS = 6
PER_WORKER_LIMIT = 3
SERVER_START_TIMEOUT_S = 120
RUNS_TIMEOUT_S = 360
WORKER_STOP_GRACE_S = 20
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run(
        [PREFECT, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)} exited {proc.returncode}:\n" + (
        proc.stdout[-3000:] + proc.stderr[-3000:]
    )
    return proc.stdout


@dataclass
class Server:
    api_url: str
    env: dict[str, str]  # what a client process needs: PREFECT_API_URL, PREFECT_HOME, ...
    log: Path

    def post(self, path: str, body: dict) -> list | dict:
        response = httpx.post(f"{self.api_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def databases(pg_cluster) -> Iterator[tuple[str, str]]:
    """Two databases of the test cluster: the Prefect server's (asyncpg URL) and vidpipe's
    (psycopg URL)."""
    suffix = uuid.uuid4().hex[:8]
    prefect_url = pg_cluster.create_database(f"prefect_{suffix}")
    vidpipe_url = pg_cluster.create_database(f"vidpipe_{suffix}")
    yield prefect_url.replace("postgresql+psycopg://", "postgresql+asyncpg://"), vidpipe_url
    from vidpipe import db

    db.reset_engines()


@pytest.fixture(scope="module")
def server(databases, tmp_path_factory) -> Iterator[Server]:
    """`prefect server start` on the cluster, on a free loopback port; stopped at the end."""
    prefect_db, _ = databases
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    common = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
    }
    env = clean_env(
        **common,
        PREFECT_API_DATABASE_CONNECTION_URL=prefect_db,
        PREFECT_UI_ENABLED="false",  # not needed here; saves start-up time
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    with running_prefect_server(home, port, env, timeout_s=SERVER_START_TIMEOUT_S) as log:
        yield Server(api_url, {**common, "PREFECT_API_URL": api_url}, log)


def _write_pipelines(folder: Path) -> list[Path]:
    """Six tiny placeholder pipelines (160x90), each with texts of its own so every run
    does real work (no cache hits between them)."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ["amber", "birch", "cobalt", "dune", "ember", "fjord"]
    paths = []
    for i, word in enumerate(words[:RUNS], start=1):
        path = folder / f"workers-{i}.yaml"
        path.write_text(
            f"""\
name: workers-{i}
mode: placeholder
video: {{width: 160, height: 90, fps: 10}}
nodes:
  - id: voice
    type: generate-voiceover
    config: {{provider: elevenlabs, voice_id: v{i}, text: "Run {i} of the worker test: {word}."}}
  - id: code
    type: render-code
    config: {{code: "print('{word}')", language: python, chars_per_second: 40, hold_s: 0.3}}
  - id: cut
    type: mix-audio
    inputs: {{video: code, audio: [voice]}}
    config: {{mode: replace}}
""",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


def _wait_for_workers(server: Server, names: tuple[str, ...], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    online: set[str] = set()
    while time.monotonic() < deadline:
        workers = server.post(f"/work_pools/{POOL}/workers/filter", {})
        online = {w["name"] for w in workers if w.get("status") == "ONLINE"}
        if set(names) <= online:
            return
        time.sleep(1)
    pytest.fail(f"workers {sorted(set(names) - online)} never came online")


def _trigger(server: Server, pipelines: list[Path]) -> list[str]:
    """`prefect deployment run` once per pipeline, all at once; the flow run ids made."""
    procs = [
        subprocess.Popen(
            [PREFECT, "deployment", "run", DEPLOYMENT, "--param", f"pipeline={path}"],
            cwd=REPO,
            env=clean_env(**server.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in pipelines
    ]
    ids = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"prefect deployment run failed:\n{out[-3000:]}"
        found = re.search(r"UUID: ([0-9a-f-]{36})", out)
        assert found, f"no flow run id in:\n{out}"
        ids.append(found.group(1))
    return ids


def _wait_terminal(server: Server, ids: list[str]) -> list[dict]:
    deadline = time.monotonic() + RUNS_TIMEOUT_S
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = server.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}})
        if len(runs) == len(ids) and all(r["state_type"] in TERMINAL for r in runs):
            return runs
        time.sleep(2)
    states = {r["id"]: r["state_type"] for r in runs}
    pytest.fail(f"flow runs not finished after {RUNS_TIMEOUT_S} s: {states}")


def _describe(server: Server, runs: list[dict], worker_logs: dict[str, Path]) -> str:
    """What went wrong, for an assertion message: states, messages, log tails."""
    lines = [
        f"{r['name']} {r['id']}: {r['state_type']} {r['state'].get('message')!r} "
        f"worker={r.get('labels', {}).get('prefect.worker.name')}"
        for r in runs
    ]
    for name, log in worker_logs.items():
        lines.append(f"--- worker {name} log tail ---")
        lines.append(log.read_text(errors="replace")[-2500:])
    return "\n".join(lines)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_workers_run_six_deployed_runs_on_postgresql(
    databases, server: Server, tmp_path: Path
) -> None:
    from vidpipe import db
    from vidpipe.storage import LocalStore

    _, vidpipe_db = databases
    # Each worker its own home (Prefect results, logs); shared: the database and media.
    homes = {name: tmp_path / f"{name} home" for name in WORKERS}
    media = tmp_path / "shared media"
    pipelines = _write_pipelines(tmp_path / "pipelines")

    # The operator's commands of the scaled set-up (README, "Operating vidpipe").
    cli_env = clean_env(**server.env, VIDPIPE_REPO=str(REPO))
    _run_cli(["work-pool", "create", POOL, "--type", "process"], cli_env)
    _run_cli(["deploy", "--name", "run-pipeline", "--no-prompt"], cli_env, timeout=180)
    deployment = httpx.get(
        f"{server.api_url}/deployments/name/{DEPLOYMENT}", timeout=10
    ).raise_for_status()
    deployment = deployment.json()
    assert deployment["work_pool_name"] == POOL
    assert deployment["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    ]
    schema = deployment["parameter_openapi_schema"]["properties"]
    assert all(schema[p].get("description") for p in ("pipeline", "mode", "budget_usd"))
    # The form: only what an operator chooses, no type switches, the folder's pipelines.
    assert sorted(schema) == ["approve", "budget_usd", "mode", "pipeline", "refresh"]
    assert not [p for p, s in schema.items() if "anyOf" in s], schema
    assert schema["pipeline"]["enum"] == [
        "explainer",
        "launch-teaser",
        "product-reel",
        "social-cut",
    ]
    assert deployment["enforce_parameter_schema"] is False  # the API may send paths

    worker_envs = {
        name: clean_env(
            **server.env,
            VIDPIPE_HOME=str(homes[name]),
            VIDPIPE_DATABASE_URL=vidpipe_db,
            VIDPIPE_STORAGE_URL=str(media),
            PREFECT_WORKER_QUERY_SECONDS="2",
            PREFECT_LOGGING_LEVEL="INFO",  # the workers' "submitting flow run" lines,
            PYTHONUNBUFFERED="1",  # written as they happen
        )
        for name in WORKERS
    }
    workers: dict[str, subprocess.Popen[bytes]] = {}
    worker_logs = {name: tmp_path / f"worker-{name}.log" for name in WORKERS}
    try:
        for name in WORKERS:
            with worker_logs[name].open("wb") as out:
                workers[name] = subprocess.Popen(
                    [PREFECT, "worker", "start", "--pool", POOL, "--name", name]
                    + ["--limit", str(PER_WORKER_LIMIT)],
                    cwd=tmp_path,  # not the repo: the deployment's pull step must move there
                    env=worker_envs[name],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        _wait_for_workers(server, WORKERS)

        ids = _trigger(server, pipelines)
        runs = _wait_terminal(server, ids)
        report = _describe(server, runs, worker_logs)

        # All six completed.
        assert {r["state_type"] for r in runs} == {"COMPLETED"}, report

        # Both workers ran some: the server's record, and each worker's own log.
        ran_by = {r["id"]: r["labels"].get("prefect.worker.name") for r in runs}
        assert set(ran_by.values()) == set(WORKERS), report
        print("flow runs per worker:", {w: list(ran_by.values()).count(w) for w in WORKERS})
        # Each worker's own account: the runs it began submitting, less those another
        # worker had already taken (its Pending proposal was refused).
        for name in WORKERS:
            log = worker_logs[name].read_text(errors="replace")
            began = set(re.findall(rf"Worker '{name}' submitting flow run '({UUID})'", log))
            aborted = set(re.findall(rf"Aborted submission of flow run '({UUID})'", log))
            assert began - aborted == {i for i, w in ran_by.items() if w == name}, report
    finally:
        stop(list(workers.values()), grace_s=WORKER_STOP_GRACE_S)

    # vidpipe's own tables, on PostgreSQL: six runs completed, with their node runs.
    engine = db.make_engine(vidpipe_db)
    vp_runs = db.list_runs(engine, limit=50)
    assert sorted(r.flow_run_id for r in vp_runs) == sorted(ids)
    assert {r.pipeline_name for r in vp_runs} == {f"workers-{i}" for i in range(1, RUNS + 1)}
    store = LocalStore(media)
    for run in vp_runs:
        assert run.status == "completed", (run.pipeline_name, run.error)
        nodes = db.node_runs(engine, run.id)
        assert {n.node_id: n.status for n in nodes} == {
            "voice": "completed",
            "code": "completed",
            "cut": "completed",
        }, run.pipeline_name
        assert not any(n.cache_hit for n in nodes), run.pipeline_name
        assert run.output_ref is not None
        assert store.local_path(run.output_ref).is_file()
        published = media / "runs" / run.pipeline_name / run.id / "final.mp4"
        assert published.is_file(), published


# -- the same files, without a server -------------------------------------------------------


def test_prefect_yaml_declares_the_four_deployments() -> None:
    from prefect.schedules import Schedule

    from deployments import read_deployments

    specs = {s.name: s for s in read_deployments()}
    assert list(specs) == ["run-pipeline", "nightly-batch", "sweep-stuck-runs", "evaluate-alerts"]
    assert specs["run-pipeline"].entrypoint == "flows/pipeline.py:run_pipeline"
    assert specs["run-pipeline"].parameters == {"pipeline": "explainer"}
    assert specs["nightly-batch"].entrypoint == "flows/nightly.py:nightly_batch"
    assert specs["sweep-stuck-runs"].entrypoint == "flows/maintenance.py:sweep_stuck_runs"
    nightly = specs["nightly-batch"].schedule_objects()
    assert nightly == [
        Schedule(cron="0 2 * * *", timezone="UTC", anchor_date=nightly[0].anchor_date)
    ]
    (sweep,) = specs["sweep-stuck-runs"].schedule_objects()
    assert sweep.interval is not None and sweep.interval.total_seconds() == 600
    assert specs["evaluate-alerts"].entrypoint == "flows/alerts.py:evaluate_alerts"
    (alerts,) = specs["evaluate-alerts"].schedule_objects()
    assert alerts.interval is not None and alerts.interval.total_seconds() == 60
    assert specs["run-pipeline"].schedule_objects() == []


def test_pipeline_names_resolve_in_the_pipelines_folder(tmp_path: Path) -> None:
    from vidpipe.errors import SpecError
    from vidpipe.pipelines import list_pipelines, resolve_pipeline

    (tmp_path / "promo.yaml").write_text("name: promo\n")
    (tmp_path / "teaser.json").write_text("{}")
    assert resolve_pipeline("promo", tmp_path) == str(tmp_path / "promo.yaml")
    assert resolve_pipeline("promo.yaml", tmp_path) == str(tmp_path / "promo.yaml")
    assert resolve_pipeline("teaser", tmp_path) == str(tmp_path / "teaser.json")
    for unchanged in ("some/dir/file.yaml", "name: x\nnodes: []\n", '{"name": "x"}'):
        assert resolve_pipeline(unchanged, tmp_path) == unchanged
    assert list_pipelines(tmp_path) == ["promo", "teaser"]
    with pytest.raises(SpecError, match="promo, teaser"):
        resolve_pipeline("missing", tmp_path)
    assert resolve_pipeline("explainer", REPO / "examples") == str(REPO / "examples/explainer.yaml")
