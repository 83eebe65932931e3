"""Talking to a provider over HTTP: the one submit -> poll -> download helper all live
clients share.

Every network call goes through an `httpx.Client` the caller constructs (tests hand in
one pointed at a local fake server), and every wait goes through an injected
:class:`Clock` (tests hand in one that advances instantly and records its sleeps).

Files: `clocks` (Clock, SystemClock, FakeClock), `sending` (send, request_json),
`failures` (which error a failed response or transport fault is, the provider's message,
request id and Retry-After), `redaction` (no secret in a message), `polling`
(poll_until, retry_call: retries and backoff), `jobs` (create_once and
AmbiguousCreateError for paid creates, expired_job), `downloads` (download, save_response,
fetch_media).
"""

from vidpipe.providers.http.clocks import SYSTEM_CLOCK, Clock, FakeClock, SystemClock
from vidpipe.providers.http.downloads import CHUNK_SIZE, download, fetch_media, save_response
from vidpipe.providers.http.failures import (
    parse_retry_after,
    provider_message,
    raise_for_provider,
    request_id_of,
)
from vidpipe.providers.http.jobs import (
    Exists,
    JobCallback,
    ambiguous_create,
    create_once,
    expired_job,
    safe_to_resubmit,
)
from vidpipe.providers.http.polling import poll_until, retry_call
from vidpipe.providers.http.redaction import CREDENTIAL_HEADERS, redact, safe_url
from vidpipe.providers.http.sending import json_of, request_json, send, send_stream

__all__ = [
    "CHUNK_SIZE",
    "CREDENTIAL_HEADERS",
    "Clock",
    "SystemClock",
    "FakeClock",
    "SYSTEM_CLOCK",
    "JobCallback",
    "poll_until",
    "retry_call",
    "safe_to_resubmit",
    "create_once",
    "Exists",
    "ambiguous_create",
    "request_id_of",
    "send",
    "send_stream",
    "json_of",
    "request_json",
    "raise_for_provider",
    "provider_message",
    "parse_retry_after",
    "redact",
    "safe_url",
    "download",
    "save_response",
    "fetch_media",
    "expired_job",
]
