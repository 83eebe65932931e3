"""Where alerts go: a Prefect notification block the operator chose (`VIDPIPE_ALERT_BLOCK`,
e.g. `slack-webhook/ops`), else an HTTP POST of one JSON object to
`VIDPIPE_ALERT_WEBHOOK_URL`, else nowhere (they are still recorded and listed).

The webhook's body is exactly::

    {"alert", "severity", "summary", "value", "threshold", "labels": {...}, "fired_at"}

A resolved alert is sent once more with the same `alert`, `labels` and `fired_at`, its
`severity` set to `resolved` and its summary starting with `resolved: `.

Loading a Prefect block needs Prefect, which this layer does not import: the layer that
does (`tasks/observe.py`) registers a `block_loader`. A failed delivery raises
`DeliveryError` with a message free of the webhook URL (its path is often the secret).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from vidpipe.settings import Settings, get_settings

__all__ = [
    "DeliveryError",
    "Channel",
    "payload",
    "channel",
    "set_block_loader",
    "WEBHOOK_TIMEOUT_S",
]

#: Seconds a webhook may take to answer before the delivery counts as failed.
WEBHOOK_TIMEOUT_S = 5.0

#: (`payload`) -> None, raising on failure.
Sender = Callable[[dict[str, Any]], None]


class DeliveryError(Exception):
    """An alert could not be delivered; it is tried again at the next evaluation."""


@dataclass(frozen=True)
class Channel:
    """A place alerts go: its name (`webhook`, `block:TYPE/NAME`, `none`) and its sender."""

    name: str
    send: Sender | None


def payload(
    *,
    alert: str,
    severity: str,
    summary: str,
    value: float | None,
    threshold: float | None,
    labels: dict[str, Any],
    fired_at: datetime,
    resolved: bool = False,
) -> dict[str, Any]:
    """The JSON object an alert notice is."""
    return {
        "alert": alert,
        "severity": "resolved" if resolved else severity,
        "summary": f"resolved: {summary}" if resolved else summary,
        "value": value,
        "threshold": threshold,
        "labels": dict(labels),
        "fired_at": fired_at.isoformat(),
    }


def _where(url: str) -> str:
    """A webhook named without its secret parts: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


def post_webhook(url: str, body: dict[str, Any], *, timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
    """POST one JSON object; any 2xx is delivered, anything else raises DeliveryError."""
    where = _where(url)
    try:
        response = httpx.post(url, json=body, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"alert webhook at {where}: {type(exc).__name__}") from None
    if not response.is_success:
        raise DeliveryError(f"alert webhook at {where}: HTTP {response.status_code}")


def text_of(body: dict[str, Any]) -> tuple[str, str]:
    """An alert as a notification's subject and body (for Slack, e-mail, ...)."""
    state = "resolved" if body["severity"] == "resolved" else "firing"
    subject = f"vidpipe alert {state}: {body['alert']}"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(body["labels"].items()))
    lines = [
        body["summary"],
        f"value {body['value']} (threshold {body['threshold']})",
        f"severity {body['severity']}; fired at {body['fired_at']}",
    ]
    if labels:
        lines.append(f"labels: {labels}")
    lines.append(json.dumps(body, sort_keys=True))
    return subject, "\n".join(lines)


#: Turns a block's name (`TYPE/NAME`) into a sender; registered by `tasks/observe.py`.
_block_loader: Callable[[str], Sender] | None = None


def set_block_loader(loader: Callable[[str], Sender] | None) -> None:
    global _block_loader
    _block_loader = loader


def channel(settings: Settings | None = None) -> Channel:
    """Where alerts go with these settings (default: the process's)."""
    settings = settings or get_settings()
    if settings.alert_block:
        name = f"block:{settings.alert_block}"
        if _block_loader is None:
            return Channel(name, _unavailable(settings.alert_block))
        try:
            return Channel(name, _block_loader(settings.alert_block))
        except Exception as exc:  # not saved, not a notification block, no server
            return Channel(name, _unavailable(settings.alert_block, exc))
    if settings.alert_webhook_url is not None:
        url = settings.alert_webhook_url.get_secret_value()
        return Channel("webhook", lambda body: post_webhook(url, body))
    return Channel("none", None)


def _unavailable(block: str, exc: BaseException | None = None) -> Sender:
    why = f": {type(exc).__name__}: {exc}" if exc else ": Prefect is not loaded here"
    message = f"notification block {block!r} cannot be used{why}"[:500]

    def refuse(body: dict[str, Any]) -> None:
        raise DeliveryError(message)

    return refuse
