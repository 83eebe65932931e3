"""Checks of an asset node's `asset`: one source (text, path, url or uri) of the right
kind, and a path, URL or URI that is usable and stays inside the pipeline's folder.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath
from typing import Any
from urllib.parse import urlparse

from vidpipe.spec.models import ASSET_SOURCES, AssetSource
from vidpipe.spec.problems import _Checker, _printable, _type_name


class _AssetChecks(_Checker):
    """The checks of an asset node's source, for the validator."""

    def _asset(self, where: str, value: Any) -> AssetSource | None:
        loc = f"{where}.asset"
        if value is None:
            self.add(loc, "is required for an asset node")
            return None
        if not isinstance(value, Mapping):
            self.add(loc, f"must be a mapping with 'kind' and one source, got {_type_name(value)}")
            return None
        start = len(self.problems)
        sources = [s for s in ASSET_SOURCES if value.get(s) is not None]
        if not sources:
            self.add(loc, "needs exactly one source (text, path, url or uri), got none")
        elif len(sources) > 1:
            self.add(loc, f"needs exactly one source, got {len(sources)}: {', '.join(sources)}")
        asset = self._model(AssetSource, value, loc)
        if asset is None or len(self.problems) > start:
            return None
        which, src = asset.source
        if which != "text" and not self._usable_source(f"{loc}.{which}", which, src):
            return None
        if which == "text" and asset.kind != "text":
            self.add(f"{loc}.text", f"inline text makes a text asset, but kind is '{asset.kind}'")
        elif which == "path":
            self._asset_path(f"{loc}.path", src)
        elif which == "url":
            parsed = urlparse(src)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                self.add(f"{loc}.url", "must be an http:// or https:// URL")
        elif which == "uri":
            parsed = urlparse(src)
            if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
                self.add(f"{loc}.uri", "must be an s3://bucket/key URI")
        return asset if len(self.problems) == start else None

    def _usable_source(self, loc: str, which: str, value: str) -> bool:
        """What a path, url or uri must be before the file system or urllib sees it (they
        raise on a NUL byte, a lone surrogate or an unclosed '['). False: a problem added."""
        start = len(self.problems)
        bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs")), None)
        if not value.strip():
            self.add(loc, "must not be blank")
        elif "\x00" in value:
            self.add(loc, "contains a NUL byte")
        elif bad is not None and unicodedata.category(bad) == "Cs":
            self.add(loc, "is not valid Unicode text (it holds a lone surrogate)")
        elif bad is not None:
            self.add(loc, f"contains a control character ({_printable(bad)})")
        elif which in ("url", "uri"):
            try:
                urlparse(value)
            except ValueError as exc:  # "Invalid IPv6 URL", a netloc unsafe under NFKC
                self.add(loc, f"is not a valid {which.upper()} ({exc})")
        return len(self.problems) == start

    def _asset_path(self, loc: str, path: str) -> None:
        rel = Path(path)
        win = PureWindowsPath(path)
        if rel.is_absolute() or ".." in rel.parts:
            self.add(loc, f"'{path}' is outside the pipeline file's folder")
            return
        if win.drive or win.root or ".." in win.parts:
            self.add(loc, f"'{path}' is outside the pipeline file's folder (a Windows path)")
            return
        if "\\" in path:
            self.add(loc, f"'{path}' holds a '\\': write the path with '/' between folders")
            return
        if any(len(part.encode()) > 255 for part in rel.parts):
            self.add(loc, "has a file or folder name longer than 255 bytes")
            return
        if self.base_dir is None:
            return
        try:  # whatever the file system makes of the name, a problem and never a crash
            base = self.base_dir.resolve()
            full = base / rel
            inside = full.resolve().is_relative_to(base)
            exists = inside and full.is_file()
        except (OSError, ValueError, RuntimeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.add(loc, f"'{path}' cannot be checked ({reason})")
            return
        if not inside:
            self.add(loc, f"'{path}' is outside the pipeline file's folder (through a link)")
        elif not exists:
            self.add(loc, f"file '{path}' does not exist{_normalisation_hint(base, path)}")


def _normalisation_hint(base: Path, path: str) -> str:
    """When the name exists in another Unicode form (typed on macOS, NFD, or elsewhere,
    NFC), say so: the file system sees two different names."""
    for form in ("NFC", "NFD"):
        other = unicodedata.normalize(form, path)
        try:
            if other != path and (base / other).is_file():
                return f" (it does written in Unicode {form} form: type the name again)"
        except (OSError, ValueError):
            continue
    return ""
