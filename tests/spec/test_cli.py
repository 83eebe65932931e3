"""`vidpipe validate` and `vidpipe plan`: outputs, --json shapes, exit codes.

Most tests use typer's CliRunner; a few run the real console script in a subprocess, to
check what a user (or a script reading stdout) actually gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from vidpipe.cli import app
from vidpipe.plan import build_plan
from vidpipe.spec import load_file

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
INVALID = HERE / "fixtures" / "invalid"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
TEASER = ROOT / "examples" / "launch-teaser.yaml"
MANY = HERE / "fixtures" / "many_problems.yaml"


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def vidpipe(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "vidpipe"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "vidpipe.cli"]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


# --------------------------------------------------------------------------- validate


def test_validate_examples_exits_0_and_says_valid():
    result = run("validate", *EXAMPLES)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{path}: valid" for path in EXAMPLES]


def test_validate_an_invalid_file_exits_1_with_the_report():
    result = run("validate", MANY)
    problems = load_file(MANY).problems

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{MANY}: {len(problems)} problems"
    assert lines[1:] == [f"  {p.location}: {p.message}" for p in problems]


def test_validate_says_1_problem_in_the_singular():
    result = run("validate", INVALID / "dangling_input.yaml")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{INVALID / 'dangling_input.yaml'}: 1 problem",
        "  nodes[1] (host).inputs.audio: node 'narration2' does not exist",
    ]


def test_validate_reports_every_file_and_fails_if_any_is_invalid():
    bad = INVALID / "cycle.yaml"

    result = run("validate", EXAMPLES[0], bad, EXAMPLES[1])

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{EXAMPLES[0]}: valid",
        f"{bad}: 1 problem",
        "  cycle: a -> b -> a",
        f"{EXAMPLES[1]}: valid",
    ]


def test_validate_json_is_one_document_of_the_documented_shape():
    bad = INVALID / "kind_mismatch.yaml"

    result = run("validate", "--json", EXAMPLES[0], bad)

    assert result.exit_code == 1
    doc = json.loads(result.stdout)  # the whole of stdout: one document, nothing else
    assert doc == [
        {"file": str(EXAMPLES[0]), "valid": True, "problems": []},
        {
            "file": str(bad),
            "valid": False,
            "problems": [
                {
                    "location": "nodes[2] (final).inputs.segments",
                    "message": "expects video, got audio from 'narration'",
                }
            ],
        },
    ]


def test_validate_json_of_valid_files_exits_0():
    result = run("validate", *EXAMPLES, "--json")

    assert result.exit_code == 0
    assert [entry["valid"] for entry in json.loads(result.stdout)] == [True] * len(EXAMPLES)


def test_validate_a_missing_file_reports_it_without_a_traceback(tmp_path):
    missing = tmp_path / "nope.yaml"

    result = run("validate", missing)

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout.splitlines() == [f"{missing}: 1 problem", "  file: does not exist"]


def test_validate_without_files_is_a_usage_error():
    result = run("validate")

    assert result.exit_code == 2


# --------------------------------------------------------------------------- plan


def test_plan_prints_the_groups_and_the_approval_gates():
    result = run("plan", TEASER)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0] == (
        "launch-teaser: 10 nodes in 5 groups, mode placeholder, video 1280x720@30"
    )
    assert "approval gate storyboard_review holds: shot_1, shot_2, shot_3" in " ".join(out.split())
    for node_id in ("frame_1", "shot_1", "voice_line", "teaser_cut", "teaser"):
        assert node_id in out


def test_plan_shows_every_node_id_in_full_at_the_default_width():
    result = run("plan", TEASER)

    assert "storyboard_review " in result.stdout.split("approval gate")[0]


def test_plan_lists_nodes_in_execution_order():
    result = run("plan", TEASER)
    order = build_plan(load_file(TEASER).spec).order

    rows = [line.split("│")[2].strip() for line in result.stdout.splitlines() if "│" in line]
    named = [row for row in rows if row]
    assert len(named) == len(order)
    for row, node_id in zip(named, order, strict=True):
        assert node_id.startswith(row.rstrip("…"))


def test_plan_json_lists_order_groups_and_gates():
    result = run("plan", TEASER, "--json")

    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["pipeline"] == "launch-teaser"
    assert doc["groups"] == [
        ["frame_1", "frame_2", "frame_3", "voice_line"],
        ["storyboard_review"],
        ["shot_1", "shot_2", "shot_3"],
        ["teaser_cut"],
        ["teaser"],
    ]
    assert doc["order"] == list(build_plan(load_file(TEASER).spec).order)
    assert doc["gates"] == [
        {"id": "storyboard_review", "holds": ["shot_1", "shot_2", "shot_3", "teaser", "teaser_cut"]}
    ]
    assert [n["id"] for n in doc["nodes"]] == doc["order"]


def test_plan_json_marks_which_gates_each_node_waits_for():
    doc = json.loads(run("plan", TEASER, "--json").stdout)
    waits = {n["id"]: n["waits_for_gates"] for n in doc["nodes"]}

    assert waits["teaser"] == ["storyboard_review"]
    assert waits["frame_1"] == []
    assert waits["voice_line"] == []


def test_plan_of_an_invalid_file_exits_2_with_the_problems_on_stderr():
    bad = INVALID / "cycle.yaml"

    result = run("plan", bad)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"{bad}: 1 problem", "  cycle: a -> b -> a"]


def test_plan_json_of_an_invalid_file_prints_nothing_on_stdout():
    result = run("plan", INVALID / "cycle.yaml", "--json")

    assert result.exit_code == 2
    assert result.stdout == ""


def test_plan_of_a_missing_file_exits_2_without_a_traceback(tmp_path):
    result = run("plan", tmp_path / "nope.yaml")

    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- real process


def test_console_script_validates_the_examples():
    proc = vidpipe("validate", *EXAMPLES)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{path}: valid" for path in EXAMPLES]


def test_console_script_json_stdout_is_exactly_one_document():
    proc = vidpipe("validate", "--json", *EXAMPLES, MANY)

    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert [set(entry) for entry in doc] == [{"file", "valid", "problems"}] * (len(EXAMPLES) + 1)
    assert doc[-1]["valid"] is False
    assert all(set(p) == {"location", "message"} for p in doc[-1]["problems"])
    assert len(doc[-1]["problems"]) == 13
    assert "Traceback" not in proc.stderr


def test_console_script_plan_of_a_missing_file_exits_2_without_a_traceback(tmp_path):
    proc = vidpipe("plan", tmp_path / "nope.yaml")

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_console_script_plan_json_parses():
    proc = vidpipe("plan", "--json", TEASER)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["gates"][0]["id"] == "storyboard_review"


def test_console_script_reports_a_lone_surrogate_key_without_a_traceback(tmp_path):
    path = tmp_path / "surrogate.json"
    path.write_text('{"name": "x", "\\ud800": 1, "nodes": [{"id": "a", "type": "approval"}]}')

    proc = vidpipe("validate", path)

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr


def test_console_script_without_a_command_prints_the_help_once():
    result = vidpipe()
    assert result.returncode == 0
    assert result.stdout.count("Usage: vidpipe") == 1
    assert "Traceback" not in result.stderr
