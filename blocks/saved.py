"""The settings vidpipe's saved blocks set, read with one request per flow run.

Every block vidpipe reads is saved under one name (`BLOCK_NAME`). One request lists the
saved documents of the asked block types with their update times, secrets left out; a
block is loaded in full (`Block.load`) only when it is new to this process or its update
time changed since it was loaded, so an unchanged block costs no more than its line in
that list. A block deleted since is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from prefect.blocks.core import Block
from prefect.client.orchestration import get_client

__all__ = ["BLOCK_NAME", "saved_settings", "forget_saved"]

#: The name every vidpipe block is saved under.
BLOCK_NAME = "vidpipe"

#: Block type slug -> (the document's id and update time, the settings it set).
_loaded: dict[str, tuple[tuple[Any, Any], dict[str, Any]]] = {}
_lock = threading.Lock()


def _saved_versions(slugs: list[str]) -> dict[str, tuple[Any, Any]]:
    """Block type slug -> (document id, update time) of each saved `BLOCK_NAME` block."""
    with get_client(sync_client=True) as client:
        response = client.request(
            "POST",
            "/block_documents/filter",
            json={
                "block_documents": {"name": {"any_": [BLOCK_NAME]}},
                "block_types": {"slug": {"any_": slugs}},
                "include_secrets": False,
                "limit": max(len(slugs), 1) * 2,
            },
        )
    found: dict[str, tuple[Any, Any]] = {}
    for doc in response.json():
        slug = (doc.get("block_type") or {}).get("slug")
        if slug in slugs and doc.get("name") == BLOCK_NAME:
            found[slug] = (doc.get("id"), doc.get("updated"))
    return found


def saved_settings(block_types: Iterable[type[Block]]) -> dict[str, Any]:
    """The settings fields the saved blocks of `block_types` set (unset ones left out),
    loading only the blocks that changed since this process last loaded them."""
    by_slug = {t.get_block_type_slug(): t for t in block_types}
    versions = _saved_versions(sorted(by_slug))
    found: dict[str, Any] = {}
    with _lock:
        for slug, block_type in by_slug.items():
            version = versions.get(slug)
            if version is None:  # not registered, not saved, or deleted
                _loaded.pop(slug, None)
                continue
            held = _loaded.get(slug)
            if held is None or held[0] != version:
                try:
                    block = block_type.load(BLOCK_NAME, _sync=True)  # type: ignore[call-arg]
                except (ValueError, KeyError):  # deleted meanwhile
                    _loaded.pop(slug, None)
                    continue
                fields = {k: v for k, v in block.settings().items() if v is not None}
                held = _loaded[slug] = (version, fields)
            found.update(held[1])
    return found


def forget_saved() -> None:
    """Load every block again at the next read (tests)."""
    with _lock:
        _loaded.clear()
