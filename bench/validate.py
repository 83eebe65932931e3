"""Time `load_file` + `build_plan` on a realistic 1,000-node pipeline file.

    .venv/bin/python bench/validate.py [--nodes 1000] [--repeat 5] [--profile]

The file is generated into a temp folder: text assets -> voiceovers -> talking heads;
prompts -> storyboard images -> approval gates -> animations; merges of 2..10 segments;
mix-audio with music assets; picture-in-picture composes; one final merge. Prints the
best of N timings and its ratio to the 1 s budget.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidpipe.plan import build_plan  # noqa: E402
from vidpipe.spec import load_file  # noqa: E402

BUDGET_S = 1.0


def generate(n_nodes: int, seed: int = 7) -> dict:
    """A pipeline of about `n_nodes` nodes with fan-out and fan-in at every stage."""
    rng = random.Random(seed)
    nodes: list[dict] = []
    clips: list[str] = []  # video outputs not yet used by a merge

    def add(node: dict) -> str:
        nodes.append(node)
        return node["id"]

    music = add({"id": "music", "type": "asset", "asset": {"kind": "audio", "path": "music.m4a"}})
    music_2 = add(
        {"id": "music_2", "type": "asset", "asset": {"kind": "audio", "uri": "s3://media/bed.m4a"}}
    )
    scene = 0
    while len(nodes) < n_nodes - 3:
        scene += 1
        kind = rng.random()
        if kind < 0.4:
            # A presenter segment: script -> voiceover -> talking head over a background.
            script = add(
                {
                    "id": f"script_{scene}",
                    "type": "asset",
                    "title": f"Script {scene}",
                    "asset": {"kind": "text", "text": f"Scene {scene}: " + "words " * 40},
                }
            )
            voice = add(
                {
                    "id": f"voice_{scene}",
                    "type": "generate-voiceover",
                    "inputs": {"script": script},
                    "config": {
                        "provider": rng.choice(["elevenlabs", "local"]),
                        "voice_id": "21m00Tcm4TlvDq8ikWAM",
                        "stability": round(rng.random(), 2),
                        "speed": 1.0,
                    },
                }
            )
            host = add(
                {
                    "id": f"host_{scene}",
                    "type": "generate-talking-head",
                    "inputs": {"audio": voice},
                    "config": {"provider": "heygen", "avatar_id": "Daisy-inskirt-20220818"},
                }
            )
            clips.append(host)
        elif kind < 0.75:
            # A storyboard: k images behind one approval gate, each animated after it.
            frames = [
                add(
                    {
                        "id": f"frame_{scene}_{k}",
                        "type": "generate-image",
                        "config": {
                            "provider": "replicate",
                            "prompt": f"storyboard frame {k} of scene {scene}",
                            "aspect_ratio": "16:9",
                            "seed": rng.randrange(2**32),
                        },
                    }
                )
                for k in range(rng.randint(2, 4))
            ]
            gate = add(
                {
                    "id": f"review_{scene}",
                    "type": "approval",
                    "inputs": {"items": frames},
                    "config": {"instructions": "Approve the frames", "timeout_s": 3600},
                }
            )
            for k, frame in enumerate(frames):
                clips.append(
                    add(
                        {
                            "id": f"shot_{scene}_{k}",
                            "type": "generate-animation",
                            "after": [gate],
                            "inputs": {"image": frame},
                            "config": {
                                "provider": rng.choice(["veo3", "replicate", "local"]),
                                "prompt": "slow push in",
                                "duration_s": rng.randint(2, 8),
                            },
                        }
                    )
                )
        elif kind < 0.85:
            # A code screencast, composed picture-in-picture over the latest clip.
            code = add(
                {
                    "id": f"code_{scene}",
                    "type": "render-code",
                    "config": {"code": "print('hello')\n" * 5, "language": "python"},
                }
            )
            if clips:
                clips.append(
                    add(
                        {
                            "id": f"pip_{scene}",
                            "type": "compose-video",
                            "inputs": {"background": code, "overlay": clips.pop()},
                            "config": {"position": "bottom-right", "scale": 0.3},
                        }
                    )
                )
            else:
                clips.append(code)
        elif len(clips) >= 2:
            # Fan-in: merge 2..10 of the pending clips, then put music under the result.
            take = min(len(clips), rng.randint(2, 10))
            segments, clips = clips[:take], clips[take:]
            merged = add(
                {
                    "id": f"merge_{scene}",
                    "type": "merge-videos",
                    "inputs": {"segments": segments},
                    "config": {"transition": rng.choice(["none", "crossfade"])},
                }
            )
            clips.append(
                add(
                    {
                        "id": f"mix_{scene}",
                        "type": "mix-audio",
                        "inputs": {"video": merged, "audio": [rng.choice([music, music_2])]},
                        "config": {"mode": "duck", "audio_volume": 0.5},
                    }
                )
            )
    # Fan the remaining clips into chapters of at most 100, then one final cut.
    chapters = []
    while clips:
        segments, clips = clips[:100], clips[100:]
        if len(segments) == 1:
            chapters.append(segments[0])
            continue
        chapters.append(
            add(
                {
                    "id": f"chapter_{len(chapters)}",
                    "type": "merge-videos",
                    "inputs": {"segments": segments},
                }
            )
        )
    if len(chapters) > 1:
        add({"id": "final", "type": "merge-videos", "inputs": {"segments": chapters}})
    return {
        "name": "bench-1000",
        "description": "Generated for bench/validate.py",
        "video": {"width": 1280, "height": 720, "fps": 30},
        "budget": {"max_usd": 5000},
        "nodes": nodes,
    }


def validate_and_plan(path: Path):
    result = load_file(path)
    if not result.valid:
        problems = "\n".join(str(p) for p in result.problems[:20])
        raise SystemExit(f"generated file is invalid:\n{problems}")
    return build_plan(result.spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "music.m4a").write_bytes(b"\0" * 1024)
        path = folder / "bench.yaml"
        data = generate(args.nodes)
        path.write_text(yaml.safe_dump(data, sort_keys=False, width=120))

        plan = validate_and_plan(path)  # warm-up (imports, lexer tables) and a check
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            validate_and_plan(path)
            times.append(time.perf_counter() - start)
        best = min(times)

        size_kb = path.stat().st_size / 1024
        print(
            f"file: {len(plan.order)} nodes, {len(plan.groups)} groups, "
            f"{len(plan.gates)} approval gates, {size_kb:.0f} kB"
        )
        print(
            f"validate+plan {len(plan.order)} nodes: {best:.3f} s "
            f"({best / BUDGET_S:.2f}x of the {BUDGET_S:g} s budget)"
        )
        if args.profile or best > BUDGET_S:
            profiler = cProfile.Profile()
            profiler.enable()
            validate_and_plan(path)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        if best > BUDGET_S:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
