"""Time whole `vidpipe` processes that answer without running anything: `--version`,
`validate` of every example, and `plan` of each example, against a 1 s budget.

    .venv/bin/python bench/cli_startup.py [--repeat 5] [--imports 15]

Each command is a fresh process (the console script, as a user starts it), in a
temporary VIDPIPE_HOME whose database is made once before timing, so what is timed is
imports, loading, validating, planning and the estimate's database look-ups. Prints the
best of N wall times, each with its ratio to the budget, beside `python -c pass` (the
floor no command can go under). `--imports N` also prints the N slowest imports
(cumulative, from `python -X importtime`) of `plan`, and whether any Prefect module was
imported. Exits 1 when a command is over the budget.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BUDGET_S = 1.0


def _vidpipe() -> list[str]:
    script = Path(sys.executable).parent / "vidpipe"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vidpipe.cli"]


def _best(command: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr}")
    return min(times)


def _slowest_imports(command: list[str], env: dict[str, str], n: int) -> None:
    """The `n` imports with the largest cumulative time in one run of `command`."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vidpipe.cli", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (
            part.strip() for part in line.removeprefix("import time:").split("|")
        )
        if cumulative.isdigit():
            rows.append((int(cumulative), name))
    prefect = sorted({name.strip() for _, name in rows if name.strip().split(".")[0] == "prefect"})
    print(f"\nslowest imports of `vidpipe {' '.join(command)}` (cumulative):")
    for micros, name in sorted(rows, reverse=True)[:n]:
        print(f"  {micros / 1e6:6.3f} s  {name}")
    print(
        f"  Prefect modules imported: {len(prefect)}" + (f" ({prefect[0]}, ...)" if prefect else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--imports", type=int, default=0, metavar="N", help="print N slowest")
    args = parser.parse_args()

    vidpipe = _vidpipe()
    examples = [str(p.relative_to(ROOT)) for p in EXAMPLES]
    commands = [
        ("vidpipe --version", [*vidpipe, "--version"]),
        (f"vidpipe validate examples/*.yaml ({len(examples)})", [*vidpipe, "validate", *examples]),
        *((f"vidpipe plan {e}", [*vidpipe, "plan", e]) for e in examples),
    ]
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPIPE_")}
        env["VIDPIPE_HOME"] = home
        _best([*vidpipe, "runs"], env, 1)  # the home's database, made once (plan makes none)

        floor = _best([sys.executable, "-c", "pass"], env, args.repeat)
        width = max(len(label) for label, _ in commands)
        print(f"best of {args.repeat}, whole process, wall time (budget {BUDGET_S:g} s)")
        print(f"  {'python -c pass (the floor)'.ljust(width)}  {floor:.3f} s")
        over = []
        for label, command in commands:
            best = _best(command, env, args.repeat)
            print(
                f"  {label.ljust(width)}  {best:.3f} s  ({best / BUDGET_S:.2f}x of the "
                f"{BUDGET_S:g} s budget; {best - floor:+.3f} s over the floor)"
            )
            if best > BUDGET_S:
                over.append(label)
        if args.imports:
            _slowest_imports(["plan", examples[0]], env, args.imports)
    if over:
        raise SystemExit(f"over the budget: {', '.join(over)}")


if __name__ == "__main__":
    main()
