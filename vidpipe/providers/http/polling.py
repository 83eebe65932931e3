"""Waiting on a provider: :func:`poll_until` (a job's status, with backoff and a deadline)
and :func:`retry_call` (one call, its transient failures retried)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import httpx

from vidpipe.errors import ProviderError, TransientProviderError
from vidpipe.providers.http.clocks import Clock
from vidpipe.providers.http.failures import _transport_error
from vidpipe.providers.http.reporting import report, report_unseen

T = TypeVar("T")

_log = logging.getLogger(__name__)


def poll_until(
    fetch_status: Callable[[], T | None],
    *,
    clock: Clock,
    deadline_s: float,
    first_s: float = 2.0,
    max_s: float = 10.0,
    factor: float = 1.5,
    provider: str = "",
    what: str = "job",
    retry_if: Callable[[TransientProviderError], bool] | None = None,
    wait_first: bool = False,
) -> T:
    """Call `fetch_status` until it returns something other than None.

    Between calls it waits `first_s`, growing by `factor` up to `max_s`. A
    TransientProviderError from `fetch_status` is retried (after its `retry_after_s` when
    the provider gave one, e.g. a 429's Retry-After) unless `retry_if` says no; a
    PermanentProviderError propagates at once. When the next wait would pass `deadline_s`
    (measured from the first call) a TransientProviderError says the wait timed out: the
    job may still finish, and its id was persisted, so a retry can re-attach to it.
    `wait_first` waits `first_s` before the first call (a job just created is not done).
    """
    start = clock.now()
    interval = first_s
    if wait_first:
        clock.sleep(min(first_s, deadline_s))
        interval = min(interval * factor, max_s)
    last_error: TransientProviderError | None = None
    while True:
        asked: float | None = None
        failed = False
        try:
            result = fetch_status()
        except TransientProviderError as exc:
            report_unseen(exc, "malformed")
            if retry_if is not None and not retry_if(exc):
                raise
            last_error, asked, failed = exc, exc.retry_after_s, True
        except httpx.TransportError as exc:  # a fetch that did not go through `send`
            last_error, failed = _transport_error(exc, provider), True
        except ProviderError as exc:  # the job failed, or the provider refused it
            report_unseen(exc, "job_failed")
            raise
        else:
            if result is not None:
                return result
        wait = max(asked, 0.0) if asked is not None else interval
        remaining = deadline_s - (clock.now() - start)
        if remaining <= 0 or (asked is not None and asked > remaining):
            detail = f"; last error: {last_error}" if last_error else ""
            late = TransientProviderError(
                f"{provider}: {what} not finished after {deadline_s:g} s{detail}",
                provider=provider,
                status=last_error.status if last_error else None,
            )
            if last_error is None:  # no failed call: the job outlived its deadline
                report(late, "timeout")
            raise late from last_error
        if failed:  # a retry: said in the run's logs (vidpipe's loggers reach the UI)
            _log.warning("%s; trying again in %.0f s", last_error, min(wait, remaining))
        clock.sleep(min(wait, remaining))
        interval = min(interval * factor, max_s)


def retry_call(
    call: Callable[[], T],
    *,
    clock: Clock,
    deadline_s: float,
    provider: str = "",
    what: str = "request",
    retry_if: Callable[[TransientProviderError], bool] | None = None,
    first_s: float = 1.0,
    max_s: float = 10.0,
) -> T:
    """Run `call` once, retrying its transient failures (see :func:`poll_until`)."""
    return poll_until(
        call,  # a call returns its result, never None
        clock=clock,
        deadline_s=deadline_s,
        first_s=first_s,
        max_s=max_s,
        provider=provider,
        what=what,
        retry_if=retry_if,
    )
