"""Media references: what flows between nodes instead of bytes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["text", "audio", "video", "image"]
KINDS: tuple[Kind, ...] = ("text", "audio", "video", "image")

__all__ = ["Kind", "KINDS", "MediaRef", "Usage"]


class MediaRef(BaseModel):
    """A pointer to stored media: never the bytes themselves."""

    model_config = ConfigDict(frozen=True)

    uri: str
    kind: Kind
    sha256: str
    bytes: int
    duration_s: float | None = None


class Usage(BaseModel):
    """What a provider call bills (or, for a placeholder, what it stands in for).

    `unit` is one of: characters, seconds, images, gpu_seconds, predictions.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    unit: str
    quantity: float
    stands_in_for: str | None = None
    request_id: str | None = None
