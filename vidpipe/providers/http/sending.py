"""Sending requests: :func:`send` (a failure status raises), :func:`send_stream` (media
bodies), :func:`json_of` and :func:`request_json` (one JSON request)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from vidpipe.errors import TransientProviderError
from vidpipe.providers.http.failures import _transport_error, raise_for_provider
from vidpipe.providers.http.redaction import _secrets_of, redact
from vidpipe.providers.http.reporting import answered, report


def send(client: httpx.Client, request: httpx.Request, *, provider: str) -> httpx.Response:
    """Send `request` and raise for a failure status; transport errors become transient.

    The response is read in full; media bodies go through :func:`send_stream` and
    :func:`save_response` instead.
    """
    try:
        response = client.send(request)
    except httpx.TransportError as exc:
        raise _transport_error(exc, provider, request) from exc
    raise_for_provider(response, provider)
    return response


def send_stream(client: httpx.Client, request: httpx.Request, *, provider: str) -> httpx.Response:
    """Send `request` without reading the body (the caller closes the response);
    transport errors become transient. Redirects are followed (Gemini file downloads)."""
    try:
        return client.send(request, stream=True, follow_redirects=True)
    except httpx.TransportError as exc:
        raise _transport_error(exc, provider, request) from exc


def json_of(response: httpx.Response, *, provider: str) -> Any:
    """The response's JSON; a body that does not parse is a transient fault (a proxy's
    HTML error page, a truncated body)."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        snippet = redact(response.text[:120], _secrets_of(response.request))
        raise report(
            TransientProviderError(
                f"{provider}: malformed JSON in HTTP {response.status_code} response: {snippet!r}",
                provider=provider,
                status=response.status_code,
            ),
            "malformed",
        ) from exc
    answered(provider)  # a call answers once its JSON is read (media: once it is saved)
    return data


def request_json(
    client: httpx.Client, method: str, url: str, *, provider: str, **kwargs: Any
) -> Any:
    """One JSON request: build, :func:`send`, :func:`json_of`. `kwargs` go to
    `httpx.Client.build_request` (json, params, headers, timeout)."""
    request = client.build_request(method, url, **kwargs)
    return json_of(send(client, request, provider=provider), provider=provider)
