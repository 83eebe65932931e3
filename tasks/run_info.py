"""What a node's run is, seen from its task: `RunInfo`, the media store it names and the
content digest of a local asset, kept in `vidpipe.run_info` (no Prefect there, so
`vidpipe plan` reads them too) and importable from here."""

from __future__ import annotations

from vidpipe.run_info import RunInfo, _store, source_digest, store_for

__all__ = ["RunInfo", "source_digest", "store_for", "_store"]
