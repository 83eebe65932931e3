"""HeyGen v3 against its fake: create, poll, fresh links, 429s, uploads, re-attaching."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from vidpipe.errors import PermanentProviderError, TransientProviderError
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
    assert heygen_fake.submissions == [
        {
            "type": "avatar",
            "avatar_id": "Daisy",
            "audio_url": "https://bucket.example/voice.mp3",
            "aspect_ratio": "9:16",
        }
    ]
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
