"""One settings object: the only place vidpipe reads the environment.

Every field is optional; the defaults are the embedded ones (SQLite and media under
`./.vidpipe`, placeholder providers). Prefect blocks, where saved, take precedence for
credentials and storage (see `blocks/`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "Settings",
    "get_settings",
    "override_settings",
    "clear_overrides",
    "apply_prefect_defaults",
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDPIPE_", extra="ignore", populate_by_name=True)

    home: Path = Field(Path(".vidpipe"), description="Database and media folder")
    database_url: str | None = Field(None, description="Any SQLAlchemy URL")
    storage_url: str | None = Field(None, description="A folder or s3://bucket/prefix")
    ffmpeg: str | None = Field(None, description="Path of the ffmpeg binary to use")
    ffmpeg_timeout_s: float = 600.0
    ffmpeg_threads: int = Field(0, description="Concurrent FFmpeg jobs; 0 = number of cores")
    nightly_dir: Path = Field(Path("pipelines/nightly"), description="The nightly batch's files")
    pipelines_dir: Path = Field(Path("examples"), description="Where pipeline names are found")
    provider_concurrency: dict[str, int] = Field(
        default_factory=dict, description="Concurrent calls per live provider (JSON)"
    )
    price_overrides: Path | None = Field(
        None, description="A JSON file of prices that replace the price book's"
    )
    daily_soft_usd: float = Field(100.0, ge=0, description="Daily spending that warns")
    daily_hard_usd: float = Field(150.0, ge=0, description="Daily spending that refuses paid work")
    placeholder_latency_s: float = Field(
        0.0, ge=0, description="Seconds each placeholder provider call waits (fake latency)"
    )

    elevenlabs_api_key: SecretStr | None = Field(None, validation_alias="ELEVENLABS_API_KEY")
    heygen_api_key: SecretStr | None = Field(None, validation_alias="HEYGEN_API_KEY")
    replicate_api_token: SecretStr | None = Field(None, validation_alias="REPLICATE_API_TOKEN")
    veo_access_token: SecretStr | None = None
    veo_project: str | None = None
    veo_location: str | None = None

    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    heygen_base_url: str = "https://api.heygen.com"
    replicate_base_url: str = "https://api.replicate.com"
    veo_base_url: str | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'vidpipe.db').resolve()}"

    @property
    def results_dir(self) -> Path:
        """Prefect's result records for node tasks: the cache index, beside the media."""
        return (self.home / "results").resolve()

    @property
    def media_root(self) -> Path:
        if self.storage_url and "://" not in self.storage_url:
            return Path(self.storage_url)
        return self.home / "media"


def apply_prefect_defaults(settings: Settings | None = None) -> None:
    """Embedded defaults for Prefect, set before it is imported; explicit ones win.

    Analytics off (there may be no internet), and task results (the cache index: small
    records pointing at media) kept under VIDPIPE_HOME beside the media they point at.
    """
    import os

    settings = settings or get_settings()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(settings.results_dir))


_overrides: dict[str, Any] = {}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (plus any `override_settings`). Tests call
    `get_settings.cache_clear()`."""
    return Settings(**_overrides)


def clear_overrides() -> None:
    """Back to the environment alone."""
    _overrides.clear()
    get_settings.cache_clear()


def override_settings(**fields: Any) -> Settings:
    """Fields that take precedence over the environment in this process (saved Prefect
    blocks, see `blocks/`)."""
    _overrides.update(fields)
    get_settings.cache_clear()
    return get_settings()
