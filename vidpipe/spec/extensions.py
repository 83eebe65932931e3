"""The file's `variants:` and `brand:` blocks: their checks, and a variant applied.

A variant names one deliverable of the file and what it changes: the video target
(`video: {width, height, fps}`, each optional) and node fields (`set: {NODE.FIELD:
value}`, the language `vidpipe revise --set` speaks). `apply_variant` gives the file's
data as that variant sees it; the validator checks it like the file itself, so a bad
value in a `set` is a problem located in the variant. The brand kit's files (logo,
intro, outro) are paths relative to the file, checked like an asset's path.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from vidpipe.catalogue import CATALOGUE
from vidpipe.spec.assets import _AssetChecks
from vidpipe.spec.models import Brand, Variant
from vidpipe.spec.problems import _key, _short, _type_name

__all__ = ["apply_variant", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES"]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: The default variant's name, when a file declares none.
DEFAULT_VARIANT = "default"
MAX_VARIANTS = 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".m4v")


def apply_variant(data: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    """The file's data as `variant` sees it: its video target and `set` fields applied,
    no `variants:` left (each variant is checked and planned as a file of its own)."""
    out = {k: copy.deepcopy(v) for k, v in data.items() if k != "variants"}
    if variant.video is not None:
        given = variant.video.model_dump(exclude_none=True)
        base = out.get("video") if isinstance(out.get("video"), Mapping) else {}
        out["video"] = {**base, **given}
    for target, value in variant.set.items():
        node_id, _, field = target.partition(".")
        for raw in out.get("nodes") or []:
            if isinstance(raw, dict) and raw.get("id") == node_id:
                config = raw.get("config") if isinstance(raw.get("config"), Mapping) else {}
                raw["config"] = {**config, field: value}
    return out


class _ExtensionChecks(_AssetChecks):
    """The checks of `variants:` and `brand:` for the validator."""

    def _variants(self, value: Any, raw_nodes: Any) -> tuple[Variant, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not value:
            got = "an empty list" if value == [] else _type_name(value)
            self.add("variants", f"must be a non-empty list of variants, got {got}")
            return ()
        if len(value) > MAX_VARIANTS:
            self.add("variants", f"holds {len(value)} variants; at most {MAX_VARIANTS}")
            return ()
        types = {
            raw.get("id"): raw.get("type")
            for raw in raw_nodes or []
            if isinstance(raw, Mapping) and isinstance(raw.get("id"), str)
        }
        seen: dict[str, int] = {}
        variants = []
        for i, raw in enumerate(value):
            where = f"variants[{i}]"
            if not isinstance(raw, Mapping):
                self.add(where, f"must be a mapping with a 'name', got {_type_name(raw)}")
                continue
            name = raw.get("name")
            if isinstance(name, str):
                where = f"variants[{i}] ({name})"
            start = len(self.problems)
            if name is None:
                self.add(f"{where}.name", "is required")
            elif not isinstance(name, str) or not NAME_RE.match(name):
                self.add(
                    f"{where}.name",
                    "must be 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit",
                )
            elif name in seen:
                self.add(f"{where}.name", f"duplicate name '{name}' (also variants[{seen[name]}])")
            else:
                seen[name] = i
            sets = raw.get("set")
            if sets is not None:
                self._variant_set(f"{where}.set", sets, types)
            variant = self._model(Variant, raw, where)
            if variant is not None and len(self.problems) == start:
                variants.append(variant)
        return tuple(variants)

    def _variant_set(self, where: str, value: Any, types: Mapping[str, Any]) -> None:
        if not isinstance(value, Mapping):
            self.add(where, f"must map NODE.FIELD to a value, got {_type_name(value)}")
            return
        for target in value:
            loc = f"{where}.{_key(target)}"
            node_id, dot, field = target.partition(".") if isinstance(target, str) else ("", "", "")
            if not dot or not node_id or not field:
                self.add(loc, f"must name NODE.FIELD, got {_short(target)}")
            elif node_id not in types:
                self.add(loc, f"node '{node_id}' does not exist")
            elif types[node_id] in CATALOGUE:
                decl = CATALOGUE[types[node_id]]
                if field not in decl.config_fields:
                    known = ", ".join(decl.config_fields) or "none"
                    self.add(loc, f"unknown field '{field}' for {decl.name} (fields: {known})")

    def _brand(self, value: Any) -> Brand | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.add("brand", f"must be a mapping, got {_type_name(value)}")
            return None
        start = len(self.problems)
        brand = self._model(Brand, value, "brand")
        if brand is None:
            return None
        files = [
            ("brand.intro", brand.intro, VIDEO_SUFFIXES),
            ("brand.outro", brand.outro, VIDEO_SUFFIXES),
        ]
        if brand.logo is not None:
            files.append(("brand.logo.path", brand.logo.path, IMAGE_SUFFIXES))
        for loc, path, suffixes in files:
            if path is None or not self._usable_source(loc, "path", path):
                continue
            if not path.lower().endswith(suffixes):
                self.add(loc, f"'{path}' must be one of: {', '.join(suffixes)}")
                continue
            self._asset_path(loc, path)
        if brand.code_theme is not None:
            from pygments.styles import get_all_styles

            if brand.code_theme not in set(get_all_styles()):
                self.add(
                    "brand.code_theme",
                    f"unknown theme {brand.code_theme!r} (any Pygments style, e.g. monokai)",
                )
        return brand if len(self.problems) == start else None
