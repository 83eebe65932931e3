"""Observability where Prefect runs: what `vidpipe.observability` and `vidpipe.logs` need
from Prefect, installed once per process that runs flows (`install`, called when
`tasks.live` is imported, and by the alerts flow).

- vidpipe's own log lines (the `vidpipe` loggers: the daily limits, an assumed price, a
  provider call retried, alerts) also go to the Prefect API, so they show in the flow or
  task run's logs in the UI (`RunLogHandler`; outside a run they only go to the console).
- The ids of the run a line or a provider record belongs to are read from Prefect's run
  context: `flow_run_id`, `task_run_id`, and from a node task's parameters vidpipe's
  `run_id`, `node_id`, `provider` and `pipeline`; a flow run started without `run_id`
  (a deployment) is matched to its run through the database.
- The provider log and the daily limits' alerts are recorded (`observability.install`)
  for what happens inside flow and task runs.
- Alerts may go through a saved Prefect notification block (`VIDPIPE_ALERT_BLOCK`).
- `VIDPIPE_LOG_FORMAT` is applied again now that Prefect has set up its logging.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from prefect.logging.handlers import APILogHandler

from vidpipe import db, logs, observability
from vidpipe.observability.delivery import DeliveryError, Sender, text_of
from vidpipe.preflight import effective_provider
from vidpipe.settings import get_settings

__all__ = ["RunLogHandler", "run_ids", "record_ids", "load_notifier", "notifier_of", "install"]


def _in_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


class RunLogHandler(APILogHandler):
    """Prefect's API log handler, for records logged inside a flow or task run only
    (elsewhere there is no run to attach them to, and Prefect would warn)."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "flow_run_id", None) is None and not _in_run():
            return
        super().emit(record)


# flow run id -> (run id, pipeline) of runs found; (flow run id -> when last missed)
_runs_of_flow_runs: dict[str, tuple[str, str]] = {}
_missed: dict[str, float] = {}
_looking = threading.local()


def _run_of_flow_run(flow_run_id: str) -> tuple[str, str] | None:
    """The vidpipe run a flow run carries out (looked up once found; at most once a
    second while not yet recorded)."""
    found = _runs_of_flow_runs.get(flow_run_id)
    if found is not None or getattr(_looking, "busy", False):
        return found
    if time.monotonic() - _missed.get(flow_run_id, 0.0) < 1.0:
        return None
    _looking.busy = True
    try:
        run = db.run_for_flow_run(db.make_engine(get_settings().resolved_database_url), flow_run_id)
    except Exception:
        run = None
    finally:
        _looking.busy = False
    if run is None:
        _missed[flow_run_id] = time.monotonic()
        return None
    _runs_of_flow_runs[flow_run_id] = (run.id, run.pipeline_name)
    return _runs_of_flow_runs[flow_run_id]


def run_ids() -> dict[str, Any]:
    """The ids Prefect's run context knows here (a `vidpipe.logs` context source)."""
    from prefect.context import FlowRunContext, TaskRunContext

    ids: dict[str, Any] = {}
    task = TaskRunContext.get()
    if task is not None:
        ids["task_run_id"] = task.task_run.id
        ids["flow_run_id"] = task.task_run.flow_run_id
        params = task.parameters or {}
        node, run = params.get("node"), params.get("run")
        if run is not None and hasattr(run, "run_id"):
            ids["run_id"], ids["pipeline"] = run.run_id, run.pipeline
        if node is not None and hasattr(node, "id"):
            ids["node_id"] = node.id
            if run is not None and hasattr(run, "mode"):
                ids["provider"] = effective_provider(node, run.mode)
    flow = FlowRunContext.get()
    if flow is not None and flow.flow_run is not None:
        ids.setdefault("flow_run_id", flow.flow_run.id)
        if "run_id" not in ids:
            run_id = (flow.parameters or {}).get("run_id")
            found = _run_of_flow_run(str(flow.flow_run.id))
            if found is not None:
                ids["run_id"], ids["pipeline"] = found
            elif run_id:
                ids["run_id"] = run_id
    return {k: str(v) for k, v in ids.items() if v}


def record_ids(record: logging.LogRecord) -> dict[str, Any]:
    """Ids a Prefect task run's record carries: its task run is named after its node
    (`flows/pipeline.py`), for lines logged after the task's context closed."""
    name = getattr(record, "task_run_name", None)
    if getattr(record, "task_run_id", None) and name:
        return {"node_id": name}
    return {}


def load_notifier(name: str) -> Sender:
    """A sender through the saved notification block `TYPE/NAME` (a Slack webhook, an
    e-mail, a custom webhook...): its `notify(body, subject)`, raising on failure."""
    from prefect.blocks.core import Block

    block = Block.load(name, _sync=True)  # type: ignore[call-arg]
    return notifier_of(block, name)


def notifier_of(block: Any, name: str = "block") -> Sender:
    """A sender through a notification block object."""
    from prefect.blocks.abstract import NotificationBlock

    if not isinstance(block, NotificationBlock):
        raise DeliveryError(f"{name} is a {type(block).__name__}, not a notification block")

    def send(body: dict[str, Any]) -> None:
        subject, text = text_of(body)
        # Prefect's own blocks dispatch sync or async (`.aio`): ask for the sync one.
        extra = {"_sync": True} if hasattr(block.notify, "aio") else {}
        try:
            with block.raise_on_failure():
                block.notify(text, subject, **extra)
        except Exception as exc:
            raise DeliveryError(f"notification block {name}: {type(exc).__name__}") from None

    return send


_installed = threading.Lock()
_handler: RunLogHandler | None = None


def install() -> None:
    """Connect vidpipe's observability to Prefect in this process (idempotent)."""
    global _handler
    with _installed:
        if _handler is None:
            _handler = RunLogHandler()
            logging.getLogger("vidpipe").addHandler(_handler)
        logs.add_context_source(run_ids)
        logs.add_record_source(record_ids)
        observability.set_block_loader(load_notifier)
        observability.install(when=_in_run)
        logs.configure()
