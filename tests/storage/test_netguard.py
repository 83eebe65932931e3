"""Asset URLs may not reach the worker's own networks (`vidpipe.netguard`): refused before
a run when the file shows the address, refused at fetch time when a name resolves to one
or a redirect leads to one, allowed for the networks the operator names."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import tasks.asset as asset
from tasks.runtime import ExecContext, RunInfo, is_transient
from vidpipe import netguard
from vidpipe.errors import SpecError
from vidpipe.netguard import AddressRefused, FetchRefused, fetch, literal_address, url_refusal
from vidpipe.preflight import run_problems
from vidpipe.settings import SettingsError, get_settings
from vidpipe.spec import VideoSettings, load_spec
from vidpipe.storage import LocalStore

HINT = "allow it with VIDPIPE_ALLOW_NETWORKS"


def spec_of(url: str) -> Any:
    node = f"{{id: clip, type: asset, asset: {{kind: text, url: '{url}'}}}}"
    return load_spec(f"name: assets\nnodes:\n  - {node}\n")


def run_asset(url: str, tmp_path: Path) -> Any:
    node = spec_of(url).node("clip")
    run = RunInfo(
        run_id="run-1",
        pipeline="assets",
        mode="placeholder",
        video=VideoSettings(),
        base_dir=None,
        database_url="sqlite://",
        storage_url=str(tmp_path / "media"),
    )
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    ctx = ExecContext(node=node, run=run, store=LocalStore(tmp_path / "media"), workdir=workdir)
    return asset.execute(node, {}, ctx)


@pytest.fixture
def allow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set VIDPIPE_ALLOW_NETWORKS for one test (settings re-read)."""

    def set_to(value: str) -> None:
        monkeypatch.setenv("VIDPIPE_ALLOW_NETWORKS", value)
        get_settings.cache_clear()

    monkeypatch.delenv("VIDPIPE_ALLOW_NETWORKS", raising=False)
    get_settings.cache_clear()
    yield set_to
    get_settings.cache_clear()


# --- refused before a run, from the file alone --------------------------------------

