"""Loading a pipeline: `load_file`, `load_text` (never raise for a bad file) and
`load_spec` (a valid spec or a `SpecError`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml

from vidpipe.errors import SpecError
from vidpipe.spec.models import PipelineSpec
from vidpipe.spec.parsing import (
    _check_size,
    _check_yaml_depth,
    _duplicate_message,
    _load_json,
    _load_yaml,
    _location,
    _TooComplex,
    _yaml_message,
)
from vidpipe.spec.problems import LoadResult, Problem, _problem_order, format_problems
from vidpipe.spec.validation import load_data

#: A pipeline file larger than this is refused unread (a 1,000-node file is ~200 kB).
MAX_FILE_BYTES = 5 * 1024 * 1024


def load_file(path: str | Path) -> LoadResult:
    """Read, parse and validate a pipeline file. Never raises for a bad file."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            return LoadResult(source, problems=[Problem("file", "is not a regular file")])
        if size > MAX_FILE_BYTES:
            mb = size / 1024 / 1024
            limit = MAX_FILE_BYTES / 1024 / 1024
            msg = f"is too large ({mb:.1f} MB; a pipeline file may be at most {limit:g} MB)"
            return LoadResult(source, problems=[Problem("file", msg)])
        raw = path.read_bytes()
        base_dir = path.resolve().parent
    except FileNotFoundError:
        return LoadResult(source, problems=[Problem("file", "does not exist")])
    except OSError as exc:
        return LoadResult(source, problems=[Problem("file", f"cannot be read ({exc.strerror})")])
    except (ValueError, RuntimeError) as exc:  # a NUL byte in the name, a symlink loop
        return LoadResult(source, problems=[Problem("file", f"cannot be read ({exc})")])
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return load_text(raw, source=source, base_dir=base_dir, fmt=fmt)


def load_text(
    text: str | bytes,
    *,
    source: str = "<pipeline>",
    base_dir: Path | None = None,
    fmt: Literal["yaml", "json"] = "yaml",
) -> LoadResult:
    """Parse and validate a pipeline given as text (YAML, or JSON, which YAML also reads)."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            return LoadResult(source, problems=[Problem("file", "is too large")])
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            msg = f"is not UTF-8 text (invalid byte at offset {exc.start})"
            return LoadResult(source, problems=[Problem("file", msg)])
    if "\x00" in text:
        return LoadResult(source, problems=[Problem("file", "is binary, not YAML or JSON text")])
    try:
        if fmt == "yaml":
            _check_yaml_depth(text)
            data, duplicates = _load_yaml(text)
        else:
            data, duplicates = _load_json(text)
        _check_size(data)
    except json.JSONDecodeError as exc:
        msg = f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        return LoadResult(source, problems=[Problem("file", msg)])
    except yaml.YAMLError as exc:
        return LoadResult(source, problems=[Problem("file", _yaml_message(exc))])
    except _TooComplex as exc:
        return LoadResult(source, problems=[Problem("file", str(exc))])
    except (RecursionError, ValueError, OverflowError, MemoryError) as exc:
        msg = f"cannot be parsed ({type(exc).__name__})"
        return LoadResult(source, problems=[Problem("file", msg)])
    result = load_data(data, source=source, base_dir=base_dir)
    if duplicates:  # the data holds the last of each; validated, so all is shown at once
        found = [Problem(_location(data, d.path, d.key), _duplicate_message(d)) for d in duplicates]
        result.problems = sorted([*found, *result.problems], key=_problem_order)
        result.spec = None
    return result


def load_spec(path_or_text: str | Path, *, base_dir: Path | None = None) -> PipelineSpec:
    """A valid spec from a file path or the file's content; `SpecError` listing every problem."""
    text = str(path_or_text)
    looks_like_content = "\n" in text or text.lstrip().startswith(("{", "name:"))
    if isinstance(path_or_text, Path) or not looks_like_content:
        result = load_file(path_or_text)
    else:
        result = load_text(text, base_dir=base_dir)
    if not result.valid:
        raise SpecError(format_problems(result.source, result.problems))
    assert result.spec is not None
    return result.spec
