"""Hostile values: asset paths and URLs the file system or urllib choke on, duplicate keys,
odd structures. Whatever a file holds, loading gives a spec or located problems, never an
exception, and `vidpipe validate FILE...` reports every file and exits 0 or 1.

The first part pins each finding with a plain example; the second fuzzes with hypothesis
(10,200 cases: FUZZ_EXAMPLES for each large test, a 25th of it for the CLI).
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vidpipe.cli import app
from vidpipe.spec import LoadResult, Problem, load_data, load_file, load_text

#: Cases for each of the two large fuzz tests (the CLI test runs a 25th of it).
FUZZ_EXAMPLES = int(os.environ.get("VIDPIPE_FUZZ_EXAMPLES", "2500"))

FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CAFE_NFC = unicodedata.normalize("NFC", "café.png")
CAFE_NFD = unicodedata.normalize("NFD", "café.png")


def pipeline(asset: dict[str, Any], node_id: str = "logo") -> dict[str, Any]:
    return {"name": "hostile", "nodes": [{"id": node_id, "type": "asset", "asset": asset}]}


def write_json(folder: Path, name: str, data: Any) -> Path:
    """JSON with every odd character escaped, so the value reaches the validator intact."""
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def lines(result: LoadResult) -> list[str]:
    return [str(p) for p in result.problems]


def check_result(result: LoadResult) -> None:
    """A spec, or problems that are each one printable line with a place and a sentence."""
    assert isinstance(result, LoadResult)
    if result.valid:
        assert result.spec is not None
        return
    assert result.spec is None
    assert result.problems
    for problem in result.problems:
        assert isinstance(problem.location, str) and problem.location
        assert isinstance(problem.message, str) and problem.message
        assert str(problem).isprintable(), str(problem)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A pipeline folder with real files: plain, NFC-named, nested, and a link out."""
    root = tmp_path_factory.mktemp("fuzz")
    project = root / "project"
    (project / "sub").mkdir(parents=True)
    for name in ("logo.png", CAFE_NFC, "sub/clip.mp4", "a b.png"):
        (project / name).write_bytes(b"x")
    (root / "secret.txt").write_text("secret")
    (project / "link.txt").symlink_to(root / "secret.txt")
    (project / "loop").symlink_to(project / "loop")
    return project


# --------------------------------------------------------------------------- findings


ASSET_CRASHES = [
    ({"kind": "image", "path": "a\x00b.png"}, "asset.path", r"NUL byte"),
    ({"kind": "image", "path": "a" * 300 + ".png"}, "asset.path", r"longer than 255 bytes"),
    ({"kind": "image", "path": "sub/" + "é" * 200}, "asset.path", r"longer than 255 bytes"),
    ({"kind": "image", "url": "http://[oops/x.png"}, "asset.url", r"not a valid URL.*IPv6"),
    ({"kind": "image", "uri": "s3://[bucket/key.png"}, "asset.uri", r"not a valid URI.*IPv6"),
    ({"kind": "image", "path": "x\ud800.png"}, "asset.path", r"lone surrogate"),
    ({"kind": "image", "url": "https://ex\x00ample.com/a"}, "asset.url", r"NUL byte"),
]


@pytest.mark.parametrize(("asset", "where", "gist"), ASSET_CRASHES)
def test_an_asset_value_the_os_or_urllib_refuses_is_a_located_problem(folder, asset, where, gist):
    result = load_file(write_json(folder, "crash.json", pipeline(asset)))

    assert [p.location for p in result.problems] == [f"nodes[0] (logo).{where}"]
    assert re.search(gist, result.problems[0].message), lines(result)


@pytest.mark.parametrize(("asset", "where", "gist"), ASSET_CRASHES)
def test_the_same_values_as_text_without_a_folder_are_located_problems(asset, where, gist):
    result = load_data(pipeline(asset))

    assert [p.location for p in result.problems] == [f"nodes[0] (logo).{where}"]


