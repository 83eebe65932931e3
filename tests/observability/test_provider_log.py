"""The provider log: a real client (Replicate) against its fake on 127.0.0.1, with
faults; every failed call recorded once with its kind, status, run and node, every call
counted, and no secret in what is recorded."""

from __future__ import annotations

import httpx
import pytest
from providers.fakes import FakeReplicate
from pydantic import SecretStr

from vidpipe import db, logs
from vidpipe.errors import PermanentProviderError
from vidpipe.providers.http import FakeClock
from vidpipe.providers.http.reporting import Reported
from vidpipe.providers.replicate import Replicate

TOKEN = "r8_TESTSECRETTOKEN0123456789"


@pytest.fixture
def fake():
    fake = FakeReplicate()
    fake.api_key = TOKEN
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def client(fake):
    with httpx.Client(timeout=httpx.Timeout(0.3, connect=2.0)) as http:
        found = Replicate(http, api_token=SecretStr(TOKEN), base_url=fake.url, clock=FakeClock())
        yield Reported(found)  # as `tasks.live.client_for` hands it out


def predict(client, tmp_path):
    return client.run("black-forest-labs/flux-1.1-pro", {"prompt": "a cat"},
                      tmp_path / "out.png", on_job=lambda job_id: None)  # fmt: skip


def errors(engine):
    return sorted(
        (row.kind, row.status) for row in db.provider_errors(engine, provider="replicate")
    )


def test_each_failed_call_is_recorded_once_with_its_kind(engine, recorder, fake, client, tmp_path):
    fake.inject("submit", "rate_limit", retry_after=1)
    fake.inject("poll", "server_error")
    fake.inject("poll", "malformed")
    fake.inject("poll", "slow")  # the client's read timeout (0.3 s) passes first
    fake.inject("download", "truncated")
    with logs.bind(run_id="r" * 32, node_id="frame", pipeline="launch-teaser"):
        predict(client, tmp_path)
        recorder.flush()
    assert errors(engine) == [
        ("malformed", 200),
        ("rate_limited", 429),
        ("server_error", 500),
        ("timeout", None),
        ("truncated", 200),
    ]
    rows = db.provider_errors(engine)
    assert {(r.run_id, r.node_id) for r in rows} == {("r" * 32, "frame")}
    assert all(TOKEN not in (r.message or "") for r in rows)
    calls, failed = db.statistics.call_totals(engine, pipeline="launch-teaser")
    assert failed == 5 and calls == len(fake.requests)
    assert db.last_answered(engine)["replicate"] is not None


def test_a_refusal_and_a_failed_job_are_recorded_once(engine, recorder, fake, client, tmp_path):
    fake.inject("submit", "validation", field="aspect_ratio")
    with pytest.raises(PermanentProviderError):
        predict(client, tmp_path)
    fake.outcome = "failed"
    with pytest.raises(PermanentProviderError, match="failed"):
        predict(client, tmp_path)
    assert errors(engine) == [("job_failed", None), ("rejected", 422)]


def test_a_bad_token_is_unauthorized_and_not_recorded_in_clear(engine, recorder, fake, tmp_path):
    with httpx.Client() as http:
        wrong = Replicate(http, api_token=SecretStr("r8_WRONGSECRET99999"), base_url=fake.url,
                          clock=FakeClock())  # fmt: skip
        with pytest.raises(PermanentProviderError):
            predict(wrong, tmp_path)
    [row] = db.provider_errors(engine)
    assert (row.kind, row.status) == ("unauthorized", 401)
    assert "WRONGSECRET" not in (row.message or "")


def test_nothing_is_recorded_without_the_recorder(engine, fake, client, tmp_path):
    fake.inject("poll", "server_error")
    predict(client, tmp_path)
    assert db.provider_errors(engine) == []


def test_a_provider_answering_again_is_written_at_once(engine, recorder, fake, client, tmp_path):
    fake.inject("poll", "server_error")
    predict(client, tmp_path)  # failed, then answered: the counts go out without a flush
    calls, failed = db.statistics.call_totals(engine)
    assert failed == 1 and calls >= 2


def test_retries_are_warned_and_lines_carry_the_job_id(
    engine, recorder, fake, client, tmp_path, caplog
) -> None:
    import contextvars
    import logging

    fake.inject("poll", "server_error")
    seen: list[str] = []

    def call() -> dict[str, str]:
        client.run("black-forest-labs/flux-1.1-pro", {"prompt": "a cat"},
                   tmp_path / "out.png", on_job=seen.append)  # fmt: skip
        return logs.current_context()

    with caplog.at_level(logging.WARNING, logger="vidpipe"):
        known = contextvars.copy_context().run(call)  # as a task run's own context
    assert seen == ["pred-1"] and known["job_id"] == "pred-1"
    assert "job_id" not in logs.current_context()
    [retry] = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert retry.name == "vidpipe.providers.http.polling" and "HTTP 500" in retry.getMessage()


def test_counts_go_to_the_database_of_their_calls(
    engine, recorder, fake, client, tmp_path, monkeypatch
) -> None:
    from vidpipe.settings import get_settings

    predict(client, tmp_path)  # counted, not written yet
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("VIDPIPE_HOME", str(elsewhere))  # the next test's home, say
    get_settings.cache_clear()
    recorder.flush()
    assert db.statistics.call_totals(engine)[0] == len(fake.requests)
    assert not (elsewhere / "vidpipe.db").exists()