REFUSED = [
    ("http://127.0.0.1:1/", "127.0.0.1 (loopback)"),
    ("http://127.9.8.7/a.txt", "127.9.8.7 (loopback)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local)"),
    ("http://10.1.2.3/", "10.1.2.3 (private)"),
    ("http://172.16.0.1/", "172.16.0.1 (private)"),
    ("http://172.31.255.254/", "172.31.255.254 (private)"),
    ("https://192.168.1.1/", "192.168.1.1 (private)"),
    ("http://100.64.0.1/", "100.64.0.1 (private, carrier-grade NAT)"),
    ("http://224.0.0.1/", "224.0.0.1 (multicast)"),
    ("http://0.0.0.0:8080/", "0.0.0.0 (unspecified)"),
    ("http://255.255.255.255/", "255.255.255.255 (broadcast)"),
    ("http://240.0.0.1/", "240.0.0.1 (reserved)"),
    ("http://192.0.2.7/", "192.0.2.7 (reserved)"),
    ("http://[::1]:8000/", "::1 (loopback)"),
    ("http://[::]/", ":: (unspecified)"),
    ("http://[fe80::1]/", "fe80::1 (link-local)"),
    ("http://[fe80::1%25eth0]/", "fe80::1%25eth0 (link-local)"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 (private)"),
    ("http://[ff02::1]/", "ff02::1 (multicast)"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 (loopback, IPv4-mapped)"),
    ("http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe (link-local, IPv4-mapped)"),
    ("http://[64:ff9b::a9fe:a9fe]/", "(link-local, inside a NAT64 address)"),
    ("http://[2002:7f00:1::]/", "(loopback, inside a 6to4 address)"),
    ("http://2130706433/", "2130706433, which is 127.0.0.1 (loopback)"),
    ("http://017700000001/", "017700000001, which is 127.0.0.1 (loopback)"),
    ("http://0x7f000001/", "0x7f000001, which is 127.0.0.1 (loopback)"),
    ("http://0x7f.0.0.1/", "0x7f.0.0.1, which is 127.0.0.1 (loopback)"),
    ("http://0177.0.0.1/", "0177.0.0.1, which is 127.0.0.1 (loopback)"),
    ("http://127.1/", "127.1, which is 127.0.0.1 (loopback)"),
    ("http://2852039166/", "2852039166, which is 169.254.169.254 (link-local)"),
    ("http://%31%32%37.0.0.1/", "which is 127.0.0.1 (loopback)"),
    ("http://0/", "0, which is 0.0.0.0 (unspecified)"),
    ("http://localhost:8000/", "localhost (loopback)"),
    ("http://LOCALHOST./x", "localhost. (loopback)"),
    ("http://media.localhost/x", "media.localhost (loopback)"),
    ("http://user:pw@127.0.0.1:80/x", "127.0.0.1 (loopback)"),
    ("http://evil.example\\@127.0.0.1/", "127.0.0.1 (loopback)"),
]


@pytest.mark.parametrize("mode", ["placeholder", "live"])
@pytest.mark.parametrize(("url", "said"), REFUSED)
def test_a_literal_internal_address_is_refused_before_the_run(url: str, said: str, mode: str):
    problems = run_problems(spec_of(url), mode)
    assert len(problems) == 1, problems
    text = str(problems[0])
    assert text.startswith("nodes[0] (clip).asset.url: refuses to fetch "), text
    assert f"{said}; {HINT}" in text


def test_the_message_is_the_one_asked_for() -> None:
    [problem] = run_problems(spec_of("http://127.0.0.1:1/"), "placeholder")
    assert (
        str(problem) == f"nodes[0] (clip).asset.url: refuses to fetch 127.0.0.1 (loopback); {HINT}"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/logo.png",
        "http://8.8.8.8/a.txt",
        "http://[2606:4700:4700::1111]/a.txt",
        "http://93.184.215.14:8080/a.txt",
        "http://media.internal.example/a.txt",  # a name: checked when fetched
        "http://127.0.0.1.example.com/a.txt",
        "http://1.2.3.4.5/a.txt",
    ],
)
def test_a_public_address_or_a_name_passes_before_the_run(url: str) -> None:
    assert run_problems(spec_of(url), "placeholder") == []
    assert run_problems(spec_of(url), "live") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/",
        "http://2130706433/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:8000/",
    ],
)
def test_an_allowed_network_passes_and_only_it(url: str) -> None:
    assert run_problems(spec_of(url), "placeholder", ["127.0.0.0/8"]) == []
    metadata = spec_of("http://169.254.169.254/latest/meta-data/")
    assert len(run_problems(metadata, "placeholder", ["127.0.0.0/8"])) == 1
    assert run_problems(metadata, "placeholder", ["169.254.169.254/32"]) == []


def test_literal_forms_are_read_as_the_system_reads_them() -> None:
    """Every IPv4 form `inet_aton` accepts is read to the address it connects to."""
    forms = [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "017700000001",
        "0x7f000001",
        "0X7F.0.0.1",
        "0177.0.0.01",
        "127.000.000.001",
        "00000127.0.0.1",  # octal 127 is 87
        "0x00007f.1",
        "10.16777215",
        "0",
        "08.0.0.1",
        "0x.0.0.1",
        "4294967296",
        "256.0.0.1",
        "1.2.3.4.5",
        "1..2",
    ]
    for form in forms:
        try:
            expected = socket.inet_ntoa(socket.inet_aton(form))
        except OSError:
            expected = None
        found = literal_address(form)
        assert (str(found) if found else None) == expected, form


