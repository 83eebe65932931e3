"""Which addresses an asset `url` may reach: not the worker's own network.

A pipeline file is written by a user; the worker that fetches its asset URLs sits inside
the operator's network. Left alone, `url: http://169.254.169.254/...` would copy cloud
metadata (credentials) into a video, and `http://127.0.0.1:5432/` would probe the
database. So an asset URL may not reach a loopback, link-local, private (RFC 1918, unique
local IPv6, carrier-grade NAT), multicast, unspecified, broadcast or otherwise reserved
address, nor an IPv6 form embedding one (IPv4-mapped, NAT64, 6to4, Teredo), unless the
operator allows the network (`VIDPIPE_ALLOW_NETWORKS`, see `settings_value`).

Two checks, one rule (`refusal`):

- before a run (pure, `url_refusal`): a URL whose host is an address literal in any form
  the resolver accepts (`127.1`, `2130706433`, `0x7f.0.0.1`, `[::ffff:127.0.0.1]`) or a
  loopback name (`localhost`, `*.localhost`);
- when fetching (`fetch`): the host is resolved here, every address it resolves to is
  checked, and the connection goes to a checked address (the Host header and TLS SNI stay
  the URL's name), so a DNS answer that changes between the check and the connection
  cannot win; redirects are followed here, each hop checked the same way.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

from vidpipe.errors import SpecError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ALLOW_VARIABLE",
    "MAX_REDIRECTS",
    "AllowNetworks",
    "FetchRefused",
    "AddressRefused",
    "Resolver",
    "parse_networks",
    "settings_value",
    "literal_address",
    "refusal",
    "host_refusal",
    "url_refusal",
    "system_resolver",
    "vet",
    "guarded_transport",
    "fetch",
]

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
#: `resolver(host, port)`: the addresses `host` resolves to, as strings.
Resolver = Callable[[str, int], Iterable[str]]

#: The setting that allows a network, as messages name it.
ALLOW_VARIABLE = "VIDPIPE_ALLOW_NETWORKS"
#: Redirects an asset URL may go through before it is refused.
MAX_REDIRECTS = 5

# Most specific first: the first that holds names the reason.
_V4_REFUSED = [
    (ip_network("0.0.0.0/8"), "unspecified"),  # Linux connects 0.0.0.0 to the host itself
    (ip_network("127.0.0.0/8"), "loopback"),
    (ip_network("169.254.0.0/16"), "link-local"),
    (ip_network("10.0.0.0/8"), "private"),
    (ip_network("172.16.0.0/12"), "private"),
    (ip_network("192.168.0.0/16"), "private"),
    (ip_network("100.64.0.0/10"), "private, carrier-grade NAT"),
    (ip_network("224.0.0.0/4"), "multicast"),
    (ip_network("255.255.255.255/32"), "broadcast"),
    (ip_network("240.0.0.0/4"), "reserved"),
]
_V6_REFUSED = [
    (ip_network("::/128"), "unspecified"),
    (ip_network("::1/128"), "loopback"),
    (ip_network("fe80::/10"), "link-local"),
    (ip_network("fc00::/7"), "private"),
    (ip_network("fec0::/10"), "private, site-local"),
    (ip_network("64:ff9b:1::/48"), "private, local-use NAT64"),
    (ip_network("ff00::/8"), "multicast"),
]
_NAT64 = ip_network("64:ff9b::/96")
_V6_LOOPBACK = IPv6Address("::1")
#: Names that mean this machine whatever DNS says (RFC 6761, Debian's /etc/hosts).
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class FetchRefused(SpecError):
    """An asset URL that may not be fetched: the user's to fix (or the operator's to
    allow), never retried. `url` is the URL refused, `redirected` whether it is a
    redirect's (not the one asked for)."""

    url: str | None = None
    redirected: bool = False


class AddressRefused(FetchRefused):
    """A host that is, or resolves to, an address of a refused network."""

    def __init__(self, host: str, address: IPAddress, reason: str, *, resolved: bool):
        self.host, self.address, self.reason = host, address, reason
        if str(address) == host or _plain(host):
            what = host
        elif resolved:
            what = f"{host}, which resolves to {address}"
        else:
            what = f"{host}, which is {address}"
        super().__init__(f"refuses to fetch {what} ({reason}); allow it with {ALLOW_VARIABLE}")


def _plain(host: str) -> bool:
    """Whether `host` is an address written the usual way (not `2130706433`)."""
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