def test_validate_reports_every_file_when_some_crashed_before(folder):
    paths = [
        write_json(folder, f"crash{i}.json", pipeline(asset))
        for i, (asset, _, _) in enumerate(ASSET_CRASHES)
    ]
    good = write_json(folder, "good.json", pipeline({"kind": "image", "path": "logo.png"}))

    result = CliRunner().invoke(app, ["validate", *map(str, paths), str(good)])

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    out = result.stdout.splitlines()
    assert f"{good}: valid" in out
    for path in paths:
        assert f"{path}: 1 problem" in out
    assert sum("nodes[0] (logo).asset." in line for line in out) == len(paths)


@pytest.mark.parametrize(
    ("path", "gist"),
    [
        ("C:\\logo.png", r"outside.*Windows"),
        ("C:logo.png", r"outside.*Windows"),
        ("\\\\server\\share\\logo.png", r"outside.*Windows"),
        ("..\\secret.txt", r"outside.*Windows"),
        ("sub\\clip.mp4", r"'\\'.*'/'"),
        ("sub/../../secret.txt", r"outside"),
        ("/etc/passwd", r"outside"),
        ("link.txt", r"outside.*link"),
        ("loop/x.png", r"cannot be checked|does not exist"),
        ("logo.png\n", r"control character \(\\n\)"),
        ("\x1b[31mlogo.png", r"control character \(\\x1b\)"),
        ("logo.png\x7f", r"control character"),
        ("", r"blank"),
        ("   ", r"blank"),
        ("a/" * 3000 + "x.png", r"cannot be checked|does not exist"),
        (CAFE_NFD, r"does not exist.*NFC"),
    ],
)
def test_odd_paths_give_sensible_problems(folder, path, gist):
    result = load_file(write_json(folder, "odd.json", pipeline({"kind": "image", "path": path})))

    assert [p.location for p in result.problems] == ["nodes[0] (logo).asset.path"], lines(result)
    assert re.search(gist, result.problems[0].message), lines(result)


@pytest.mark.parametrize("path", ["logo.png", CAFE_NFC, "sub/clip.mp4", "a b.png", "./logo.png"])
def test_ordinary_paths_pass(folder, path):
    result = load_file(write_json(folder, "ok.json", pipeline({"kind": "image", "path": path})))

    assert result.valid, lines(result)


def test_a_nul_byte_in_the_pipeline_file_name_is_a_problem(folder):
    result = load_file(str(folder / "a\x00b.yaml"))

    assert [p.location for p in result.problems] == ["file"]


def test_a_file_name_too_long_for_the_os_is_a_problem(folder):
    result = load_file(folder / ("a" * 300 + ".yaml"))

    assert [p.location for p in result.problems] == ["file"]
    assert "too long" in result.problems[0].message


def test_control_characters_in_ids_are_shown_escaped_on_one_line():
    asset = {"kind": "text", "text": "hi"}
    result = load_data(pipeline(asset, node_id="a\nb\x1b[31m"))

    assert lines(result) == [
        "nodes[0] (a\\nb\\x1b[31m).id: must be 1 to 64 of a-z, 0-9, '_' and '-'"
    ]


def test_a_character_yaml_refuses_is_named_with_its_offset():
    result = load_text("name: x\x7fy\n")

    assert lines(result) == [
        "file: is not valid YAML: control characters are not allowed (U+007F at offset 7)"
    ]


def test_a_problem_is_always_one_printable_line():
    problem = Problem("x\ny", "z\x1b\ud800")

    assert str(problem) == "x\\ny: z\\x1b\\ud800"


# --------------------------------------------------------------------------- duplicate keys

DUPLICATES = """\
name: dup
name: dup-again
nodes:
  - id: intro
    type: asset
    asset: {kind: text, text: hello}
  - id: host
    id: host2
    type: asset
    asset:
      kind: text
      text: one
      text: two
    config:
      deep: {a: [{b: 1, b: 2}]}
"""


