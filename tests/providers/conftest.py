"""Provider fixtures: one fake server per provider (real HTTP on 127.0.0.1), an httpx
client with short timeouts, and a fake clock so polling never waits in real time."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from vidpipe.providers.http import FakeClock

from .fakes import FakeElevenLabs, FakeHeyGen, FakeReplicate, FakeServer, FakeVeo


def _serve(fake: FakeServer) -> Iterator[FakeServer]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def _forget_uploads() -> Iterator[None]:
    """HeyGen remembers uploads per process; a fake's port may be reused by the next."""
    from vidpipe.providers import heygen

    heygen._uploads.clear()
    yield
    heygen._uploads.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One client for the session (building one costs ~0.1 s: its TLS context). Short
    read timeout: a `slow` fault (0.5 s) times out instead of waiting."""
    with httpx.Client(timeout=httpx.Timeout(0.3, connect=2.0)) as client:
        yield client


@pytest.fixture
def eleven_fake() -> Iterator[FakeElevenLabs]:
    yield from _serve(FakeElevenLabs())


@pytest.fixture
def replicate_fake() -> Iterator[FakeReplicate]:
    yield from _serve(FakeReplicate())


@pytest.fixture
def heygen_fake() -> Iterator[FakeHeyGen]:
    yield from _serve(FakeHeyGen())


@pytest.fixture
def veo_fake() -> Iterator[FakeVeo]:
    yield from _serve(FakeVeo())
