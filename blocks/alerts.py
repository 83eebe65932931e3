"""The `vidpipe Alerts` block: where alerts go and the thresholds of their rules, saved
once in Prefect instead of set in every worker's environment.

Registered with the other blocks (`prefect block register -m blocks`) and saved under the
name `vidpipe`; every pipeline run (`blocks.apply_saved_blocks`) and the `evaluate-alerts`
flow (`apply_saved_alerts`) read it at their start, over the environment's
`VIDPIPE_ALERT_*` values. Unset fields keep the environment's value.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from blocks.saved import BLOCK_NAME, saved_settings
from vidpipe.observability.rules import AlertRules

__all__ = ["BLOCK_NAME", "VidpipeAlerts", "apply_saved_alerts"]


class VidpipeAlerts(Block):
    """Alerts: a notification block (or a webhook) to deliver them, and the rules'
    thresholds (vidpipe's defaults unless set)."""

    _block_type_name = "vidpipe Alerts"
    notification_block: str | None = Field(
        None, description="A saved notification block, as BLOCK-TYPE/NAME (slack-webhook/ops)"
    )
    webhook_url: SecretStr | None = Field(
        None, description="Where alerts are POSTed as JSON when no notification block is set"
    )
    failure_rate: float | None = Field(None, description="Run failure rate that alerts (0.05)")
    failure_window_s: float | None = Field(None, description="Seconds of runs it looks at (3600)")
    failure_last_runs: int | None = Field(None, description="Or the last N runs (0: off)")
    provider_down_s: float | None = Field(None, description="Seconds of failing calls (300)")
    p95_run_s: float | None = Field(None, description="p95 run duration that alerts (600 s)")
    p95_window_s: float | None = Field(None, description="Seconds of runs it looks at (3600)")
    cache_hit_rate: float | None = Field(None, description="Cache hit rate that alerts (0.8)")
    cache_window_s: float | None = Field(None, description="Seconds it looks at (86400)")
    approval_wait_h: float | None = Field(None, description="Hours a run may wait (4)")
    refusal_window_s: float | None = Field(None, description="Seconds a refusal fires (3600)")

    def settings(self) -> dict[str, Any]:
        """The settings fields it sets (unset ones left out)."""
        found = {
            "alert_block": self.notification_block,
            "alert_webhook_url": self.webhook_url,
        }
        for rule in fields(AlertRules):  # the block has a field for each threshold
            found[f"alert_{rule.name}"] = getattr(self, rule.name)
        return {k: v for k, v in found.items() if v is not None}


def apply_saved_alerts() -> list[str]:
    """Make the saved `vidpipe Alerts` block take precedence over the environment in this
    process; returns the settings it set (never their values)."""
    from vidpipe.settings import override_settings

    fields = saved_settings([VidpipeAlerts])
    if fields:
        override_settings(**fields)
    return sorted(fields)
