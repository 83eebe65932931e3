"""`evaluate-alerts`: every minute, check the alert rules against vidpipe's state, fire
the alerts whose condition started and resolve those whose condition ended, and deliver
every notice still due (`vidpipe.observability.alerts`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from blocks import apply_saved_blocks
from blocks.alerts import apply_saved_alerts
from tasks import observe
from vidpipe import db, observability
from vidpipe.settings import get_settings

__all__ = ["evaluate_alerts"]


@flow(name="evaluate-alerts", log_prints=False)
def evaluate_alerts() -> dict[str, Any]:
    """Evaluate the alert rules now and deliver what is due.

    Thresholds and where alerts go come from the saved `vidpipe Alerts` block, else the
    environment (VIDPIPE_ALERT_*).
    """
    logger = get_run_logger()
    applied = apply_saved_blocks() + apply_saved_alerts()
    if applied:
        logger.info("settings from saved blocks: %s", ", ".join(applied))
    observe.install()
    engine = db.make_engine(get_settings().resolved_database_url)
    db.init_db(engine)
    result = observability.evaluate(engine)
    logger.info(
        "alerts: %d fired, %d resolved, %d firing; %d notices delivered by %s",
        len(result.fired),
        len(result.resolved),
        len(result.firing),
        result.delivered,
        result.channel,
    )
    for error in result.failed:
        logger.warning("not delivered, tried again next time: %s", error)
    return result.as_dict()
