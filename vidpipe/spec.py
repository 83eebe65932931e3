"""Pipeline files: loading, validation, and the validated `PipelineSpec`.

`load_file`/`load_text` never raise for a bad file, whatever its bytes: they return a
`LoadResult` holding either a valid spec or every problem found, each with a location
(`nodes[2] (host).inputs.audio`) and a plain sentence. `load_spec` is the raising form
for code that wants a spec or a `SpecError`.

The node types themselves are declared in `vidpipe.catalogue`; this module reads those
declarations and imports no Prefect.
"""

from __future__ import annotations

import hashlib
import json
import re
import reprlib
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PureWindowsPath
from typing import Any, Literal, NamedTuple
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vidpipe.catalogue import CATALOGUE, NodeType
from vidpipe.errors import SpecError
from vidpipe.graph import find_cycle
from vidpipe.refs import KINDS, Kind

__all__ = [
    "MAX_FILE_BYTES",
    "Problem",
    "LoadResult",
    "AssetSource",
    "VideoSettings",
    "Budget",
    "NodeSpec",
    "PipelineSpec",
    "load_file",
    "load_text",
    "load_data",
    "load_spec",
    "format_problems",
]

#: A pipeline file larger than this is refused unread (a 1,000-node file is ~200 kB).
MAX_FILE_BYTES = 5 * 1024 * 1024

NAME_RE = re.compile(r"^[a-z0-9-]{1,64}$")
ID_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
TOP_KEYS = ("name", "description", "mode", "video", "budget", "nodes")
NODE_KEYS = ("id", "type", "title", "inputs", "config", "after", "asset")
ASSET_SOURCES = ("text", "path", "url", "uri")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a file: where, and a plain sentence."""

    location: str
    message: str

    def __post_init__(self) -> None:
        # One problem is one printable line: a newline, a terminal escape or a lone
        # surrogate quoted from the file is shown escaped, never sent to the terminal.
        for name in ("location", "message"):
            text = getattr(self, name)
            if isinstance(text, str) and not text.isprintable():
                object.__setattr__(self, name, _printable(text))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _printable(text: str) -> str:
    """`text` with every non-printable character written as its escape (`\\n`, `\\x1b`)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class AssetSource(_Model):
    kind: Kind
    text: str | None = None
    path: str | None = None
    url: str | None = None
    uri: str | None = None

    @property
    def source(self) -> tuple[str, str]:
        """`(which, value)`: the one source this asset names."""
        for name in ASSET_SOURCES:
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise ValueError("asset has no source")  # unreachable for a validated spec


class VideoSettings(_Model):
    width: int = Field(1280, ge=16, le=7680, multiple_of=2)
    height: int = Field(720, ge=16, le=7680, multiple_of=2)
    fps: int = Field(30, ge=1, le=120)


class Budget(_Model):
    max_usd: float = Field(gt=0, le=1_000_000)


class NodeSpec(_Model):
    id: str
    type: str
    title: str | None = None
    inputs: dict[str, tuple[str, ...]] = {}
    after: tuple[str, ...] = ()
    config: BaseModel
    asset: AssetSource | None = None

    @property
    def decl(self) -> NodeType:
        return CATALOGUE[self.type]

    @property
    def output_kind(self) -> Kind | None:
        if self.asset is not None:
            return self.asset.kind
        return self.decl.output

    @property
    def deps(self) -> tuple[str, ...]:
        """Every node this one waits for: its inputs, then its `after` list, once each."""
        refs = [ref for refs in self.inputs.values() for ref in refs]
        return tuple(dict.fromkeys([*refs, *self.after]))

    @property
    def label(self) -> str:
        return self.title or self.id


