"""Live providers: one client per provider, made from the settings (credentials, base
URLs) around one shared `httpx.Client`, and the check that refuses a live run whose
providers have no credentials before anything is paid for. Importing it installs the
observability of the process that runs node tasks (`tasks/observe.py`): every provider
call the clients make is recorded there."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import httpx

from tasks import observe
from vidpipe.errors import ProviderError, SpecError
from vidpipe.providers.elevenlabs import ElevenLabs
from vidpipe.providers.heygen import HeyGen
from vidpipe.providers.http.reporting import Reported
from vidpipe.providers.replicate import Replicate
from vidpipe.providers.veo import Veo
from vidpipe.settings import get_settings

__all__ = [
    "LIVE_PROVIDERS",
    "DEFAULT_CONCURRENCY",
    "client_for",
    "check_credentials",
    "ensure_concurrency_limits",
]

# Every process that runs node tasks imports this module: its observability (run logs in
# the Prefect UI, the provider log, alerts at the moment of a daily limit) starts here.
observe.install()

_CLIENTS = {"elevenlabs": ElevenLabs, "heygen": HeyGen, "veo3": Veo, "replicate": Replicate}

#: Providers whose live client exists (the node types' `provider` values).
LIVE_PROVIDERS: frozenset[str] = frozenset(_CLIENTS)

#: Concurrent calls per provider when the operator has set no Prefect concurrency limit on
#: its `provider:<name>` tag: HeyGen's pay-as-you-go cap of 10 jobs, ElevenLabs' Creator
#: plan (5 for Multilingual v2), and a cautious 5 where no limit is published (Veo,
#: Replicate). `VIDPIPE_PROVIDER_CONCURRENCY='{"heygen": 20}'` changes the defaults.
DEFAULT_CONCURRENCY = {"heygen": 10, "elevenlabs": 5, "veo3": 5, "replicate": 5}


@lru_cache(maxsize=1)
def _http() -> httpx.Client:
    """One connection pool for every provider call of this process."""
    return httpx.Client(timeout=httpx.Timeout(120.0, connect=15.0))


def client_for(provider: str) -> Any:
    """The live client of a provider, from the current settings (PermanentProviderError
    naming the missing variable when its credentials are not set); every provider error
    its calls raise is reported (`vidpipe.providers.http.reporting.Reported`)."""
    return Reported(_CLIENTS[provider].from_settings(get_settings(), client=_http()))


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


def ensure_concurrency_limits(providers: Iterable[str]) -> dict[str, int]:
    """Create the `provider:<name>` tag limit of each provider that has none yet (an
    operator's own limit is left alone); returns the limits now in force."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    wanted = {**DEFAULT_CONCURRENCY, **get_settings().provider_concurrency}
    in_force = {}
    with get_client(sync_client=True) as client:
        for provider in sorted(set(providers) & set(wanted)):
            tag = f"provider:{provider}"
            try:
                in_force[provider] = client.read_concurrency_limit_by_tag(tag).concurrency_limit
            except ObjectNotFound:
                client.create_concurrency_limit(tag=tag, concurrency_limit=wanted[provider])
                in_force[provider] = wanted[provider]
    return in_force
