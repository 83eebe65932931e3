"""`sweep-stuck-runs`: every 10 minutes, repair runs left `running` by a lost worker or a
crashed flow run (see `vidpipe.sweeper`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from vidpipe import db, sweeper
from vidpipe.settings import get_settings

__all__ = ["sweep_stuck_runs"]


def _flow_run_states(flow_run_ids: list[str]) -> dict[str, str]:
    """The Prefect state type of each flow run that still exists on this server."""
    if not flow_run_ids:
        return {}
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
        )
    return {str(r.id): r.state.type.value for r in runs if r.state is not None}


@flow(name="sweep-stuck-runs", log_prints=False)
def sweep_stuck_runs(threshold_minutes: float = 15.0) -> list[dict[str, Any]]:
    """Mark runs stuck for longer than `threshold_minutes` (or whose flow run crashed) failed.

    Args:
        threshold_minutes: How long a run may show no progress before it counts as lost.
    """
    logger = get_run_logger()
    engine = db.make_engine(get_settings().resolved_database_url)
    db.init_db(engine)
    live = [r.flow_run_id for r in db.live_runs(engine)]  # paused runs too
    states = _flow_run_states([f for f in live if f])
    swept = sweeper.sweep(
        engine, threshold=timedelta(minutes=threshold_minutes), flow_run_states=states
    )
    for item in swept:
        logger.warning("swept run %s: %s", item.run_id, item.reason)
    return [{"run_id": s.run_id, "reason": s.reason} for s in swept]
