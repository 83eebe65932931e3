"""Property tests: whatever is thrown at the loader, it returns problems or a valid spec.

And a valid spec always plans: every node once, in order and in groups, after its deps.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidpipe.catalogue import CATALOGUE
from vidpipe.plan import build_plan
from vidpipe.spec import LoadResult, load_data, load_text

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TYPES = sorted(CATALOGUE)
SLOTS = sorted({s.name for d in CATALOGUE.values() for s in d.slots})
FIELDS = sorted({f for d in CATALOGUE.values() for f in d.config_fields})

# ---------------------------------------------------------------- strategies

keys = st.text(min_size=0, max_size=12)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)

json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)

ids = st.sampled_from(["a", "b", "c", "d", "e", "f", "host", "script"]) | st.text(
    alphabet=string.ascii_lowercase + "_-", min_size=1, max_size=6
)

config_values = (
    st.sampled_from(
        [
            "local",
            "elevenlabs",
            "heygen",
            "replicate",
            "veo3",
            "python",
            "monokai",
            "16:9",
            "9:16",
            "mix",
            "duck",
            "crossfade",
            "center",
            "fail",
            "approve",
            "a prompt",
        ]
    )
    | st.integers(min_value=-5, max_value=100_000)
    | st.floats(min_value=-1, max_value=300)
    | st.booleans()
    | st.none()
)

configs = st.dictionaries(st.sampled_from(FIELDS) | keys, config_values, max_size=6)

refs = ids | st.lists(ids, max_size=4)

assets = st.fixed_dictionaries(
    {"kind": st.sampled_from(["text", "audio", "video", "image", "smell"])},
    optional={
        "text": st.text(max_size=10),
        "url": st.sampled_from(["https://example.com/a.mp4", "ftp://x/y", "http://", "nope"]),
        "uri": st.sampled_from(["s3://bucket/key.mp4", "s3://bucket", "gs://b/k"]),
        "path": st.sampled_from(["../x", "/etc/passwd", "missing.mp4"]),
    },
)


@st.composite
def nodes(draw):
    node = {"id": draw(ids), "type": draw(st.sampled_from(TYPES) | st.text(max_size=8))}
    if draw(st.booleans()):
        node["inputs"] = draw(st.dictionaries(st.sampled_from(SLOTS) | keys, refs, max_size=3))
    if draw(st.booleans()):
        node["config"] = draw(configs)
    if draw(st.integers(0, 3)) == 0:
        node["after"] = draw(refs)
    if node["type"] == "asset" or draw(st.integers(0, 9)) == 0:
        node["asset"] = draw(assets)
    if draw(st.integers(0, 9)) == 0:  # any key, the id included
        node[draw(keys)] = draw(json_like)
    return node


pipelines = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["demo", "x", "Bad Name"]) | st.text(max_size=5),
        "nodes": st.lists(nodes(), max_size=8) | json_like,
    },
    optional={
        "mode": st.sampled_from(["placeholder", "live", "turbo"]) | json_like,
        "video": st.fixed_dictionaries(
            {},
            optional={
                "width": st.integers(0, 9000),
                "height": st.integers(0, 9000),
                "fps": st.integers(0, 200),
            },
        )
        | json_like,
        "budget": st.fixed_dictionaries({"max_usd": st.floats(-10, 100)}) | json_like,
        "description": json_like,
    },
)


@st.composite
def valid_pipelines(draw):
    """Pipelines valid by construction: render-code sources, merges, approvals, mixes."""
    count = draw(st.integers(2, 25))
    node_list = []
    videos: list[str] = []
    for i in range(count):
        node_id = f"n{i}"
        choice = draw(st.integers(0, 3)) if len(videos) >= 2 else 0
        after = (
            draw(st.lists(st.sampled_from([n["id"] for n in node_list]), max_size=2))
            if (node_list)
            else []
        )
        if choice == 0:
            node = {"id": node_id, "type": "render-code"}
            node["config"] = {"code": f"print({i})", "language": "python"}
            videos.append(node_id)
        elif choice == 1:
            segments = draw(st.lists(st.sampled_from(videos), min_size=2, max_size=5))
            node = {"id": node_id, "type": "merge-videos", "inputs": {"segments": segments}}
            videos.append(node_id)
        elif choice == 2:
            items = draw(st.lists(st.sampled_from(videos), min_size=1, max_size=3))
            node = {"id": node_id, "type": "approval", "inputs": {"items": items}}
        else:
            background, overlay = draw(st.sampled_from(videos)), draw(st.sampled_from(videos))
            node = {
                "id": node_id,
                "type": "compose-video",
                "inputs": {"background": background, "overlay": overlay},
            }
            videos.append(node_id)
        if after:
            node["after"] = after
        node_list.append(node)
    return {"name": "generated", "nodes": node_list}


@st.composite
def mutated_pipelines(draw):
    """A valid pipeline with one or two edits: many stay valid, many break in one place."""
    data = draw(valid_pipelines())
    node_ids = [n["id"] for n in data["nodes"]]
    for _ in range(draw(st.integers(1, 2))):
        node = draw(st.sampled_from(data["nodes"]))
        edit = draw(st.integers(0, 4))
        if edit == 0:  # wait for any node, earlier or later: may close a cycle
            node["after"] = [*node.get("after", []), draw(st.sampled_from(node_ids))]
        elif edit == 1:  # rewire a slot to any node, of any kind
            slot = draw(st.sampled_from(SLOTS))
            node.setdefault("inputs", {})[slot] = draw(st.sampled_from(node_ids))
        elif edit == 2:  # drop a key, the id included
            node.pop(draw(st.sampled_from(sorted(node))))
        elif edit == 3:  # set a config field to anything
            node.setdefault("config", {})[draw(st.sampled_from(FIELDS))] = draw(config_values)
        else:  # an id reused
            node["id"] = draw(st.sampled_from(node_ids))
    return data


# ---------------------------------------------------------------- properties


def check_result(result: LoadResult) -> None:
    assert isinstance(result, LoadResult)
    if result.valid:
        check_plan(result)
    else:
        assert result.spec is None
        assert result.problems
        for problem in result.problems:
            assert isinstance(problem.location, str) and problem.location
            assert isinstance(problem.message, str) and problem.message


def check_plan(result: LoadResult) -> None:
    spec = result.spec
    plan = build_plan(spec)
    ids_in_file = [n.id for n in spec.nodes]

    assert sorted(plan.order) == sorted(ids_in_file)
    assert len(set(plan.order)) == len(plan.order)
    flat = [n for group in plan.groups for n in group]
    assert sorted(flat) == sorted(ids_in_file)
    position = {n: i for i, n in enumerate(plan.order)}
    group = plan.group_of
    for node in spec.nodes:
        for dep in node.deps:
            assert position[dep] < position[node.id]
            assert group[dep] < group[node.id]


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_give_problems_or_a_spec(data):
    check_result(load_text(data))


@SETTINGS
@given(st.binary(max_size=200).map(lambda b: b"name: x\nnodes:\n  - " + b))
def test_random_bytes_after_a_plausible_start_give_problems_or_a_spec(data):
    check_result(load_text(data))


@SETTINGS
@given(st.text(alphabet="[]{}:,-'\"&*!#| \n\tabcxyz01", max_size=200))
def test_random_yaml_punctuation_gives_problems_or_a_spec(text):
    check_result(load_text(text))


@SETTINGS
@given(json_like)
def test_random_structures_give_problems_or_a_spec(data):
    check_result(load_data(data))


@SETTINGS
@given(pipelines)
def test_pipeline_shaped_structures_give_problems_or_a_spec(data):
    check_result(load_data(data))


@SETTINGS
@given(valid_pipelines())
def test_valid_pipelines_always_plan(data):
    result = load_data(data)

    assert result.problems == []
    check_plan(result)


@SETTINGS
@given(mutated_pipelines())
def test_mutated_valid_pipelines_give_problems_or_a_plan(data):
    check_result(load_data(data))