class PipelineSpec(_Model):
    name: str
    description: str | None = None
    mode: Literal["placeholder", "live"] = "placeholder"
    video: VideoSettings = VideoSettings()
    budget: Budget | None = None
    nodes: tuple[NodeSpec, ...]
    #: The file's content as loaded (plain data), for storing and re-validating.
    data: dict[str, Any] = Field(default_factory=dict, repr=False)
    #: The folder that asset paths are relative to; None when loaded from text.
    base_dir: Path | None = Field(None, repr=False)

    @cached_property
    def by_id(self) -> dict[str, NodeSpec]:
        return {n.id: n for n in self.nodes}

    def node(self, node_id: str) -> NodeSpec:
        return self.by_id[node_id]

    @cached_property
    def deps(self) -> dict[str, tuple[str, ...]]:
        return {n.id: n.deps for n in self.nodes}

    @cached_property
    def digest(self) -> str:
        canonical = json.dumps(self.data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class LoadResult:
    """What loading a file gave: a spec, or the problems that stop it being one."""

    source: str
    spec: PipelineSpec | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "valid": self.valid,
            "problems": [{"location": p.location, "message": p.message} for p in self.problems],
        }


def format_problems(source: str, problems: list[Problem]) -> str:
    """The human report: a header line, then one indented line per problem."""
    if not problems:
        return f"{source}: valid"
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return "\n".join([f"{source}: {count}", *(f"  {p}" for p in problems)])


# --------------------------------------------------------------------------- loading


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


#: Deepest nesting of mappings and lists a file may have (a real pipeline has about 6).
MAX_DEPTH = 100
#: Most values a file may hold once YAML aliases are expanded (a 1,000-node file has ~20k).
MAX_ITEMS = 1_000_000


class _TooComplex(ValueError):
    """The file's structure is too deep or too large to be a pipeline."""


def _check_yaml_depth(text: str) -> None:
    """Refuse deep nesting before building anything: libyaml recurses in C and a file of
    100,000 '[' would crash the process, not raise."""
    depth = 0
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, starts):
            depth += 1
            if depth > MAX_DEPTH:
                raise _TooComplex(f"is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, ends):
            depth -= 1


def _check_size(data: Any) -> None:
    """Refuse structures that expand beyond MAX_ITEMS (a YAML alias bomb shares objects,
    so this counts each shared object by identity once per use, without expanding it)."""
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int) -> int:
        if not isinstance(value, dict | list) or depth > MAX_DEPTH:
            return 1
        known = sizes.get(id(value))
        if known is not None:
            return known
        children = value.items() if isinstance(value, dict) else enumerate(value)
        total = 1
        for key, child in children:
            total += size(key, depth + 1) + size(child, depth + 1)
            if total > MAX_ITEMS:
                raise _TooComplex(f"expands to more than {MAX_ITEMS:,} values (YAML aliases?)")
        sizes[id(value)] = total
        return total

    size(data, 0)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML (libyaml where present: a 1,000-node file parses in milliseconds)."""


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses, e.g. U+0085
        return f"is not valid YAML: {exc.reason} (U+{exc.character:04X} at offset {exc.position})"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"is not valid YAML: {problem}{where}"


# ---- duplicate keys: YAML and JSON keep the last silently; here each is a problem


class _Index(int):
    """A list position in a path into the data (a plain int there is a mapping key)."""


#: The YAML merge key `<<` in a path: what it brings lands in the enclosing mapping.
_MERGE = object()
#: A list or a mapping as a key (refused when the document is constructed).
_COMPLEX = object()
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"


class _Duplicate(NamedTuple):
    """A key given more than once in one mapping: the mapping's path, the key, how often,
    and where each is, as (line, column) (YAML only)."""

    path: tuple[Any, ...]
    key: Any
    count: int
    marks: tuple[tuple[int, int], ...] = ()


def _load_yaml(text: str) -> tuple[Any, list[_Duplicate]]:
    """What `yaml.load` gives, and the duplicate keys it would have dropped."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        duplicates = _yaml_duplicates(loader, node)
        return loader.construct_document(node), duplicates
    finally:
        loader.dispose()


