"""Size caps (`vidpipe.limits`): refused before a run where the file shows them, in either
mode, located like any other problem; and again by the node with its real input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidpipe import limits
from vidpipe.cli import app
from vidpipe.preflight import Upstream, node_problems, run_problems
from vidpipe.spec import load_data


def spec(*nodes: dict) -> object:
    result = load_data({"name": "limits", "nodes": list(nodes)})
    assert result.valid, result.problems
    return result.spec


def voice(text: str) -> dict:
    return {
        "id": "line_1",
        "type": "generate-voiceover",
        "config": {"provider": "elevenlabs", "voice_id": "v1", "text": text},
    }


@pytest.mark.parametrize("mode", ["placeholder", "live"])
def test_a_script_over_the_cap_is_refused_in_either_mode(mode):
    over = spec(voice("word " * (limits.MAX_SCRIPT_CHARS // 5 + 1)))
    [problem] = run_problems(over, mode)
    assert problem.location == "nodes[0] (line_1).config.text"
    assert f"at most {limits.MAX_SCRIPT_CHARS:,}" in problem.message
    assert run_problems(spec(voice("word " * 1000)), mode) == []


def test_a_script_from_an_input_is_checked_with_its_text():
    script = {"id": "script_1", "type": "asset", "asset": {"kind": "text", "text": "x" * 50}}
    node = {"id": "line_1", "type": "generate-voiceover", "inputs": {"script": "script_1"}}
    node["config"] = {"provider": "local", "voice_id": "v1"}
    s = spec(script, node)
    assert run_problems(s, "placeholder") == []
    long_text = Upstream(suffix=".txt", text="y" * (limits.MAX_SCRIPT_CHARS + 1))
    found = node_problems(
        s.node("line_1"),
        "placeholder",
        video=s.video,
        base_dir=None,
        inputs={"script": [long_text]},
    )
    assert [p.location for p in found] == ["inputs.script"]


def test_a_screencast_longer_than_an_hour_is_refused():
    code = {
        "id": "code_1",
        "type": "render-code",
        "config": {"code": "x = 1\n" * 3000, "language": "python", "chars_per_second": 1},
    }
    [problem] = run_problems(spec(code), "placeholder")
    assert problem.location == "nodes[0] (code_1).config.chars_per_second"
    fast = {**code, "config": {**code["config"], "chars_per_second": 200}}
    assert run_problems(spec(fast), "placeholder") == []


def test_too_many_nodes_is_refused_by_validate(tmp_path: Path):
    many = limits.MAX_NODES + 1
    lines = ["name: many", "nodes:"] + [
        f"  - {{id: n{i}, type: asset, asset: {{kind: text, text: t}}}}" for i in range(many)
    ]
    path = tmp_path / "many nodes.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"nodes: {many:,} nodes; at most {limits.MAX_NODES:,}" in result.output
