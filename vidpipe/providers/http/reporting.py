"""Telling the observers (`vidpipe.observers`) about each provider call: every failure
once, at the first place that sees it, with its kind; and each call that answered.

Kinds: `rate_limited` (429, 425), `server_error` (5xx), `timeout` (408, a read or connect
timeout, a job not finished by its deadline), `connection` (a connection refused or
dropped), `malformed` (a 2xx whose JSON did not parse), `unauthorized` (401, 403),
`rejected` (any other 4xx), `truncated` (a download cut short), `job_failed` (the
provider's job failed or was filtered). A failure that wraps one already reported (a
paid create whose outcome is unknown) is not reported again. `Reported` wraps a client
so that what its own code raises (a job the provider failed) is reported too, and log
lines carry the provider's job id once it is known.
"""

from __future__ import annotations

from typing import Any

import httpx

from vidpipe import logs, observers
from vidpipe.errors import AmbiguousCreateError, PermanentProviderError, ProviderError

_REPORTED = "_vidpipe_reported"


def kind_of_status(status: int | None) -> str:
    """The kind of failure an HTTP status is."""
    if status is None:
        return "connection"
    if status in (429, 425):
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status in (401, 403):
        return "unauthorized"
    if status >= 500:
        return "server_error"
    return "rejected"


def kind_of_transport(exc: httpx.TransportError) -> str:
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"


def reported(exc: BaseException) -> bool:
    """Whether this failure (or the one it wraps) was reported already."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if getattr(current, _REPORTED, False):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def report(exc: ProviderError, kind: str | None = None) -> ProviderError:
    """Report a failed call once (`kind` defaults to the one its status says); returns
    the error, so `raise report(error)` reads as one step."""
    if reported(exc) or not exc.provider:
        return exc
    if isinstance(exc, AmbiguousCreateError):  # its cause was the failed call
        kind = kind or "server_error"
    setattr(exc, _REPORTED, True)
    observers.provider_failed(
        observers.ProviderFailure(
            provider=exc.provider,
            kind=kind or kind_of_status(exc.status),
            status=exc.status,
            message=str(exc)[:500],
        )
    )
    return exc


def report_unseen(exc: BaseException, kind: str) -> None:
    """Report a provider error that reached a caller without being reported (a job the
    client found failed, a deadline passed)."""
    if isinstance(exc, ProviderError) and not reported(exc):
        report(exc, kind if exc.status is None else None)


def answered(provider: str) -> None:
    """A call to `provider` succeeded."""
    if provider:
        observers.provider_answered(provider)


class Reported:
    """A provider client whose every method reports the provider errors it raises that
    the HTTP layer did not see (a job the provider failed, a reply the client could not
    use): `tasks/live.py` hands these to the node tasks."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            _note_jobs(kwargs)
            try:
                return found(*args, **kwargs)
            except ProviderError as exc:
                permanent = isinstance(exc, PermanentProviderError)
                report_unseen(exc, "job_failed" if permanent else "malformed")
                raise

        return call


def _note_jobs(kwargs: dict[str, Any]) -> None:
    """Log lines from here on carry the provider's job id: the one resumed, and the one a
    create returns (through the `on_job` callback every paid call takes)."""
    if kwargs.get("resume_job_id"):
        logs.set_context(job_id=kwargs["resume_job_id"])
    on_job = kwargs.get("on_job")
    if callable(on_job):

        def noted(job_id: str) -> None:
            logs.set_context(job_id=job_id)
            on_job(job_id)

        kwargs["on_job"] = noted
