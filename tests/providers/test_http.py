"""The shared helper: polling, error mapping, redaction, atomic downloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from vidpipe.errors import AmbiguousCreateError, PermanentProviderError, TransientProviderError
from vidpipe.providers.http import (
    Exists,
    FakeClock,
    create_once,
    download,
    parse_retry_after,
    poll_until,
    raise_for_provider,
    redact,
    request_id_of,
    safe_to_resubmit,
)

from .fakes import SIGNATURE, FakeServer, media_bytes

# --------------------------------------------------------------------------- poll_until


def test_poll_backs_off_from_2_to_10_seconds():
    clock = FakeClock()
    answers = iter([None] * 7 + ["done"])
    assert poll_until(lambda: next(answers), clock=clock, deadline_s=600) == "done"
    assert clock.sleeps == [2, 3, 4.5, 6.75, 10, 10, 10]


def test_poll_honours_retry_after_then_resumes_backoff():
    clock = FakeClock()
    calls = iter([TransientProviderError("429", status=429, retry_after_s=17), None, "done"])

    def fetch():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert poll_until(fetch, clock=clock, deadline_s=600) == "done"
    assert clock.sleeps == [17, 3]


def test_poll_retries_transient_and_raw_transport_errors():
    clock = FakeClock()
    calls = iter(
        [
            TransientProviderError("500", status=500),
            httpx.ReadTimeout("timed out"),
            "done",
        ]
    )

    def fetch():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert poll_until(fetch, clock=clock, deadline_s=600) == "done"
    assert len(clock.sleeps) == 2


def test_poll_raises_permanent_at_once():
    clock = FakeClock()

    def fetch():
        raise PermanentProviderError("failed job", status=None)

    with pytest.raises(PermanentProviderError, match="failed job"):
        poll_until(fetch, clock=clock, deadline_s=600)
    assert clock.sleeps == []


def test_poll_times_out_at_the_deadline_with_the_last_error():
    clock = FakeClock()

    def fetch():
        raise TransientProviderError("HTTP 503: busy", status=503)

    with pytest.raises(TransientProviderError, match="not finished after 30 s.*503") as info:
        poll_until(fetch, clock=clock, deadline_s=30, provider="x")
    assert sum(clock.sleeps) == pytest.approx(30)
    assert info.value.status == 503


def test_poll_gives_up_when_retry_after_passes_the_deadline():
    clock = FakeClock()

    def fetch():
        raise TransientProviderError("429", status=429, retry_after_s=120)

    with pytest.raises(TransientProviderError, match="not finished"):
        poll_until(fetch, clock=clock, deadline_s=60)
    assert clock.sleeps == []


def test_retry_if_stops_ambiguous_create_failures():
    clock = FakeClock()

    def create():
        raise TransientProviderError("HTTP 502", status=502)

    with pytest.raises(TransientProviderError, match="502"):
        poll_until(create, clock=clock, deadline_s=60, retry_if=safe_to_resubmit)
    assert clock.sleeps == []
    assert safe_to_resubmit(TransientProviderError("x", status=429))


# --------------------------------------------------------------------------- create_once


def _sent_then(status: int | None, cause: Exception | None = None, request_id=None):
    """A create's failure: an HTTP status, or a transport error (status None)."""
    exc = TransientProviderError(f"p: HTTP {status}", status=status, request_id=request_id)
    exc.__cause__ = cause
    return exc


def _creates(*outcomes):
    """A create that fails with each of `outcomes` in turn, then answers "job-1"."""
    left = list(outcomes)
    calls = []

    def create():
        calls.append(1)
        if left:
            raise left.pop(0)
        return "job-1"

    return create, calls


def _once(create, find, clock, **kw):
    return create_once(
        create, find=find, clock=clock, deadline_s=600, provider="p", what="job create", **kw
    )