# --- networks an operator allows ----------------------------------------------------


def parse_networks(values: Iterable[str | Network]) -> tuple[Network, ...]:
    """Networks from CIDRs (`10.1.0.0/16`, `::1/128`, a bare address for itself);
    `ValueError` naming the value that is not one."""
    networks = []
    for value in values:
        if isinstance(value, IPv4Network | IPv6Network):
            networks.append(value)
            continue
        text = str(value).strip()
        try:
            networks.append(ip_network(text))
        except ValueError:
            try:
                loose = ip_network(text, strict=False)
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a network: write a CIDR such as 10.1.0.0/16 or ::1/128"
                ) from None
            raise ValueError(
                f"{text!r} has bits set after the prefix: write {loose} for that network"
            ) from None
    return tuple(networks)


def settings_value(value: Any) -> list[str]:
    """`VIDPIPE_ALLOW_NETWORKS` as a list of CIDRs: a JSON list, or comma-separated
    (`127.0.0.0/8,10.1.0.0/16`); empty entries are ignored."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("starts with [ but is not a JSON list of CIDRs") from None
        else:
            value = text.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of CIDRs, such as 127.0.0.0/8,10.1.0.0/16")
    return [str(network) for network in parse_networks(v for v in value if v.strip())]


#: The settings field's type: read from the environment as JSON or comma-separated.
AllowNetworks = Annotated[list[str], NoDecode, BeforeValidator(settings_value)]


# --- the rule --------------------------------------------------------------------------


def _allowed(address: IPAddress, allow: Iterable[Network]) -> bool:
    return any(address in network for network in allow)


def _embedded(address: IPv6Address) -> Iterator[tuple[str, IPv4Address]]:
    """IPv4 addresses an IPv6 one reaches through a translator or a tunnel."""
    if address in _NAT64:
        yield "NAT64", IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        yield "6to4", address.sixtofour
    if address.teredo is not None:
        server, client = address.teredo
        yield "Teredo", server
        yield "Teredo", client


def refusal(address: IPAddress, allow: Iterable[Network] = ()) -> str | None:
    """Why `address` may not be fetched ("loopback", "link-local", ...), or None when it
    may (a global address, or one inside a network of `allow`)."""
    allow = tuple(allow)
    if _allowed(address, allow):
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        why = refusal(address.ipv4_mapped, allow)  # the kernel connects to the IPv4 one
        return None if why is None else f"{why}, IPv4-mapped"
    table = _V4_REFUSED if isinstance(address, IPv4Address) else _V6_REFUSED
    for network, reason in table:
        if address in network:
            return reason
    if isinstance(address, IPv6Address):
        for kind, inner in _embedded(address):
            why = refusal(inner, allow)
            if why is not None:
                return f"{why}, inside a {kind} address"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


# --- literals, as a resolver reads them ------------------------------------------------


_AT_ON_PART = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]+)|(?P<oct>0[0-7]*)|(?P<dec>[1-9][0-9]*)")


def _inet_aton(text: str) -> IPv4Address | None:
    """An IPv4 address in the forms `inet_aton` (so `getaddrinfo`) accepts: one to four
    parts, each decimal, octal (leading 0) or hex (0x), the last filling the rest."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        match = _AT_ON_PART.fullmatch(part)
        if match is None:
            return None
        if match["hex"] is not None:
            numbers.append(int(match["hex"], 16))
        elif match["oct"] is not None:
            numbers.append(int(match["oct"], 8))
        else:
            numbers.append(int(match["dec"], 10))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return IPv4Address(value)


def literal_address(host: str) -> IPAddress | None:
    """The address `host` names literally, in any form a resolver would read as one
    (`127.0.0.1`, `127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`, `::1`,
    `[::ffff:7f00:1]`, percent-encoded, one trailing dot); None for a name."""
    name = unquote(host).strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return ip_address(name)
    except ValueError:
        pass
    if name.endswith("."):
        name = name[:-1]
    return _inet_aton(name) if name else None


def host_refusal(host: str, allow: Iterable[Network] = ()) -> str | None:
    """What the file alone shows of `host` (no DNS): "refuses to fetch 127.0.0.1
    (loopback); allow it with VIDPIPE_ALLOW_NETWORKS", or None."""
    allow = tuple(allow)
    address = literal_address(host)
    if address is not None:
        why = refusal(address, allow)
        return str(AddressRefused(host, address, why, resolved=False)) if why else None
    name = unquote(host).strip().lower().rstrip(".")
    loopback = name in _LOOPBACK_NAMES or name.endswith(".localhost")
    if loopback and all(refusal(a, allow) for a in (IPv4Address("127.0.0.1"), _V6_LOOPBACK)):
        return f"refuses to fetch {host} (loopback); allow it with {ALLOW_VARIABLE}"
    return None


