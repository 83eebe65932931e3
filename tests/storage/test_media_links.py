"""Media a browser can open: signed, expiring links to a local media store
(`vidpipe.media_links`), the endpoint serving them over real HTTP on a free port
(`vidpipe.media_server`), thumbnails and poster frames, the home's signing key, and
presigned URLs on S3 (the moto server the tests share)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from vidpipe import media_links, media_server
from vidpipe.media import VideoTarget, synthetic_clip, tone
from vidpipe.media_links import Verdict, byte_range, check_request, safe_key, signed_url
from vidpipe.refs import MediaRef
from vidpipe.settings import SettingsError, get_settings
from vidpipe.storage import LocalStore

KEY = "sha256/ab/abcdef.png"
LATER = 2_000_000_000  # an expiry in 2033


def _png(size: tuple[int, int] = (160, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _target(url: str) -> str:
    """The request target (path and query) of a link."""
    return url[url.index("/media/") :]


# -- signing (pure) -------------------------------------------------------------------------


def test_a_link_opens_its_one_object_until_it_expires():
    secret = secrets.token_bytes(32)
    link = _target(signed_url("http://127.0.0.1:8765", KEY, secret, LATER))
    assert link.startswith(f"/media/{KEY}?exp={LATER}&sig=")
    expected = hmac.new(secret, f"{KEY}\n{LATER}".encode(), hashlib.sha256).hexdigest()
    assert link.endswith(f"&sig={expected}"), "HMAC-SHA256 over the key and the expiry"
    assert check_request(link, secret, now=LATER - 1) == Verdict(200, key=KEY)

    refused = {
        "another key": link.replace("abcdef.png", "abcdeg.png"),
        "a later expiry": link.replace(f"exp={LATER}", f"exp={LATER + 3600}"),
        "a changed signature": link[:-1] + ("0" if link[-1] != "0" else "1"),
        "no signature": link.split("?")[0],
        "two signatures": link + "&sig=00",
    }
    for what, target in refused.items():
        assert check_request(target, secret, now=LATER - 1).status == 403, what
    assert check_request(link, secrets.token_bytes(32), now=LATER - 1).status == 403
    assert check_request(link, secret, now=LATER + 1) == Verdict(
        403, reason="forbidden: the link has expired"
    )


def test_names_of_unicode_and_spaces_survive_the_round_trip():
    secret = secrets.token_bytes(32)
    key = "runs/promo été/run 1/final.mp4"
    link = _target(signed_url("http://h", key, secret, LATER))
    assert " " not in link
    assert check_request(link, secret, now=0) == Verdict(200, key=key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside",
        "sha256/../../x",
        "a/./b",
        "a//b",
        ".tmp/put-1.part",
        "sha256/ab/.x.part.mp4",
        "a\\b",
        "a\x00b",
        "x" * 2000,
    ],
)
def test_keys_that_name_no_object_inside_the_store(key: str):
    assert not safe_key(key)
    secret = secrets.token_bytes(32)
    link = _target(signed_url("http://h", key, secret, LATER)) if key else "/media/?exp=1"
    assert check_request(link, secret, now=0).status in (403, 404)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=990-2000", (990, 999)),
        ("bytes=0-1,5-6", None),  # several ranges: answered in full
        ("bytes=9-3", None),
        ("items=0-1", None),
        ("bytes=x-1", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None):
    assert byte_range(header, 1000) == expected


def test_a_range_beyond_the_object_cannot_be_satisfied():
    for header in ("bytes=1000-", "bytes=5000-6000"):
        with pytest.raises(ValueError):
            byte_range(header, 1000)


def test_content_types():
    assert media_links.content_type("a/b.PNG") == "image/png"
    assert media_links.content_type("a/b.thumb.jpg") == "image/jpeg"
    assert media_links.content_type("a/b.mp4") == "video/mp4"
    assert media_links.content_type("a/b.mp3") == "audio/mpeg"
    assert media_links.content_type("a/b.txt").startswith("text/plain")
    assert media_links.content_type("a/b") == "application/octet-stream"


# -- the signing key ------------------------------------------------------------------------


def test_the_home_keeps_one_private_key(vidpipe_home: Path, monkeypatch):
    monkeypatch.delenv("VIDPIPE_MEDIA_SIGNING_KEY", raising=False)
    get_settings.cache_clear()
    first = media_server.signing_key()
    path = vidpipe_home / media_server.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert media_server.signing_key() == first and len(first) >= 32
    assert [p.name for p in vidpipe_home.iterdir()] == [media_server.KEY_FILE], "no leftovers"

    chosen = secrets.token_hex(20)
    monkeypatch.setenv("VIDPIPE_MEDIA_SIGNING_KEY", chosen)
    get_settings.cache_clear()
    assert media_server.signing_key() == chosen.encode()
    assert chosen not in repr(get_settings()), "a secret setting"

    monkeypatch.setenv("VIDPIPE_MEDIA_SIGNING_KEY", "short-one")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as refused:
        media_server.signing_key()
    assert "VIDPIPE_MEDIA_SIGNING_KEY" in str(refused.value)
    assert "short-one" not in str(refused.value)


# -- the endpoint, over real HTTP -----------------------------------------------------------


@dataclass
class Served:
    store: LocalStore
    secret: bytes
    base: str
    port: int
    seen: list[str] = field(default_factory=list)  # every response, headers and body

    def link(self, key: str, expires: int = LATER) -> str:
        return signed_url(self.base, key, self.secret, expires)

    def get(self, url: str, **headers: str) -> httpx.Response:
        response = httpx.get(url, headers=headers, timeout=10)
        self.seen.append(f"{response.headers}\n{response.text if response.is_error else ''}")
        return response

    def raw(self, target: str) -> tuple[int, bytes]:
        """A request sent exactly as written (httpx would tidy `..` away)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", target)
            response = connection.getresponse()
            body = response.read()
            self.seen.append(f"{response.headers}\n{body!r}")
            return response.status, body
        finally:
            connection.close()


class Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    logger, logged = logging.getLogger("vidpipe.media"), Logged()
    level = logger.level
    logger.addHandler(logged)
    logger.setLevel(logging.DEBUG)
    store = LocalStore(tmp_path / "media")
    secret = secrets.token_hex(32).encode()
    server = media_server.serve_media(store.root, secret, port=0)
    try:
        yield Served(store, secret, f"http://127.0.0.1:{server.port}", server.port)
    finally:
        server.stop()
        logger.removeHandler(logged)
        logger.setLevel(level)
    text = "\n".join(logged.lines)
    assert text, "requests are logged"
    assert secret.decode() not in text and "sig=" not in text


def _key(store: LocalStore, ref: MediaRef) -> str:
    key = media_server.local_key(store, ref.uri)
    assert key is not None
    return key


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    synthetic_clip(path, duration_s=2.0, target=VideoTarget(160, 90, 10))
    return path


def test_an_image_and_a_video_with_ranges(served: Served, tmp_path: Path, clip: Path):
    picture = tmp_path / "frame.png"
    picture.write_bytes(_png())
    image = served.store.put(picture, kind="image")
    got = served.get(served.link(_key(served.store, image)))
    assert got.status_code == 200 and got.content == picture.read_bytes()
    assert got.headers["content-type"] == "image/png"

    video = served.store.put(clip, kind="video", duration_s=2.0)
    data, link = clip.read_bytes(), served.link(_key(served.store, video))
    whole = served.get(link)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    part = served.get(link, Range="bytes=100-199")
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = served.get(link, Range="bytes=-64")
    assert tail.status_code == 206 and tail.content == data[-64:]
    beyond = served.get(link, Range=f"bytes={len(data)}-")
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    head = httpx.head(link, timeout=10)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_refusals(served: Served, tmp_path: Path):
    picture = tmp_path / "frame.png"
    picture.write_bytes(_png())
    key = _key(served.store, served.store.put(picture, kind="image"))
    link = served.link(key)
    assert served.get(link[:-2] + ("00" if not link.endswith("00") else "11")).status_code == 403
    assert served.get(link.split("?")[0]).status_code == 403
    expired = served.get(served.link(key, expires=int(time.time()) - 1))
    assert expired.status_code == 403 and "expired" in expired.text
    missing = served.get(served.link("sha256/00/" + "0" * 64 + ".png"))
    assert missing.status_code == 404
    assert served.get(f"{served.base}/other/{key}").status_code == 404


