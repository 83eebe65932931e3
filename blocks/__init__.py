"""Prefect blocks for operating vidpipe: provider credentials, storage, money settings.

Register them once with `prefect block register -m blocks`, then save one of each under
the name `vidpipe` (README, "Operating vidpipe"). A flow run reads the saved blocks at its
start (`apply_saved_blocks`: one request, a block loaded again only when its update time
changed, `blocks/saved.py`); where a block is not saved, the environment is used.
Secrets are `SecretStr`: masked in reprs, logs and the UI.
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from blocks.alerts import VidpipeAlerts
from blocks.saved import BLOCK_NAME, saved_settings

__all__ = [
    "BLOCK_NAME",
    "ElevenLabsCredentials",
    "HeyGenCredentials",
    "ReplicateCredentials",
    "VeoCredentials",
    "VidpipeStorage",
    "VidpipeSettings",
    "VidpipeAlerts",
    "apply_saved_blocks",
]


class ElevenLabsCredentials(Block):
    """ElevenLabs text-to-speech: the API key (header xi-api-key)."""

    _block_type_name = "vidpipe ElevenLabs"
    api_key: SecretStr = Field(description="ElevenLabs API key")
    base_url: str | None = Field(None, description="Override the API base URL (proxies)")

    def settings(self) -> dict[str, Any]:
        return {"elevenlabs_api_key": self.api_key, "elevenlabs_base_url": self.base_url}


class HeyGenCredentials(Block):
    """HeyGen talking heads: the API key (header X-Api-Key)."""

    _block_type_name = "vidpipe HeyGen"
    api_key: SecretStr = Field(description="HeyGen API key")
    base_url: str | None = Field(None, description="Override the API base URL (proxies)")

    def settings(self) -> dict[str, Any]:
        return {"heygen_api_key": self.api_key, "heygen_base_url": self.base_url}


class ReplicateCredentials(Block):
    """Replicate predictions: the API token (Authorization: Bearer)."""

    _block_type_name = "vidpipe Replicate"
    api_token: SecretStr = Field(description="Replicate API token")
    base_url: str | None = Field(None, description="Override the API base URL (proxies)")

    def settings(self) -> dict[str, Any]:
        return {"replicate_api_token": self.api_token, "replicate_base_url": self.base_url}


class VeoCredentials(Block):
    """Veo 3.1 on Vertex AI: an access token, the project and location."""

    _block_type_name = "vidpipe Veo"
    access_token: SecretStr = Field(description="OAuth access token (or Gemini API key)")
    project: str = Field(description="Google Cloud project id")
    location: str = Field("us-central1", description="Vertex AI location")
    base_url: str | None = Field(None, description="Override the API base URL (proxies)")

    def settings(self) -> dict[str, Any]:
        return {
            "veo_access_token": self.access_token,
            "veo_project": self.project,
            "veo_location": self.location,
            "veo_base_url": self.base_url,
        }


class VidpipeStorage(Block):
    """Where media lives: a folder, or s3://bucket/prefix (AWS_* from the environment)."""

    _block_type_name = "vidpipe Storage"
    url: str = Field(description="A folder path or s3://bucket/prefix")

    def settings(self) -> dict[str, Any]:
        return {"storage_url": self.url}


class VidpipeSettings(Block):
    """Money defaults: daily limits and a price override file."""

    _block_type_name = "vidpipe Settings"
    daily_soft_usd: float = Field(100.0, description="Daily spending that warns")
    daily_hard_usd: float = Field(150.0, description="Daily spending that refuses paid work")
    price_overrides: str | None = Field(None, description="Path of a JSON price override file")

    def settings(self) -> dict[str, Any]:
        return {
            "daily_soft_usd": self.daily_soft_usd,
            "daily_hard_usd": self.daily_hard_usd,
            "price_overrides": self.price_overrides,
        }


_BLOCKS = (
    ElevenLabsCredentials,
    HeyGenCredentials,
    ReplicateCredentials,
    VeoCredentials,
    VidpipeStorage,
    VidpipeSettings,
    VidpipeAlerts,
)


def saved_block_settings() -> dict[str, Any]:
    """Settings fields from every vidpipe block saved under BLOCK_NAME (none: {})."""
    return saved_settings(_BLOCKS)


def apply_saved_blocks() -> list[str]:
    """Make saved blocks take precedence over the environment for this process; returns
    the fields they set (never their values). Unchanged blocks leave the process's
    settings object as it was (`override_settings` of the same values)."""
    from vidpipe.settings import override_settings

    fields = saved_block_settings()
    if fields:
        override_settings(**fields)
    return sorted(fields)
