"""Estimate versus actual for every pipeline in examples/: within 20%.

"Actual" is the usage the providers report, priced with the same book. Two versions:
the usage derived by hand from the placeholders' rules (no FFmpeg), and the stronger one,
the `Usage` the real placeholder providers return when run on each example's generative
nodes (small frames: usage does not depend on the picture size).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from vidpipe.costs import PriceBook, estimate_plan, ledger_entry, node_pricing, read_asset_texts
from vidpipe.media import VideoTarget
from vidpipe.plan import Plan
from vidpipe.providers import placeholder
from vidpipe.refs import Usage

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
TOLERANCE = Decimal("0.20")
SMALL = VideoTarget(64, 36, 10)


def _script(plan: Plan, node_id: str, texts: dict[str, str]) -> str:
    node = plan.node(node_id)
    refs = node.inputs.get("script") or node.inputs.get("prompt") or ()
    if refs:
        return texts[refs[0]]
    return node.config.text if node.type == "generate-voiceover" else node.config.prompt


def _asset_texts(plan: Plan) -> dict[str, str]:
    texts = {i: n.text for i, n in read_asset_texts(plan.spec).items()}
    for node in plan.spec.nodes:
        if node.asset is not None and node.asset.text is not None:
            texts[node.id] = node.asset.text
    return texts


def usage_by_rule(plan: Plan) -> dict[str, Usage]:
    """What the placeholders report, from their documented rules, without FFmpeg."""
    texts = _asset_texts(plan)
    durations: dict[str, float] = {}
    usages: dict[str, Usage] = {}
    for node_id in plan.order:
        node = plan.node(node_id)
        cfg = node.config
        if node.type == "generate-voiceover":
            text = _script(plan, node_id, texts)
            durations[node_id] = placeholder.voiceover_duration(text, cfg.speed)
            usages[node_id] = placeholder._usage("characters", len(text), cfg.provider)
        elif node.type == "generate-talking-head":
            seconds = durations[node.inputs["audio"][0]]
            usages[node_id] = placeholder._usage("seconds", seconds, cfg.provider)
        elif node.type == "generate-animation":
            usages[node_id] = placeholder._usage("seconds", cfg.duration_s, cfg.provider)
        elif node.type == "generate-image":
            usages[node_id] = placeholder._usage("images", 1, cfg.provider)
    return usages


def usage_by_running(plan: Plan, workdir: Path) -> dict[str, Usage]:
    """The `Usage` the real placeholder providers return on the example's nodes."""
    texts = _asset_texts(plan)
    outputs: dict[str, Path] = {}
    usages: dict[str, Usage] = {}
    for node_id in plan.order:
        node = plan.node(node_id)
        cfg = node.config
        if node.type == "generate-voiceover":
            out = workdir / f"{node_id}.m4a"
            usage, _ = placeholder.voiceover(
                _script(plan, node_id, texts),
                out,
                voice_id=cfg.voice_id,
                speed=cfg.speed,
                stands_in_for=cfg.provider,
            )
        elif node.type == "generate-talking-head":
            out = workdir / f"{node_id}.mp4"
            usage = placeholder.talking_head(
                outputs[node.inputs["audio"][0]],
                out,
                avatar_id=cfg.avatar_id,
                target=SMALL,
                text=node.title,
                stands_in_for=cfg.provider,
            )
        elif node.type == "generate-image":
            out = workdir / f"{node_id}.png"
            usage = placeholder.image(
                _script(plan, node_id, texts), out, size_hint=64, stands_in_for=cfg.provider
            )
        elif node.type == "generate-animation":
            out = workdir / f"{node_id}.mp4"
            image = node.inputs.get("image")
            usage = placeholder.animation(
                _script(plan, node_id, texts),
                out,
                duration_s=cfg.duration_s,
                target=SMALL,
                image=outputs[image[0]] if image else None,
                stands_in_for=cfg.provider,
            )
        else:
            continue
        outputs[node_id] = out
        usages[node_id] = usage
    return usages


def live_actuals(plan: Plan, usages: dict[str, Usage], book: PriceBook) -> dict[str, Decimal]:
    """Each usage priced as the live service it stands in for, through the ledger."""
    actual = {}
    for node_id, usage in usages.items():
        entry = ledger_entry(
            usage,
            book=book,
            run_id="r",
            node_id=node_id,
            live=node_pricing(plan.node(node_id), plan.spec.video),
        )
        assert entry["amount_usd"] == 0  # placeholders bill nothing
        actual[node_id] = Decimal(str(entry["live_usd"]))
    return actual


def _check(plan: Plan, usages: dict[str, Usage], book: PriceBook) -> tuple[Decimal, Decimal]:
    est = estimate_plan(plan, mode="placeholder", book=book, known=read_asset_texts(plan.spec))
    actual = live_actuals(plan, usages, book)
    assert set(actual) == {n.node_id for n in est.nodes if n.generative}
    for node_id, amount in actual.items():
        node_est = est.node(node_id)
        assert not node_est.uncertain, node_id
        assert abs(node_est.live_usd - amount) <= TOLERANCE * amount, (node_id, node_est, amount)
    total_actual = sum(actual.values(), Decimal(0))
    assert total_actual > 0
    assert abs(est.live_total_usd - total_actual) <= TOLERANCE * total_actual
    assert est.total_usd == 0  # placeholder mode bills nothing
    return est.live_total_usd, total_actual


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_estimate_within_20_percent_of_placeholder_rules(
    path: Path, book: PriceBook, make_plan
) -> None:
    plan = make_plan(path)
    _check(plan, usage_by_rule(plan), book)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_estimate_within_20_percent_of_real_placeholder_usage(
    path: Path, book: PriceBook, tmp_path: Path, make_plan
) -> None:
    plan = make_plan(path)
    usages = usage_by_running(plan, tmp_path)
    estimated, actual = _check(plan, usages, book)
    print(f"{path.stem}: estimate {estimated} actual {actual}")


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 3
