"""`/metrics`: a real scrape over HTTP, parsed with prometheus-client's own parser, whose
values are the runs, nodes, provider calls, ledger lines, approvals and alerts made in
the test; the same on PostgreSQL; `vidpipe metrics` as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from vidpipe import db, observability
from vidpipe.settings import get_settings

from .conftest import make_run

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def fill(engine: Engine) -> None:
    """Runs, nodes, provider calls, money, approvals and an alert of known numbers."""
    make_run(engine, "explainer")
    make_run(engine, "explainer", cached=("voice",))
    make_run(engine, "explainer", seconds=25)
    make_run(engine, "explainer", status="failed")
    make_run(engine, "social-cut", seconds=290, provider="heygen")
    waiting = make_run(engine, "launch-teaser", status="running")
    db.set_run_status(engine, waiting, "awaiting_approval")
    db.record_approval(engine, waiting, "review", decision="revise", reviewer="ana")
    db.record_approval(engine, waiting, "review", round=2, decision="approve", reviewer="ana")
    db.record_provider_error(engine, provider="heygen", kind="server_error", status=502)
    db.record_provider_error(engine, provider="heygen", kind="rate_limited", status=429)
    now = db.utcnow()
    db.add_provider_calls(
        engine,
        [
            db.CallCount("heygen", "social-cut", db.hour_of(now), 10, 2, now),
            db.CallCount("heygen", "social-cut", db.hour_of(now), 5, 0, now),
        ],
    )
    for kind, amount in (("billed", 2.5), ("savings", 1.25), ("estimate", 0.5)):
        db.add_cost_entry(
            engine, run_id=waiting, provider="heygen", unit="seconds", amount_usd=amount, kind=kind
        )
    db.open_alert(
        engine,
        alert="slow_runs",
        key="slow_runs{}",
        severity="warning",
        summary="slow",
        value=700.0,
        threshold=600.0,
        labels={},
    )


@pytest.fixture
def served(engine: Engine) -> Iterator[str]:
    server = observability.serve_metrics(engine, host="127.0.0.1", port=0)
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.stop()


def test_a_scrape_counts_what_the_database_holds(engine, served, monkeypatch) -> None:
    monkeypatch.setenv("VIDPIPE_DAILY_SOFT_USD", "80")
    get_settings.cache_clear()
    fill(engine)
    samples = scrape(served)

    assert value(samples, "vidpipe_runs_total", pipeline="explainer", status="completed") == 3
    assert value(samples, "vidpipe_runs_total", pipeline="explainer", status="failed") == 1
    assert value(samples, "vidpipe_runs_total", pipeline="social-cut", status="completed") == 1
    assert value(samples, "vidpipe_runs_in_progress", status="awaiting_approval") == 1
    assert value(samples, "vidpipe_runs_in_progress", status="running") == 0
    voice = {"type": "generate-voiceover", "provider": "elevenlabs"}
    assert value(samples, "vidpipe_node_runs_total", status="completed", **voice) == 4
    # a cache hit records no provider: nothing was called
    assert value(samples, "vidpipe_node_runs_total", type="generate-voiceover",
                 provider="none", status="completed") == 1  # fmt: skip
    assert value(samples, "vidpipe_node_runs_total", type="asset", provider="none",
                 status="completed") == 6  # fmt: skip
    assert value(samples, "vidpipe_node_runs_total", type="merge-videos", provider="none",
                 status="failed") == 1  # fmt: skip
    # work done (not the cache hit): 3 explainer voices + the launch-teaser one
    assert value(samples, "vidpipe_node_duration_seconds_count", **voice) == 4
    assert value(samples, "vidpipe_cache_hits_total", type="generate-voiceover") == 1

    cut = {"pipeline": "social-cut"}
    assert value(samples, "vidpipe_run_duration_seconds_count", **cut) == 1
    assert value(samples, "vidpipe_run_duration_seconds_sum", **cut) == pytest.approx(290, abs=1)
    assert value(samples, "vidpipe_run_duration_seconds_bucket", le="240.0", **cut) == 0
    assert value(samples, "vidpipe_run_duration_seconds_bucket", le="300.0", **cut) == 1
    assert value(samples, "vidpipe_run_duration_seconds_bucket", le="+Inf", **cut) == 1
    explainer = {"pipeline": "explainer"}
    assert value(samples, "vidpipe_run_duration_seconds_count", **explainer) == 3
    assert value(samples, "vidpipe_run_duration_seconds_bucket", le="10.0", **explainer) == 2
    assert value(samples, "vidpipe_run_duration_seconds_bucket", le="30.0", **explainer) == 3

    assert value(samples, "vidpipe_provider_errors_total", provider="heygen",
                 kind="server_error") == 1  # fmt: skip
    assert value(samples, "vidpipe_provider_errors_total", provider="heygen",
                 kind="rate_limited") == 1  # fmt: skip
    assert value(samples, "vidpipe_provider_calls_total", provider="heygen") == 15
    assert value(samples, "vidpipe_cache_savings_usd_total") == 1.25
    assert value(samples, "vidpipe_spend_usd", period="today") == 2.5
    assert value(samples, "vidpipe_reserved_usd") == 0.5
    assert value(samples, "vidpipe_daily_limit_usd", kind="soft") == 80
    assert value(samples, "vidpipe_daily_limit_usd", kind="hard") == 150
    assert value(samples, "vidpipe_approvals_waiting") == 1
    assert value(samples, "vidpipe_approval_decisions_total", decision="approve") == 1
    assert value(samples, "vidpipe_approval_decisions_total", decision="revise") == 1
    assert value(samples, "vidpipe_alerts_firing", alert="slow_runs") == 1

    # nodes that could hit: the second and fourth runs' (the third started before the
    # first ended); one of them hit
    assert db.statistics.cache_opportunities(engine) == (5, 1)

    make_run(engine, "explainer")  # read at scrape time: the next scrape sees it
    again = scrape(served)
    assert value(again, "vidpipe_runs_total", pipeline="explainer", status="completed") == 4


@pytest.mark.integration
def test_the_same_numbers_on_postgresql(pg_cluster, monkeypatch, home) -> None:
    fresh = pg_cluster.create_database(f"vidpipe_metrics_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", fresh)  # its own: counts see only this test
    get_settings.cache_clear()
    engine = db.make_engine()
    db.init_db(engine)
    fill(engine)
    server = observability.serve_metrics(engine, host="127.0.0.1", port=0)
    try:
        samples = scrape(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    cut = {"pipeline": "social-cut"}
    assert value(samples, "vidpipe_runs_total", pipeline="explainer", status="completed") == 3
    assert value(samples, "vidpipe_run_duration_seconds_sum", **cut) == pytest.approx(290, abs=1)
    assert value(samples, "vidpipe_run_duration_seconds_bucket", le="300.0", **cut) == 1
    assert value(samples, "vidpipe_provider_calls_total", provider="heygen") == 15
    assert value(samples, "vidpipe_reserved_usd") == 0.5
    assert db.statistics.cache_opportunities(engine) == (5, 1)
    # the rules and the alert log on PostgreSQL: an episode opened once, then resolved
    first = observability.evaluate(engine)
    again = observability.evaluate(engine)
    assert any(k.startswith("failure_rate") for k in first.fired) and not again.fired
    later = observability.evaluate(engine, now=db.utcnow() + timedelta(days=2))
    assert any(k.startswith("failure_rate") for k in later.resolved)
    assert {r.state for r in db.list_alerts(engine) if r.alert == "failure_rate"} == {"resolved"}


def test_vidpipe_metrics_serves_until_stopped(home: Path) -> None:
    env = {**os.environ, "VIDPIPE_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "vidpipe.cli", "metrics", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
        assert found, line
        samples = scrape(found.group(0))
        assert value(samples, "vidpipe_runs_in_progress", status="running") == 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_port_that_cannot_be_bound_is_one_line(home: Path) -> None:
    from typer.testing import CliRunner

    from vidpipe.cli import app

    taken = observability.serve_metrics(db.make_engine(), host="127.0.0.1", port=0)
    try:
        started = time.monotonic()
        result = CliRunner().invoke(app, ["metrics", "--port", str(taken.port)])
        assert time.monotonic() - started < 10
    finally:
        taken.stop()
    assert result.exit_code == 2
    assert "cannot serve metrics on 127.0.0.1:" in result.output
    assert "Traceback" not in result.output
    bad = CliRunner().invoke(app, ["serve", "--metrics-port", "70000"])
    assert bad.exit_code == 2 and "--metrics-port must be 0..65535" in bad.output
