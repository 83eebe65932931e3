"""The `evaluate-alerts` maintenance flow on a Prefect server: thresholds and the
webhook from a saved `vidpipe Alerts` block, the alert delivered, what it did returned."""

from __future__ import annotations

import pytest

from vidpipe.settings import clear_overrides

from .conftest import make_run


@pytest.mark.slow
def test_the_flow_evaluates_with_the_saved_block(prefect_harness, engine, receiver) -> None:
    from blocks.alerts import BLOCK_NAME, VidpipeAlerts
    from flows.alerts import evaluate_alerts

    for _ in range(3):
        make_run(engine)
    make_run(engine, status="failed")  # 25%: over the default 5%, under the block's 30%
    VidpipeAlerts(webhook_url=receiver.url, failure_rate=0.3).save(BLOCK_NAME, overwrite=True)
    try:
        quiet = evaluate_alerts()
        assert quiet["fired"] == [] or all("failure_rate" not in k for k in quiet["fired"])
        make_run(engine, status="failed")  # 40%
        done = evaluate_alerts()
    finally:
        VidpipeAlerts.delete(BLOCK_NAME)
        clear_overrides()
    assert any(k.startswith("failure_rate") for k in done["fired"])
    assert done["channel"] == "webhook" and done["delivered"] >= 1
    [fired] = receiver.of("failure_rate")
    assert fired["threshold"] == 0.3 and fired["value"] == 0.4


@pytest.mark.slow
def test_the_flow_delivers_through_a_saved_notification_block(
    prefect_harness, engine, receiver
) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from blocks.alerts import BLOCK_NAME, VidpipeAlerts
    from flows.alerts import evaluate_alerts

    CustomWebhookNotificationBlock(
        name="ops", url=receiver.url, json_data={"subject": "{{subject}}", "text": "{{body}}"}
    ).save("ops", overwrite=True)
    VidpipeAlerts(notification_block="custom-webhook/ops").save(BLOCK_NAME, overwrite=True)
    make_run(engine, status="failed")
    try:
        done = evaluate_alerts()
    finally:
        VidpipeAlerts.delete(BLOCK_NAME)
        CustomWebhookNotificationBlock.delete("ops")
        clear_overrides()
    assert done["channel"] == "block:custom-webhook/ops" and not done["failed"]
    subjects = [r["subject"] for r in receiver.received]
    assert "vidpipe alert firing: failure_rate" in subjects