def test_refused_creates_are_sent_again():
    clock = FakeClock()
    request = httpx.Request("POST", "https://x")
    create, calls = _creates(
        TransientProviderError("429", status=429, retry_after_s=3),
        _sent_then(None, httpx.ConnectError("refused", request=request)),
        _sent_then(None, httpx.ConnectTimeout("no route", request=request)),
    )
    assert _once(create, None, clock) == "job-1"
    assert len(calls) == 4 and clock.sleeps[0] == 3


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (500, None),
        (502, None),
        (504, None),
        (200, None),  # a 2xx whose body did not parse or arrive whole
        (None, httpx.ReadTimeout("slow")),
        (None, httpx.RemoteProtocolError("Server disconnected")),
    ],
)
def test_an_ambiguous_create_without_a_lookup_fails_at_once(status, cause):
    clock = FakeClock()
    create, calls = _creates(_sent_then(status, cause, request_id="rq-7"))
    with pytest.raises(AmbiguousCreateError) as info:
        _once(create, None, clock, hint="look for X")
    message = str(info.value)
    assert message.startswith(
        "p: job create may have been created: check the provider before re-running ("
    )
    assert "request id rq-7" in message and "look for X" in message
    assert info.value.request_id == "rq-7" and info.value.status == status
    assert isinstance(info.value, PermanentProviderError)
    assert len(calls) == 1 and clock.sleeps == []


def test_a_job_found_by_the_lookup_is_adopted():
    clock = FakeClock()
    create, calls = _creates(_sent_then(None, httpx.ReadTimeout("slow")))
    answers = iter([None, "job-0"])
    assert _once(create, lambda exc: next(answers), clock) == "job-0"
    assert len(calls) == 1 and clock.sleeps == [2, 5]


def test_a_job_that_exists_but_cannot_be_used_fails_with_its_request_id():
    clock = FakeClock()
    create, calls = _creates(_sent_then(500))
    with pytest.raises(AmbiguousCreateError, match="made, audio lost") as info:
        _once(create, lambda exc: Exists("made, audio lost", request_id="rq-9"), clock)
    assert info.value.request_id == "rq-9" and len(calls) == 1


def test_only_a_500_with_two_empty_lookups_is_sent_again():
    clock = FakeClock()
    create, calls = _creates(_sent_then(500))
    assert _once(create, lambda exc: None, clock) == "job-1"
    assert len(calls) == 2 and clock.sleeps == [2, 5, 1]


@pytest.mark.parametrize("status", [502, 503, 504, 200])
def test_a_gateway_error_with_nothing_found_is_not_sent_again(status):
    """A gateway's 5xx (or a 2xx that did not parse) may hide a create still running."""
    clock = FakeClock()
    create, calls = _creates(_sent_then(status))
    with pytest.raises(AmbiguousCreateError):
        _once(create, lambda exc: None, clock)
    assert len(calls) == 1 and clock.sleeps == [2, 5, 10]


def test_a_failing_lookup_is_reported_not_trusted():
    clock = FakeClock()
    create, calls = _creates(_sent_then(500))

    def find(exc):
        raise PermanentProviderError("p: HTTP 403: list not allowed", status=403)

    with pytest.raises(AmbiguousCreateError, match="the lookup failed: p: HTTP 403"):
        _once(create, find, clock)
    assert len(calls) == 1 and clock.sleeps == [2]  # a permanent lookup error stops


def test_request_ids_come_from_headers_or_the_elevenlabs_body():
    assert request_id_of(_response(500, headers={"x-request-id": "hg-1"})) == "hg-1"
    assert request_id_of(_response(200, headers={"request-id": "el-1"})) == "el-1"
    body = {"detail": {"status": "busy", "message": "m", "request_id": "el-2"}}
    assert request_id_of(_response(500, json=body)) == "el-2"
    assert request_id_of(_response(500, json={"error": "x"})) is None
    with pytest.raises(TransientProviderError) as info:
        raise_for_provider(_response(503, headers={"x-request-id": "hg-2"}), "heygen")
    assert info.value.request_id == "hg-2"


# --------------------------------------------------------------------------- errors


