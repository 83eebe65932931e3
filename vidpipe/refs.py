"""Media references: what flows between nodes instead of bytes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

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
    #: Files made with the media and kept beside it, by name: a voiceover's word timing
    #: (`alignment`), captions' cues (`vtt`, `srt`). Omitted from dumps when there are none.
    sidecars: dict[str, MediaRef] = {}

    def __hash__(self) -> int:
        return hash((self.uri, self.sha256))

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if not data.get("sidecars"):
            data.pop("sidecars", None)
        return data


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
