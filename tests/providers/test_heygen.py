"""HeyGen v3 against its fake: create, poll, fresh links, 429s, uploads, re-attaching."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from vidpipe.errors import AmbiguousCreateError, PermanentProviderError, TransientProviderError
from vidpipe.providers.heygen import HeyGen

from .fakes import media_bytes


@pytest.fixture
def hg(http, heygen_fake, clock):
    return HeyGen(
        http, api_key=SecretStr(heygen_fake.api_key), base_url=heygen_fake.url, clock=clock
    )


class Jobs(list):
    def __call__(self, job_id: str) -> None:
        self.append(job_id)


def make(hg, tmp_path, audio="https://bucket.example/voice.mp3", **kw):
    jobs = Jobs()
    kw.setdefault("on_job", jobs)
    usage = hg.talking_head(audio, tmp_path / "host.mp4", avatar_id="Daisy", **kw)
    return usage, jobs


def test_talking_head_end_to_end(hg, heygen_fake, tmp_path, clock):
    usage, jobs = make(hg, tmp_path, aspect_ratio="9:16")
    assert jobs == ["vid-1"]
    [sent] = heygen_fake.submissions
    token = sent.pop("title")
    assert token.startswith("vidpipe-") and sent.pop("callback_id") == token
    assert sent == {
        "type": "avatar",
        "avatar_id": "Daisy",
        "audio_url": "https://bucket.example/voice.mp3",
        "aspect_ratio": "9:16",
    }
    assert (tmp_path / "host.mp4").read_bytes() == media_bytes("vid-1.mp4", 8192)
    assert (usage.unit, usage.quantity, usage.request_id) == ("seconds", 12.48, "vid-1")
    assert clock.sleeps == [2, 3]  # pending -> processing -> completed


def test_local_audio_is_uploaded_first(hg, heygen_fake, tmp_path):
    audio = tmp_path / "voice.mp3"
    audio.write_bytes(b"ID3 fake mp3" * 100)
    make(hg, tmp_path, audio=audio)
    [upload] = heygen_fake.requests_to("POST", "/v1/asset")
    assert upload.headers["content-type"] == "audio/mpeg" and upload.body == audio.read_bytes()
    assert heygen_fake.submissions[0]["audio_url"].startswith(f"{heygen_fake.url}/files/asset-")


def test_failed_video_surfaces_failure_code_and_message(hg, heygen_fake, tmp_path):
    heygen_fake.outcome = "failed"
    with pytest.raises(PermanentProviderError, match="avatar_not_found: The avatar could not"):
        make(hg, tmp_path)
    assert not (tmp_path / "host.mp4").exists()


def test_bad_key_is_permanent_with_heygen_message(http, heygen_fake, tmp_path, clock):
    hg = HeyGen(http, api_key=SecretStr("hg-SECRET-wrong"), base_url=heygen_fake.url, clock=clock)
    with pytest.raises(PermanentProviderError) as info:
        make(hg, tmp_path)
    assert "unauthorized: Invalid API key" in str(info.value)
    assert "SECRET" not in str(info.value) and heygen_fake.submissions == []


def test_validation_error_is_permanent(hg, heygen_fake, tmp_path):
    heygen_fake.inject("submit", "validation", field="avatar_id")
    with pytest.raises(PermanentProviderError, match="422.*validation_error: avatar_id"):
        make(hg, tmp_path)


def test_429_past_ten_concurrent_jobs_waits_retry_after(hg, heygen_fake, tmp_path, clock):
    for _ in range(10):  # ten jobs still rendering
        heygen_fake.new_job({"busy": True}).polls_to_finish = 10**6
    for job in list(heygen_fake.jobs.values()):
        job.polls = 1
    busy = len(heygen_fake.submissions)

    real_sleep = clock.sleep

    def sleep(seconds):  # while we wait, the others finish
        for job in heygen_fake.jobs.values():
            job.polls_to_finish = 0
        real_sleep(seconds)

    clock.sleep = sleep
    usage, jobs = make(hg, tmp_path)
    assert clock.sleeps[0] == 30  # the fake's Retry-After
    assert len(heygen_fake.submissions) == busy + 1 and len(jobs) == 1


@pytest.mark.parametrize(
    ("fault", "opts"),
    [("rate_limit", {"retry_after": 4}), ("server_error", {}), ("malformed", {}), ("slow", {})],
)
def test_poll_faults_are_retried(hg, heygen_fake, tmp_path, clock, fault, opts):
    heygen_fake.inject("poll", fault, **opts)
    usage, jobs = make(hg, tmp_path)
    assert len(heygen_fake.submissions) == 1 and usage.quantity == 12.48
    if opts:
        assert clock.sleeps[1] == 4


def test_expired_link_fetches_a_fresh_one(hg, heygen_fake, tmp_path):
    heygen_fake.inject("download", "expired")
    make(hg, tmp_path)
    downloads = heygen_fake.requests_to("GET", "/files/vid-1.mp4")
    assert len(downloads) == 2
    assert (tmp_path / "host.mp4").exists() and len(heygen_fake.submissions) == 1


def test_link_expired_twice_fails_cleanly(hg, heygen_fake, tmp_path):
    heygen_fake.inject("download", "expired", times=2)
    with pytest.raises(PermanentProviderError, match="403") as info:
        make(hg, tmp_path)
    assert "deadbeef" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_retried_from_scratch(hg, heygen_fake, tmp_path):
    heygen_fake.inject("download", "truncated")
    make(hg, tmp_path)
    assert (tmp_path / "host.mp4").read_bytes() == media_bytes("vid-1.mp4", 8192)
    assert [p.name for p in tmp_path.iterdir()] == ["host.mp4"]


def test_resume_reattaches_without_submitting(hg, heygen_fake, tmp_path, clock):
    heygen_fake.polls_to_finish = 1000
    with pytest.raises(TransientProviderError, match="not finished"):
        make(hg, tmp_path, deadline_s=30)
    heygen_fake.jobs["vid-1"].polls_to_finish = 0
    usage, jobs = make(hg, tmp_path, resume_job_id="vid-1")
    assert jobs == [] and len(heygen_fake.submissions) == 1
    assert usage.request_id == "vid-1"


def test_resume_of_an_unknown_video_is_reported(hg, heygen_fake, tmp_path):
    make(hg, tmp_path)
    heygen_fake.expire("vid-1")
    with pytest.raises(PermanentProviderError, match="job vid-1 expired; not resubmitting"):
        make(hg, tmp_path, resume_job_id="vid-1")
    assert len(heygen_fake.submissions) == 1


# --------------------------------------------------------------------------- ambiguous creates


def creates(fake) -> int:
    return len(fake.requests_to("POST", "/v3/videos"))


def lookups(fake) -> list:
    return [r for r in fake.requests if r.method == "GET" and r.path == "/v3/videos"]


@pytest.mark.parametrize("fault", ["created_then_error", "created_then_slow", "created_then_drop"])
def test_a_create_whose_answer_is_lost_is_found_by_its_title_and_polled(
    hg, heygen_fake, tmp_path, clock, fault
):
    """The video was created and the answer lost (500, timeout, dropped connection): the
    video list, filtered by the create's title token, finds it; it is polled, not re-sent."""
    heygen_fake.inject("submit", fault)
    usage, jobs = make(hg, tmp_path)
    assert jobs == ["vid-1"] and usage.request_id == "vid-1"
    assert creates(heygen_fake) == 1 and len(heygen_fake.submissions) == 1
    [lookup] = lookups(heygen_fake)
    assert lookup.query["title"] == heygen_fake.submissions[0]["title"]
    assert (tmp_path / "host.mp4").read_bytes() == media_bytes("vid-1.mp4", 8192)