# --- the setting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "networks"),
    [
        ("127.0.0.0/8,10.1.0.0/16", ["127.0.0.0/8", "10.1.0.0/16"]),
        (" 127.0.0.0/8 , ::1/128, ", ["127.0.0.0/8", "::1/128"]),
        ('["127.0.0.0/8", "fd00::/8"]', ["127.0.0.0/8", "fd00::/8"]),
        ("10.1.2.3", ["10.1.2.3/32"]),
        ("", []),
    ],
)
def test_the_setting_takes_json_or_comma_separated_cidrs(allow, value: str, networks: list[str]):
    allow(value)
    assert get_settings().allow_networks == networks


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("127.0.0.0/33", "'127.0.0.0/33' is not a network"),
        ("10.1.0.1/16", "'10.1.0.1/16' has bits set after the prefix: write 10.1.0.0/16"),
        ("everything", "'everything' is not a network"),
        ("[127.0.0.0/8", "starts with [ but is not a JSON list"),
        ("[8]", "must be a list of CIDRs"),
    ],
)
def test_a_bad_setting_is_one_clear_line(allow, value: str, said: str) -> None:
    allow(value)
    with pytest.raises(SettingsError, match=r"^bad settings: VIDPIPE_ALLOW_NETWORKS: ") as caught:
        get_settings()
    assert said in str(caught.value)


def test_validate_refuses_and_the_setting_allows(allow, tmp_path: Path) -> None:
    from vidpipe.cli import app

    path = tmp_path / "fetch.yaml"
    path.write_text(
        "name: fetch\nnodes:\n"
        '  - {id: clip, type: asset, asset: {kind: text, url: "http://127.0.0.1:9/a.txt"}}\n'
    )
    refused = CliRunner().invoke(app, ["validate", str(path)])
    assert refused.exit_code == 1
    assert "refuses to fetch 127.0.0.1 (loopback)" in " ".join(refused.output.split())
    allow("127.0.0.0/8")
    assert CliRunner().invoke(app, ["validate", str(path)]).exit_code == 0


# --- refused when fetched ------------------------------------------------------------


class _Routes(http.server.BaseHTTPRequestHandler):
    """`/file.txt` (remembers the Host header it was asked with), redirects to elsewhere."""

    protocol_version = "HTTP/1.0"
    hosts: list[str] = []
    redirects = {
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/to-internal": "http://internal.example/secret.txt",
        "/to-file": "file:///etc/passwd",
        "/hop": "/file.txt",
        "/loop": "/loop",
    }

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).hosts.append(self.headers.get("Host", ""))
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"fetched"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """A loopback server; yields its port."""
    _Routes.hosts = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Routes)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses sockets connect to (`socket.create_connection`, which httpcore uses)."""
    seen: list[str] = []
    real = socket.create_connection

    def recording(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        seen.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return seen


def resolver_of(table: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def test_a_name_resolving_to_loopback_is_refused_when_fetched(
    allow, server: int, connections: list[str], tmp_path: Path
) -> None:
    url = f"http://localhost:{server}/file.txt"  # resolved by the system: /etc/hosts
    with pytest.raises(SpecError) as caught:
        run_asset(url, tmp_path)
    assert str(caught.value) == (
        f"node 'clip': {url}: refuses to fetch localhost, which resolves to 127.0.0.1 "
        f"(loopback); {HINT}"
    )
    assert not is_transient(caught.value), "a refusal is not retried"
    assert connections == [] and _Routes.hosts == []


def test_a_resolved_address_is_checked_with_an_injected_resolver(connections: list[str]) -> None:
    resolve = resolver_of({"media.example": ["127.0.0.1"]})
    with (
        pytest.raises(
            AddressRefused, match=r"media\.example, which resolves to 127\.0\.0\.1 \(loopback\)"
        ),
        fetch("http://media.example/a.txt", resolver=resolve),
    ):
        pass
    assert connections == []


def test_every_resolved_address_is_checked(connections: list[str]) -> None:
    resolve = resolver_of({"media.example": ["93.184.215.14", "10.0.0.7"]})
    refused = pytest.raises(AddressRefused, match=r"resolves to 10\.0\.0\.7 \(private\)")
    with refused, fetch("https://media.example/a.txt", resolver=resolve):
        pass
    assert connections == []


def test_the_connection_goes_to_the_checked_address_keeping_the_host(
    server: int, connections: list[str]
) -> None:
    """DNS rebinding: the name is resolved once, checked, and that address is connected to;
    a later answer (here: the metadata address) is never asked for nor used."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    with fetch(
        f"http://media.example:{server}/file.txt", allow=["127.0.0.0/8"], resolver=rebinding
    ) as response:
        assert response.read() == b"fetched"
    assert calls == ["media.example"]
    assert connections == ["127.0.0.1"]
    assert _Routes.hosts == [f"media.example:{server}"]


