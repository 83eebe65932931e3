"""Prometheus metrics, read from vidpipe's SQL state at scrape time.

Nothing is counted in memory: each scrape asks the database (`vidpipe.db.statistics`),
so one exporter gives the truth for every worker writing to the same database, and a
restart loses nothing. `VidpipeCollector` is a prometheus-client custom collector;
`serve_metrics` starts prometheus-client's HTTP server with it (`/metrics`).

| metric | type | labels |
|---|---|---|
| `vidpipe_runs_total` | counter | `pipeline`, `status` (ended runs) |
| `vidpipe_runs_in_progress` | gauge | `status` (queued, running, awaiting_approval) |
| `vidpipe_node_runs_total` | counter | `type`, `provider`, `status` (ended node runs) |
| `vidpipe_node_duration_seconds` | histogram | `type`, `provider` (work done, not cache hits) |
| `vidpipe_run_duration_seconds` | histogram | `pipeline` (completed runs) |
| `vidpipe_provider_errors_total` | counter | `provider`, `kind` |
| `vidpipe_provider_calls_total` | counter | `provider` |
| `vidpipe_cache_hits_total` | counter | `type` |
| `vidpipe_cache_savings_usd_total` | counter | |
| `vidpipe_spend_usd` | gauge | `period` (`today`, UTC) |
| `vidpipe_daily_limit_usd` | gauge | `kind` (`soft`, `hard`) |
| `vidpipe_reserved_usd` | gauge | (held against today's limits) |
| `vidpipe_approvals_waiting` | gauge | |
| `vidpipe_approval_decisions_total` | counter | `decision` |
| `vidpipe_alerts_firing` | gauge | `alert` |
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from sqlalchemy import Engine

from vidpipe import db, ledger
from vidpipe.db.statistics import Histogram

__all__ = [
    "NODE_BUCKETS",
    "RUN_BUCKETS",
    "VidpipeCollector",
    "registry_for",
    "serve_metrics",
    "MetricsServer",
]

#: Upper bounds (s) of the node duration histogram: FFmpeg seconds to provider minutes.
NODE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)
#: Upper bounds (s) of the run duration histogram (240 and 600 s: the report's and alert's targets).
RUN_BUCKETS = (10, 30, 60, 120, 240, 300, 600, 900, 1800, 3600, 7200)


def _histogram(
    family: HistogramMetricFamily, labels: list[str], found: Histogram, bounds: tuple
) -> None:
    buckets = [(floatToGoString(b), c) for b, c in zip(bounds, found.buckets, strict=True)]
    buckets.append(("+Inf", found.count))
    family.add_metric(labels, buckets, found.total)


class VidpipeCollector:
    """A prometheus-client collector whose every `collect` queries the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        return []  # no describe-time query: registering must not touch the database

    def collect(self) -> Iterator[Metric]:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        snap = db.statistics.snapshot(
            self.engine, today=today, node_bounds=NODE_BUCKETS, run_bounds=RUN_BUCKETS
        )
        yield from _runs(snap)
        yield from _nodes(snap)
        yield from _providers(snap)
        yield from _money(self.engine, snap)
        yield from _reviews(snap)


def _runs(snap: db.statistics.Snapshot) -> Iterator[Metric]:
    yield _labelled(
        CounterMetricFamily,
        "vidpipe_runs",
        "Runs that ended, by pipeline and status.",
        labels=["pipeline", "status"],
        values=snap.runs,
    )
    yield _labelled(
        GaugeMetricFamily,
        "vidpipe_runs_in_progress",
        "Runs not ended yet, by status.",
        labels=["status"],
        values=snap.in_progress,
    )
    durations = HistogramMetricFamily(
        "vidpipe_run_duration_seconds",
        "Completed runs' duration from start to end (approval waits included).",
        labels=["pipeline"],
    )
    for pipeline, found in sorted(snap.run_durations.items()):
        _histogram(durations, [pipeline], found, RUN_BUCKETS)
    yield durations


def _nodes(snap: db.statistics.Snapshot) -> Iterator[Metric]:
    yield _labelled(
        CounterMetricFamily,
        "vidpipe_node_runs",
        "Node runs that ended, by node type, provider and status.",
        labels=["type", "provider", "status"],
        values=snap.node_runs,
    )
    durations = HistogramMetricFamily(
        "vidpipe_node_duration_seconds",
        "Duration of node runs that did their work (cache hits left out).",
        labels=["type", "provider"],
    )
    for labels, found in sorted(snap.node_durations.items()):
        _histogram(durations, list(labels), found, NODE_BUCKETS)
    yield durations
    yield _labelled(
        CounterMetricFamily,
        "vidpipe_cache_hits",
        "Node runs answered from cache, by node type.",
        labels=["type"],
        values=snap.cache_hits,
    )


def _providers(snap: db.statistics.Snapshot) -> Iterator[Metric]:
    yield _labelled(
        CounterMetricFamily,
        "vidpipe_provider_errors",
        "Provider calls that failed (and may have been retried), by provider and kind.",
        labels=["provider", "kind"],
        values=snap.provider_errors,
    )
    yield _labelled(
        CounterMetricFamily,
        "vidpipe_provider_calls",
        "Calls made to each provider, failed ones included.",
        labels=["provider"],
        values=snap.provider_calls,
    )


def _money(engine: Engine, snap: db.statistics.Snapshot) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "vidpipe_cache_savings_usd",
        "USD not spent thanks to cache hits on paid work.",
        value=round(snap.savings_usd, 6),
    )
    spend = GaugeMetricFamily(
        "vidpipe_spend_usd", "USD billed in the period (UTC).", labels=["period"]
    )
    spend.add_metric(["today"], round(snap.billed_today_usd, 6))
    yield spend
    limits = ledger.daily_limits()
    daily = GaugeMetricFamily(
        "vidpipe_daily_limit_usd", "The daily spending limits across runs.", labels=["kind"]
    )
    daily.add_metric(["soft"], float(limits.soft_usd))
    daily.add_metric(["hard"], float(limits.hard_usd))
    yield daily
    _, held = ledger.day_totals(engine)
    yield GaugeMetricFamily(
        "vidpipe_reserved_usd",
        "USD held against today's limits: active reservations and possibly billed work.",
        value=float(held),
    )


def _reviews(snap: db.statistics.Snapshot) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "vidpipe_approvals_waiting",
        "Runs waiting for a reviewer's decision.",
        value=snap.approvals_waiting,
    )
    yield _labelled(
        CounterMetricFamily,
        "vidpipe_approval_decisions",
        "Decisions at approval gates.",
        labels=["decision"],
        values=snap.approval_decisions,
    )
    yield _labelled(
        GaugeMetricFamily,
        "vidpipe_alerts_firing",
        "Alert episodes firing now, by alert.",
        labels=["alert"],
        values=snap.alerts_firing,
    )


def _labelled(kind: Any, name: str, doc: str, *, labels: list[str], values: dict) -> Metric:
    """A metric family with one sample per key of `values` (a label value, or a tuple of
    them in the order of `labels`), in sorted order."""
    family = kind(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def registry_for(engine: Engine) -> CollectorRegistry:
    """A registry holding only vidpipe's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VidpipeCollector(engine))  # type: ignore[arg-type]
    return registry


class MetricsServer:
    """prometheus-client's HTTP server for one registry, in a daemon thread."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(engine: Engine, *, host: str = "127.0.0.1", port: int = 9464) -> MetricsServer:
    """Serve `/metrics` for `engine`'s database on host:port (port 0: a free one)."""
    server, thread = start_http_server(port, addr=host, registry=registry_for(engine))
    return MetricsServer(server, thread)