def _response(status: int, *, json=None, text=None, headers=None, request_headers=None):
    request = httpx.Request("POST", "https://api.example.com/v1/x", headers=request_headers)
    kwargs = {"json": json} if json is not None else {"text": text or ""}
    return httpx.Response(status, headers=headers, request=request, **kwargs)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"detail": {"status": "invalid_api_key", "message": "Invalid key"}},
            "invalid_api_key: Invalid key",
        ),
        (
            {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]},
            "validation failed: body.text: field required",
        ),
        (
            {"error": {"code": "not_found", "message": "Video not found"}},
            "not_found: Video not found",
        ),
        (
            {
                "error": {
                    "code": 404,
                    "message": "model is no longer available",
                    "status": "NOT_FOUND",
                }
            },
            "NOT_FOUND: model is no longer available",
        ),
        (
            {
                "title": "Input validation failed",
                "status": 422,
                "detail": "- input.aspect_ratio: bad",
                "invalid_fields": [{"field": "input.aspect_ratio", "description": "bad"}],
            },
            "Input validation failed: - input.aspect_ratio: bad; input.aspect_ratio: bad",
        ),
        ({"code": 400543, "message": "avatar not found"}, "400543: avatar not found"),
    ],
)
def test_raise_for_provider_decodes_each_body_shape(body, expected):
    with pytest.raises(PermanentProviderError) as info:
        raise_for_provider(_response(422, json=body), "p")
    assert expected in str(info.value)
    assert info.value.status == 422


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_client_errors_are_permanent(status):
    with pytest.raises(PermanentProviderError):
        raise_for_provider(_response(status, text="no"), "p")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_server_errors_and_throttling_are_transient(status):
    with pytest.raises(TransientProviderError):
        raise_for_provider(_response(status, text="busy"), "p")


def test_success_passes():
    raise_for_provider(_response(201, json={}), "p")


def test_retry_after_seconds_date_ms_and_google_retry_info():
    assert parse_retry_after(_response(429, headers={"retry-after": "7"})) == 7
    assert parse_retry_after(_response(429, headers={"retry-after-ms": "1500"})) == 1.5
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= parse_retry_after(_response(429, headers={"retry-after": when})) <= 60
    google = {"error": {"code": 429, "details": [{"retryDelay": "46s"}]}}
    assert parse_retry_after(_response(429, json=google)) == 46
    assert parse_retry_after(_response(429, text="no")) is None
    with pytest.raises(TransientProviderError) as info:
        raise_for_provider(_response(429, headers={"retry-after": "12"}), "p")
    assert info.value.retry_after_s == 12


def test_messages_never_carry_secrets():
    body = {
        "detail": {
            "status": "invalid_api_key",
            "message": "key sk-live-SECRET99 rejected; see https://x.s3.amazonaws.com/a.mp4?"
            + SIGNATURE,
        }
    }
    response = _response(
        401,
        json=body,
        request_headers={"xi-api-key": "sk-live-SECRET99", "authorization": "Bearer tok-ABCDEFGH"},
    )
    with pytest.raises(PermanentProviderError) as info:
        raise_for_provider(response, "elevenlabs")
    message = str(info.value)
    assert "SECRET99" not in message and "deadbeef" not in message
    assert "invalid_api_key" in message
    assert redact("Authorization: Bearer abcdefghijk") == "Authorization: Bearer [redacted]"


# --------------------------------------------------------------------------- download


@pytest.fixture
def files():
    fake = FakeServer().start()
    yield fake
    fake.stop()


def test_download_streams_to_out(files, tmp_path):
    data = media_bytes("big", 3 * 1024 * 1024 + 17)
    url = files.media_url("big.bin", data)
    out = tmp_path / "sub" / "big.bin"
    with httpx.Client() as client:
        assert download(client, url, out) == len(data)
    assert out.read_bytes() == data
    assert [p.name for p in out.parent.iterdir()] == ["big.bin"]


def test_truncated_download_leaves_nothing(files, tmp_path):
    url = files.media_url("clip.mp4", media_bytes("clip", 10000))
    files.inject("download", "truncated")
    out = tmp_path / "clip.mp4"
    with httpx.Client() as client, pytest.raises(TransientProviderError, match="truncated"):
        download(client, url, out, provider="p")
    assert list(tmp_path.iterdir()) == []


def test_download_checks_expected_bytes_and_redacts_the_url(files, tmp_path):
    url = files.media_url("clip.mp4", media_bytes("clip", 100))
    with httpx.Client() as client, pytest.raises(TransientProviderError) as info:
        download(client, url, tmp_path / "clip.mp4", expected_bytes=101)
    assert "deadbeef" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_expired_link_is_permanent_403(files, tmp_path):
    url = files.media_url("clip.mp4", b"x")
    files.inject("download", "expired")
    with httpx.Client() as client, pytest.raises(PermanentProviderError) as info:
        download(client, url, tmp_path / "clip.mp4")
    assert info.value.status == 403 and "Request has expired" in str(info.value)
    assert "deadbeef" not in str(info.value)
