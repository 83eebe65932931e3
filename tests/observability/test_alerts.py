"""Alerts delivered to a real HTTP receiver on 127.0.0.1: the failure-rate alert from
the maintenance evaluation and the soft-limit alert at the moment the ledger crosses it,
each fired and resolved exactly once; a webhook that is down fails nothing and gets the
alert at the next evaluation; the other rules; a Prefect notification block."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock

from tasks.observe import notifier_of
from vidpipe import db, ledger, observability
from vidpipe.errors import BudgetError
from vidpipe.settings import get_settings

from .conftest import make_run, stretch

KEYS = {"alert", "severity", "summary", "value", "threshold", "labels", "fired_at"}


def wait_for(check, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("not within the time allowed")


def test_failure_rate_fires_once_and_resolves_once(engine, receiver) -> None:
    for _ in range(19):
        make_run(engine)
    for _ in range(2):
        make_run(engine, status="failed")
    first = observability.evaluate(engine)
    observability.evaluate(engine)  # the condition still holds: nothing new is sent
    [fired] = receiver.of("failure_rate")
    assert set(fired) == KEYS
    assert fired["severity"] == "critical" and fired["labels"] == {}
    assert fired["value"] == pytest.approx(2 / 21, abs=1e-4) and fired["threshold"] == 0.05
    assert "2 of 21 runs failed" in fired["summary"]
    assert first.channel == "webhook" and not first.failed

    for _ in range(20):  # 2 of 41: 4.9%, under 5%
        make_run(engine)
    observability.evaluate(engine)
    observability.evaluate(engine)
    fired_again, resolved = receiver.of("failure_rate")
    assert fired_again == fired
    assert resolved["severity"] == "resolved" and resolved["summary"].startswith("resolved: ")
    assert resolved["fired_at"] == fired["fired_at"] and set(resolved) == KEYS

    [row] = [r for r in db.list_alerts(engine) if r.alert == "failure_rate"]
    assert row.state == "resolved" and row.fire_sent_at and row.resolve_sent_at
    assert row.channel == "webhook"


def test_soft_limit_fires_when_crossed_and_resolves_once(
    engine, receiver, recorder, monkeypatch
) -> None:
    monkeypatch.setenv("VIDPIPE_DAILY_SOFT_USD", "10")
    monkeypatch.setenv("VIDPIPE_DAILY_HARD_USD", "20")
    get_settings.cache_clear()
    db.add_cost_entry(engine, provider="heygen", unit="seconds", amount_usd=9.5, kind="billed")
    ledger.check_daily(engine, Decimal("0.25"))  # under the soft limit: nothing
    db.add_cost_entry(engine, provider="heygen", unit="seconds", amount_usd=2.0, kind="billed")
    for _ in range(3):  # every paid node past it checks again; one alert
        ledger.check_daily(engine, Decimal("0.25"), who="node 'host'")
    [fired] = wait_for(lambda: receiver.of("soft_limit"))
    assert fired["severity"] == "warning" and fired["threshold"] == 10.0
    assert fired["value"] == pytest.approx(11.75)
    assert fired["labels"] == {"day": db.utcnow().date().isoformat()}
    observability.evaluate(engine)  # still past it
    time.sleep(0.2)
    assert len(receiver.of("soft_limit")) == 1

    monkeypatch.setenv("VIDPIPE_DAILY_SOFT_USD", "15")  # the operator raises it
    get_settings.cache_clear()
    observability.evaluate(engine)
    observability.evaluate(engine)
    fired_again, resolved = receiver.of("soft_limit")
    assert resolved["severity"] == "resolved" and resolved["fired_at"] == fired["fired_at"]


def test_a_hard_refusal_alerts_and_resolves_after_the_window(
    engine, receiver, recorder, monkeypatch
) -> None:
    monkeypatch.setenv("VIDPIPE_DAILY_HARD_USD", "100")
    get_settings.cache_clear()
    db.add_cost_entry(engine, provider="veo3", unit="seconds", amount_usd=99.0, kind="billed")
    for _ in range(2):
        with pytest.raises(BudgetError, match="daily hard limit"):
            ledger.check_daily(engine, Decimal("3.20"), who="node 'broll'")
    [fired] = wait_for(lambda: receiver.of("hard_limit"))
    assert fired["severity"] == "critical" and fired["summary"].startswith("node 'broll': ")
    observability.evaluate(engine)  # the refusal is recent: still firing
    assert len(receiver.of("hard_limit")) == 1
    observability.evaluate(engine, now=db.utcnow() + timedelta(hours=2))
    assert [r["severity"] for r in receiver.of("hard_limit")] == ["critical", "resolved"]


def test_a_webhook_that_is_down_gets_the_alert_next_time(engine, receiver, recorder) -> None:
    receiver.down = True
    make_run(engine, status="failed")
    first = observability.evaluate(engine)  # never raises
    assert first.fired and first.failed and receiver.received == []
    assert all("SECRET" not in error for error in first.failed)
    [row] = db.open_alerts(engine, ["failure_rate"])
    assert row.fire_sent_at is None and "HTTP 503" in (row.delivery_error or "")
    assert "SECRET" not in (row.delivery_error or "")
    receiver.down = False
    observability.evaluate(engine)
    observability.evaluate(engine)
    assert [r["severity"] for r in receiver.of("failure_rate")] == ["critical"]


def test_an_unreachable_webhook_fails_no_run(engine, recorder, monkeypatch) -> None:
    monkeypatch.setenv("VIDPIPE_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")  # discard port
    monkeypatch.setenv("VIDPIPE_DAILY_SOFT_USD", "1")
    get_settings.cache_clear()
    db.add_cost_entry(engine, provider="heygen", unit="seconds", amount_usd=2.0, kind="billed")
    ledger.check_daily(engine, Decimal("0.5"))  # a warning, not an error
    [row] = wait_for(lambda: db.open_alerts(engine, ["soft_limit"]))
    wait_for(lambda: db.list_alerts(engine)[0].attempts >= 1)
    assert db.pending_notices(engine)


def test_provider_down_slow_runs_and_waiting_approvals(engine, receiver) -> None:
    now = db.utcnow()
    hour = db.hour_of(now)
    db.add_provider_calls(
        engine, [db.CallCount("veo3", "", hour, 1, 0, now - timedelta(minutes=9))]
    )
    for minutes in (8, 6, 4, 1):
        db.record_provider_error(
            engine, provider="veo3", kind="server_error", status=503,
            at=now - timedelta(minutes=minutes),
        )  # fmt: skip
    db.record_provider_error(engine, provider="heygen", kind="timeout", at=now)  # just began
    slow = make_run(engine, "social-cut")
    stretch(engine, slow, 700)
    waiting = make_run(engine, "launch-teaser", status="running")
    db.set_run_status(engine, waiting, "awaiting_approval")

    observability.evaluate(engine, now=now + timedelta(seconds=1))
    [down] = receiver.of("provider_down")
    assert down["labels"] == {"provider": "veo3"} and down["value"] > 300
    [late] = receiver.of("slow_runs")
    assert late["value"] == pytest.approx(700, abs=1) and late["threshold"] == 600
    assert receiver.of("approval_waiting") == []

    later = now + timedelta(hours=5)
    db.add_provider_calls(
        engine, [db.CallCount("veo3", "", hour, 1, 0, now + timedelta(seconds=2))]
    )
    observability.evaluate(engine, now=later)
    assert [r["severity"] for r in receiver.of("provider_down")] == ["critical", "resolved"]
    [waits] = receiver.of("approval_waiting")
    assert waits["labels"] == {"run_id": waiting, "pipeline": "launch-teaser"}
    db.set_run_status(engine, waiting, "running")  # a reviewer decided
    observability.evaluate(engine, now=later)
    assert [r["severity"] for r in receiver.of("approval_waiting")] == ["warning", "resolved"]


def test_cache_hit_rate_counts_only_nodes_that_could_hit(engine, receiver) -> None:
    make_run(engine)  # first time: nothing could hit
    observability.evaluate(engine)
    assert receiver.of("cache_hit_rate") == []
    make_run(engine, cached=("script", "voice", "final"))
    make_run(engine, refresh=("voice",))  # misses on purpose
    observability.evaluate(engine)
    assert receiver.of("cache_hit_rate") == []
    make_run(engine)  # three misses of work done before: 3 of 6
    observability.evaluate(engine)
    [low] = receiver.of("cache_hit_rate")
    assert low["value"] == 0.5 and low["threshold"] == 0.8


def test_alerts_go_through_a_prefect_notification_block(engine, receiver) -> None:
    block = CustomWebhookNotificationBlock(
        name="ops", url=receiver.url, json_data={"subject": "{{subject}}", "text": "{{body}}"}
    )
    channel = observability.Channel("block:custom-webhook/ops", notifier_of(block))
    make_run(engine, status="failed")
    done = observability.evaluate(engine, channel=channel)
    assert done.delivered >= 1 and done.channel == "block:custom-webhook/ops"
    [sent] = [r for r in receiver.received if "failure_rate" in r.get("subject", "")]
    assert sent["subject"] == "vidpipe alert firing: failure_rate"
    assert "1 of 1 runs failed" in sent["text"]


def test_vidpipe_alerts_lists_and_evaluates(engine, receiver) -> None:
    from typer.testing import CliRunner

    from vidpipe.cli import app

    make_run(engine, status="failed")
    result = CliRunner().invoke(app, ["alerts", "--evaluate", "--json"])
    assert result.exit_code == 0, result.output
    assert len(receiver.of("failure_rate")) == 1
    listed = CliRunner().invoke(app, ["alerts", "--state", "firing"])
    assert "failure_rate" in listed.output and listed.exit_code == 0
    bad = CliRunner().invoke(app, ["alerts", "--state", "asleep"])
    assert bad.exit_code == 2 and "--state must be firing or resolved" in bad.output