def _yaml_duplicates(loader: Any, root: yaml.Node) -> list[_Duplicate]:
    """Keys written twice in one mapping of the composed document, in file order. Keys are
    compared as constructed (so `on` and `true`, or `1` and `0x1`, collide as they would
    in the dict); keys a merge (`<<`) brings may be overridden, as YAML intends. Each node
    is visited once, however many aliases point at it (an alias bomb stays cheap)."""
    found: list[_Duplicate] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[yaml.Node, tuple[Any, ...]]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(child, (*path, _Index(i))) for i, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            marks: dict[Any, list[tuple[int, int]]] = {}
            for key_node, value_node in node.value:
                key = _yaml_key(loader, key_node)
                if key is not _COMPLEX:
                    mark = key_node.start_mark
                    marks.setdefault(key, []).append((mark.line + 1, mark.column + 1))
                children.append((value_node, (*path, key)))
            found += [
                _Duplicate(path, k, len(at), tuple(at)) for k, at in marks.items() if len(at) > 1
            ]
        stack.extend(reversed(children))
    return found


def _yaml_key(loader: Any, key_node: yaml.Node) -> Any:
    """A mapping key as the dict will hold it (constructing a scalar key early is what
    `construct_document` would do; it reuses the result)."""
    if not isinstance(key_node, yaml.ScalarNode):
        return _COMPLEX
    if key_node.tag == _MERGE_TAG:
        return _MERGE
    if key_node.tag == _VALUE_TAG:
        return "="
    return loader.construct_object(key_node)


def _load_json(text: str) -> tuple[Any, list[_Duplicate]]:
    """What `json.loads` gives, and the duplicate keys it would have dropped."""
    # By id, holding each object: one dropped with its duplicate key must not be freed
    # and its id reused by a later object.
    repeated: dict[int, tuple[dict[str, Any], list[tuple[str, int]]]] = {}

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) < len(items):
            counts = Counter(key for key, _ in items)
            repeated[id(obj)] = (obj, [(key, n) for key, n in counts.items() if n > 1])
        return obj

    data = json.loads(text, object_pairs_hook=pairs)
    if not repeated:
        return data, []
    found: list[_Duplicate] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        children: list[tuple[Any, tuple[Any, ...]]] = []
        if isinstance(value, dict):
            _, keys = repeated.get(id(value), (None, ()))
            found += [_Duplicate(path, key, n) for key, n in keys]
            children = [(child, (*path, key)) for key, child in value.items()]
        elif isinstance(value, list):
            children = [(child, (*path, _Index(i))) for i, child in enumerate(value)]
        stack.extend(reversed(children))
    return data, found


def _location(data: Any, path: tuple[Any, ...], key: Any) -> str:
    """Where a key sits, written as validation writes locations: `nodes[1] (b).asset.text`."""
    steps = [step for step in path if step is not _MERGE]
    text = ""
    if len(steps) >= 2 and steps[0] == "nodes" and isinstance(steps[1], _Index):
        nodes = data.get("nodes") if isinstance(data, Mapping) else None
        i = int(steps[1])
        text = _where(i, nodes[i] if isinstance(nodes, list) and i < len(nodes) else None)
        steps = steps[2:]
    for step in [*steps, key]:
        if isinstance(step, _Index):
            text += f"[{int(step)}]"
        else:
            name = _key("<<" if step is _MERGE else step)
            text += f".{name}" if text else name
    return text


def _duplicate_message(dup: _Duplicate) -> str:
    lines = [line for line, _ in dup.marks]
    if not dup.marks:
        where = ""
    elif len(set(lines)) == len(lines):
        where = f" (lines {_and(lines)})"
    elif len(set(lines)) == 1:
        where = f" (line {lines[0]}, columns {_and([column for _, column in dup.marks])})"
    else:
        where = f" ({_and([f'line {line} column {column}' for line, column in dup.marks])})"
    return f"duplicate key, given {dup.count} times{where}; a key may appear only once in a mapping"


def _and(items: list[Any]) -> str:
    words = [str(item) for item in items]
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]


# --------------------------------------------------------------------------- validation


def load_data(data: Any, *, source: str = "<pipeline>", base_dir: Path | None = None) -> LoadResult:
    """Validate already-parsed data (a dict from YAML/JSON). Never raises for bad data."""
    v = _Validator(base_dir)
    try:
        spec = v.run(data)
    except RecursionError:
        v.add("file", "is nested too deeply")
        spec = None
    problems = sorted(v.problems, key=_problem_order)
    return LoadResult(source, spec=None if problems else spec, problems=problems)