def _hosts(url: str) -> list[str]:
    """The URL's host as httpx reads it (what `fetch` connects to) and as urllib does
    (what validation read), so a difference between parsers hides nothing."""
    hosts = []
    try:
        import httpx

        hosts.append(httpx.URL(url).host)
    except Exception:  # noqa: BLE001 - any URL httpx cannot read, it cannot fetch either
        pass
    with suppress(ValueError):
        hosts.append(urlsplit(url).hostname or "")
    return [h for h in dict.fromkeys(hosts) if h]


def url_refusal(url: str, allow: Iterable[Network] = ()) -> str | None:
    """`host_refusal` for a URL's host (pure: no DNS, no connection)."""
    allow = tuple(allow)
    for host in _hosts(url):
        found = host_refusal(host, allow)
        if found is not None:
            return found
    return None


# --- fetching --------------------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (getaddrinfo)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def vet(
    host: str, port: int, allow: Iterable[Network] = (), resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """The addresses to connect to for `host`: its literal address, or every address it
    resolves to, each checked. `AddressRefused` if any is refused; the resolver's own
    `OSError` when it cannot resolve."""
    allow = tuple(allow)
    literal = literal_address(host)
    if literal is not None:
        why = refusal(literal, allow)
        if why is not None:
            raise AddressRefused(host, literal, why, resolved=False)
        return [literal]
    found = [ip_address(a) for a in dict.fromkeys(resolver(host, port))]
    if not found:
        raise socket.gaierror(f"{host} resolves to no address")
    for address in found:
        why = refusal(address, allow)
        if why is not None:
            raise AddressRefused(host, address, why, resolved=True)
    return found


def guarded_transport(
    allow: Iterable[Network] = (), resolver: Resolver = system_resolver
) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes to an address `vet` checked, the
    request (Host header, TLS SNI and certificate check) still naming the URL's host."""
    import httpcore
    import httpx

    class _Backend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.NetworkStream:
            try:
                addresses = vet(host, port, networks, resolver)
            except OSError as exc:  # cannot resolve: a connection error, as httpx's own
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            failure: Exception | None = None
            for address in addresses:
                try:
                    return self._inner.connect_tcp(
                        str(address), port, timeout, local_address, socket_options
                    )
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    failure = exc
            assert failure is not None
            raise failure

        def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            raise httpcore.ConnectError("asset URLs are not fetched over Unix sockets")

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    networks = parse_networks(allow)
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx builds its connection pool without a way to pass a network backend: replace it
    # with the same pool over the guarded backend (tests check the pinning holds).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=_Backend(),
    )
    return transport


@contextmanager
def fetch(
    url: str,
    *,
    allow: Iterable[str | Network] = (),
    resolver: Resolver = system_resolver,
    timeout: float = 60.0,
    max_redirects: int = MAX_REDIRECTS,
) -> Iterator[httpx.Response]:
    """GET `url` as a streamed response, following at most `max_redirects` redirects,
    every connection (each hop's) to a checked address. `FetchRefused` (its `url` set to
    the hop refused) for a refused address, a redirect to another scheme or too many
    redirects; httpx's own errors otherwise. No proxy from the environment is used (it
    would resolve the host itself)."""
    import httpx

    transport = guarded_transport(parse_networks(allow), resolver)
    with httpx.Client(transport=transport, trust_env=False, timeout=timeout) as client:
        request = client.build_request("GET", url)
        hops = 0
        while True:
            try:
                response = client.send(request, stream=True, follow_redirects=False)
            except FetchRefused as exc:
                exc.url, exc.redirected = str(request.url), hops > 0
                raise
            following = response.next_request
            if following is None:
                break
            response.close()
            hops += 1
            target = str(following.url)
            if following.url.scheme not in ("http", "https"):
                refused = FetchRefused(f"redirects to {target}, which is not http(s)")
                refused.url, refused.redirected = target, True
                raise refused
            if hops > max_redirects:
                refused = FetchRefused(f"redirects more than {max_redirects} times")
                refused.url, refused.redirected = target, True
                raise refused
            request = following
        try:
            yield response
        finally:
            response.close()