def test_duplicate_yaml_keys_are_located_problems_at_any_depth():
    result = load_text(DUPLICATES)

    assert [p.location for p in result.problems if "duplicate key" in p.message] == [
        "name",
        "nodes[1] (host2).id",
        "nodes[1] (host2).asset.text",
        "nodes[1] (host2).config.deep.a[0].b",
    ]
    assert not result.valid
    first = result.problems[0]
    assert first.message == (
        "duplicate key, given 2 times (lines 1 and 2); a key may appear only once in a mapping"
    )
    # Everything else is still reported, on the data as loaded (the last of each key).
    assert "nodes[1] (host2).config.deep: unknown field (allowed: )" in lines(result)


def test_duplicate_keys_on_one_line_give_columns():
    result = load_text("name: x\nnodes: [{id: a, id: a, type: approval}]\n")

    assert lines(result)[0] == (
        "nodes[0] (a).id: duplicate key, given 2 times (line 2, columns 10 and 17); "
        "a key may appear only once in a mapping"
    )


def test_duplicate_json_keys_are_located_problems(folder):
    text = (
        '{"name": "dup", "nodes": [{"id": "a", "type": "asset", "id": "b",'
        ' "asset": {"kind": "text", "text": "x", "text": "y", "text": "z"}}]}'
    )
    path = folder / "dup.json"
    path.write_text(text)

    for result in (load_file(path), load_text(text, fmt="json"), load_text(text)):
        assert [p.location for p in result.problems] == [
            "nodes[0] (b).id",
            "nodes[0] (b).asset.text",
        ]
        assert "given 3 times" in result.problems[1].message


def test_a_json_value_dropped_with_its_duplicate_key_is_not_mistaken_for_a_later_one():
    dropped = '{"id": "a", "type": "approval", "config": {"x": 1, "x": 2}, "config": {}}'
    later = ', {"id": "b", "type": "approval", "config": {"y": 1}}' * 50
    result = load_text(f'{{"name": "x", "nodes": [{dropped}{later}]}}', fmt="json")

    assert [p.location for p in duplicate_problems(result)] == ["nodes[0] (a).config"]


def test_keys_that_load_as_the_same_value_are_duplicates():
    result = load_text("name: x\nnodes: [{id: a, type: approval}]\non: 1\nyes: 2\n")

    assert [p.location for p in result.problems if "duplicate" in p.message] == ["True"]


def test_merge_keys_keep_working_and_may_be_overridden():
    text = """\
name: merged
nodes:
  - id: clip
    type: render-code
    config: &code {code: "print(1)", language: python}
  - <<: {id: clip2, type: render-code}
    id: clip3
    config: {<<: *code, code: "print(2)"}
"""
    result = load_text(text)

    assert result.valid, lines(result)
    assert [n.id for n in result.spec.nodes] == ["clip", "clip3"]
    assert result.spec.nodes[1].config.code == "print(2)"


def test_a_duplicate_inside_an_anchor_is_reported_once_where_it_is_written():
    text = "name: x\nnodes:\n  - {id: a, type: approval, config: &c {x: 1, x: 2}}\n"
    text += "  - {id: b, type: approval, config: *c}\n"

    result = load_text(text)

    assert [p.location for p in result.problems if "duplicate" in p.message] == [
        "nodes[0] (a).config.x"
    ]


def test_validate_shows_duplicate_keys(folder):
    path = folder / "dup.yaml"
    path.write_text(DUPLICATES)

    result = CliRunner().invoke(app, ["validate", str(path)])

    assert result.exit_code == 1
    assert "  nodes[1] (host2).asset.text: duplicate key, given 2 times" in result.stdout


# --------------------------------------------------------------------------- fuzz: assets