def _problem_order(problem: Problem) -> int:
    """File-level problems first, then per node in file order, then cycles (stable sort)."""
    if problem.location == "cycle":
        return 1 << 30
    match = re.match(r"nodes\[(\d+)\]", problem.location)
    return int(match.group(1)) if match else -1


def _where(i: int, raw: Any) -> str:
    node_id = raw.get("id") if isinstance(raw, Mapping) else None
    if not isinstance(node_id, str) or not node_id:
        return f"nodes[{i}]"
    return f"nodes[{i}] ({node_id if len(node_id) <= 64 else _short(node_id)})"


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), f"a {type(value).__name__}")


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _key(key: Any) -> str:
    """A mapping key as it appears in a location: plain keys as they are, others quoted."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return key
    return reprlib.repr(key).encode("ascii", "backslashreplace").decode()


def _raw_deps(raw: Mapping[str, Any], ids: Mapping[str, int]) -> list[str]:
    """The references of an unvalidated node that name existing nodes."""
    inputs = raw.get("inputs")
    values = list(inputs.values()) if isinstance(inputs, Mapping) else []
    values.append(raw.get("after"))
    refs = [ref for value in values for ref in (_refs(value) or [])]
    return [ref for ref in refs if isinstance(ref, str) and ref in ids]


def _refs(value: Any) -> list[Any] | None:
    """A slot or `after` value as a list of references; None when it has the wrong shape."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return None


