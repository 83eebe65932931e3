"""Validation rules, one fixture each: exact location, gist of the message, problem count.

Also: the examples are valid, the node-type tables of README.md and
docs/pipeline-format.md match the declarations, and hostile files (binary, huge, empty,
deeply nested, alias bombs) give problems quickly and never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidpipe.catalogue import catalogue_table
from vidpipe.spec import MAX_FILE_BYTES, LoadResult, format_problems, load_file, load_text

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
INVALID = FIXTURES / "invalid"
VALID = FIXTURES / "valid"
ROOT = HERE.parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

# (fixture, exact location, message gist (regex, searched), number of problems)
RULES = [
    ("unknown_type.yaml", "nodes[0] (intro).type", r"unknown node type 'generate-music'", 1),
    ("unknown_slot.yaml", "nodes[1] (narration).inputs.text", r"unknown slot.*script", 2),
    (
        "unknown_config_field.yaml",
        "nodes[0] (narration).config.pitch",
        r"unknown field.*voice_id",
        1,
    ),
    ("unknown_top_key.yaml", "resolution", r"unknown key.*name.*nodes", 1),
    ("missing_required_slot.yaml", "nodes[0] (host).inputs.audio", r"is required", 1),
    ("missing_required_field.yaml", "nodes[0] (narration).config.voice_id", r"is required", 1),
    (
        "missing_slot_or_config.yaml",
        "nodes[0] (narration).inputs.script",
        r"is required.*config\.text",
        1,
    ),
    ("out_of_range.yaml", "nodes[0] (narration).config.speed", r"between 0\.7 and 1\.2.*2\.5", 1),
    (
        "not_allowed_value.yaml",
        "nodes[1] (host).config.aspect_ratio",
        r"one of: 16:9, 9:16, 1:1.*'4:3'",
        1,
    ),
    ("cardinality_too_few.yaml", "nodes[1] (final).inputs.segments", r"at least 2.*got 1", 1),
    ("cardinality_too_many.yaml", "nodes[6] (final).inputs.audio", r"at most 4.*got 5", 1),
    ("dangling_input.yaml", "nodes[1] (host).inputs.audio", r"'narration2' does not exist", 1),
    ("dangling_after.yaml", "nodes[0] (broll).after", r"'review' does not exist", 1),
    ("duplicate_id.yaml", "nodes[1] (clip).id", r"duplicate id 'clip'.*nodes\[0\]", 1),
    ("bad_id.yaml", "nodes[0] (Intro Clip).id", r"a-z, 0-9", 1),
    pytest.param(
        "missing_id.yaml",
        "nodes[0].id",
        r"is required",
        1,
    ),
    pytest.param(
        "id_not_text.yaml",
        "nodes[0].id",
        r"a-z, 0-9",
        1,
    ),
    ("bad_name.yaml", "name", r"slug", 1),
    (
        "kind_mismatch.yaml",
        "nodes[2] (final).inputs.segments",
        r"expects video, got audio from 'narration'",
        1,
    ),
    (
        "approval_as_input.yaml",
        "nodes[2] (shot).inputs.image",
        r"'review' is an approval.*after: \[review\]",
        1,
    ),
    ("cycle.yaml", "cycle", r"^a -> b -> a$", 1),
    ("self_cycle.yaml", "cycle", r"^loop -> loop$", 1),
    ("asset_path_escapes.yaml", "nodes[0] (script).asset.path", r"'\.\./secret\.txt'.*outside", 1),
    ("asset_path_absolute.yaml", "nodes[0] (script).asset.path", r"'/etc/passwd'.*outside", 1),
    (
        "asset_missing_file.yaml",
        "nodes[0] (music).asset.path",
        r"'assets/no-such-track\.m4a' does not exist",
        1,
    ),
    ("asset_no_source.yaml", "nodes[0] (music).asset", r"exactly one source.*none", 1),
    ("asset_two_sources.yaml", "nodes[0] (music).asset", r"exactly one source.*2: url, uri", 1),
    ("asset_text_wrong_kind.yaml", "nodes[0] (music).asset.text", r"text.*kind is 'audio'", 1),
    ("asset_bad_url.yaml", "nodes[0] (logo).asset.url", r"http:// or https://", 1),
    ("asset_bad_uri.yaml", "nodes[0] (logo).asset.uri", r"s3://", 1),
    ("compose_end_before_start.yaml", "nodes[2] (pip).config", r"end_s.*greater than.*start_s", 1),
    (
        "render_code_unknown_language.yaml",
        "nodes[0] (screencast).config.language",
        r"unknown language 'klingon'",
        1,
    ),
    ("video_odd_width.yaml", "video.width", r"multiple of 2.*1279", 1),
    ("budget_negative.yaml", "budget.max_usd", r"must be .*0.*got -5", 1),
    ("wrong_type_config.yaml", "nodes[0] (broll).config.duration_s", r"must be a number.*text", 1),
    ("nodes_empty.yaml", "nodes", r"non-empty list", 1),
    ("not_a_mapping.yaml", "file", r"must be a mapping.*got a list", 1),
    ("not_yaml.yaml", "file", r"not valid YAML.*line \d+", 1),
    ("bad_json.json", "file", r"not valid JSON.*line 5", 1),
]


def problem_lines(result: LoadResult) -> str:
    return "\n".join(str(p) for p in result.problems)


def fixture_name(row) -> str:
    return row.values[0] if hasattr(row, "values") else row[0]


def test_every_invalid_fixture_is_in_the_table():
    in_table = {fixture_name(row) for row in RULES}
    on_disk = {p.name for p in INVALID.iterdir()}
    assert on_disk == in_table


@pytest.mark.parametrize(
    ("fixture", "location", "gist", "count"), RULES, ids=[fixture_name(r) for r in RULES]
)
def test_invalid_fixture_reports_its_problem(fixture, location, gist, count):
    result = load_file(INVALID / fixture)

    assert not result.valid
    assert result.spec is None
    matching = [p for p in result.problems if p.location == location]
    assert matching, f"no problem at {location!r}; got:\n{problem_lines(result)}"
    assert any(re.search(gist, p.message) for p in matching), problem_lines(result)
    assert len(result.problems) == count, problem_lines(result)


def test_unknown_slot_also_reports_the_missing_slot_it_was_meant_to_be():
    result = load_file(INVALID / "unknown_slot.yaml")

    assert [p.location for p in result.problems] == [
        "nodes[1] (narration).inputs.text",
        "nodes[1] (narration).inputs.script",
    ]


def test_asset_path_through_a_symlink_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    project = tmp_path / "project"
    (project / "assets").mkdir(parents=True)
    (project / "assets" / "notes.txt").symlink_to(outside / "secret.txt")
    pipeline = project / "asset_path_symlink_escapes.yaml"
    pipeline.write_text(
        "name: asset-path-symlink-escapes\n"
        "nodes:\n"
        "  - id: notes\n"
        "    type: asset\n"
        "    asset: {kind: text, path: assets/notes.txt}\n"
    )

    result = load_file(pipeline)

    assert [p.location for p in result.problems] == ["nodes[0] (notes).asset.path"]
    assert re.search(r"'assets/notes\.txt'.*outside", result.problems[0].message)


def test_asset_path_through_a_symlink_inside_the_folder_is_allowed(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "script.txt").write_text("Hello.")
    (tmp_path / "assets" / "script.txt").symlink_to(tmp_path / "script.txt")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "name: symlink-inside\n"
        "nodes:\n"
        "  - id: script\n"
        "    type: asset\n"
        "    asset: {kind: text, path: assets/script.txt}\n"
    )

    assert load_file(pipeline).valid


# --------------------------------------------------------------------------- many at once

MANY = [
    ("name", r"slug"),
    ("mode", r"'placeholder' or 'live'.*'turbo'"),
    ("budget.max_usd", r"got 0"),
    ("nodes[0] (script).asset", r"exactly one source"),
    ("nodes[1] (narration).config.speed", r"between 0\.7 and 1\.2"),
    ("nodes[2] (host).config.mood", r"unknown field"),
    ("nodes[2] (host).inputs.audio", r"'narration2' does not exist"),
    ("nodes[3] (host).id", r"duplicate id 'host'"),
    ("nodes[4] (music).type", r"unknown node type"),
    ("nodes[5] (final).after", r"'missing_gate' does not exist"),
    ("nodes[5] (final).inputs.segments", r"at least 2"),
    ("nodes[5] (final).inputs.segments", r"expects video, got audio"),
    ("cycle", r"^final -> final$"),
]


def test_many_problems_are_all_reported_at_once():
    result = load_file(FIXTURES / "many_problems.yaml")

    for location, gist in MANY:
        assert any(
            p.location == location and re.search(gist, p.message) for p in result.problems
        ), f"missing {location}: /{gist}/ in:\n{problem_lines(result)}"
    assert len(result.problems) == len(MANY), problem_lines(result)
    assert len({p.location for p in result.problems}) >= 8


def test_problems_come_in_file_order_with_the_cycle_last():
    result = load_file(FIXTURES / "many_problems.yaml")

    assert [p.location for p in result.problems] == [loc for loc, _ in MANY]


def test_the_report_has_a_header_and_one_indented_line_per_problem():
    result = load_file(FIXTURES / "many_problems.yaml")

    lines = format_problems(result.source, result.problems).splitlines()

    assert lines[0] == f"{result.source}: 13 problems"
    assert lines[1:] == [f"  {p.location}: {p.message}" for p in result.problems]


def test_a_zero_budget_is_not_described_as_in_range():
    result = load_text("name: zero-budget\nbudget: {max_usd: 0}\nnodes: [{id: a, type: approval}]")

    message = next(p.message for p in result.problems if p.location == "budget.max_usd")
    assert "between 0 and" not in message


def test_an_empty_top_level_key_has_a_visible_location():
    result = load_text(
        'name: empty-key\n"": 1\nnodes: [{id: a, type: approval, inputs: {items: a}}]'
    )

    assert result.problems
    assert all(p.location for p in result.problems)


# --------------------------------------------------------------------------- valid files


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid(example):
    result = load_file(example)

    assert result.problems == []
    assert result.valid


def test_the_examples_use_every_node_type():
    from vidpipe.catalogue import CATALOGUE

    used = {n.type for path in EXAMPLES for n in load_file(path).spec.nodes}

    assert used == set(CATALOGUE)


VALID_FILES = sorted(VALID.iterdir())


@pytest.mark.parametrize("path", VALID_FILES, ids=[p.name for p in VALID_FILES])
def test_edge_valid_fixture_is_valid(path):
    result = load_file(path)

    assert result.problems == []
    assert result.valid


def test_a_slot_given_as_a_string_equals_the_slot_given_as_a_list():
    single = load_file(VALID / "slot_single_string.yaml").spec
    listed = load_file(VALID / "slot_list.yaml").spec

    assert single.deps == listed.deps
    assert single.node("final").inputs == {"video": ("broll",), "audio": ("narration",)}


def test_omitted_fields_take_their_declared_defaults():
    spec = load_file(VALID / "defaults.yaml").spec

    assert spec.mode == "placeholder"
    assert (spec.video.width, spec.video.height, spec.video.fps) == (1280, 720, 30)
    assert spec.budget is None
    review = spec.node("review").config
    assert (review.timeout_s, review.on_timeout, review.max_revisions) == (86400, "fail", 3)
    assert spec.node("final").config.transition == "none"
    assert spec.node("clip_a").config.theme == "monokai"


def test_a_json_file_loads_like_yaml():
    spec = load_file(VALID / "pipeline.json").spec

    assert spec.name == "json-variant"
    assert spec.node("host").inputs == {"audio": ("narration",)}
    assert spec.video.fps == 24


def test_voiceover_with_config_text_needs_no_script_input():
    spec = load_file(VALID / "voiceover_config_text.yaml").spec

    assert spec.node("narration").inputs == {}
    assert spec.node("narration").config.text == "No script node needed."


# --------------------------------------------------------------------------- node-type tables

START, END = "<!-- node-types:start -->", "<!-- node-types:end -->"


@pytest.mark.parametrize("document", ["README.md", "docs/pipeline-format.md"])
def test_node_type_table_matches_the_declarations(document):
    """The table between the node-types markers, in the README and in the pipeline format
    reference, is the one `catalogue_table()` generates from the declarations."""
    text = (ROOT / document).read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, (
        f"{document} needs exactly one pair of node-types markers"
    )

    between = text.split(START, 1)[1].split(END, 1)[0]

    assert between.strip() == catalogue_table().strip(), (
        f"{document}'s node-type table differs from vidpipe/catalogue.py: paste "
        "catalogue_table() between its markers"
    )


# --------------------------------------------------------------------------- hostile files


def assert_refused_quickly(result: LoadResult, elapsed: float) -> None:
    assert not result.valid
    assert result.problems
    assert all(p.location and p.message for p in result.problems)
    assert elapsed < 2.0, f"took {elapsed:.2f} s"


def timed_load(path: Path) -> tuple[LoadResult, float]:
    start = time.perf_counter()
    result = load_file(path)
    return result, time.perf_counter() - start


def test_binary_garbage_is_refused(tmp_path):
    import random

    path = tmp_path / "garbage.yaml"
    path.write_bytes(random.Random(1).randbytes(64 * 1024))

    result, elapsed = timed_load(path)

    assert_refused_quickly(result, elapsed)
    assert [p.location for p in result.problems] == ["file"]


def test_utf8_text_with_nul_bytes_is_refused_as_binary(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"name: x\x00\x00\nnodes: []\n")

    result, elapsed = timed_load(path)

    assert_refused_quickly(result, elapsed)
    assert re.search(r"binary", result.problems[0].message)


def test_a_50_mb_file_is_refused_by_size_without_reading_it(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.write(b"name: huge\nnodes:\n")
        f.truncate(50 * 1024 * 1024)  # sparse: no 50 MB written to disk

    result, elapsed = timed_load(path)

    assert_refused_quickly(result, elapsed)
    assert elapsed < 0.5
    assert [p.location for p in result.problems] == ["file"]
    assert re.search(r"too large.*50\.0 MB", result.problems[0].message)


def test_a_50_mb_file_of_real_text_is_refused_by_size(tmp_path):
    path = tmp_path / "huge.yaml"
    line = b"  - {id: n, type: approval, inputs: {items: [a]}}\n"
    with path.open("wb") as f:
        f.write(b"name: huge\nnodes:\n")
        f.write(line * (50 * 1024 * 1024 // len(line)))

    result, elapsed = timed_load(path)

    assert_refused_quickly(result, elapsed)
    assert re.search(r"too large", result.problems[0].message)


def test_bytes_over_the_limit_are_refused_by_load_text():
    result = load_text(b"#" * (MAX_FILE_BYTES + 1))

    assert [p.location for p in result.problems] == ["file"]
    assert re.search(r"too large", result.problems[0].message)


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file_is_refused(tmp_path, content):
    path = tmp_path / "empty.yaml"
    path.write_text(content)

    result, elapsed = timed_load(path)

    assert_refused_quickly(result, elapsed)
    assert [p.location for p in result.problems] == ["file"]


def test_a_missing_file_is_a_problem_not_an_exception(tmp_path):
    result = load_file(tmp_path / "nope.yaml")

    assert [(p.location, p.message) for p in result.problems] == [("file", "does not exist")]


def test_a_directory_is_a_problem_not_an_exception(tmp_path):
    result = load_file(tmp_path)

    assert [p.location for p in result.problems] == ["file"]


# Files that could crash the interpreter (C recursion in libyaml) or hang it are loaded
# in a child process with a time limit and a memory cap, so one bug cannot take the whole
# test run down with it.
CHILD = """
import json, sys, time
from vidpipe.spec import load_file
start = time.perf_counter()
result = load_file(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({"elapsed": elapsed, "valid": result.valid,
                  "problems": [[p.location, p.message] for p in result.problems]}))