def test_a_500_that_created_nothing_is_looked_up_then_sent_again(hg, heygen_fake, tmp_path, clock):
    heygen_fake.inject("submit", "server_error")
    usage, jobs = make(hg, tmp_path)
    assert jobs == ["vid-1"] and len(heygen_fake.submissions) == 1
    assert creates(heygen_fake) == 2
    assert len(lookups(heygen_fake)) == 2  # two lookups, both empty
    assert clock.sleeps[:3] == [2, 5, 1]


def test_a_timeout_with_no_video_found_fails_as_possibly_billed(hg, heygen_fake, tmp_path, clock):
    """A timed-out create may still be running at HeyGen: not found is not proof."""
    heygen_fake.inject("submit", "slow", delay=0.5, then="server_error")
    with pytest.raises(AmbiguousCreateError) as info:
        make(hg, tmp_path)
    message = str(info.value)
    assert "heygen: video create may have been created: check the provider before re-running" in (
        message
    )
    assert "ReadTimeout" in message and "look for a video titled vidpipe-" in message
    assert creates(heygen_fake) == 1 and clock.sleeps == [2, 5, 10]


def test_a_lost_create_whose_lookup_fails_names_the_request_id(hg, heygen_fake, tmp_path, clock):
    heygen_fake.inject("submit", "created_then_error")
    heygen_fake.inject("lookup", "server_error", times=3)
    with pytest.raises(AmbiguousCreateError, match="the lookup failed") as info:
        make(hg, tmp_path)
    assert info.value.request_id and info.value.request_id.startswith("hgreq-")
    assert f"request id {info.value.request_id}" in str(info.value)
    assert creates(heygen_fake) == 1


def test_the_audio_upload_is_reused_when_the_call_is_made_again(hg, heygen_fake, tmp_path, clock):
    """A first call uploads and then fails before any video exists (429s past the create's
    deadline: safe to retry); the retry reuses the uploaded asset."""
    audio = tmp_path / "voice.mp3"
    audio.write_bytes(b"ID3 fake mp3" * 100)
    heygen_fake.inject("submit", "rate_limit", retry_after=900, times=3)
    with pytest.raises(TransientProviderError):
        make(hg, tmp_path, audio=audio)
    assert heygen_fake.submissions == []
    usage, jobs = make(hg, tmp_path, audio=audio)
    assert len(jobs) == 1 and len(heygen_fake.submissions) == 1
    assert len(heygen_fake.requests_to("POST", "/v1/asset")) == 1
    assert creates(heygen_fake) == 4