class _Validator:
    """Collects every problem in one pass; builds the spec only when there are none."""

    def __init__(self, base_dir: Path | None):
        self.base_dir = base_dir
        self.problems: list[Problem] = []

    def add(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))

    def run(self, data: Any) -> PipelineSpec | None:
        if not isinstance(data, Mapping):
            self.add("file", f"must be a mapping with 'name' and 'nodes', got {_type_name(data)}")
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.add(_key(key), f"unknown key (expected one of: {', '.join(TOP_KEYS)})")
        name = data.get("name")
        if name is None:
            self.add("name", "is required")
        elif not isinstance(name, str) or not NAME_RE.match(name):
            self.add("name", "must be a slug of 1 to 64 lowercase letters, digits and '-'")
        desc = data.get("description")
        if desc is not None and not isinstance(desc, str):
            self.add("description", f"must be text, got {_type_name(desc)}")
        mode = data.get("mode", "placeholder")
        if mode not in ("placeholder", "live"):
            self.add("mode", f"must be 'placeholder' or 'live', got {_short(mode)}")
        video = self._model(VideoSettings, data.get("video", {}), "video")
        budget = None
        if data.get("budget") is not None:
            budget = self._model(Budget, data["budget"], "budget")

        raw_nodes = data.get("nodes")
        if raw_nodes is None:
            self.add("nodes", "is required")
            return None
        if not isinstance(raw_nodes, list) or not raw_nodes:
            got = "an empty list" if raw_nodes == [] else _type_name(raw_nodes)
            self.add("nodes", f"must be a non-empty list of nodes, got {got}")
            return None
        nodes = self._nodes(raw_nodes)
        if self.problems:
            return None
        return PipelineSpec(
            name=name,
            description=desc,
            mode=mode,
            video=video,
            budget=budget,
            nodes=tuple(nodes),
            data=dict(data),
            base_dir=self.base_dir,
        )

    # ---- nodes

    def _nodes(self, raw_nodes: list[Any]) -> list[NodeSpec]:
        # First pass: ids and types, so references can be checked in any order.
        ids: dict[str, int] = {}
        kinds: dict[str, Kind | None | Literal["approval"]] = {}
        for i, raw in enumerate(raw_nodes):
            if not isinstance(raw, Mapping):
                self.add(f"nodes[{i}]", f"must be a mapping, got {_type_name(raw)}")
                continue
            node_id = raw.get("id")
            where = _where(i, raw)
            if node_id is None:
                self.add(f"{where}.id", "is required")
            elif not isinstance(node_id, str) or not ID_RE.match(node_id):
                self.add(f"{where}.id", "must be 1 to 64 of a-z, 0-9, '_' and '-'")
            elif node_id in ids:
                self.add(f"{where}.id", f"duplicate id '{node_id}' (also nodes[{ids[node_id]}])")
            else:
                ids[node_id] = i
                kinds[node_id] = self._output_kind(raw)

        nodes = [
            node
            for i, raw in enumerate(raw_nodes)
            if isinstance(raw, Mapping) and (node := self._node(i, raw, kinds)) is not None
        ]
        # Cycles are looked for even when nodes have other problems, over the references
        # that do resolve, so one run of `validate` shows everything.
        deps = {node_id: _raw_deps(raw_nodes[i], ids) for node_id, i in ids.items()}
        cycle = find_cycle(deps)
        if cycle:
            self.add("cycle", " -> ".join(cycle))
        return nodes

    @staticmethod
    def _output_kind(raw: Mapping[str, Any]) -> Kind | None | Literal["approval"]:
        """What the node yields, for checking the slots it is wired into (None: unknown)."""
        node_type = raw.get("type")
        if node_type == "approval":
            return "approval"
        if node_type == "asset":
            asset = raw.get("asset")
            kind = asset.get("kind") if isinstance(asset, Mapping) else None
            return kind if kind in KINDS else None
        decl = CATALOGUE.get(node_type) if isinstance(node_type, str) else None
        return decl.output if decl else None

    def _node(self, i: int, raw: Mapping[str, Any], kinds: dict[str, Any]) -> NodeSpec | None:
        where = _where(i, raw)
        start = len(self.problems)
        for key in raw:
            if key not in NODE_KEYS:
                self.add(
                    f"{where}.{_key(key)}", f"unknown key (expected one of: {', '.join(NODE_KEYS)})"
                )
        node_type = raw.get("type")
        decl = CATALOGUE.get(node_type) if isinstance(node_type, str) else None
        if node_type is None:
            self.add(f"{where}.type", "is required")
        elif decl is None:
            self.add(
                f"{where}.type",
                f"unknown node type {node_type!r} (known: {', '.join(CATALOGUE)})",
            )
        title = raw.get("title")
        if title is not None and not isinstance(title, str):
            self.add(f"{where}.title", f"must be text, got {_type_name(title)}")

        after = self._after(where, raw.get("after"), kinds)
        if decl is None:
            return None

        raw_config = raw.get("config", {})
        config = None
        if raw_config is None:
            raw_config = {}
        if not isinstance(raw_config, Mapping):
            self.add(f"{where}.config", f"must be a mapping, got {_type_name(raw_config)}")
        else:
            config = self._model(decl.config_model, raw_config, f"{where}.config")

        asset = None
        if decl.name == "asset":
            asset = self._asset(where, raw.get("asset"))
        elif "asset" in raw:
            self.add(f"{where}.asset", "only asset nodes take 'asset'")

        inputs = self._inputs(where, decl, raw.get("inputs"), raw_config, kinds)
        if len(self.problems) > start or config is None or not isinstance(raw.get("id"), str):
            return None
        return NodeSpec(
            id=raw["id"],
            type=decl.name,
            title=title,
            inputs=inputs,
            after=after,
            config=config,
            asset=asset,
        )

    def _after(self, where: str, value: Any, kinds: dict[str, Any]) -> tuple[str, ...]:
        if value is None:
            return ()
        refs = _refs(value)
        if refs is None:
            self.add(f"{where}.after", f"must be a list of node ids, got {_type_name(value)}")
            return ()
        for ref in refs:
            if not isinstance(ref, str):
                self.add(f"{where}.after", f"must list node ids, got {_type_name(ref)}")
            elif ref not in kinds:
                self.add(f"{where}.after", f"node '{ref}' does not exist")
        return tuple(r for r in refs if isinstance(r, str))

    def _inputs(
        self,
        where: str,
        decl: NodeType,
        value: Any,
        config: Any,
        kinds: dict[str, Any],
    ) -> dict[str, tuple[str, ...]]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.add(
                f"{where}.inputs", f"must be a mapping of slot -> node id, got {_type_name(value)}"
            )
            return {}
        inputs: dict[str, tuple[str, ...]] = {}
        for slot_name, slot_value in value.items():
            loc = f"{where}.inputs.{_key(slot_name)}"
            slot = decl.slot(slot_name) if isinstance(slot_name, str) else None
            if slot is None:
                known = ", ".join(decl.slot_names) or "none"
                self.add(loc, f"unknown slot for {decl.name} (slots: {known})")
                continue
            refs = _refs(slot_value)
            if refs is None:
                self.add(
                    loc, f"must be a node id or a list of node ids, got {_type_name(slot_value)}"
                )
                continue
            if len(refs) < slot.min:
                self.add(loc, f"expects at least {slot.min} nodes, got {len(refs)}")
            elif len(refs) > slot.max:
                noun = "node" if slot.max == 1 else "nodes"
                self.add(loc, f"takes at most {slot.max} {noun}, got {len(refs)}")
            for ref in refs:
                self._check_ref(loc, slot, ref, kinds)
            inputs[slot_name] = tuple(r for r in refs if isinstance(r, str))
        for slot in decl.slots:
            given = bool(inputs.get(slot.name))
            if slot.or_config:
                has_config = isinstance(config, Mapping) and config.get(slot.or_config) is not None
                if not given and not has_config:
                    self.add(
                        f"{where}.inputs.{slot.name}",
                        f"is required (or set config.{slot.or_config})",
                    )
            elif slot.min > 0 and slot.name not in value:
                self.add(f"{where}.inputs.{slot.name}", "is required")
        return inputs

    def _check_ref(self, loc: str, slot: Any, ref: Any, kinds: dict[str, Any]) -> None:
        if not isinstance(ref, str):
            self.add(loc, f"must name node ids, got {_type_name(ref)}")
        elif ref not in kinds:
            self.add(loc, f"node '{ref}' does not exist")
        elif kinds[ref] == "approval":
            self.add(loc, f"'{ref}' is an approval and has no output; use 'after: [{ref}]'")
        elif kinds[ref] is not None and kinds[ref] not in slot.kinds:
            self.add(loc, f"expects {slot.kinds_text()}, got {kinds[ref]} from '{ref}'")

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

    # ---- pydantic models -> problems

    def _model(self, model: type[BaseModel], value: Any, loc: str) -> Any:
        if not isinstance(value, Mapping):
            self.add(loc, f"must be a mapping, got {_type_name(value)}")
            return None
        try:
            return model.model_validate(dict(value))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join([loc, *(_key(p) for p in err["loc"])])
                self.add(where, _plain(model, err))
            return None


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


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _short(value: Any) -> str:
    """A value quoted in a message: short, one line, whatever it holds."""
    return reprlib.repr(value).encode("ascii", "backslashreplace").decode()