#: Parts of a path: names that exist in the folder, or could, or escape it...
PARTS = [
    "logo.png",
    CAFE_NFC,
    CAFE_NFD,
    "sub",
    "clip.mp4",
    "link.txt",
    "loop",
    "a b.png",
    ".",
    "..",
    "",
    "~",
    "$HOME",
    "%2e%2e",
    "nul",
    "con.txt",
    "C:",
    "C:\\x",
    "\\\\server\\share",
    "a" * 255,
    "a" * 256,
    "é" * 128,
    "ﬁle",
    "[",
    "]",
]
#: ...and characters no path should hold (one of these in a path, now and then).
BAD_PARTS = [
    "x\x00y",
    "\n",
    "\t",
    "\x1b[0m",
    "\x7f",
    "\x85",
    "\u202e",
    "\u2028",
    "\ud800",
    "\udc80",
    "\ufeff",
]
URL_STARTS = [
    "http://",
    "https://",
    "HTTP://",
    "s3://",
    "S3://",
    "s3:/",
    "ftp://",
    "file:///",
    "//",
    "http:",
    "",
    "http://[",
    "http://[::1",
    "http://[::1]",
    "http://[::1]x",
    "http://[v1.x]",
    "http://]",
    "s3://[",
    "https://user:pw@",
    "http://example.com:99999",
    "http://\uff03",
    "http://exa\u2100mple",
    "http://\u0130",
]
URL_CHARS = "abc/.:@[]%#?&= \\\x00\n\té\u2100\uff03\ud800"


def odd_text(alphabet: str, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_size)


# Lean strategies (sampled parts, short texts): 10,000 cases must fit in well under a minute.
clean_paths = st.tuples(
    st.lists(st.sampled_from(PARTS) | odd_text("ab./\\é", 6), min_size=1, max_size=4),
    st.sampled_from(["/", "/", "/", "\\"]),
).map(lambda t: t[1].join(t[0]))
asset_paths = st.one_of(
    clean_paths,
    clean_paths,
    st.tuples(clean_paths, st.sampled_from(BAD_PARTS), clean_paths).map("/".join),
    st.tuples(st.sampled_from(["", "/", "./", "../", "C:\\", "\\\\?\\"]), st.text(max_size=10)).map(
        "".join
    ),
)
asset_urls = st.tuples(st.sampled_from(URL_STARTS), odd_text(URL_CHARS, 12)).map("".join)
source_values = asset_paths | asset_urls | st.sampled_from([None, 1, True, [], ["a"], {}])

KINDS = ["text", "image", "video", "audio"]
#: Mostly one well-typed source, so the value itself is what gets checked; sometimes two
#: sources, an unknown kind, wrong types or unknown fields.
one_source = st.one_of(
    st.builds(lambda value: {"path": value}, asset_paths),
    st.builds(lambda value: {"url": value}, asset_urls | asset_paths),
    st.builds(lambda value: {"uri": value}, asset_urls),
)
assets = st.one_of(
    st.builds(lambda kind, source: {"kind": kind, **source}, st.sampled_from(KINDS), one_source),
    st.builds(lambda kind, source: {"kind": kind, **source}, st.sampled_from(KINDS), one_source),
    st.builds(lambda kind, source: {"kind": kind, **source}, st.sampled_from(KINDS), one_source),
    st.fixed_dictionaries(
        {"kind": st.sampled_from([*KINDS, "smell"])},
        optional={"path": asset_paths, "url": asset_urls, "text": st.text(max_size=10)},
    ),
    st.dictionaries(  # wrong types and unknown fields
        st.sampled_from(["kind", "path", "url", "uri", "text", "extra"]),
        source_values | st.sampled_from(KINDS),
        max_size=4,
    ),
)


