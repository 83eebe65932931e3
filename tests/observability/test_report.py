"""`vidpipe report` on a home with known runs: each success metric computed from them,
next to its target, marked where it is missed; `--pipeline` and `--since`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vidpipe import db, observability
from vidpipe.cli import app

from .conftest import make_run, stretch


@pytest.fixture
def known(engine):
    """20 explainer runs: 18 completed (17 of 60 s, one of 300 s), one failed, one
    cancelled; reviews at four gates; 100 calls, 2 failed; $36 billed; $4.50 saved; and
    one social-cut run."""
    completed = []
    for index in range(18):
        run_id = make_run(engine, cached=("voice",) if index % 2 else ())
        stretch(engine, run_id, 300 if index == 17 else 60)
        completed.append(run_id)
    make_run(engine, status="failed")
    make_run(engine, status="cancelled")
    a, b, c, d = completed[:4]
    db.record_approval(engine, a, "review", decision="revise", reviewer="ana")
    db.record_approval(engine, a, "review", round=2, decision="approve", reviewer="ana")
    db.record_approval(engine, b, "review", decision="approve", reviewer="ana")
    db.record_approval(engine, c, "review", decision="reject", reviewer="bo")
    db.record_approval(engine, d, "review", decision="approve", reviewer="auto")
    now = db.utcnow()
    db.add_provider_calls(
        engine, [db.CallCount("elevenlabs", "explainer", db.hour_of(now), 100, 2, now)]
    )
    for run_id in completed[:3]:
        db.add_cost_entry(engine, run_id=run_id, provider="heygen", unit="seconds", amount_usd=12.0)
    db.add_cost_entry(
        engine, run_id=completed[4], provider="heygen", unit="seconds", amount_usd=4.5,
        kind="savings",
    )  # fmt: skip
    other = make_run(engine, "social-cut")
    db.add_cost_entry(engine, run_id=other, provider="heygen", unit="seconds", amount_usd=7.0)
    return completed


def metrics_of(doc):
    return {line["name"]: line for line in doc["metrics"]}


def test_each_metric_against_its_target(engine, known) -> None:
    doc = observability.success_report(engine, pipeline="explainer")
    found = metrics_of(doc)
    assert found["completion_rate"]["value"] == 0.9 and found["completion_rate"]["met"] is False
    assert found["completion_rate"]["target"] == ">= 95%"
    assert found["api_failure_rate"]["value"] == 0.02 and found["api_failure_rate"]["met"]
    assert found["p50_run_duration_s"]["value"] == pytest.approx(60, abs=0.5)
    assert found["p95_run_duration_s"]["value"] == pytest.approx(300, abs=0.5)
    assert found["p95_run_duration_s"]["met"] is False
    assert found["approval_rate"]["value"] == pytest.approx(0.6667, abs=1e-4)
    assert found["approval_rate"]["met"] is False  # under 70%
    assert found["refinements_per_approved_gate"]["value"] == 0.5
    assert found["refinements_per_approved_gate"]["met"] is None  # no target
    assert found["cost_per_video_usd"]["value"] == 2.0 and found["cost_per_video_usd"]["met"]
    assert found["total_cost_usd"]["value"] == 36.0
    assert found["cache_savings_usd"]["value"] == 4.5
    # every run after the first could hit all three nodes; the odd ones hit their voice
    could, hits = db.statistics.cache_opportunities(engine, pipeline="explainer")
    assert found["cache_hit_rate"]["value"] == pytest.approx(hits / could, abs=1e-4)
    assert hits == 9
    assert doc["missed"] == ["completion_rate", "p95_run_duration_s", "approval_rate"]


def test_one_pipeline_and_a_start_date(engine, known) -> None:
    found = metrics_of(observability.success_report(engine, pipeline="social-cut"))
    assert found["completion_rate"]["value"] == 1.0
    assert (
        found["cost_per_video_usd"]["value"] == 7.0 and found["cost_per_video_usd"]["met"] is False
    )
    everything = metrics_of(observability.success_report(engine))
    assert everything["total_cost_usd"]["value"] == 43.0
    from datetime import timedelta

    later = observability.success_report(engine, since=db.utcnow() + timedelta(days=1))
    assert all(line["value"] in (None, 0.0) for line in later["metrics"])
    assert later["missed"] == []


def test_vidpipe_report(engine, known) -> None:
    result = CliRunner().invoke(app, ["report", "--pipeline", "explainer", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["pipeline"] == "explainer" and doc["since"] is None
    assert doc["missed"] == ["completion_rate", "p95_run_duration_s", "approval_rate"]
    table = CliRunner().invoke(app, ["report", "--since", "2020-01-01"])
    assert table.exit_code == 0
    assert "MISSED" in table.output and "completion_rate" in table.output
    assert ">= 95%" in table.output and "90.5%" in table.output  # 19 of 21
    bad = CliRunner().invoke(app, ["report", "--since", "last week"])
    assert bad.exit_code == 2 and "--since must be a date" in bad.output
