"""Saved blocks are read with one request per flow run and loaded again only when their
update time changes; unchanged blocks leave the process's settings object as it was."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from vidpipe.settings import clear_overrides, get_settings


@pytest.fixture
def requests(monkeypatch) -> list[str]:
    """The paths of the Prefect API requests this process sends (Prefect's own client)."""
    sent: list[str] = []
    original = httpx.Client.send

    def send(self, request, **kwargs):
        sent.append(request.url.path)
        return original(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)
    return sent


@pytest.fixture
def registered(home):
    from blocks import ElevenLabsCredentials, VidpipeSettings
    from blocks.saved import forget_saved

    ElevenLabsCredentials.register_type_and_schema()
    VidpipeSettings.register_type_and_schema()
    forget_saved()
    yield
    for block_type in (ElevenLabsCredentials, VidpipeSettings):
        with contextlib.suppress(Exception):  # not saved by this test
            block_type.delete("vidpipe")
    forget_saved()
    clear_overrides()


def test_an_unchanged_block_is_listed_not_loaded_and_keeps_the_settings(
    registered, requests, monkeypatch
):
    from blocks import ElevenLabsCredentials, apply_saved_blocks

    monkeypatch.setenv("ELEVENLABS_API_KEY", "from-the-environment")
    get_settings.cache_clear()
    ElevenLabsCredentials(api_key="first-key-0123").save("vidpipe", overwrite=True)

    requests.clear()
    assert apply_saved_blocks() == ["elevenlabs_api_key"]
    first = get_settings()
    assert first.elevenlabs_api_key.get_secret_value() == "first-key-0123"
    assert any("/block_types/slug/vidpipe-elevenlabs/" in p for p in requests)

    requests.clear()
    assert apply_saved_blocks() == ["elevenlabs_api_key"]
    asked = [p for p in requests if not p.endswith("/csrf-token")]  # a new client's
    assert asked == ["/api/block_documents/filter"]  # one request, nothing loaded
    assert get_settings() is first  # the environment was not read again


def test_a_block_saved_again_is_loaded_again(registered):
    from blocks import ElevenLabsCredentials, VidpipeSettings, apply_saved_blocks

    ElevenLabsCredentials(api_key="first-key-0123").save("vidpipe", overwrite=True)
    assert apply_saved_blocks() == ["elevenlabs_api_key"]
    assert get_settings().elevenlabs_api_key.get_secret_value() == "first-key-0123"

    ElevenLabsCredentials(api_key="second-key-4567").save("vidpipe", overwrite=True)
    VidpipeSettings(daily_soft_usd=40.0, daily_hard_usd=42.0).save("vidpipe", overwrite=True)
    fields = apply_saved_blocks()
    assert "elevenlabs_api_key" in fields and "daily_hard_usd" in fields
    assert get_settings().elevenlabs_api_key.get_secret_value() == "second-key-4567"
    assert get_settings().daily_hard_usd == 42.0

    VidpipeSettings.delete("vidpipe")
    assert apply_saved_blocks() == ["elevenlabs_api_key"]  # a deleted block is dropped
