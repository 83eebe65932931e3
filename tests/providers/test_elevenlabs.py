"""ElevenLabs TTS against its fake: audio and word timing (with-timestamps), usage, both
error shapes, backoff, splits."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tasks.runtime import is_transient
from vidpipe import media
from vidpipe.errors import AmbiguousCreateError, PermanentProviderError, TransientProviderError
from vidpipe.providers.elevenlabs import ElevenLabs, split_text
from vidpipe.settings import Settings

from .fakes import FakeElevenLabs, spoken_seconds


@pytest.fixture
def tts(http, eleven_fake, clock):
    return ElevenLabs(
        http, api_key=SecretStr(eleven_fake.api_key), base_url=eleven_fake.url, clock=clock
    )


def speak(tts, tmp_path, text="Hello there.", **kw):
    kw.setdefault("voice_id", "21m00Tcm4TlvDq8ikWAM")
    return tts.voiceover(text, tmp_path / "voice.mp3", **kw)


def test_speaks_to_file_with_usage_from_headers(tts, eleven_fake, tmp_path):
    usage, alignment = speak(tts, tmp_path, stability=0.5, similarity_boost=0.7, speed=1.1)
    assert (tmp_path / "voice.mp3").read_bytes() == FakeElevenLabs.speech_for("Hello there.")
    assert media.probe(tmp_path / "voice.mp3").audio_codec == "mp3"
    assert usage.model_dump(exclude_none=True) == {
        "provider": "elevenlabs",
        "model": "eleven_multilingual_v2",
        "unit": "characters",
        "quantity": 12.0,
        "request_id": "req-1",
    }
    [sent] = eleven_fake.submissions
    assert sent["output_format"] == "mp3_44100_128"  # a query parameter, not a body field
    assert sent["voice_settings"] == {"stability": 0.5, "similarity_boost": 0.7, "speed": 1.1}
    [post] = eleven_fake.requests_to("POST", "/v1/text-to-speech/")
    assert post.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/with-timestamps"
    assert alignment.source == "elevenlabs"
    assert [w.text for w in alignment.words] == ["Hello", "there."]
    hello, there = alignment.words
    assert 0 == hello.start_s < hello.end_s < there.start_s < there.end_s
    assert there.end_s <= spoken_seconds("Hello there.") <= media.duration(tmp_path / "voice.mp3")


def test_bad_key_fails_with_elevenlabs_message_and_no_secret(http, eleven_fake, tmp_path, clock):
    wrong = "sk-wrong-key-SECRET-123"
    tts = ElevenLabs(http, api_key=SecretStr(wrong), base_url=eleven_fake.url, clock=clock)
    with pytest.raises(PermanentProviderError) as info:
        speak(tts, tmp_path)
    assert info.value.status == 401
    assert "invalid_api_key: Invalid API key" in str(info.value)
    assert wrong not in str(info.value)
    assert clock.sleeps == [] and not (tmp_path / "voice.mp3").exists()


def test_quota_exceeded_is_permanent(tts, eleven_fake, tmp_path):
    eleven_fake.inject("submit", "quota")
    with pytest.raises(PermanentProviderError, match="quota_exceeded"):
        speak(tts, tmp_path)


def test_validation_error_list_shape(tts, eleven_fake, tmp_path):
    eleven_fake.inject("submit", "validation", field="text")
    with pytest.raises(PermanentProviderError, match=r"422.*body\.text: field required"):
        speak(tts, tmp_path)


def test_429_without_retry_after_backs_off_itself(tts, eleven_fake, tmp_path, clock):
    eleven_fake.inject("submit", "rate_limit", times=3)
    usage, _ = speak(tts, tmp_path)
    assert usage.quantity == 12
    assert clock.sleeps == [1, 1.5, 2.25]  # our own backoff: ElevenLabs gives no hint
    assert len(eleven_fake.submissions) == 1  # three refused, one served


def tts_posts(fake) -> int:
    return len(fake.requests_to("POST", "/v1/text-to-speech/"))


def test_a_500_that_made_nothing_is_looked_up_then_sent_again(tts, eleven_fake, tmp_path, clock):
    """ElevenLabs answered 500 itself and its history has no such speech (two lookups):
    nothing was billed, so the request is sent again."""
    eleven_fake.inject("submit", "server_error")
    speak(tts, tmp_path)
    assert (tmp_path / "voice.mp3").read_bytes() == FakeElevenLabs.speech_for("Hello there.")
    assert clock.sleeps == [2, 5, 1]  # two history lookups, then our backoff
    [lookup, _] = eleven_fake.requests_to("GET", "/v1/history")
    assert lookup.query["voice_id"] == "21m00Tcm4TlvDq8ikWAM"
    assert tts_posts(eleven_fake) == 2 and len(eleven_fake.submissions) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["voice.mp3"]


@pytest.mark.parametrize(
    "fault",
    [
        "created_then_error",
        "created_then_slow",
        "created_then_drop",
        "created_then_no_audio",
        "truncated",
    ],
)
def test_speech_made_but_lost_fails_as_possibly_billed_and_is_not_sent_again(
    tts, eleven_fake, tmp_path, fault
):
    """The speech was generated (and billed) and the answer lost: the history shows it,
    so the node fails naming the request instead of paying for it twice."""
    eleven_fake.inject("submit", fault)
    with pytest.raises(AmbiguousCreateError) as info:
        speak(tts, tmp_path)
    message = str(info.value)
    assert "may have been created: check the provider before re-running" in message
    assert "hist-1" in message and info.value.request_id == "req-1"
    assert tts_posts(eleven_fake) == 1 and len(eleven_fake.submissions) == 1
    assert list(tmp_path.iterdir()) == []
    assert not is_transient(info.value)


def test_a_timeout_is_never_sent_again_even_with_nothing_in_the_history(
    tts, eleven_fake, tmp_path, clock
):
    """A timed-out request may still be running: an empty history proves nothing."""
    eleven_fake.inject("submit", "slow", delay=0.5, then="server_error")
    with pytest.raises(AmbiguousCreateError, match="ReadTimeout") as info:
        speak(tts, tmp_path)
    assert info.value.request_id is None
    assert clock.sleeps == [2, 5, 10]  # three lookups
    assert tts_posts(eleven_fake) == 1


def test_connection_refused_is_sent_again(tts, tmp_path, clock):
    """Nothing was sent, so nothing was billed: retried until the deadline."""
    tts.base_url = "http://127.0.0.1:9"  # discard port: refused
    tts.deadline_s = 5
    with pytest.raises(TransientProviderError, match="ConnectError"):
        speak(tts, tmp_path)
    assert len(clock.sleeps) > 1


def test_persistent_429_ends_transient_at_the_deadline(http, eleven_fake, tmp_path, clock):
    tts = ElevenLabs(
        http,
        api_key=SecretStr(eleven_fake.api_key),
        base_url=eleven_fake.url,
        clock=clock,
        deadline_s=20,
    )
    eleven_fake.inject("submit", "rate_limit", times=100)
    with pytest.raises(TransientProviderError, match="too_many_concurrent_requests"):
        speak(tts, tmp_path)
    assert not (tmp_path / "voice.mp3").exists()


def test_long_script_is_split_at_sentences_and_joined(tts, eleven_fake, tmp_path):
    sentences = [f"Sentence number {i} is here." for i in range(200)]  # ~5,400 characters
    text = " ".join(sentences)
    usage, alignment = speak(tts, tmp_path, text=text, model_id="eleven_v3")
    parts = [s["text"] for s in eleven_fake.submissions]
    assert len(parts) == 2 and all(len(p) <= 3000 for p in parts)
    assert all(p.endswith(".") for p in parts)  # cut at sentence ends
    assert " ".join(parts) == text
    assert eleven_fake.submissions[1]["previous_request_ids"] == ["req-1"]
    joined = b"".join(FakeElevenLabs.speech_for(p) for p in parts)
    assert (tmp_path / "voice.mp3").read_bytes() == joined
    assert usage.quantity == sum(len(p) for p in parts)
    assert usage.request_id == "req-1,req-2"
    assert [p.name for p in tmp_path.iterdir()] == ["voice.mp3"]
    # one alignment: the second part's words shifted by the first part's audio
    assert [w.text for w in alignment.words] == text.split()
    starts = [w.start_s for w in alignment.words]
    assert starts == sorted(starts)
    first_words = len(parts[0].split())
    second = alignment.words[first_words]
    (tmp_path / "first.mp3").write_bytes(FakeElevenLabs.speech_for(parts[0]))
    assert second.start_s == pytest.approx(media.duration(tmp_path / "first.mp3"), abs=0.001)
    assert alignment.end_s <= media.duration(tmp_path / "voice.mp3") + 0.05


def test_an_answer_without_timing_gets_an_estimate_over_its_audio(tmp_path):
    """The alignment is missing or is not of the text sent: the words are spread over the
    audio's duration instead, still the script's words."""
    from vidpipe.providers.elevenlabs import _duration, _joined, _timing_of

    text = "Hello there, world."
    assert _timing_of({"audio_base64": "AA=="}, text) is None
    wrong = {"characters": list("Hi"), "character_start_times_seconds": [0, 0.1],
             "character_end_times_seconds": [0.1, 0.2]}  # fmt: skip
    assert _timing_of({"alignment": wrong}, text) is None
    alignment = _joined([text], [None], [3.0])
    assert [w.text for w in alignment.words] == ["Hello", "there,", "world."]
    assert alignment.source == "elevenlabs" and 2.5 < alignment.end_s <= 3.0
    raw = tmp_path / "part.pcm"
    raw.write_bytes(bytes(44_100))  # 16-bit mono: 22,050 samples
    assert _duration(raw, "pcm_22050") == pytest.approx(1.0)


def test_split_text_edge_cases():
    assert split_text("", 10) == []
    assert split_text("Short.", 10) == ["Short."]
    assert split_text("One two three four five", 9) == ["One two", "three", "four five"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("A b. C d. E f.", 9) == ["A b. C d.", "E f."]


def test_from_settings_refuses_without_a_key(http, monkeypatch):
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    with pytest.raises(PermanentProviderError, match="ELEVENLABS_API_KEY"):
        ElevenLabs.from_settings(Settings(), http)
    client = ElevenLabs.from_settings(
        Settings(ELEVENLABS_API_KEY="k", elevenlabs_base_url="http://x"), http
    )
    assert client.base_url == "http://x" and client.client is http


@pytest.mark.parametrize(
    ("suffix", "output_format"), [(".mp3", "mp3_44100_128"), (".wav", "wav_44100")]
)
def test_joined_parts_play_as_one_file(tmp_path, suffix, output_format):
    """Real audio: MP3 parts joined byte-wise and WAV parts joined by FFmpeg probe as one
    stream as long as the parts together (MP3: plus each part's encoder padding, ~50 ms)."""
    from vidpipe import media
    from vidpipe.providers.elevenlabs import _join

    parts = [media.tone(tmp_path / f"p{i}{suffix}", duration_s=1.0 + i) for i in range(2)]
    out = tmp_path / f"joined{suffix}"
    _join(parts, out, output_format)
    assert media.duration(out) == pytest.approx(3.0, abs=0.15)


def test_from_settings_of_every_provider_refuses_without_credentials(http, monkeypatch):
    from vidpipe.providers.heygen import HeyGen
    from vidpipe.providers.replicate import Replicate
    from vidpipe.providers.veo import Veo

    for name in ("HEYGEN_API_KEY", "REPLICATE_API_TOKEN", "VIDPIPE_VEO_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    for cls, variable in [
        (HeyGen, "HEYGEN_API_KEY"),
        (Replicate, "REPLICATE_API_TOKEN"),
        (Veo, "VIDPIPE_VEO_ACCESS_TOKEN"),
    ]:
        with pytest.raises(PermanentProviderError, match=variable):
            cls.from_settings(settings, http)
    veo = Veo.from_settings(
        Settings(veo_access_token="t", veo_project="p", veo_location="europe-west4"), http
    )
    assert veo.base_url == "https://europe-west4-aiplatform.googleapis.com"
    assert HeyGen.from_settings(Settings(HEYGEN_API_KEY="k"), http).upload_url == (
        "https://upload.heygen.com"
    )
