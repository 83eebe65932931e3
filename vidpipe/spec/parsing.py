"""Pipeline text to plain data: YAML or JSON, within size and depth limits, with every
duplicate key found (YAML and JSON keep the last silently; here each is a problem).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

import yaml

from vidpipe.spec.problems import _key, _where

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