def test_nothing_outside_the_store_is_served(served: Served, tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not for browsers")
    (served.store.root / "sha256").mkdir(parents=True, exist_ok=True)
    os.symlink(outside, served.store.root / "sha256" / "link.txt")
    sign = lambda key: f"?exp={LATER}&sig={media_links.signature(served.secret, key, LATER)}"  # noqa: E731
    attempts = {
        "/media/../outside.txt": "../outside.txt",
        "/media/%2e%2e/outside.txt": "../outside.txt",
        "/media/sha256/%2E%2E/%2e%2e/outside.txt": "sha256/../../outside.txt",
        "/media/%2Fetc%2Fpasswd": "/etc/passwd",
        "/media/sha256/link.txt": "sha256/link.txt",
    }
    for path, key in attempts.items():
        unsigned_status, _ = served.raw(path)
        assert unsigned_status == 403, path
        status, body = served.raw(path + sign(key))  # even signed: not an object of the store
        assert status == 404, path
        assert b"not for browsers" not in body


def test_the_key_is_in_no_response(served: Served, tmp_path: Path, clip: Path):
    ref = served.store.put(clip, kind="video", duration_s=2.0)
    link = served.link(_key(served.store, ref))
    for response in (
        served.get(link),
        served.get(link[:-1] + "0"),
        served.get(link, Range="bytes=999999999-"),
    ):
        assert served.secret not in response.content
    assert all(served.secret.decode() not in text for text in served.seen)


# -- links and thumbnails of stored media ---------------------------------------------------


def _jpeg_width(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "JPEG"
        return picture.width


def test_thumbnails_and_posters_of_a_local_store(
    vidpipe_home: Path, tmp_path: Path, clip: Path, monkeypatch
):
    store = LocalStore(vidpipe_home / "media")
    secret = media_server.signing_key()
    server = media_server.serve_media(store.root, secret, port=0)
    monkeypatch.setenv("VIDPIPE_MEDIA_URL", f"http://127.0.0.1:{server.port}")
    get_settings.cache_clear()
    try:
        big = tmp_path / "big.png"
        big.write_bytes(_png((640, 360)))
        short = tmp_path / "short.mp4"
        synthetic_clip(short, duration_s=0.5, target=VideoTarget(160, 90, 10))
        refs = {
            "image": store.put(big, kind="image"),
            "video": store.put(clip, kind="video", duration_s=2.0),
            "short": store.put(short, kind="video", duration_s=0.5),
        }
        widths = {}
        for name, ref in refs.items():
            url = media_server.thumbnail_url(store, ref)
            assert url is not None and url.startswith(f"http://127.0.0.1:{server.port}/media/")
            got = httpx.get(url, timeout=10)
            assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
            widths[name] = _jpeg_width(got.content)
            beside = Path(ref.uri.removeprefix("file://")).with_name(f"{ref.sha256}.thumb.jpg")
            assert beside.is_file(), "kept beside the object"
            assert media_server.thumbnail_url(store, ref) is not None  # made once, found again
        assert widths == {"image": 320, "video": 160, "short": 160}
        audio = tmp_path / "tone.mp3"
        tone(audio, duration_s=1.0)
        sound = store.put(audio, kind="audio", duration_s=1.0)
        assert media_server.thumbnail_url(store, sound) is None
        assert httpx.get(media_server.browser_url(store, sound), timeout=10).status_code == 200
        elsewhere = sound.model_copy(update={"uri": (tmp_path / "tone.mp3").as_uri()})
        assert media_server.markdown_link(store, elsewhere).startswith("`file://")
    finally:
        server.stop()


def test_on_s3_links_are_presigned(store: Any, tmp_path: Path, clip: Path, vidpipe_home: Path):
    ref = store.put(clip, kind="video", duration_s=2.0)
    url = media_server.browser_url(store, ref)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=604800" in url
    assert httpx.get(url, timeout=10).content == clip.read_bytes()
    thumb = media_server.thumbnail_url(store, ref)
    assert thumb is not None and "X-Amz-Signature=" in thumb
    assert _jpeg_width(httpx.get(thumb, timeout=10).content) == 160


# -- `vidpipe media serve` ------------------------------------------------------------------


def test_vidpipe_media_serve_agrees_with_the_flows_on_the_key(vidpipe_home: Path, tmp_path: Path):
    store = LocalStore(vidpipe_home / "media")
    picture = tmp_path / "frame.png"
    picture.write_bytes(_png())
    ref = store.put(picture, kind="image")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPIPE_")}
    env.update(VIDPIPE_HOME=str(vidpipe_home), VIDPIPE_SERVER="ephemeral")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidpipe.cli", "media", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stderr.readline()
        assert "media links: http://127.0.0.1:" in line, line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        key = media_server.signing_key()  # made by the command: the same file
        url = signed_url(f"http://127.0.0.1:{port}", _key(store, ref), key, LATER)
        assert httpx.get(url, timeout=10).content == picture.read_bytes()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        rest = proc.stderr.read()
    assert key.decode() not in line + rest
    assert proc.returncode == 0, rest


def test_bad_ports_and_a_store_on_s3_are_refused_in_one_line(vidpipe_home: Path, monkeypatch):
    from typer.testing import CliRunner

    from vidpipe.cli import app

    bad = CliRunner().invoke(app, ["serve", "--media-port", "70000"])
    assert bad.exit_code == 2 and "--media-port must be 0..65535" in bad.output
    monkeypatch.setenv("VIDPIPE_STORAGE_URL", "s3://bucket/prefix")
    get_settings.cache_clear()
    on_s3 = CliRunner().invoke(app, ["media", "serve", "--port", "0"])
    assert on_s3.exit_code == 2 and "the media store is on S3" in on_s3.output
    asked = CliRunner().invoke(app, ["serve", "--media-port", "8765"])
    assert asked.exit_code == 2 and "--media-port: the media store is on S3" in asked.output
