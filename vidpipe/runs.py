"""Opening a run record: shared by the CLI (which prints the id before the flow starts)
and the flow (when triggered without one, e.g. from a deployment).

A caller that opened the run itself hands its id to the flow it calls in this process
with `for_run(id)`, not as a flow parameter: the flow's parameters are the operator's
form in the Prefect UI, and an id made beforehand is nothing an operator chooses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from sqlalchemy import Engine

from vidpipe import db, liveness
from vidpipe.plan import build_plan
from vidpipe.spec import PipelineSpec

__all__ = ["for_run", "open_run", "opened_beforehand"]

_OPENED: ContextVar[str | None] = ContextVar("vidpipe_opened_run", default=None)


@contextlib.contextmanager
def for_run(run_id: str) -> Iterator[None]:
    """Around a `run_pipeline` call in this thread: the flow goes on with run `run_id`
    (opened beforehand with `open_run`) instead of opening one."""
    token = _OPENED.set(run_id)
    try:
        yield
    finally:
        _OPENED.reset(token)


def opened_beforehand() -> str | None:
    """The run `for_run` handed to the flow starting in this thread, if any."""
    return _OPENED.get()


def open_run(
    engine: Engine,
    spec: PipelineSpec,
    *,
    mode: str | None = None,
    budget_usd: float | None = None,
    refresh: Sequence[str] = (),
) -> db.Run:
    """Record the pipeline (idempotently) and a new `queued` run with one row per node,
    carried out by this process (the CLI and the flow run it in the process that opens it)."""
    plan = build_plan(spec)
    pipeline_row = db.upsert_pipeline(engine, spec.name, spec.data)
    if budget_usd is None and spec.budget is not None:
        budget_usd = spec.budget.max_usd
    return db.create_run(
        engine,
        pipeline_row,
        mode=mode or spec.mode,
        budget_usd=budget_usd,
        refresh=list(refresh),
        node_ids_and_types=[(n.id, n.type) for n in plan.nodes.values()],
        runner=liveness.this_process(),
    )
