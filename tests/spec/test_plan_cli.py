"""`vidpipe plan` of several files, `plan --graph` (Mermaid and SVG), and `validate` and
`plan` answering without importing Prefect.

In-process runs use typer's CliRunner; the import check runs real processes, since only
a fresh interpreter shows what a command imports.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidpipe import graphing
from vidpipe.cli import app
from vidpipe.plan import build_plan
from vidpipe.spec import load_file

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
INVALID = HERE / "fixtures" / "invalid"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
TEASER = ROOT / "examples" / "launch-teaser.yaml"  # an approval gate, `after:` edges
REEL = ROOT / "examples" / "product-reel.yaml"  # variants and a brand: `@` and `.` ids
EXPLAINER = ROOT / "examples" / "explainer.yaml"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _home(vidpipe_home: Path) -> Path:
    return vidpipe_home


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def plan_of(path: Path):
    return build_plan(load_file(path).spec)


# --------------------------------------------------------------------------- several files


def test_plan_of_several_files_prints_each_plan_in_turn():
    result = run("plan", TEASER, EXPLAINER)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"^[a-z-]+: \d+ nodes in", line)]
    names = [load_file(f).spec.name for f in (TEASER, EXPLAINER)]
    assert [lines[i].split(":")[0] for i in heads] == names
    assert lines[heads[1] - 1] == ""  # a blank line between two plans
    assert result.stdout.count("cost estimate (") == 2


def test_plan_json_of_several_files_is_a_list_of_the_single_documents():
    single = [json.loads(run("plan", "--json", f).stdout) for f in (TEASER, REEL)]

    result = run("plan", "--json", TEASER, REEL)

    assert result.exit_code == 0, result.output
    assert isinstance(single[0], dict) and single[0]["pipeline"] == "launch-teaser"
    assert json.loads(result.stdout) == single


def test_a_bad_file_among_several_reports_every_problem_and_prints_nothing():
    bad = [INVALID / "cycle.yaml", INVALID / "dangling_input.yaml"]

    for as_json in ((), ("--json",)):
        result = run("plan", *as_json, TEASER, bad[0], EXPLAINER, bad[1])

        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"{bad[0]}: 1 problem",
            "  cycle: a -> b -> a",
            f"{bad[1]}: 1 problem",
            "  nodes[1] (host).inputs.audio: node 'narration2' does not exist",
        ]


# --------------------------------------------------------------------------- --graph


def test_graph_with_an_unknown_suffix_is_one_line_and_exit_2(tmp_path):
    target = tmp_path / "plan.png"

    result = run("plan", TEASER, "--graph", target)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: --graph writes Mermaid (.mmd) or SVG (.svg); {target} has '.png'"
    ]
    assert not target.exists()


def test_graph_with_several_files_is_refused(tmp_path):
    result = run("plan", TEASER, EXPLAINER, "--graph", tmp_path / "plan.mmd")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "one FILE" in result.stderr
    assert not (tmp_path / "plan.mmd").exists()


_NODE = re.compile(r'^ +(n\d+)(?:\["(.*)"\]|\{\{"(.*)"\}\})$')
_EDGE = re.compile(r"^ +(n\d+) (-->|-\.->) (n\d+)$")
_MERMAID_CODE = re.compile(r"#(\w+);")


def _uncode(match: re.Match) -> str:
    """A Mermaid entity code (`#quot;`, `#35;`) as its character."""
    code = match[1]
    return chr(int(code)) if code.isdigit() else html.unescape(f"&{code};")


def _parse_mermaid(text: str) -> tuple[dict[str, list[str]], dict[str, str], set[tuple]]:
    """Label lines by node id, shape by node id, and edges (from, to, solid)."""
    labels: dict[str, list[str]] = {}
    shapes: dict[str, str] = {}
    ids: dict[str, str] = {}
    edges = set()
    for line in text.splitlines():
        if match := _NODE.match(line):
            label = match[2] if match[2] is not None else match[3]
            lines = [_MERMAID_CODE.sub(_uncode, part) for part in label.split("<br/>")]
            assert lines[0] not in labels, f"{lines[0]} drawn twice"
            labels[lines[0]] = lines
            shapes[lines[0]] = "hexagon" if match[3] is not None else "box"
            ids[match[1]] = lines[0]
        elif match := _EDGE.match(line):
            edges.add((ids[match[1]], ids[match[3]], match[2] == "-->"))
    return labels, shapes, edges


def _dependencies(plan) -> set[tuple]:
    found = set()
    for node_id in plan.order:
        node = plan.node(node_id)
        inputs = {r for refs in node.inputs.values() for r in refs}
        found |= {(dep, node_id, dep in inputs) for dep in plan.deps[node_id]}
    return found


def test_graph_mmd_draws_every_node_once_every_dependency_and_the_gates(tmp_path):
    target = tmp_path / "teaser.mmd"

    result = run("plan", TEASER, "--graph", target, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pipeline"] == "launch-teaser"  # stdout stays one doc
    assert f"graph written to {target}" in result.stderr
    plan = plan_of(TEASER)
    labels, shapes, edges = _parse_mermaid(target.read_text())
    assert sorted(labels) == sorted(plan.order)
    assert edges == _dependencies(plan)
    assert any(not solid for *_, solid in edges)  # `after:` edges are dashed
    assert {n for n, shape in shapes.items() if shape == "hexagon"} == {"storyboard_review"}
    assert labels["shot_1"][:2] == ["shot_1", "generate-animation"]
    assert labels["shot_1"][2].startswith("live $")  # placeholder mode: live price, marked
    text = target.read_text()
    for number, group in enumerate(plan.groups):  # one subgraph per parallel group
        block = text.split(f"subgraph group_{number} ")[1].split("\n  end")[0]
        assert sorted(_parse_mermaid(block)[0]) == sorted(group)


def test_mermaid_quotes_ids_with_at_signs_and_dots():
    plan = plan_of(REEL)
    assert "brand.apply@vertical" in plan.order and "brand.logo" in plan.order

    text = graphing.mermaid(plan)

    labels, _, edges = _parse_mermaid(text)
    assert sorted(labels) == sorted(plan.order)
    assert edges == _dependencies(plan)
    assert '["brand.apply@vertical<br/>apply-brand"]' in text
    assert labels["brand.logo"][1] == "asset"


def test_mermaid_escapes_label_text_and_colours_statuses():
    plan = plan_of(TEASER)

    text = graphing.mermaid(plan, statuses={"shot_1": 'failed "bad" <x>', "teaser": "completed"})

    labels, _, _ = _parse_mermaid(text)
    assert labels["shot_1"][-1] == 'failed "bad" <x>'
    assert "#quot;bad#quot; #lt;x#gt;" in text
    assert labels["teaser"][-1] == "completed"
    assert "classDef status_completed" in text and "classDef status_other" in text


def test_dot_quotes_every_id_and_escapes_quotes_and_backslashes():
    plan = plan_of(REEL)

    text = graphing.dot(plan)

    for node_id in plan.order:
        assert f'    "{node_id}" [label="{node_id}\\n' in text
    assert '"brand.logo" -> "brand.apply@vertical";' in text
    assert graphing._dot_string('a"b\\N') == '"a\\"b\\\\N"'
    rows = [line for line in text.splitlines() if "rank=same" in line]
    assert len(rows) == len(plan.groups)


def test_graph_svg_is_laid_out_with_one_node_per_plan_node_and_costs(tmp_path):
    target = tmp_path / "teaser.svg"

    result = run("plan", TEASER, "--graph", target)

    assert result.exit_code == 0, result.output
    plan = plan_of(TEASER)
    root = ET.fromstring(target.read_text())  # well-formed XML
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    titles = [g.find(f"{SVG}title").text for g in nodes]
    assert sorted(titles) == sorted(plan.order)
    texts = {t: [x.text for x in g.iter(f"{SVG}text")] for t, g in zip(titles, nodes, strict=True)}
    assert texts["shot_1"][:2] == ["shot_1", "generate-animation"]
    assert re.fullmatch(r"live \$\d+\.\d\d", texts["shot_1"][2])
    gate = nodes[titles.index("storyboard_review")].find(f"{SVG}polygon")
    assert len(gate.get("points").split()) == 7  # a hexagon (closed: 6 corners + 1)
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(edges) == len(_dependencies(plan))
    assert any(p.get("stroke-dasharray") for e in edges for p in e.iter(f"{SVG}path"))


def test_svg_of_ids_with_at_signs_and_dots():
    plan = plan_of(REEL)

    root = ET.fromstring(graphing.svg(plan))

    titles = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert sorted(titles) == sorted(plan.order)


# --------------------------------------------------------------------------- cache index


def test_the_quick_cache_index_reads_what_the_database_layer_reads(vidpipe_home):
    from vidpipe import db
    from vidpipe.cache_index import open_index
    from vidpipe.refs import MediaRef
    from vidpipe.settings import get_settings

    url = get_settings().resolved_database_url
    engine = db.make_engine(url)
    db.init_db(engine)
    pipeline = db.upsert_pipeline(engine, "demo", {"name": "demo"})
    nodes = [("a", "asset"), ("b", "asset"), ("c", "asset")]

    def ref(letter: str) -> MediaRef:
        return MediaRef(uri=f"file:///m/{letter}", kind="text", sha256=letter * 64, bytes=1)

    for outputs in ({"a": "1", "b": "2"}, {"a": "3", "c": None}):  # a second run: newer
        run = db.create_run(engine, pipeline, mode="placeholder", node_ids_and_types=nodes)
        for node_id, letter in outputs.items():
            execution = db.start_node(engine, run.id, node_id, cache_key=f"key-{node_id}")
            status = "completed" if letter else "failed"
            output = ref(letter) if letter else None
            db.finish_node(engine, run.id, node_id, execution, status=status, output=output)
    refused = []
    index = open_index(url, lambda: refused.append(1))

    for key in ("key-a", "key-b", "key-c", "key-none"):
        assert index.completed_output(key) == db.completed_output(engine, key)
    assert index.completed_output("key-a") == ref("3")
    assert refused == []  # answered without the database layer
    index.close()
    db.reset_engines()


def test_the_cache_index_of_a_missing_database_is_empty_and_creates_nothing(tmp_path):
    from vidpipe.cache_index import open_index

    index = open_index(f"sqlite:///{tmp_path / 'none.db'}", lambda: pytest.fail("connected"))

    assert index.completed_output("key") is None
    assert not (tmp_path / "none.db").exists()


def test_the_cache_index_of_an_older_schema_asks_the_database_layer(vidpipe_home, tmp_path):
    import sqlite3

    from vidpipe import db
    from vidpipe.cache_index import open_index

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as connection:
        connection.execute("CREATE TABLE node_runs (id TEXT)")  # no cache_key column
    engine = db.make_engine()
    db.init_db(engine)
    index = open_index(f"sqlite:///{old}", lambda: engine)

    assert index.completed_output("key") is None
    assert index.path is None  # from now on through the engine
    db.reset_engines()


# --------------------------------------------------------------------------- no Prefect

_IMPORTS = """
import sys
from vidpipe.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
slow = sorted({m.split(".")[0] for m in sys.modules} & {"prefect", "sqlalchemy", "wasmtime"})
print(code, slow, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["validate", *EXAMPLES],
        ["plan", REEL, "--graph", "GRAPH", "--json"],
    ],
    ids=["validate", "plan"],
)
def test_validate_and_plan_import_no_prefect(args, vidpipe_home, tmp_path):
    """Nor SQLAlchemy, when the home's database is SQLite (it exists here)."""
    from vidpipe import db

    db.init_db(db.make_engine())
    db.reset_engines()
    graph = tmp_path / "plan.mmd"
    args = [str(graph) if a == "GRAPH" else str(a) for a in args]
    env = {**os.environ, "VIDPIPE_HOME": str(vidpipe_home)}

    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )

    assert proc.stderr.splitlines()[-1] == "0 []", proc.stderr
    assert "--graph" not in args or graph.exists()


def test_labels_show_live_costs_unmarked_in_live_mode_and_expected_cache_hits():
    from vidpipe.costs import PriceBook, estimate_plan

    plan = plan_of(TEASER)
    estimate = estimate_plan(plan, mode="live", book=PriceBook.load(), cached={"frame_1"})

    labels, _, _ = _parse_mermaid(graphing.mermaid(plan, estimate=estimate))

    assert labels["shot_1"][2] == "$0.60"
    assert labels["frame_1"][2] == "$0.04, cached"
