"""Replicate against its fake: Prefer: wait, polling, re-attaching, faults, usage, and
image inputs (passed as URLs, or sent inline and re-encoded to fit 256 KB)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

import tasks.generate_animation as generate_animation
from tasks.runtime import ExecContext, RunInfo
from vidpipe.errors import AmbiguousCreateError, PermanentProviderError, TransientProviderError
from vidpipe.media import probe, run_ffmpeg
from vidpipe.providers.replicate import DATA_URL_LIMIT, Replicate, fit_image
from vidpipe.spec import VideoSettings, load_spec
from vidpipe.storage import LocalStore, MediaStore

from .fakes import media_bytes

VERSION = "a" * 64


@pytest.fixture
def rep(http, replicate_fake, clock):
    return Replicate(
        http, api_token=SecretStr(replicate_fake.api_key), base_url=replicate_fake.url, clock=clock
    )


class Jobs(list):
    """An `on_job` callback recording what the engine would persist."""

    def __call__(self, job_id: str) -> None:
        self.append(job_id)


def run(rep, tmp_path, ref="black-forest-labs/flux-1.1-pro", **kw):
    jobs = Jobs()
    kw.setdefault("on_job", jobs)
    usage = rep.run(ref, {"prompt": "a cat"}, tmp_path / "out.png", **kw)
    return usage, jobs


def test_official_model_is_polled_to_success(rep, replicate_fake, tmp_path, clock):
    usage, jobs = run(rep, tmp_path)
    assert jobs == ["pred-1"]
    assert (tmp_path / "out.png").read_bytes() == media_bytes("pred-1/out-0.png")
    assert clock.sleeps == [2, 3]  # started -> processing -> succeeded
    [create] = replicate_fake.requests_to("POST", "/v1/models/black-forest-labs/flux-1.1-pro/")
    assert create.headers["prefer"] == "wait=60"
    assert create.headers["cancel-after"] == "900s"
    assert usage.unit == "gpu_seconds" and usage.quantity == pytest.approx(3.804328)
    assert usage.request_id == "pred-1" and usage.model == "black-forest-labs/flux-1.1-pro"


def test_prefer_wait_result_saves_every_poll(rep, replicate_fake, tmp_path, clock):
    replicate_fake.polls_to_finish = 0
    run(rep, tmp_path)
    assert clock.sleeps == [] and replicate_fake.requests_to("GET", "/v1/predictions/") == []


def test_version_goes_to_predictions_endpoint(rep, replicate_fake, tmp_path):
    usage, _ = run(rep, tmp_path, ref=f"someone/model:{VERSION}")
    assert replicate_fake.submissions[0]["version"] == VERSION
    assert replicate_fake.requests_to("POST", "/v1/predictions")
    assert usage.unit == "gpu_seconds"


def test_image_wrapper_bills_images_for_official_models(rep, replicate_fake, tmp_path):
    jobs = Jobs()
    usage = rep.image("a red fox", tmp_path / "fox.png", on_job=jobs, aspect_ratio="1:1", seed=3)
    assert replicate_fake.submissions[0]["input"] == {
        "prompt": "a red fox",
        "aspect_ratio": "1:1",
        "seed": 3,
    }
    assert (usage.unit, usage.quantity) == ("images", 1)


def test_animation_wrapper_bills_requested_seconds(rep, replicate_fake, tmp_path):
    image = tmp_path / "still.png"
    image.write_bytes(b"\x89PNG tiny")
    usage = rep.animation("waves", tmp_path / "clip.mp4", on_job=Jobs(), duration_s=5, image=image)
    sent = replicate_fake.submissions[0]["input"]
    assert sent["image"].startswith("data:image/png;base64,") and sent["duration"] == 5
    assert (usage.unit, usage.quantity) == ("seconds", 5)


def test_resume_reattaches_without_submitting(rep, replicate_fake, tmp_path):
    run(rep, tmp_path)
    usage, jobs = run(rep, tmp_path, resume_job_id="pred-1")
    assert len(replicate_fake.submissions) == 1 and jobs == []
    assert usage.request_id == "pred-1"


def test_resume_of_an_expired_prediction_is_reported_not_resubmitted(rep, replicate_fake, tmp_path):
    run(rep, tmp_path)
    replicate_fake.expire("pred-1")
    with pytest.raises(PermanentProviderError, match="job pred-1 expired; not resubmitting"):
        run(rep, tmp_path, resume_job_id="pred-1")
    assert len(replicate_fake.submissions) == 1


def test_failed_prediction_is_permanent_with_its_error(rep, replicate_fake, tmp_path):
    replicate_fake.outcome = "failed"
    with pytest.raises(PermanentProviderError, match="pred-1 failed: CUDA out of memory"):
        run(rep, tmp_path)
    assert not (tmp_path / "out.png").exists()


def test_bad_token_fails_with_replicate_message(http, replicate_fake, tmp_path, clock):
    rep = Replicate(
        http, api_token=SecretStr("r8_SECRETwrongtoken"), base_url=replicate_fake.url, clock=clock
    )
    with pytest.raises(PermanentProviderError) as info:
        run(rep, tmp_path)
    assert "Unauthenticated: You did not pass a valid authentication token" in str(info.value)
    assert "SECRET" not in str(info.value)


def test_validation_error_names_the_field(rep, replicate_fake, tmp_path):
    replicate_fake.inject("submit", "validation", field="aspect_ratio")
    with pytest.raises(PermanentProviderError, match="Input validation failed.*input.aspect_ratio"):
        run(rep, tmp_path)
    assert replicate_fake.jobs == {}


def test_429_on_create_honours_retry_after_and_submits_once(rep, replicate_fake, tmp_path, clock):
    replicate_fake.inject("submit", "rate_limit", retry_after=9)
    usage, jobs = run(rep, tmp_path)
    assert clock.sleeps[0] == 9 and jobs == ["pred-1"]
    assert len(replicate_fake.submissions) == 1


def creates(fake) -> int:
    return len(fake.requests_to("POST", "/predictions"))


def lookups(fake) -> list:
    return [r for r in fake.requests if r.method == "GET" and r.path == "/v1/predictions"]


def test_500_on_create_is_looked_up_before_anything_is_sent_again(
    rep, replicate_fake, tmp_path, clock
):
    """A 5xx after the create went out may have created a prediction: the list of
    predictions says it did not (twice), and only then is the create sent again."""
    replicate_fake.inject("submit", "server_error")
    usage, jobs = run(rep, tmp_path)
    assert jobs == ["pred-1"] and len(replicate_fake.submissions) == 1
    assert creates(replicate_fake) == 2 and len(lookups(replicate_fake)) == 2
    assert clock.sleeps[:3] == [2, 5, 1]


@pytest.mark.parametrize("fault", ["created_then_error", "created_then_slow", "created_then_drop"])
@pytest.mark.parametrize("ref", ["black-forest-labs/flux-1.1-pro", f"someone/model:{VERSION}"])
def test_a_create_whose_answer_is_lost_is_found_in_the_list_and_polled(
    rep, replicate_fake, tmp_path, clock, fault, ref
):
    rep.create_timeout = httpx.Timeout(0.3)
    replicate_fake.inject("submit", fault)
    usage, jobs = run(rep, tmp_path, ref=ref)
    assert jobs == ["pred-1"] and usage.request_id == "pred-1"
    assert creates(replicate_fake) == 1 and len(replicate_fake.submissions) == 1
    [lookup] = lookups(replicate_fake)
    assert lookup.query["created_after"].endswith("Z")
    assert (tmp_path / "out.png").read_bytes() == media_bytes("pred-1/out-0.png")


def test_two_matching_predictions_cannot_be_told_apart(rep, replicate_fake, tmp_path, clock):
    """The same input created twice within minutes (another run doing the same work):
    the lookup cannot tell which is ours, so the node fails instead of guessing."""
    run(rep, tmp_path)
    replicate_fake.inject("submit", "created_then_error")
    with pytest.raises(AmbiguousCreateError, match="2 predictions match") as info:
        run(rep, tmp_path)
    assert "may have been created: check the provider before re-running" in str(info.value)
    assert creates(replicate_fake) == 2


@pytest.mark.parametrize(
    ("fault", "opts"),
    [
        ("rate_limit", {"retry_after": 5}),
        ("rate_limit", {}),
        ("server_error", {}),
        ("malformed", {}),
        ("slow", {}),
    ],
)
def test_poll_faults_are_retried(rep, replicate_fake, tmp_path, clock, fault, opts):
    replicate_fake.inject("poll", fault, **opts)
    usage, jobs = run(rep, tmp_path)
    assert jobs == ["pred-1"] and len(replicate_fake.submissions) == 1
    assert (tmp_path / "out.png").exists()
    if "retry_after" in opts:
        assert clock.sleeps[1] == 5


def test_truncated_download_is_retried_and_never_promoted(rep, replicate_fake, tmp_path):
    replicate_fake.inject("download", "truncated")
    run(rep, tmp_path)
    assert (tmp_path / "out.png").read_bytes() == media_bytes("pred-1/out-0.png")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_always_truncated_download_leaves_no_file(rep, replicate_fake, tmp_path):
    replicate_fake.inject("download", "truncated", times=10)
    with pytest.raises(TransientProviderError, match="truncated"):
        run(rep, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert len(replicate_fake.submissions) == 1


def test_deleted_output_is_reported_as_expired(rep, replicate_fake, tmp_path):
    replicate_fake.inject("download", "expired")
    with pytest.raises(PermanentProviderError, match="expired; not resubmitting") as info:
        run(rep, tmp_path)
    assert "deadbeef" not in str(info.value)


def test_deadline_while_polling_is_transient_and_job_kept(rep, replicate_fake, tmp_path, clock):
    replicate_fake.polls_to_finish = 1000
    usage_jobs = Jobs()
    with pytest.raises(TransientProviderError, match="not finished"):
        run(rep, tmp_path, on_job=usage_jobs, deadline_s=60)
    assert usage_jobs == ["pred-1"]  # persisted: a retry re-attaches
    assert sum(clock.sleeps) <= 60


def test_create_that_times_out_is_not_sent_again(rep, replicate_fake, tmp_path, clock):
    """The create went out and may have been accepted: with no prediction found it fails
    as possibly billed, never resent."""
    rep.create_timeout = httpx.Timeout(0.3)
    replicate_fake.inject("submit", "slow", delay=0.5, then="server_error")
    with pytest.raises(AmbiguousCreateError, match="ReadTimeout") as info:
        run(rep, tmp_path)
    assert "look for a prediction of black-forest-labs/flux-1.1-pro created after" in str(
        info.value
    )
    assert creates(replicate_fake) == 1 and len(lookups(replicate_fake)) == 3


# --------------------------------------------------------------------------- image inputs


@pytest.fixture(scope="module")
def big_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1920x1080 PNG of noise (about 3 MB): even a JPEG at the lowest quality of it is
    over 256 KB at that size."""
    path = tmp_path_factory.mktemp("stills") / "noise.png"
    noise = "nullsrc=s=1920x1080,geq=random(1)*255:128:128"
    run_ffmpeg(
        ["-f", "lavfi", "-i", noise, "-frames:v", "1", "-update", "1", str(path)],
        operation="noise still",
        output=path,
    )
    assert path.stat().st_size > DATA_URL_LIMIT
    return path


