"""`asset`: brings existing media into the pipeline (inline text, a file, a URL, an S3 URI).

Whatever the source, the content is checked to be what the node's `kind` says (UTF-8
text, or a video/audio/image FFmpeg can read) before it is stored, and every refusal names
the node and the source, because a wrong asset is the user's to fix, not a retry's.

- `path`: inside the pipeline file's folder; `..`, absolute paths and links that lead out
  of the folder are refused (links that stay inside are allowed, as validation does).
- `url`: http(s), streamed to disk, at most `MAX_URL_BYTES` (refused early when the
  server announces a bigger Content-Length); never from the worker's own networks
  (loopback, link-local, private...: `vidpipe.netguard`), redirects included, unless the
  operator allows them (`VIDPIPE_ALLOW_NETWORKS`).
- `uri`: `s3://bucket/key`, downloaded with the store's boto3 configuration.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import httpx

from tasks.runtime import ExecContext, Output, input_error, node_task
from vidpipe import limits
from vidpipe.errors import MediaError, SpecError, StorageError, TransientProviderError
from vidpipe.media import MediaInfo, check_decodes, probe
from vidpipe.netguard import AddressRefused, FetchRefused, fetch
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec

__all__ = ["MAX_URL_BYTES", "execute", "task"]

#: Largest file an asset `url` may download (the upload limit).
MAX_URL_BYTES = limits.MAX_DOWNLOAD_BYTES
_CHUNK = 1024 * 1024


def _check_kind(node: NodeSpec, path: Path, source: str) -> None:
    """The content must be what `kind` says: UTF-8 text, or media FFmpeg can read."""
    kind = node.asset.kind
    if kind == "text":
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise input_error(node, f"{source} is not UTF-8 text") from None
        return
    try:
        info = probe(path)
    except MediaError as exc:
        raise input_error(node, f"{source} is not a readable {kind} file: {exc}") from None
    if not _kind_matches(kind, info):
        raise input_error(node, f"{source} is not {kind}")
    if info.duration_s is not None and info.duration_s > limits.MAX_MEDIA_S:
        raise input_error(
            node,
            f"{source} lasts {info.duration_s:,.0f} s; at most {limits.MAX_MEDIA_S:,.0f} s: "
            "cut it first",
        )
    try:
        check_decodes(path, kind)
    except MediaError as exc:
        raise input_error(node, f"{source} is a corrupt {kind} file: {_first_line(exc)}") from None


def _kind_matches(kind: str, info: MediaInfo) -> bool:
    return {
        "video": info.has_video and not info.is_image,
        "audio": info.has_audio and not info.has_video,
        "image": info.is_image,
    }[kind]


def _first_line(exc: MediaError) -> str:
    """What FFmpeg said first about the damage (its later lines repeat it)."""
    said = [line for line in exc.stderr_tail.splitlines() if line.strip()]
    return said[0].split("] ")[-1].strip() if said else str(exc).splitlines()[0]


def _too_large(node: NodeSpec, url: str) -> SpecError:
    return input_error(node, f"{url} is larger than {MAX_URL_BYTES // 1024 // 1024} MB")


def _announced_size(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _download(node: NodeSpec, url: str, out: Path) -> None:
    """Stream `url` to `out`, stopping as soon as it exceeds MAX_URL_BYTES; connecting
    only to addresses the settings allow (`vidpipe.netguard.fetch`)."""
    from vidpipe.settings import get_settings

    try:
        with fetch(url, allow=get_settings().allow_networks, timeout=60) as response:
            response.raise_for_status()
            announced = _announced_size(response)
            if announced is not None and announced > MAX_URL_BYTES:
                raise _too_large(node, url)
            size = 0
            with out.open("wb") as handle:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > MAX_URL_BYTES:
                        raise _too_large(node, url)
                    handle.write(chunk)
    except AddressRefused as exc:
        where = f"{url} redirects to {exc.url}" if exc.redirected else url
        raise SpecError(f"node '{node.id}': {where}: {exc}") from None
    except FetchRefused as exc:
        raise SpecError(f"node '{node.id}': {url} {exc}") from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        message = f"node '{node.id}': {url} answered HTTP {status}"
        if status == 429 or status >= 500:
            raise TransientProviderError(message, provider="url", status=status) from None
        raise SpecError(message) from None
    except httpx.TransportError as exc:
        message = f"node '{node.id}': {url} could not be fetched ({type(exc).__name__})"
        raise TransientProviderError(message, provider="url") from None


def _from_path(node: NodeSpec, value: str, base_dir: str | None) -> Path:
    """The asset's file, refused unless it really lies inside the pipeline file's folder."""
    if base_dir is None:
        raise input_error(node, f"path '{value}' needs the pipeline file's folder")
    base = Path(base_dir).resolve()
    relative = Path(value)
    if relative.is_absolute() or ".." in relative.parts:
        raise input_error(node, f"path '{value}' is outside the pipeline file's folder")
    path = base / relative
    if not path.resolve().is_relative_to(base):
        raise input_error(
            node, f"path '{value}' leads outside the pipeline file's folder (through a link)"
        )
    if not path.is_file():
        raise input_error(node, f"file '{value}' does not exist in {base}")
    return path


def _from_uri(node: NodeSpec, uri: str, ctx: ExecContext) -> Path:
    """Download `s3://bucket/key` with the store's client when the store is on S3."""
    from vidpipe.storage.s3 import S3Store, download_uri  # boto3 only for S3 assets

    client = ctx.store.client if isinstance(ctx.store, S3Store) else None
    out = ctx.out(PurePosixPath(uri).suffix.lower() or ".bin")
    try:
        return download_uri(uri, out, client=client)
    except StorageError as exc:
        raise input_error(node, f"cannot fetch {uri}: {exc}") from None


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """Copy an asset's content into the media store, checked to be of its kind."""
    asset = node.asset
    which, value = asset.source
    if which == "text":
        return Output(None, "text", text=value)
    if which == "path":
        path = _from_path(node, value, ctx.run.base_dir)
        _check_kind(node, path, f"file '{value}'")
        return Output(path, asset.kind)
    if which == "url":
        out = ctx.out(Path(value.split("?")[0]).suffix or ".bin")
        _download(node, value, out)
        _check_kind(node, out, value)
        return Output(out, asset.kind)
    if which == "uri":
        path = _from_uri(node, value, ctx)
        _check_kind(node, path, value)
        return Output(path, asset.kind)
    raise SpecError(f"node '{node.id}': unknown asset source {which!r}")


task = node_task("asset", execute)