def _plain(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    """A pydantic error as a plain sentence, with the allowed range or values."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    field_name = err["loc"][0] if err["loc"] else None
    info = model.model_fields.get(field_name) if isinstance(field_name, str) else None
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown field (allowed: {', '.join(model.model_fields)})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bounds = {
            a: getattr(m, a)
            for m in (info.metadata if info else ())
            for a in ("ge", "gt", "le", "lt")
            if getattr(m, a, None) is not None
        }
        low = [f"at least {_num(bounds['ge'])}"] if "ge" in bounds else []
        low += [f"more than {_num(bounds['gt'])}"] if "gt" in bounds else []
        high = [f"at most {_num(bounds['le'])}"] if "le" in bounds else []
        high += [f"less than {_num(bounds['lt'])}"] if "lt" in bounds else []
        if "ge" in bounds and "le" in bounds:
            return (
                f"must be between {_num(bounds['ge'])} and {_num(bounds['le'])}, got {_short(got)}"
            )
        return f"must be {' and '.join(low + high)}, got {_short(got)}"
    if kind == "multiple_of":
        return f"must be a multiple of {ctx.get('multiple_of')}, got {_short(got)}"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of: {expected}; got {_short(got)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind.startswith(("int_", "float_", "bool_", "string_", "dict_", "list_")):
        wanted = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "string": "text",
            "dict": "a mapping",
            "list": "a list",
        }[kind.split("_")[0]]
        return f"must be {wanted}, got {_type_name(got)}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])
