"""Opening a run record: shared by the CLI (which prints the id before the flow starts)
and the flow (when triggered without one, e.g. from a deployment)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from vidpipe import db, liveness
from vidpipe.plan import build_plan
from vidpipe.spec import PipelineSpec

__all__ = ["open_run"]


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
