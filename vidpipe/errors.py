"""The errors vidpipe raises, drawn once:

    VidpipeError                 every error of vidpipe's own; `str()` is one clear line
    ├── SpecError                a pipeline file or a CLI argument is wrong (exit code 2)
    ├── BudgetError              a budget refuses the work (exit code 4)
    ├── ProviderError            a generative service failed
    │   ├── TransientProviderError   worth retrying: timeout, 429, 5xx, dropped connection
    │   └── PermanentProviderError   not worth retrying: 4xx validation, failed job, safety
    │       └── AmbiguousCreateError a paid create's outcome is unknown: never sent again
    ├── MediaError               FFmpeg could not read or make a file
    └── StorageError             the media store could not read or write an object

Messages never carry secrets: provider clients redact credentials before raising.
"""

from __future__ import annotations

__all__ = [
    "VidpipeError",
    "SpecError",
    "BudgetError",
    "ProviderError",
    "TransientProviderError",
    "PermanentProviderError",
    "AmbiguousCreateError",
    "MediaError",
    "StorageError",
]


class VidpipeError(Exception):
    """Base of every error vidpipe raises on purpose."""

    exit_code = 1


class SpecError(VidpipeError):
    """Bad input: a pipeline file, a revision, a CLI argument."""

    exit_code = 2


class BudgetError(VidpipeError):
    """A run or a node would spend more than its budget allows."""

    exit_code = 4


class ProviderError(VidpipeError):
    """A generative provider failed. `provider` names it; `status` is the HTTP status if any;
    `request_id` the provider's id of the failed request when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.request_id = request_id


class TransientProviderError(ProviderError):
    """A failure worth retrying (timeouts, 429, 5xx, dropped connections)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after_s: float | None = None,
        request_id: str | None = None,
    ):
        super().__init__(message, provider=provider, status=status, request_id=request_id)
        self.retry_after_s = retry_after_s


class PermanentProviderError(ProviderError):
    """A failure that retrying cannot fix (4xx validation, a failed or filtered job)."""


class AmbiguousCreateError(PermanentProviderError):
    """A paid create went out and its outcome is unknown (a 5xx, a timeout or a dropped
    connection after the request was sent), and no lookup could tell whether the job
    exists. The job may exist and bill, so neither the client nor the task's retries send
    it again; the node fails and its estimate is recorded as `possibly_billed`."""


class MediaError(VidpipeError):
    """FFmpeg failed on a file. `operation` names the step, `stderr_tail` what FFmpeg said."""

    def __init__(self, message: str, *, operation: str = "", path: str = "", stderr_tail: str = ""):
        detail = f"{operation}: {message}" if operation else message
        if path:
            detail += f" ({path})"
        if stderr_tail:
            detail += f"\n{stderr_tail}"
        super().__init__(detail)
        self.operation = operation
        self.path = path
        self.stderr_tail = stderr_tail


class StorageError(VidpipeError):
    """The media store could not read or write an object."""