"""


def load_in_child(path: Path, timeout: float = 3.0) -> dict:
    def limit_memory():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit_memory,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path.name} did not finish within {timeout} s")
    assert proc.returncode == 0, f"exit {proc.returncode}; stderr:\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def assert_child_refused_quickly(outcome: dict) -> None:
    assert not outcome["valid"]
    assert outcome["problems"]
    assert outcome["elapsed"] < 2.0


@pytest.mark.parametrize("depth", [1000, 10_000], ids=lambda d: f"{d}-levels")
def test_deeply_nested_yaml_is_refused(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * depth)

    assert_child_refused_quickly(load_in_child(path))


def test_yaml_nested_100000_levels_deep_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 100_000)

    assert_child_refused_quickly(load_in_child(path))


def test_deeply_nested_json_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)

    assert_child_refused_quickly(load_in_child(path))


def alias_bomb(levels: int = 9) -> str:
    """A "billion laughs" mapping: 9 levels of 9 aliases each (9**9 leaves if expanded)."""
    names = [f"l{i}" for i in range(levels)]
    lines = [f"  {names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * 9) + "]"]
    for prev, name in zip(names, names[1:], strict=False):
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "bomb:\n" + "\n".join(lines) + "\n"


BOMB_TOP = "name: alias-bomb\nnodes: [{id: a, type: approval, inputs: {items: a}}]\n"
BOMB_IN_MODE = "name: alias-bomb\nmode: *l8\nnodes: [{id: a, type: approval, inputs: {items: a}}]\n"
BOMB_IN_CONFIG = (
    "name: alias-bomb\nnodes: [{id: a, type: generate-image, config: {provider: *l8}}]\n"
)


def test_an_alias_bomb_under_an_unknown_key_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb() + BOMB_TOP)

    outcome = load_in_child(path)

    assert_child_refused_quickly(outcome)
    assert outcome["problems"] == [
        ["file", "expands to more than 1,000,000 values (YAML aliases?)"]
    ]


def test_an_alias_bomb_as_the_mode_is_refused_quickly(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb() + BOMB_IN_MODE)

    assert_child_refused_quickly(load_in_child(path))


def test_an_alias_bomb_as_a_config_value_is_refused_quickly(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb() + BOMB_IN_CONFIG)

    assert_child_refused_quickly(load_in_child(path))
