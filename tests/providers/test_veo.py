"""Veo against its fake, on Vertex (default) and on the Gemini API."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from vidpipe.errors import AmbiguousCreateError, PermanentProviderError, TransientProviderError
from vidpipe.providers.veo import Veo

from .fakes import media_bytes


class Jobs(list):
    def __call__(self, job_id: str) -> None:
        self.append(job_id)


def client(http, fake, clock, api="vertex", key=None):
    return Veo(
        http,
        credential=SecretStr(key or fake.api_key),
        api=api,
        project="proj",
        location="us-central1",
        base_url=fake.url,
        storage_url=fake.url,
        clock=clock,
    )


@pytest.fixture
def vertex(http, veo_fake, clock):
    return client(http, veo_fake, clock)


@pytest.fixture
def gemini(http, veo_fake, clock):
    return client(http, veo_fake, clock, api="gemini")


def animate(veo, tmp_path, **kw):
    jobs = Jobs()
    kw.setdefault("on_job", jobs)
    usage = veo.animation(
        "a dashboard glowing", tmp_path / "broll.mp4", duration_s=8, model="veo-3.1-fast", **kw
    )
    return usage, jobs


def test_vertex_inline_video(vertex, veo_fake, tmp_path, clock):
    image = tmp_path / "first.png"
    image.write_bytes(b"\x89PNG")
    usage, jobs = animate(vertex, tmp_path, seed=7, negative_prompt="blur", image_path=image)
    name = (
        "projects/proj/locations/us-central1/publishers/google/models/veo-3.1-fast/operations/op-1"
    )
    assert jobs == [name]
    assert (tmp_path / "broll.mp4").read_bytes() == media_bytes("op-1.mp4", 6000)
    [body] = veo_fake.submissions
    assert body["parameters"] == {
        "sampleCount": 1,
        "durationSeconds": 8,
        "aspectRatio": "16:9",
        "negativePrompt": "blur",
        "personGeneration": "allow_adult",
        "seed": 7,
    }
    assert body["instances"][0]["image"] == {
        "bytesBase64Encoded": "iVBORw==",
        "mimeType": "image/png",
    }
    [fetch, *_] = veo_fake.requests_to("POST", ":fetchPredictOperation")
    assert fetch.path == f"/v1/{name.split('/operations/')[0]}:fetchPredictOperation"
    assert (usage.unit, usage.quantity, usage.model) == ("seconds", 8.0, "veo-3.1-fast")
    assert clock.sleeps == [5, 7.5]


def test_vertex_gcs_output_is_downloaded(http, tmp_path, clock):
    from .fakes import FakeVeo

    fake = FakeVeo(output="gcs").start()
    try:
        usage, _ = animate(client(http, fake, clock), tmp_path)
    finally:
        fake.stop()
    assert (tmp_path / "broll.mp4").read_bytes() == media_bytes("op-1.mp4", 6000)


def test_gemini_variant_downloads_the_file_uri_with_the_key(gemini, veo_fake, tmp_path):
    usage, jobs = animate(gemini, tmp_path, seed=7)
    assert jobs == ["models/veo-3.1-fast/operations/op-1"]
    assert "seed" not in veo_fake.submissions[0]["parameters"]
    assert (tmp_path / "broll.mp4").read_bytes() == media_bytes("op-1.mp4", 6000)
    [download] = veo_fake.requests_to("GET", ":download")
    assert download.headers["x-goog-api-key"] == veo_fake.api_key


@pytest.mark.parametrize("api", ["vertex", "gemini"])
def test_safety_filtered_result_is_a_clear_permanent_failure(http, veo_fake, tmp_path, clock, api):
    veo_fake.outcome = "rai"
    with pytest.raises(PermanentProviderError, match="safety filter.*celebrity"):
        animate(client(http, veo_fake, clock, api=api), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_operation_error_is_permanent(vertex, veo_fake, tmp_path):
    veo_fake.outcome = "failed"
    with pytest.raises(PermanentProviderError, match="failed: 3: Unsupported input image"):
        animate(vertex, tmp_path)


def test_bad_token_is_permanent_and_redacted(http, veo_fake, tmp_path, clock):
    veo = client(http, veo_fake, clock, key="ya29.SECRET-token-value")
    with pytest.raises(PermanentProviderError) as info:
        animate(veo, tmp_path)
    assert "UNAUTHENTICATED" in str(info.value) and "SECRET" not in str(info.value)


def test_resource_exhausted_on_submit_is_retried(vertex, veo_fake, tmp_path, clock):
    veo_fake.inject("submit", "rate_limit", retry_after=46)
    animate(vertex, tmp_path)
    assert clock.sleeps[0] == 46 and len(veo_fake.submissions) == 1


@pytest.mark.parametrize(
    "fault", ["created_then_error", "created_then_slow", "created_then_drop", "server_error"]
)
@pytest.mark.parametrize("api", ["vertex", "gemini"])
def test_an_ambiguous_submit_fails_as_possibly_billed_and_is_never_resent(
    http, veo_fake, tmp_path, clock, fault, api
):
    """Veo documents no lookup of an operation by its request: a submit whose outcome is
    unknown fails at once, saying where to look, and is not sent again."""
    veo_fake.inject("submit", fault)
    with pytest.raises(AmbiguousCreateError) as info:
        animate(client(http, veo_fake, clock, api=api), tmp_path)
    message = str(info.value)
    assert "veo3: video submit may have been created: check the provider before re-running" in (
        message
    )
    assert "look for a recent veo-3.1-fast operation" in message
    assert len(veo_fake.requests_to("POST", ":predictLongRunning")) == 1
    assert clock.sleeps == [] and list(tmp_path.iterdir()) == []


def test_a_submit_that_never_connected_is_sent_again(veo_fake, tmp_path, clock):
    """Connection refused: nothing reached Google, so sending again cannot pay twice."""

    class RefuseFirstSubmit(httpx.HTTPTransport):
        refused = 0

        def handle_request(self, request):
            if not self.refused and request.url.path.endswith(":predictLongRunning"):
                self.refused += 1
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            return super().handle_request(request)

    with httpx.Client(transport=RefuseFirstSubmit(), timeout=2.0) as http:
        usage, jobs = animate(client(http, veo_fake, clock), tmp_path)
    assert len(jobs) == 1 and len(veo_fake.submissions) == 1
    assert clock.sleeps[0] == 1  # our backoff, then sent again


@pytest.mark.parametrize("fault", ["rate_limit", "server_error", "malformed", "slow"])
def test_poll_faults_are_retried(vertex, veo_fake, tmp_path, fault):
    veo_fake.inject("poll", fault)
    animate(vertex, tmp_path)
    assert len(veo_fake.submissions) == 1 and (tmp_path / "broll.mp4").exists()


def test_resume_and_expired_resume(vertex, veo_fake, tmp_path, clock):
    veo_fake.polls_to_finish = 1000
    with pytest.raises(TransientProviderError):
        animate(vertex, tmp_path, deadline_s=30)
    name = next(iter(veo_fake.requests_to("POST", ":fetchPredictOperation"))).json()[
        "operationName"
    ]
    veo_fake.jobs["op-1"].polls_to_finish = 0
    usage, jobs = animate(vertex, tmp_path, resume_job_id=name)
    assert jobs == [] and len(veo_fake.submissions) == 1
    veo_fake.expire("op-1")
    with pytest.raises(PermanentProviderError, match="expired; not resubmitting"):
        animate(vertex, tmp_path, resume_job_id=name)
    assert len(veo_fake.submissions) == 1


def test_truncated_gemini_download_is_retried(gemini, veo_fake, tmp_path):
    veo_fake.inject("download", "truncated")
    animate(gemini, tmp_path)
    assert (tmp_path / "broll.mp4").read_bytes() == media_bytes("op-1.mp4", 6000)
    assert len(veo_fake.requests_to("GET", "/files/op-1.mp4")) == 2
