"""Asset nodes: files kept inside their folder, URLs under the size limit, S3 URIs, and
content that must be what `kind` says. The executor is called directly (no flow)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import tasks.asset as asset
from tasks.runtime import ExecContext, RunInfo
from vidpipe.errors import SpecError
from vidpipe.settings import get_settings
from vidpipe.spec import VideoSettings, load_spec
from vidpipe.storage import LocalStore, MediaStore
from vidpipe.storage.s3 import S3Store


def node_of(asset_yaml: str, base_dir: Path | None = None) -> Any:
    text = f"name: assets\nnodes:\n  - {{id: clip, type: asset, asset: {asset_yaml}}}\n"
    return load_spec(text, base_dir=base_dir).node("clip")


def run_asset(node: Any, store: MediaStore, tmp_path: Path, base_dir: Path | None = None):
    run = RunInfo(
        run_id="run-1",
        pipeline="assets",
        mode="placeholder",
        video=VideoSettings(),
        base_dir=str(base_dir) if base_dir else None,
        database_url="sqlite://",
        storage_url=str(tmp_path / "media"),
    )
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    ctx = ExecContext(node=node, run=run, store=store, workdir=workdir)
    return asset.execute(node, {}, ctx)


def png_bytes(path: Path) -> bytes:
    Image.new("RGB", (32, 18), (200, 40, 40)).save(path, format="PNG")
    return path.read_bytes()


class _BigBodies(http.server.BaseHTTPRequestHandler):
    """`/announced`: Content-Length over the limit; `/streamed`: no length, just too long."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        size = asset.MAX_URL_BYTES + 1024 * 1024
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if self.path == "/announced.txt":
            self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b"a" * (1024 * 1024)
        try:
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def big_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback server, which asset URLs may reach only when the operator allows it."""
    monkeypatch.setenv("VIDPIPE_ALLOW_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BigBodies)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        get_settings.cache_clear()


@pytest.mark.parametrize("path", ["/announced.txt", "/streamed.txt"])
def test_a_url_over_the_size_limit_is_refused(big_server: str, path: str, tmp_path: Path):
    url = big_server + path
    node = node_of(f'{{kind: text, url: "{url}"}}')
    with pytest.raises(SpecError, match=rf"node 'clip': {url} is larger than 50 MB"):
        run_asset(node, LocalStore(tmp_path / "media"), tmp_path)
    written = tmp_path / "work" / "clip.txt"
    assert not written.exists() or written.stat().st_size <= asset.MAX_URL_BYTES


def test_a_path_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (project / "notes.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(SpecError, match="outside the pipeline file's folder"):
        node_of("{kind: text, path: ../outside/secret.txt}", base_dir=project)
    node = node_of("{kind: text, path: notes.txt}")  # validated without its folder
    with pytest.raises(SpecError, match=r"node 'clip': path 'notes.txt' leads outside"):
        run_asset(node, LocalStore(tmp_path / "media"), tmp_path, base_dir=project)


def test_a_path_asset_of_the_wrong_kind_names_node_and_file(tmp_path: Path) -> None:
    (tmp_path / "still.png").write_bytes(png_bytes(tmp_path / "still.png"))
    node = node_of("{kind: video, path: still.png}", base_dir=tmp_path)
    with pytest.raises(SpecError, match=r"node 'clip': file 'still.png' is not video"):
        run_asset(node, LocalStore(tmp_path / "media"), tmp_path, base_dir=tmp_path)


def test_an_s3_uri_asset_is_downloaded_with_the_aws_configuration(
    s3: Any, bucket: str, tmp_path: Path
) -> None:
    data = png_bytes(tmp_path / "frame.png")
    s3.put_object(Bucket=bucket, Key="inputs/Frame.PNG", Body=data)
    node = node_of(f"{{kind: image, uri: s3://{bucket}/inputs/Frame.PNG}}")
    store = LocalStore(tmp_path / "media")  # not an S3 store: boto3 configures itself
    out = run_asset(node, store, tmp_path)
    assert out.kind == "image" and out.path.read_bytes() == data
    assert out.path.suffix == ".png"
    assert store.put(out.path, kind=out.kind).uri.endswith(".png")


def test_an_s3_uri_asset_of_the_wrong_kind_or_missing_is_refused(
    store: S3Store, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="inputs/clip.mp4", Body=png_bytes(tmp_path / "x.png"))
    uri = f"s3://{bucket}/inputs/clip.mp4"
    with pytest.raises(SpecError, match=rf"node 'clip': {uri} is not video"):
        run_asset(node_of(f"{{kind: video, uri: {uri}}}"), store, tmp_path)
    s3.put_object(Bucket=bucket, Key="inputs/script.txt", Body=b"\xff\xfe not utf-8 \x80")
    uri = f"s3://{bucket}/inputs/script.txt"
    with pytest.raises(SpecError, match=rf"node 'clip': {uri} is not UTF-8 text"):
        run_asset(node_of(f"{{kind: text, uri: {uri}}}"), store, tmp_path)
    uri = f"s3://{bucket}/inputs/nothing.mp4"
    with pytest.raises(SpecError, match=rf"node 'clip': cannot fetch {uri}: .* does not exist"):
        run_asset(node_of(f"{{kind: video, uri: {uri}}}"), store, tmp_path)