@FUZZ
@given(
    asset=assets,
    node_id=st.sampled_from(["logo", "Logo", "a\nb", "x" * 70, ""]),
    how=st.sampled_from(["file", "json", "yaml"]),
)
def test_fuzz_asset_values_give_a_spec_or_located_problems(folder, asset, node_id, how):
    """Asset paths are checked against a real folder: from a file written there, or from
    its text with that folder as `base_dir` (JSON is YAML too; YAML reads `\\u0000`)."""
    data = pipeline(asset, node_id)
    if how == "file":
        result = load_file(write_json(folder, "fuzz.json", data))
    else:
        result = load_text(json.dumps(data), base_dir=folder, fmt=how)

    check_result(result)
    sources = [s for s in ("text", "path", "url", "uri") if asset.get(s) is not None]
    plain = asset.get("kind") in KINDS and set(asset) <= {"kind", *sources}
    plain = plain and not any(p.location == "file" for p in result.problems)  # YAML: "\\ud800"
    if plain and sources in (["path"], ["url"], ["uri"]) and "\x00" in str(asset[sources[0]]):
        where = f".asset.{sources[0]}"
        assert any(p.location.endswith(where) and "NUL" in p.message for p in result.problems)
    check_result(load_data(data))  # no folder: only what the text itself shows


# --------------------------------------------------------------------------- fuzz: structure

#: Keys from the pipeline format, YAML's special plain scalars (`on` is true, `01` is 1,
#: `<<` merges, `=` is a value key) and odd text. A small pool: duplicates are frequent.
KEYS = [
    "name",
    "nodes",
    "id",
    "type",
    "asset",
    "kind",
    "text",
    "path",
    "inputs",
    "config",
    "after",
    "mode",
    "on",
    "yes",
    "true",
    "1",
    "01",
    "0x1",
    "null",
    "~",
    "<<",
    "=",
    "",
    " ",
    "a: b",
    "- x",
    "#",
    "é",
    "\x00",
]
ODD_IDS = ["a", "a", "b", "host", "", "A", "a b", "x" * 65, "id\n", "é", 1, None, True]

SCALARS = [
    None,
    True,
    False,
    0,
    -1,
    2**70,
    1.5,
    float("nan"),
    float("inf"),
    "",
    "a",
    "é",
    "asset",
    "approval",
    "render-code",
    "text",
    "https://[",
    "s3://",
    "a\x00",
    "\ud800",
    "x" * 70,
]
scalars = st.sampled_from(SCALARS) | st.text(max_size=4)
keys = st.sampled_from(KEYS) | st.text(max_size=3)


def mapping(children: st.SearchStrategy) -> st.SearchStrategy:
    """A mapping as a list of pairs, so it can hold a key twice."""
    return st.lists(st.tuples(keys, children), max_size=4).map(lambda pairs: ("map", pairs))


def nested(depth: int) -> st.SearchStrategy:
    """Scalars, lists and mappings up to `depth` levels (cheaper to draw than st.recursive)."""
    if depth == 0:
        return scalars
    child = nested(depth - 1)
    return scalars | st.lists(child, max_size=3).map(lambda items: ("list", items)) | mapping(child)


values = nested(3)


@st.composite
def node_pairs(draw) -> tuple[str, list]:
    pairs = [
        ("id", draw(st.sampled_from(ODD_IDS) | values)),
        ("type", draw(st.sampled_from(["asset", "approval", "render-code", "nope"]) | values)),
    ]
    if draw(st.booleans()):
        asset = [("kind", "text"), ("text", "hi")]
        fields = st.tuples(st.sampled_from(["text", "path", "url"]), values)
        asset += draw(st.lists(fields, max_size=2))
        pairs.append(("asset", ("map", asset)))
    pairs += draw(st.lists(st.tuples(keys, values), max_size=2))
    return "map", draw(st.permutations(pairs))


pipeline_documents = st.builds(
    lambda nodes, extra: ("map", [("name", "fuzz"), ("nodes", ("list", nodes)), *extra]),
    st.lists(node_pairs() | node_pairs() | values, max_size=3),
    st.lists(st.tuples(keys, values), max_size=2),
)
#: Two in three are pipeline-shaped, to reach the node checks; the rest anything at all.
documents = pipeline_documents | pipeline_documents | values