def sent_image(fake) -> str:
    [body] = fake.submissions
    return body["input"]["image"]


def data_url(url: str) -> tuple[str, bytes]:
    """A data URL's media type and its decoded bytes."""
    header, _, payload = url.partition(",")
    assert header.startswith("data:") and header.endswith(";base64")
    return header[len("data:") : -len(";base64")], base64.b64decode(payload, validate=True)


def animate(rep, tmp_path: Path, image) -> None:
    rep.animation("waves", tmp_path / "clip.mp4", on_job=Jobs(), duration_s=5, image=image)


def test_a_small_still_is_sent_as_it_is(rep, replicate_fake, tmp_path):
    image = tmp_path / "still.png"
    image.write_bytes(media_bytes("still.png", DATA_URL_LIMIT))  # exactly at the limit
    animate(rep, tmp_path, image)
    assert data_url(sent_image(replicate_fake)) == ("image/png", image.read_bytes())


def test_a_url_is_passed_through(rep, replicate_fake, tmp_path):
    url = "https://bucket.s3.amazonaws.com/media/sha256/ab/ab12.png?X-Amz-Signature=abc"
    animate(rep, tmp_path, url)
    assert sent_image(replicate_fake) == url


def test_a_still_over_256_kb_is_sent_as_a_jpeg_that_fits(rep, replicate_fake, tmp_path, big_png):
    animate(rep, tmp_path, big_png)
    mime, data = data_url(sent_image(replicate_fake))
    assert mime == "image/jpeg" and len(data) <= DATA_URL_LIMIT
    assert data[:3] == b"\xff\xd8\xff"
    sent = tmp_path / "sent.jpg"
    sent.write_bytes(data)
    info = probe(sent)
    assert info.video_codec == "mjpeg" and info.is_image
    assert info.width < 1920  # no quality fits at full size: scaled down
    assert info.width / info.height == pytest.approx(1920 / 1080, rel=0.01)


