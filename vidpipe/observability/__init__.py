"""Observability: Prometheus metrics read from the state, the provider log, alerts that
reach people, and the success report. No Prefect here (`tasks/observe.py` connects it to
Prefect: run logs, run ids, notification blocks).

Files: metrics (the collector and `/metrics` server) · recorder (the observer writing
failed provider calls, call counts and the daily limits' alerts) · rules (each alert's
condition and threshold) · alerts (episodes fired and resolved, notices delivered once)
· delivery (a Prefect notification block, or a JSON webhook) · report (the success
metrics against their targets).
"""

from __future__ import annotations

from vidpipe.observability.alerts import Evaluation, deliver_pending, evaluate, limit_alert
from vidpipe.observability.delivery import (
    Channel,
    DeliveryError,
    channel,
    payload,
    set_block_loader,
)
from vidpipe.observability.metrics import (
    MetricsServer,
    VidpipeCollector,
    registry_for,
    serve_metrics,
)
from vidpipe.observability.recorder import Recorder, install, uninstall
from vidpipe.observability.report import success_report
from vidpipe.observability.rules import RULES, AlertRules, Condition

__all__ = [
    "AlertRules",
    "Channel",
    "Condition",
    "DeliveryError",
    "Evaluation",
    "MetricsServer",
    "RULES",
    "Recorder",
    "VidpipeCollector",
    "channel",
    "deliver_pending",
    "evaluate",
    "install",
    "limit_alert",
    "payload",
    "registry_for",
    "serve_metrics",
    "set_block_loader",
    "success_report",
    "uninstall",
]
