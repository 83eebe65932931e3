"""One settings object: the only place vidpipe reads the environment.

Every field is optional; the defaults are the embedded ones (SQLite and media under
`./.vidpipe`, placeholder providers). Prefect blocks, where saved, take precedence for
credentials and storage (see `blocks/`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as UnparsableSetting

from vidpipe.errors import SpecError
from vidpipe.netguard import AllowNetworks

__all__ = [
    "Settings",
    "SettingsError",
    "get_settings",
    "override_settings",
    "clear_overrides",
    "apply_prefect_defaults",
    "use_prefect_api",
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
    schedule_overrides: dict[str, dict] = Field(
        default_factory=dict,
        description="Schedules `vidpipe serve` uses instead of prefect.yaml's (JSON: "
        'deployment name -> one schedule, e.g. {"sweep-stuck-runs": {"interval": 5}})',
    )
    provider_concurrency: dict[str, int] = Field(
        default_factory=dict, description="Concurrent calls per live provider (JSON)"
    )
    price_overrides: Path | None = Field(
        None, description="A JSON file of prices that replace the price book's"
    )
    daily_soft_usd: float = Field(100.0, gt=0, description="Daily spending that warns")
    daily_hard_usd: float = Field(150.0, gt=0, description="Daily spending that refuses paid work")
    placeholder_latency_s: float = Field(
        0.0, ge=0, description="Seconds each placeholder provider call waits (fake latency)"
    )

    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines: text, or one JSON object per line (json)"
    )
    alert_webhook_url: SecretStr | None = Field(
        None, description="Where alerts are POSTed as JSON when no notification block is set"
    )
    alert_block: str | None = Field(
        None,
        description="A saved Prefect notification block that delivers alerts, as "
        "BLOCK-TYPE/NAME (e.g. slack-webhook/ops)",
    )
    alert_failure_rate: float = Field(
        0.05, ge=0, le=1, description="Run failure rate above which an alert fires"
    )
    alert_failure_window_s: float = Field(
        3600.0, gt=0, description="Seconds of ended runs the failure rate looks at"
    )
    alert_failure_last_runs: int = Field(
        0, ge=0, description="Look at the last N ended runs instead of the window (0: off)"
    )
    alert_provider_down_s: float = Field(
        300.0, gt=0, description="Seconds a provider fails every call before an alert fires"
    )
    alert_p95_run_s: float = Field(
        600.0, gt=0, description="p95 run duration (s) above which an alert fires"
    )
    alert_p95_window_s: float = Field(
        3600.0, gt=0, description="Seconds of completed runs the p95 duration looks at"
    )
    alert_cache_hit_rate: float = Field(
        0.8, ge=0, le=1, description="Cache hit rate below which an alert fires"
    )
    alert_cache_window_s: float = Field(
        86400.0, gt=0, description="Seconds of node runs the cache hit rate looks at"
    )
    alert_approval_wait_h: float = Field(
        4.0, gt=0, description="Hours a run may wait for approval before an alert fires"
    )
    alert_refusal_window_s: float = Field(
        3600.0, gt=0, description="Seconds a hard-limit alert fires after the last refusal"
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

    debug: bool = Field(False, description="Show tracebacks for errors a user caused")
    server: Literal["local", "ephemeral"] = Field(
        "local",
        description="Prefect without PREFECT_API_URL: this home's local server, or a "
        "temporary one per command",
    )
    server_idle_s: float = Field(
        1800.0, gt=0, description="Seconds without use before the local server stops"
    )
    prefect_api_url: str | None = Field(
        None, validation_alias="PREFECT_API_URL", description="A Prefect server to use"
    )
    media_url: str = Field(
        "http://127.0.0.1:8765",
        description="Where reviewers' browsers reach `vidpipe media serve` (links to a "
        "local media store)",
    )
    media_signing_key: SecretStr | None = Field(
        None,
        description="The key media links are signed with; unset: a random one kept in "
        "VIDPIPE_HOME/media-link.key (mode 0600)",
    )
    media_link_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="Seconds a media link stays valid"
    )
    allow_networks: AllowNetworks = Field(
        default_factory=list,
        description="Private networks asset URLs may reach anyway (CIDRs: JSON list or "
        "comma-separated, e.g. 127.0.0.0/8,10.1.0.0/16)",
    )

    @field_validator("media_url")
    @classmethod
    def _media_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:8765")
        return value.rstrip("/")

    @field_validator("alert_block")
    @classmethod
    def _block_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9-]+/[^/\s]+", value):
            raise ValueError(
                f"{value!r} is not BLOCK-TYPE/NAME: give the block type's slug and the "
                "saved block's name, e.g. slack-webhook/ops"
            )
        return value

    @model_validator(mode="after")
    def _limits_agree(self) -> Settings:
        if self.daily_soft_usd > self.daily_hard_usd:
            raise ValueError(
                f"VIDPIPE_DAILY_SOFT_USD ({self.daily_soft_usd:g}) is above "
                f"VIDPIPE_DAILY_HARD_USD ({self.daily_hard_usd:g}): the soft limit warns "
                "before the hard one refuses, so it must not be higher"
            )
        return self

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


class SettingsError(SpecError):
    """Settings that cannot work (a malformed number, limits that contradict each other):
    refused at start, before a run is opened, with one line naming the variable."""


def _describe(exc: ValidationError) -> str:
    """A pydantic error as one line per problem, named by its environment variable."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        name = Settings.model_fields.get(field)
        alias = name.validation_alias if name is not None else None
        variable = alias if isinstance(alias, str) else f"VIDPIPE_{field.upper()}"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{variable}: {message}" if field else message)
    return "bad settings: " + "; ".join(parts)


def use_prefect_api(api_url: str) -> None:
    """Point this process (and the processes it starts) at a Prefect server."""
    import os

    os.environ["PREFECT_API_URL"] = api_url


_overrides: dict[str, Any] = {}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (plus any `override_settings`). Tests call
    `get_settings.cache_clear()`. Raises `SettingsError` (one line) for bad values."""
    try:
        return Settings(**_overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except UnparsableSetting as exc:  # a value pydantic-settings cannot even parse (JSON)
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"VIDPIPE_{field.group(1).upper()}" if field else "a VIDPIPE_ variable"
        raise SettingsError(f"bad settings: {name} cannot be parsed (expected JSON)") from None


def clear_overrides() -> None:
    """Back to the environment alone."""
    _overrides.clear()
    get_settings.cache_clear()


def override_settings(**fields: Any) -> Settings:
    """Fields that take precedence over the environment in this process (saved Prefect
    blocks, see `blocks/`). The same values again keep the settings object as it is: the
    environment is read once per process, and again only when something changed."""
    if any(name not in _overrides or _overrides[name] != value for name, value in fields.items()):
        _overrides.update(fields)
        get_settings.cache_clear()
    return get_settings()