def test_a_lower_quality_is_tried_before_a_smaller_size(big_png, tmp_path):
    data = fit_image(big_png, limit=600_000)
    sent = tmp_path / "sent.jpg"
    sent.write_bytes(data)
    info = probe(sent)
    assert len(data) <= 600_000 and (info.width, info.height) == (1920, 1080)


def test_a_still_that_fits_nowhere_fails_naming_the_file(big_png):
    with pytest.raises(PermanentProviderError) as info:
        fit_image(big_png, limit=100)
    message = str(info.value)
    assert str(big_png) in message and "\n" not in message
    assert "does not fit even as a" in message and "S3 media store" in message


# The node's executor: the media store decides what the client gets.

NODE = """
name: anim
mode: live
nodes:
  - {id: frame, type: generate-image, config: {provider: replicate, prompt: "a red sky"}}
  - id: clip
    type: generate-animation
    inputs: {image: frame}
    config: {provider: replicate, prompt: "slow zoom", duration_s: 4}
"""


def run_node(rep, store: MediaStore, image: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(generate_animation, "client_for", lambda provider: rep)
    node = load_spec(NODE).node("clip")
    run = RunInfo(
        run_id="run-1",
        pipeline="anim",
        mode="live",
        video=VideoSettings(),
        database_url="sqlite://",
        storage_url=str(tmp_path / "media"),
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    ctx = ExecContext(node=node, run=run, store=store, workdir=workdir)
    ref = store.put(image, kind="image")
    generate_animation.execute(node, {"image": [ref]}, ctx)


def test_node_on_a_local_store_sends_a_data_url(
    rep, replicate_fake, tmp_path, big_png, monkeypatch
):
    run_node(rep, LocalStore(tmp_path / "media"), big_png, tmp_path, monkeypatch)
    mime, data = data_url(sent_image(replicate_fake))
    assert mime == "image/jpeg" and len(data) <= DATA_URL_LIMIT


def test_node_on_an_s3_store_sends_a_presigned_url(
    rep, replicate_fake, tmp_path, big_png, monkeypatch, aws_env
):
    from vidpipe.storage.s3 import S3Store, make_client

    moto_endpoint = aws_env
    bucket = f"vidpipe-{uuid.uuid4().hex[:12]}"
    make_client().create_bucket(Bucket=bucket)
    store = S3Store(bucket, "media", cache_dir=tmp_path / "cache")
    run_node(rep, store, big_png, tmp_path, monkeypatch)
    url = sent_image(replicate_fake)
    assert url.startswith(f"{moto_endpoint}/{bucket}/media/sha256/") and "Signature=" in url
    assert httpx.URL(url).path.endswith(".png")  # the real extension, as the store keys it
    with httpx.Client() as client:  # what a provider fetches, without credentials
        assert client.get(url).content == big_png.read_bytes()
