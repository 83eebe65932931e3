"""Variants and the brand kit in a file: their checks, and the plan they make (shared work
once, each variant's own nodes, reframing instead of paying again where it must)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vidpipe import costs, ledger
from vidpipe.plan import build_plan
from vidpipe.spec import load_data, load_text

BASE = """
name: shapes
video: {width: 1280, height: 720}
nodes:
  - {id: script, type: asset, asset: {kind: text, text: "Meet the dashboard. It is fast."}}
  - id: narration
    type: generate-voiceover
    inputs: {script: script}
    config: {provider: elevenlabs, voice_id: v1}
  - id: host
    type: generate-talking-head
    inputs: {audio: narration}
    config: {provider: heygen, avatar_id: anna}
  - id: broll_2
    type: generate-animation
    config: {provider: veo3, prompt: "a dashboard", duration_s: 8}
  - {id: review, type: approval, inputs: {items: [host]}}
  - {id: cut, type: merge-videos, inputs: {segments: [host, broll_2]}, after: [review]}
"""


def _spec(extra: str, base: str = BASE):
    result = load_text(textwrap.dedent(base) + textwrap.dedent(extra), source="shapes.yaml")
    assert result.valid, [str(p) for p in result.problems]
    return result.spec


def _problems(extra: str, folder: Path) -> list[str]:
    from vidpipe.spec import load_file

    path = folder / "shapes.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(extra))
    return [str(p) for p in load_file(path).problems]


THREE = """
variants:
  - name: landscape
  - name: vertical
    video: {width: 1080, height: 1920}
  - name: take_2b
    set: {broll_2.seed: 7}