def test_a_redirect_to_the_metadata_address_is_refused_before_connecting(
    allow, server: int, connections: list[str], tmp_path: Path
) -> None:
    allow("127.0.0.0/8")
    url = f"http://127.0.0.1:{server}/to-metadata"
    with pytest.raises(SpecError) as caught:
        run_asset(url, tmp_path)
    assert str(caught.value) == (
        f"node 'clip': {url} redirects to http://169.254.169.254/latest/meta-data/: "
        f"refuses to fetch 169.254.169.254 (link-local); {HINT}"
    )
    assert not is_transient(caught.value)
    assert "169.254.169.254" not in connections
    assert connections == ["127.0.0.1"]


def test_a_redirect_to_a_name_resolving_inside_is_refused(server: int) -> None:
    resolve = resolver_of({"internal.example": ["10.20.30.40"]})
    with (
        pytest.raises(AddressRefused) as caught,
        fetch(f"http://127.0.0.1:{server}/to-internal", allow=["127.0.0.0/8"], resolver=resolve),
    ):
        pass
    assert caught.value.redirected and caught.value.url == "http://internal.example/secret.txt"
    assert "internal.example, which resolves to 10.20.30.40 (private)" in str(caught.value)


def test_redirects_are_followed_within_bounds_and_to_http_only(allow, server: int, tmp_path: Path):
    allow("127.0.0.0/8")
    out = run_asset(f"http://127.0.0.1:{server}/hop", tmp_path)
    assert out.path.read_text() == "fetched"
    with pytest.raises(SpecError, match=r"/loop redirects more than 5 times$"):
        run_asset(f"http://127.0.0.1:{server}/loop", tmp_path)
    with pytest.raises(
        SpecError,
        match=r"/to-file redirects to file://127.0.0.1/etc/passwd, which is not http\(s\)$",
    ):
        run_asset(f"http://127.0.0.1:{server}/to-file", tmp_path)


def test_an_allowed_name_is_fetched_and_an_unresolvable_one_is_a_connection_error(
    server: int,
) -> None:
    resolve = resolver_of({"localhost": ["127.0.0.1"]})
    with fetch(
        f"http://localhost:{server}/file.txt", allow=["127.0.0.1/32"], resolver=resolve
    ) as r:
        assert r.read() == b"fetched"
    unresolved = pytest.raises(httpx.ConnectError, match="cannot resolve nowhere.example")
    with unresolved, fetch("http://nowhere.example/a.txt", resolver=resolve):
        pass


def test_a_refusal_names_the_url_it_refused() -> None:
    with pytest.raises(FetchRefused) as caught, fetch("http://[::ffff:169.254.169.254]/x"):
        pass
    assert caught.value.url == "http://[::ffff:169.254.169.254]/x" and not caught.value.redirected
    assert "(link-local, IPv4-mapped)" in str(caught.value)
    assert url_refusal("http://[::ffff:169.254.169.254]/x") is not None
    assert netguard.MAX_REDIRECTS == 5
