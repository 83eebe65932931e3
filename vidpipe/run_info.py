"""What a node's run is: the run's identity and settings (`RunInfo`), the media store
they name, and the content digest of a local asset.

The cache keys (`vidpipe.cache_keys`), the estimate (`vidpipe.estimating`) and the node
tasks (`tasks/`) all read these; no Prefect here, so `vidpipe plan` can use them without
importing it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vidpipe.errors import StorageError
from vidpipe.settings import Settings
from vidpipe.spec import NodeSpec, PipelineSpec, VideoSettings
from vidpipe.storage import MediaStore, open_store, sha256_file

__all__ = ["RunInfo", "source_digest", "store_for"]


class RunInfo(BaseModel):
    """What a node task needs to know about its run. Not part of the cache key but `mode`
    (through the effective provider) and `video` (for visual outputs)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    pipeline: str
    mode: Literal["placeholder", "live"]
    video: VideoSettings
    base_dir: str | None = None
    database_url: str
    storage_url: str
    #: Seconds a placeholder provider waits, standing in for a real provider's latency.
    placeholder_latency_s: float = 0.0
    budget_usd: float | None = None

    def video_for(self, node: NodeSpec) -> VideoSettings:
        """The video target of a node: its variant's (`node.video`), else the file's."""
        return node.video or self.video

    @classmethod
    def for_spec(
        cls, spec: PipelineSpec, settings: Settings, *, run_id: str, mode: str, **extra: Any
    ) -> RunInfo:
        """The run info of a spec under these settings (database, store, latency)."""
        return cls(
            run_id=run_id,
            pipeline=spec.name,
            mode=mode,
            video=spec.video,
            base_dir=str(spec.base_dir) if spec.base_dir else None,
            database_url=settings.resolved_database_url,
            storage_url=settings.storage_url or str(settings.media_root.resolve()),
            placeholder_latency_s=settings.placeholder_latency_s,
            **extra,
        )


def source_digest(node: NodeSpec, run: RunInfo) -> str | None:
    """The content digest of an asset's local file (so an edited file is a new key)."""
    if node.asset is None or node.asset.path is None or run.base_dir is None:
        return None
    path = Path(run.base_dir) / node.asset.path
    try:
        return sha256_file(path)
    except StorageError:
        return None  # the executor reports the missing file, naming the node


@lru_cache(maxsize=8)
def _store(url: str) -> MediaStore:
    return open_store(url)


def store_for(run: RunInfo) -> MediaStore:
    """The media store the run writes to (one per URL and process)."""
    return _store(run.storage_url)
