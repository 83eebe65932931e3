"""Live providers: one client per provider, made from the settings (credentials, base
URLs) around one shared `httpx.Client`, and the check that refuses a live run whose
providers have no credentials before anything is paid for."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import httpx

from vidpipe.errors import ProviderError, SpecError
from vidpipe.providers.elevenlabs import ElevenLabs
from vidpipe.providers.heygen import HeyGen
from vidpipe.providers.replicate import Replicate
from vidpipe.providers.veo import Veo
from vidpipe.settings import get_settings

__all__ = ["LIVE_PROVIDERS", "client_for", "check_credentials"]

_CLIENTS = {"elevenlabs": ElevenLabs, "heygen": HeyGen, "veo3": Veo, "replicate": Replicate}

#: Providers whose live client exists (the node types' `provider` values).
LIVE_PROVIDERS: frozenset[str] = frozenset(_CLIENTS)


@lru_cache(maxsize=1)
def _http() -> httpx.Client:
    """One connection pool for every provider call of this process."""
    return httpx.Client(timeout=httpx.Timeout(120.0, connect=15.0))


def client_for(provider: str) -> Any:
    """The live client of a provider, from the current settings (PermanentProviderError
    naming the missing variable when its credentials are not set)."""
    return _CLIENTS[provider].from_settings(get_settings(), client=_http())


def check_credentials(providers: Iterable[str]) -> None:
    """Refuse a live run up front when any of its providers cannot be called."""
    problems = []
    for provider in sorted(set(providers)):
        if provider not in _CLIENTS:
            problems.append(f"{provider}: no live client")
            continue
        try:
            client_for(provider)
        except ProviderError as exc:
            problems.append(str(exc))
    if problems:
        raise SpecError("live mode cannot call: " + "; ".join(problems))
