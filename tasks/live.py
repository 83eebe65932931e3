"""Live providers: until their clients land (`vidpipe/providers/<name>.py`), a live node
is refused with a clear message before anything is paid for."""

from __future__ import annotations

from vidpipe.errors import PermanentProviderError
from vidpipe.spec import NodeSpec

#: Providers whose live client exists; the flow checks this before a run starts.
LIVE_PROVIDERS: frozenset[str] = frozenset()


def require_live(node: NodeSpec, provider: str | None) -> None:
    if provider not in LIVE_PROVIDERS:
        raise PermanentProviderError(
            f"node '{node.id}': live mode for provider '{provider}' is not available in this "
            "version; run with --mode placeholder",
            provider=provider or "",
        )
