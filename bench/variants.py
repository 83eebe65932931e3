"""Variants benchmark: what three shapes of one piece cost against one shape, side by side.

    .venv/bin/python bench/variants.py [--shapes 3]

Not part of the test suite. The same small pipeline (a voiceover, a talking head, a
b-roll clip, a picture-in-picture cut, mixed) runs twice in live mode against local fakes
of ElevenLabs, HeyGen and Veo that speak the providers' documented contracts
(tests/providers/fakes.py), each run in a fresh home (no cache):

1. as one variant (the file as it is);
2. with three variants that change only the shape (16:9, 9:16, 1:1).

Prints, for each: the provider spend the ledger recorded (billed lines, priced with the
price book), the provider jobs the fakes received, the nodes that ran, and the wall time
of the flow call; then the spend ratio (goal: < 1.5x) and the wall-time ratio. The
talking head and the clip are marked `reframe: blur` / `crop` as a file that wants one
piece in several shapes would, so the other shapes reframe them; the estimate's figure
without those marks (every shape generated anew where the provider can) is printed too.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="vidpipe-bench-variants-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["PREFECT_HOME"] = str(_ROOT / "prefect")
os.environ["VIDPIPE_HOME"] = str(_ROOT / "home-initial")
for _name in ("VIDPIPE_DATABASE_URL", "VIDPIPE_STORAGE_URL", "VIDPIPE_PLACEHOLDER_LATENCY_S"):
    os.environ.pop(_name, None)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import time  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402

from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402
from providers.fakes import FakeElevenLabs, FakeHeyGen, FakeVeo, provider_env  # noqa: E402

from flows.pipeline import in_process, run_pipeline  # noqa: E402
from vidpipe import costs, db, ledger  # noqa: E402
from vidpipe.media import VideoTarget, run_ffmpeg, synthetic_clip  # noqa: E402
from vidpipe.plan import build_plan  # noqa: E402
from vidpipe.settings import get_settings  # noqa: E402
from vidpipe.spec import load_file  # noqa: E402

GOAL_SPEND = 1.5

PIPELINE = """
name: bench-shapes
mode: live
video: {{width: 320, height: 180, fps: 15}}
{variants}
nodes:
  - id: script
    type: asset
    asset: {{kind: text, text: "Three reports, one click. See how your week went at a glance."}}
  - id: narration
    type: generate-voiceover
    inputs: {{script: script}}
    config: {{provider: elevenlabs, voice_id: v1}}
  - id: host
    type: generate-talking-head
    {reframe_host}
    inputs: {{audio: narration}}
    config: {{provider: heygen, avatar_id: anna}}
  - id: broll
    type: generate-animation
    {reframe_broll}
    config: {{provider: veo3, prompt: "charts rising", duration_s: 4}}
  - id: pip
    type: compose-video
    inputs: {{background: broll, overlay: host}}
  - id: final
    type: mix-audio
    inputs: {{video: pip, audio: [narration]}}
    config: {{mode: replace}}
"""

SHAPES = """variants:
  - name: landscape
  - name: vertical
    video: {width: 180, height: 320}
  - name: square
    video: {width: 240, height: 240}
"""


def _media(folder: Path, name: str) -> bytes:
    out = folder / f"media{Path(name).suffix}"
    if not out.exists():
        if out.suffix == ".mp3":
            run_ffmpeg(
                ["-f", "lavfi", "-i", "sine=frequency=300:duration=5", "-c:a", "libmp3lame"]
                + [str(out)],
                operation="bench mp3",
                output=out,
            )
        else:
            synthetic_clip(out, duration_s=4.0, target=VideoTarget(320, 180, 15))
    return out.read_bytes()


@contextlib.contextmanager
def fakes():
    folder = _ROOT / "fake-media"
    folder.mkdir(exist_ok=True)
    servers = {
        "elevenlabs": FakeElevenLabs(),
        "heygen": FakeHeyGen(polls_to_finish=1),
        "veo3": FakeVeo(polls_to_finish=1),
    }
    for fake in servers.values():
        fake.make_media = lambda name, size: _media(folder, name)
        fake.start()
    os.environ.update(provider_env(servers))
    try:
        yield servers
    finally:
        for fake in servers.values():
            fake.stop()


def run_once(label: str, text: str, servers: dict[str, Any]) -> dict[str, Any]:
    home = _ROOT / f"home-{label}"
    home.mkdir()
    path = home / "pipeline.yaml"
    path.write_text(text)
    os.environ["VIDPIPE_HOME"] = str(home)
    get_settings.cache_clear()
    before = {name: len(fake.submissions) for name, fake in servers.items()}
    started = time.perf_counter()
    results = temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: home / "results"})
    with results, in_process():
        result = run_pipeline(pipeline=str(path), approve="auto")
    wall = time.perf_counter() - started
    engine = db.make_engine(get_settings().resolved_database_url)
    rows = db.node_runs(engine, result["run_id"])
    return {
        "label": label,
        "wall_s": wall,
        "spend": ledger.spent(engine, run_id=result["run_id"]),
        "jobs": {name: len(f.submissions) - before[name] for name, f in servers.items()},
        "nodes": len(rows),
        "variants": [v["name"] for v in result["variants"]],
        "estimate_without_marks": _unmarked_estimate(path),
    }


def _unmarked_estimate(path: Path) -> Decimal:
    """The live estimate of the same file with no `reframe:` marks."""
    text = "\n".join(line for line in path.read_text().splitlines() if "reframe:" not in line)
    plain = path.with_name("unmarked.yaml")
    plain.write_text(text)
    plan = build_plan(load_file(plain).spec)
    return costs.estimate_plan(plan, mode="live", book=ledger.price_book()).total_usd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    marks = {"reframe_host": "reframe: crop", "reframe_broll": "reframe: blur"}
    single = PIPELINE.format(variants="", **marks)
    shapes = PIPELINE.format(variants=SHAPES, **marks)
    with prefect_test_harness(server_startup_timeout=60), fakes() as servers:
        one = run_once("one-shape", single, servers)
        three = run_once("three-shapes", shapes, servers)
    for r in (one, three):
        print(
            f"{r['label']:>13}: spend ${r['spend']:.2f}, provider jobs {r['jobs']}, "
            f"{r['nodes']} nodes, variants {r['variants']}, wall {r['wall_s']:.2f} s "
            f"(estimate without reframe marks: ${r['estimate_without_marks']:.2f})"
        )
    ratio = three["spend"] / one["spend"]
    verdict = "met" if ratio < GOAL_SPEND else "MISSED"
    print(f"spend, three shapes / one: {ratio:.2f}x (goal < {GOAL_SPEND}x: {verdict})")
    print(f"wall time, three shapes / one: {three['wall_s'] / one['wall_s']:.2f}x")
    unmarked = three["estimate_without_marks"] / one["estimate_without_marks"]
    print(f"estimated spend without reframe marks, three / one: {unmarked:.2f}x")


if __name__ == "__main__":
    main()