def to_json(value: Any, ascii: bool = True) -> str:
    """JSON (ASCII, every odd character escaped; else raw, for YAML, which cannot read a
    character outside the BMP written as a JSON surrogate pair)."""
    if isinstance(value, tuple) and value[0] == "map":
        pairs = (f"{json.dumps(k, ensure_ascii=ascii)}: {to_json(v, ascii)}" for k, v in value[1])
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, tuple):
        return "[" + ", ".join(to_json(v, ascii) for v in value[1]) + "]"
    return json.dumps(value, ensure_ascii=ascii)


PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*|<<|=|~|[0-9]+|0x[0-9a-f]+")


def yaml_string(text: str) -> str:
    """A double-quoted YAML scalar that reads back as `text` (YAML allows fewer characters
    raw than JSON, and escapes some differently)."""
    out = []
    for c in text:
        o = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\t" or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD:
            out.append(c if o not in (0x2028, 0x2029, 0xFEFF) else f"\\u{o:04x}")
        elif o >= 0x10000:
            out.append(c)
        else:  # control characters, line breaks, lone surrogates (YAML refuses those)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
    return '"' + "".join(out) + '"'


def yaml_scalar(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, str):
        return yaml_string(value)
    return json.dumps(value)  # JSON numbers, true/false and null are YAML too


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block YAML; a key is always written the same way, so equal strings stay equal."""
    pad = " " * indent
    if isinstance(value, tuple) and value[1]:
        out = []
        for item in value[1]:
            if value[0] == "map":
                key, child = item
                head = key if PLAIN_KEY.fullmatch(key) else yaml_string(key)
                head = f"{pad}{head}:"
            else:
                child = item
                head = f"{pad}-"
            nested = isinstance(child, tuple) and child[1]
            out.append(
                f"{head}\n{to_yaml(child, indent + 2)}" if nested else f"{head} {flat(child)}"
            )
        return "\n".join(out)
    return pad + flat(value)


def flat(value: Any) -> str:
    if isinstance(value, tuple):
        return "{}" if value[0] == "map" else "[]"
    return yaml_scalar(value)


def surviving_duplicates(value: Any, resolve: Callable[[str], Any] = lambda key: key) -> int:
    """Keys given twice in the mappings the loaded data keeps (the last of each key), keys
    compared as `resolve` reads them."""
    if isinstance(value, tuple) and value[0] == "map":
        keys = [resolve(k) for k, _ in value[1]]
        last = {key: child for key, (_, child) in zip(keys, value[1], strict=True)}
        repeated = sum(1 for n in Counter(keys).values() if n > 1)
        return repeated + sum(surviving_duplicates(v, resolve) for v in last.values())
    if isinstance(value, tuple):
        return sum(surviving_duplicates(v, resolve) for v in value[1])
    return 0


def yaml_key(key: str) -> Any:
    """A key as YAML reads it where `to_yaml` writes it: `on` and `yes` are both True,
    `1` and `01` both 1."""
    head = key if PLAIN_KEY.fullmatch(key) else yaml_string(key)
    try:
        return next(iter(yaml.safe_load(f"{head}: 0")))
    except Exception:  # noqa: BLE001 - a key YAML cannot read alone stays itself
        return key


def duplicate_problems(result: LoadResult) -> list[Problem]:
    return [p for p in result.problems if p.message.startswith("duplicate key")]


@FUZZ
@given(document=documents, fmt=st.sampled_from(["json", "json-as-yaml", "yaml"]))
def test_fuzz_structures_and_duplicate_keys_give_a_spec_or_located_problems(document, fmt):
    text = to_yaml(document) + "\n" if fmt == "yaml" else to_json(document, fmt == "json")
    result = load_text(text, fmt="json" if fmt == "json" else "yaml")

    check_result(result)
    expected = surviving_duplicates(document)
    found = duplicate_problems(result)
    if fmt == "json":
        assert len(found) == expected, (text, [str(p) for p in result.problems])
    elif not any(p.location == "file" for p in result.problems):
        # YAML compares keys as it reads them: `on` and `yes` are one key (True).
        in_yaml = surviving_duplicates(document, yaml_key if fmt == "yaml" else lambda k: k)
        assert len(found) >= in_yaml, (text, [str(p) for p in result.problems])
    if expected:
        assert not result.valid


def test_yaml_keys_that_read_the_same_are_one_duplicated_key():
    """`on` and `yes` both read as True: four keys, one duplicate (found by the fuzzer)."""
    result = load_text("on:\non:\nyes:\nyes:\n", fmt="yaml")
    found = duplicate_problems(result)
    assert len(found) == 1 and "given 4 times" in found[0].message, result.problems
    assert surviving_duplicates(("map", [("on", None), ("on", None), ("yes", None)] * 1)) == 1
    assert surviving_duplicates(("map", [("on", None), ("yes", None)]), yaml_key) == 1


# --------------------------------------------------------------------------- fuzz: the CLI

VALID = (
    "name: fine\nnodes:\n  - {id: clip, type: render-code, config: {code: 'x', language: python}}\n"
)


@settings(FUZZ, max_examples=max(FUZZ_EXAMPLES // 25, 20))
@given(
    files=st.lists(
        st.one_of(
            st.builds(pipeline, assets).map(lambda d: ("json", json.dumps(d))),
            documents.map(lambda d: ("json", to_json(d))),
            documents.map(lambda d: ("yaml", to_yaml(d) + "\n")),
            st.binary(max_size=50).map(lambda b: ("yaml", b)),
        ),
        min_size=1,
        max_size=3,
    ),
    as_json=st.booleans(),
)
def test_fuzz_validate_reports_every_file_and_exits_0_or_1(folder, files, as_json):
    paths = []
    for i, (suffix, content) in enumerate(files):
        path = folder / f"cli{i}.{suffix}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        paths.append(str(path))
    valid = folder / "valid.yaml"
    valid.write_text(VALID)
    paths.insert(len(paths) // 2, str(valid))

    result = CliRunner().invoke(app, ["validate", *paths, *(["--json"] if as_json else [])])

    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.output
    if as_json:
        report = json.loads(result.stdout)
        assert [entry["file"] for entry in report] == paths
        assert result.exit_code == (0 if all(e["valid"] for e in report) else 1)
        assert report[paths.index(str(valid))]["valid"]
        for entry in report:
            assert entry["valid"] == (not entry["problems"])
            assert all(p["location"] and p["message"] for p in entry["problems"])
    else:
        heads = [line for line in result.stdout.splitlines() if not line.startswith("  ")]
        assert [line.rpartition(": ")[0] for line in heads] == paths, result.stdout
        assert f"{valid}: valid" in heads
        assert result.exit_code == (0 if all(h.endswith(": valid") for h in heads) else 1)
        assert all(
            re.fullmatch(r"  \S.*: .+", line)
            for line in result.stdout.splitlines()
            if line.startswith("  ")
        )


def test_the_fuzz_yaml_writer_keeps_keys_and_values():
    """The block writer the fuzz uses reads back as the structure it was given."""
    document = (
        "map",
        [("name", "x"), ("nodes", ("list", [("map", [("id", "a")]), 1])), ("e", ("map", []))],
    )
    assert yaml.safe_load(to_yaml(document)) == {"name": "x", "nodes": [{"id": "a"}, 1], "e": {}}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_the_fuzz_yaml_strings_read_back_as_written(text):
    assert yaml.load(yaml_string(text), Loader=yaml.CSafeLoader) == text
