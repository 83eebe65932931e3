"""JSON logs: real log lines from a real process with VIDPIPE_LOG_FORMAT=json, parsed
and checked for their fields and ids and for the absence of secrets; the ids read from
Prefect's run context; vidpipe's warnings sent to the Prefect run's logs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from vidpipe import logs

API_KEY = "sk_live_SECRETVALUE0123456789"
WEBHOOK = "https://hooks.example.invalid/services/T0SECRET/B0SECRET/XSECRETX"

SCRIPT = textwrap.dedent(
    """
    import logging, os, uuid
    import vidpipe.cli  # the CLI applies VIDPIPE_LOG_FORMAT
    from vidpipe import logs
    from prefect.client.schemas.objects import FlowRun
    from prefect.logging.loggers import flow_run_logger
    import tasks.live  # what a flow process imports: applied again after Prefect's set-up

    key = os.environ["ELEVENLABS_API_KEY"]
    log = logging.getLogger("vidpipe.providers.test")
    with logs.bind(run_id="a" * 32, node_id="voice", provider="elevenlabs", job_id="job-7"):
        log.warning("calling with key %s", key)
        try:
            raise RuntimeError("Authorization: Bearer abcdefgh12345678 refused " + key)
        except RuntimeError:
            log.exception("the call failed")
    log.info("alert webhook is %s", os.environ["VIDPIPE_ALERT_WEBHOOK_URL"])
    run = FlowRun(id=uuid.UUID("FLOW_RUN_ID"), flow_id=uuid.uuid4(), name="happy-cat")
    flow_run_logger(run).warning("from the flow run")
    """
)


def test_every_line_is_one_json_object_with_ids_and_no_secret(tmp_path: Path) -> None:
    flow_run_id = str(uuid.uuid4())
    env = {
        **os.environ,
        "VIDPIPE_LOG_FORMAT": "json",
        "VIDPIPE_HOME": str(tmp_path / "home"),
        "ELEVENLABS_API_KEY": API_KEY,
        "VIDPIPE_ALERT_WEBHOOK_URL": WEBHOOK,
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("FLOW_RUN_ID", flow_run_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    by_message = {line["message"]: line for line in lines}
    assert all({"time", "level", "message", "logger"} <= set(line) for line in lines)
    assert all(line["time"].endswith("+00:00") for line in lines)

    calling = by_message["calling with key [redacted]"]
    assert calling["level"] == "WARNING" and calling["logger"] == "vidpipe.providers.test"
    assert (calling["run_id"], calling["node_id"]) == ("a" * 32, "voice")
    assert (calling["provider"], calling["job_id"]) == ("elevenlabs", "job-7")
    failed = by_message["the call failed"]
    assert failed["level"] == "ERROR" and "RuntimeError" in failed["exc_info"]
    assert "[redacted]" in failed["exc_info"]
    assert "webhook" in " ".join(by_message)
    flow = by_message["from the flow run"]
    assert flow["flow_run_id"] == flow_run_id and flow["flow_run_name"] == "happy-cat"
    assert "run_id" not in flow

    for secret in (API_KEY, "T0SECRET", "B0SECRET", "abcdefgh12345678"):
        assert secret not in done.stderr


def test_the_cli_messages_are_json_lines_too(tmp_path: Path) -> None:
    env = {**os.environ, "VIDPIPE_LOG_FORMAT": "json", "VIDPIPE_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "report", "--since", "yesterday"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = [json.loads(x) for x in done.stderr.splitlines() if x.strip()]
    assert line["level"] == "ERROR" and line["logger"] == "vidpipe.cli"
    assert line["message"].startswith("error: --since must be a date")


def test_ids_come_from_prefect_run_context() -> None:
    from prefect.client.schemas.objects import TaskRun
    from prefect.context import TaskRunContext

    from tasks.observe import run_ids
    from tasks.runtime import RunInfo
    from vidpipe.spec import load_spec

    examples = Path(__file__).resolve().parents[2] / "examples"
    node = load_spec(examples / "explainer.yaml").by_id["host"]
    run = RunInfo.model_construct(run_id="b" * 32, pipeline="explainer", mode="live")
    task_run = TaskRun(id=uuid.uuid4(), flow_run_id=uuid.uuid4(), task_key="k", dynamic_key="0")
    context = TaskRunContext.model_construct(
        task_run=task_run, parameters={"node": node, "run": run}
    )
    with context:
        logs.add_context_source(run_ids)
        found = logs.current_context()
    assert found["run_id"] == "b" * 32 and found["node_id"] == "host"
    assert found["provider"] == "heygen" and found["pipeline"] == "explainer"
    assert found["task_run_id"] == str(task_run.id)
    assert found["flow_run_id"] == str(task_run.flow_run_id)
    assert "task_run_id" not in logs.current_context()  # outside the run


def test_vidpipe_warnings_reach_the_prefect_run_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.logging.handlers as handlers
    from prefect.client.schemas.objects import FlowRun
    from prefect.context import FlowRunContext

    from tasks.observe import install

    install()
    sent: list[dict] = []
    monkeypatch.setattr(handlers, "emit_api_log", sent.append)
    flow_run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="calm-fox")
    logging.getLogger("vidpipe.ledger").warning("outside any run")
    with FlowRunContext.model_construct(flow_run=flow_run, parameters={}):
        logging.getLogger("vidpipe.ledger").warning("daily soft limit $100.00 passed")
    assert [log["message"] for log in sent] == ["daily soft limit $100.00 passed"]
    assert sent[0]["flow_run_id"] == str(flow_run.id) and sent[0]["level"] == logging.WARNING


def test_the_console_drops_prefects_flush_progress_but_keeps_other_warnings() -> None:
    import io

    from vidpipe.errors import VidpipeError

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logs.quiet_user_errors()
        logging.getLogger("EventsWorker").warning("Still processing items: 186 items remaining...")
        logging.getLogger("APILogWorker").warning("Still processing items: 3 items remaining...")
        logging.getLogger("EventsWorker").warning("could not send an event")
        logging.getLogger("vidpipe.test").warning("Still processing items, said by vidpipe")
        try:
            raise VidpipeError("a user's mistake")
        except VidpipeError:
            logging.getLogger("vidpipe.test").exception("failed")
    finally:
        root.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "could not send an event",
        "Still processing items, said by vidpipe",
    ]
