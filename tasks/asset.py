"""`asset`: brings existing media into the pipeline (inline text, a file, a URL)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tasks.runtime import ExecContext, Output, input_error, node_task
from vidpipe.errors import MediaError, SpecError, TransientProviderError
from vidpipe.media import probe
from vidpipe.refs import MediaRef
from vidpipe.spec import NodeSpec

#: Largest file an asset `url` may download (the seeds' upload rule).
MAX_URL_BYTES = 50 * 1024 * 1024


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
    ok = {
        "video": info.has_video and not info.is_image,
        "audio": info.has_audio and not info.has_video,
        "image": info.is_image,
    }[kind]
    if not ok:
        raise input_error(node, f"{source} is not {kind}")


def _download(node: NodeSpec, url: str, out: Path) -> None:
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            size = 0
            with out.open("wb") as handle:
                for chunk in response.iter_bytes(1024 * 1024):
                    size += len(chunk)
                    if size > MAX_URL_BYTES:
                        raise input_error(
                            node, f"{url} is larger than {MAX_URL_BYTES // 1024 // 1024} MB"
                        )
                    handle.write(chunk)
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        message = f"node '{node.id}': {url} answered HTTP {status}"
        if status == 429 or status >= 500:
            raise TransientProviderError(message, provider="url", status=status) from None
        raise SpecError(message) from None
    except httpx.TransportError as exc:
        message = f"node '{node.id}': {url} could not be fetched ({type(exc).__name__})"
        raise TransientProviderError(message, provider="url") from None


def execute(node: NodeSpec, inputs: dict[str, list[MediaRef]], ctx: ExecContext) -> Output:
    """Copy an asset's content into the media store, checked to be of its kind."""
    asset = node.asset
    which, value = asset.source
    if which == "text":
        out = ctx.out(".txt")
        out.write_text(value, encoding="utf-8")
        return Output(out, "text")
    if which == "path":
        if ctx.run.base_dir is None:
            raise input_error(node, f"path '{value}' needs the pipeline file's folder")
        base = Path(ctx.run.base_dir).resolve()
        path = base / value
        if not path.resolve().is_relative_to(base):
            raise input_error(node, f"path '{value}' is outside the pipeline file's folder")
        if not path.is_file():
            raise input_error(node, f"file '{value}' does not exist in {base}")
        _check_kind(node, path, f"file '{value}'")
        return Output(path, asset.kind)
    if which == "url":
        out = ctx.out(Path(value.split("?")[0]).suffix or ".bin")
        _download(node, value, out)
        _check_kind(node, out, value)
        return Output(out, asset.kind)
    raise SpecError(f"node '{node.id}': {which} assets need S3 storage ({value})")


task = node_task("asset", execute)
