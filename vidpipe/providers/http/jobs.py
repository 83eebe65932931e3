"""A provider's paid jobs: sending a create once, and the errors for a job that may exist
or has expired.

A paid *create* is sent once per known outcome (:func:`create_once`): a failure that
certainly created nothing (a 429, a connection never made) is waited out and sent again;
one whose outcome is unknown (a 5xx, a timeout or a dropped connection after the request
went out, a 2xx that did not parse) is resolved by the provider's own lookup of the job
(re-attached when found) or fails with :class:`~vidpipe.errors.AmbiguousCreateError`,
which nothing retries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import httpx

from vidpipe.errors import (
    AmbiguousCreateError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from vidpipe.providers.http.clocks import Clock
from vidpipe.providers.http.failures import _transport_error
from vidpipe.providers.http.polling import retry_call

T = TypeVar("T")

#: Called with the provider's job id as soon as it is known, before any polling, so the
#: engine can persist it and re-attach after a crash instead of paying again.
JobCallback = Callable[[str], None]


def safe_to_resubmit(exc: TransientProviderError) -> bool:
    """Whether a failed *create* request certainly created nothing, so sending it again
    cannot pay twice: a 429 (refused), or a request that never left (connect refused,
    DNS, connect timeout, no free connection in the pool). A 5xx, a read timeout or a
    dropped connection after the request went out is ambiguous: :func:`create_once` looks
    the job up instead."""
    return exc.status == 429 or isinstance(exc.__cause__, _NOT_SENT)


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


#: HTTP statuses with which the provider's application itself answered a create it could
#: not complete: when its lookup then finds no job, nothing was created. A gateway's 502 or
#: 504, a 503, a timeout or a dropped connection may hide a create still running.
_ANSWERED_STATUSES = frozenset({500})
#: Waits before each lookup of a create whose outcome is unknown.
LOOKUP_WAITS_S: tuple[float, ...] = (2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Exists:
    """A lookup's answer for a job that exists (so it bills) but cannot be taken over
    (ElevenLabs: the speech was made, its audio did not arrive)."""

    detail: str
    request_id: str | None = None


class _NotCreated(TransientProviderError):
    """A create whose failure the provider's lookup showed created nothing."""


def ambiguous_create(
    provider: str,
    what: str,
    cause: ProviderError,
    *,
    request_id: str | None = None,
    hint: str = "",
    lookup_error: BaseException | None = None,
) -> AmbiguousCreateError:
    """The error for a paid create that may exist: one line saying so, what happened, the
    provider's request id and where to look."""
    request_id = request_id or cause.request_id
    parts = [f"the request went out, then: {cause}"]
    if request_id:
        parts.append(f"request id {request_id}")
    if hint:
        parts.append(hint)
    if lookup_error is not None:
        parts.append(f"the lookup failed: {lookup_error}")
    return AmbiguousCreateError(
        f"{provider}: {what} may have been created: check the provider before re-running "
        f"({'; '.join(parts)})",
        provider=provider,
        status=cause.status,
        request_id=request_id,
    )


def create_once(
    create: Callable[[], T],
    *,
    find: Callable[[TransientProviderError], T | Exists | None] | None,
    clock: Clock,
    deadline_s: float,
    provider: str,
    what: str,
    hint: str = "",
    lookup_waits_s: Sequence[float] = LOOKUP_WAITS_S,
) -> T:
    """Send a paid create, never twice blind.

    * Refused for sure (429, connection refused): waited out (Retry-After) and sent again
      until `deadline_s`; past it the TransientProviderError is safe for a task retry.
    * Outcome unknown (5xx, timeout or dropped connection after sending, a 2xx that did
      not parse): `find(error)` looks the job up by what the client sent (a correlation
      id, the input and time) after each of `lookup_waits_s`. A job found is returned as
      if the create had answered (the caller persists its id); a job that exists but
      cannot be used (:class:`Exists`), a lookup that keeps failing, or no job found
      after an ambiguous outcome raises :class:`AmbiguousCreateError`. Only when the
      provider's application answered (HTTP 500) and two lookups found nothing is the
      create sent again.
    * `find` None (the provider documents no lookup): AmbiguousCreateError at once.

    `hint` says where to look for the job in the error (a title, a correlation id).
    """

    def attempt() -> T:
        try:
            return create()
        except TransientProviderError as exc:
            if safe_to_resubmit(exc):
                raise
            return resolve(exc)

    def resolve(exc: TransientProviderError) -> T:
        if find is None:
            raise ambiguous_create(provider, what, exc, hint=hint) from exc
        misses, lookup_error = 0, None
        for wait in lookup_waits_s:
            clock.sleep(wait)
            try:
                found = find(exc)
            except AmbiguousCreateError:
                raise
            except ProviderError as error:
                lookup_error = error
                if isinstance(error, PermanentProviderError):
                    break
                continue
            except httpx.TransportError as error:
                lookup_error = _transport_error(error, provider)
                continue
            if isinstance(found, Exists):
                raise ambiguous_create(
                    provider,
                    what,
                    exc,
                    request_id=found.request_id,
                    hint="; ".join(filter(None, (found.detail, hint))),
                ) from exc
            if found is not None:
                return found
            misses, lookup_error = misses + 1, None
            if misses >= 2 and exc.status in _ANSWERED_STATUSES:
                raise _NotCreated(
                    f"{provider}: {what} failed and created nothing (looked up): {exc}",
                    provider=provider,
                    status=exc.status,
                ) from exc
        raise ambiguous_create(provider, what, exc, hint=hint, lookup_error=lookup_error) from exc

    return retry_call(
        attempt,
        clock=clock,
        deadline_s=deadline_s,
        provider=provider,
        what=what,
        retry_if=lambda exc: isinstance(exc, _NotCreated) or safe_to_resubmit(exc),
    )


def expired_job(
    provider: str, job_id: str, cause: ProviderError | None = None
) -> PermanentProviderError:
    """The error for a re-attached job the provider no longer knows: reported, never
    silently submitted (and paid for) again."""
    why = f" ({cause})" if cause else ""
    return PermanentProviderError(
        f"{provider}: job {job_id} expired; not resubmitting to avoid paying twice{why}",
        provider=provider,
        status=getattr(cause, "status", None),
    )