"""


def test_a_file_without_variants_plans_its_own_nodes_as_one_default_variant():
    plan = build_plan(_spec(""))
    assert plan.order == ("script", "narration", "host", "broll_2", "review", "cut")
    [variant] = plan.variants
    assert (variant.name, variant.final) == ("default", "cut")
    assert all(plan.node(n).video is None and plan.node(n).origin is None for n in plan.order)


def test_shared_work_is_one_node_and_what_differs_is_one_node_per_version():
    plan = build_plan(_spec(THREE))
    assert set(plan.order) == {
        "script",
        "narration",  # audio: the same for every shape and take
        "host@landscape",  # landscape and take_2b share it; vertical makes its own
        "host@vertical",
        "broll_2@landscape",
        "broll_2@vertical",
        "broll_2@take_2b",  # another seed
        "review@landscape",
        "review@vertical",
        "cut@landscape",
        "cut@vertical",
        "cut@take_2b",
    }
    assert plan.node("narration").variants == ("landscape", "vertical", "take_2b")
    assert plan.node("host@landscape").variants == ("landscape", "take_2b")
    assert plan.node("broll_2@take_2b").config.seed == 7
    assert plan.node("host@vertical").video.height == 1920
    assert plan.node("host@landscape").video is None  # the file's own video
    assert plan.node("cut@take_2b").deps == (
        "host@landscape",
        "broll_2@take_2b",
        "review@landscape",
    )
    assert [(v.name, v.final) for v in plan.variants] == [
        ("landscape", "cut@landscape"),
        ("vertical", "cut@vertical"),
        ("take_2b", "cut@take_2b"),
    ]


def test_a_gate_whose_items_no_variant_changes_is_decided_once():
    plan = build_plan(
        _spec("""
        variants:
          - name: a
          - name: b
            set: {broll_2.seed: 3}
        """)
    )
    assert plan.gates == ("review",)
    assert plan.gated_by("review") == {"cut@a", "cut@b"}


def test_visuals_are_reframed_where_the_provider_cannot_make_the_shape_or_the_file_says_so():
    square = _spec("""
        variants:
          - name: wide
          - name: square
            video: {width: 1080, height: 1080}
        """)
    plan = build_plan(square)
    # Veo makes 16:9 and 9:16 only: the square clip is the wide one, reframed (free).
    reframed = plan.node("broll_2@square")
    assert (reframed.type, reframed.deps, reframed.config.mode) == (
        "reframe",
        ("broll_2@wide",),
        "blur",
    )
    assert reframed.output_kind == "video"
    # HeyGen makes 1:1: made again at the square's aspect.
    assert plan.node("host@square").type == "generate-talking-head"

    said = BASE.replace("config: {provider: heygen", "reframe: pad\n    config: {provider: heygen")
    plan = build_plan(
        _spec("variants: [{name: wide}, {name: tall, video: {width: 720, height: 1280}}]", said)
    )
    assert plan.node("host@tall").type == "reframe"
    assert plan.node("host@tall").config.mode == "pad"
    assert plan.node("broll_2@tall").type == "generate-animation"  # Veo makes 9:16


def test_the_same_shape_at_another_size_is_scaled_not_made_again():
    plan = build_plan(
        _spec("variants: [{name: hd}, {name: full_hd, video: {width: 1920, height: 1080}}]")
    )
    assert plan.node("host@full_hd").type == "reframe"
    assert plan.node("broll_2@full_hd").type == "reframe"
    assert plan.node("cut@full_hd").type == "merge-videos"  # local work: made at its size


def test_the_estimate_counts_shared_work_once_and_shows_what_each_variant_adds():
    plan = build_plan(_spec(THREE))
    estimate = costs.estimate_plan(plan, mode="live", book=ledger.price_book())
    by_name = {v.name: v for v in estimate.variants}
    first = by_name["landscape"]
    assert first.adds_usd == first.alone_usd > 0
    # vertical: its own host and clip; narration is shared and not counted again
    vertical = by_name["vertical"]
    assert 0 < vertical.adds_usd < vertical.alone_usd
    assert by_name["take_2b"].adds_usd == estimate.node("broll_2@take_2b").usd
    assert sum(v.adds_usd for v in estimate.variants) == estimate.total_usd
    narration = estimate.node("narration").usd
    assert estimate.total_usd == sum(v.alone_usd for v in estimate.variants) - 2 * narration - (
        estimate.node("host@landscape").usd
    )
    text = estimate.to_text()
    assert "variant vertical: adds" in text and "on its own" in text
    assert estimate.to_json()["variants"][2]["name"] == "take_2b"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("variants: []", "variants: must be a non-empty list of variants, got an empty list"),
        (
            "variants: [{name: a}, {name: a}]",
            "variants[1] (a).name: duplicate name 'a' (also variants[0])",
        ),
        ("variants: [{name: Big}]", "variants[0] (Big).name: must be 1 to 64 of a-z"),
        ("variants: [{video: {width: 640}}]", "variants[0].name: is required"),
        (
            "variants: [{name: a, set: {ghost.seed: 1}}]",
            "variants[0] (a).set.'ghost.seed': node 'ghost' does not exist",
        ),
        (
            "variants: [{name: a, set: {broll_2.colour: 1}}]",
            "variants[0] (a).set.'broll_2.colour': unknown field 'colour' for generate-animation",
        ),
        (
            "variants: [{name: a, set: {broll_2: 1}}]",
            "variants[0] (a).set.broll_2: must name NODE.FIELD",
        ),
        (
            "variants: [{name: a, set: {broll_2.duration_s: 99}}]",
            "variants[0] (a): nodes[3] (broll_2).config.duration_s: must be between 1 and 10",
        ),
        (
            "variants: [{name: a, video: {width: 33}}]",
            "variants[0] (a).video.width: must be a multiple of 2",
        ),
        ("variants: [{name: a, shape: x}]", "variants[0] (a).shape"),
        (
            "brand: {logo: {path: missing.png}}",
            "brand.logo.path: file 'missing.png' does not exist",
        ),
        (
            "brand: {logo: {path: ../up.png}}",
            "brand.logo.path: '../up.png' is outside the pipeline file's folder",
        ),
        ("brand: {intro: intro.gif}", "brand.intro: 'intro.gif' must be one of: .mp4"),
        ("brand: {colors: {primary: red}}", "brand.colors.primary"),
        ("brand: {code_theme: nope}", "brand.code_theme: unknown theme 'nope'"),
    ],
)
def test_bad_variants_and_brand_are_problems_located_like_any_other(extra, expected, tmp_path):
    found = _problems(extra, tmp_path)
    assert any(expected in p for p in found), found


def test_reframe_is_only_for_nodes_that_make_pictures():
    text = BASE.replace("id: narration\n", "id: narration\n    reframe: crop\n")
    result = load_text(textwrap.dedent(text), source="x.yaml")
    assert [str(p) for p in result.problems] == [
        "nodes[1] (narration).reframe: only nodes that make an image or a video are reframed"
    ]


def test_captions_take_audio_or_script_not_both_and_not_neither():
    def problems(inputs: str) -> list[str]:
        data = {
            "name": "c",
            "nodes": [
                {"id": "s", "type": "asset", "asset": {"kind": "text", "text": "Hi."}},
                {"id": "v", "type": "render-code", "config": {"code": "x", "language": "text"}},
                {
                    "id": "a",
                    "type": "generate-voiceover",
                    "inputs": {"script": "s"},
                    "config": {"provider": "local", "voice_id": "en"},
                },
                {"id": "cc", "type": "captions", "inputs": {"video": "v", **eval(inputs)}},
            ],
        }
        return [str(p) for p in load_data(data).problems]

    assert problems("{}") == ["nodes[3] (cc).inputs.audio: is required (or inputs.script)"]
    assert problems("{'audio': 'a', 'script': 's'}") == [
        "nodes[3] (cc).inputs: takes audio or script, not both"
    ]
    assert problems("{'audio': 'a'}") == problems("{'script': 's'}") == []


def test_a_brand_kit_adds_its_files_and_one_overlay_per_variant(tmp_path: Path):
    (tmp_path / "logo.png").write_bytes(b"png")
    (tmp_path / "intro clip.mp4").write_bytes(b"mp4")
    text = (
        textwrap.dedent(BASE)
        + textwrap.dedent(THREE)
        + textwrap.dedent("""
        brand:
          logo: {path: logo.png, position: bottom-left, scale: 0.2}
          intro: intro clip.mp4
          colors: {primary: "#ff0000"}
          code_theme: dracula
        """)
    )
    path = tmp_path / "branded.yaml"
    path.write_text(text)
    from vidpipe.spec import load_file

    spec = load_file(path).spec
    plan = build_plan(spec)
    assert {"brand.logo", "brand.intro"} <= set(plan.order)
    assert "brand.outro" not in plan.order
    finals = [v.final for v in plan.variants]
    assert finals == ["brand.apply@landscape", "brand.apply@vertical", "brand.apply@take_2b"]
    apply = plan.node("brand.apply@vertical")
    assert apply.deps == ("cut@vertical", "brand.logo", "brand.intro")
    assert (apply.config.position, apply.config.scale) == ("bottom-left", 0.2)
    assert plan.node("host@landscape").brand.colors.primary == "#FF0000"
    assert plan.node("narration").brand is None  # a voice draws nothing


def test_the_brand_code_theme_is_render_codes_default_not_its_override():
    text = textwrap.dedent("""
        name: themed
        brand: {code_theme: dracula}
        nodes:
          - {id: plain, type: render-code, config: {code: "x = 1", language: python}}
          - {id: own, type: render-code, config: {code: "x = 1", language: python, theme: monokai}}
          - {id: cut, type: merge-videos, inputs: {segments: [plain, own]}}
        """)
    plan = build_plan(load_text(text, source="themed.yaml").spec)
    assert plan.node("plain").config.theme == "dracula"
    assert plan.node("own").config.theme == "monokai"
    assert "brand.apply" not in plan.order  # no logo, intro or outro: nothing to overlay
