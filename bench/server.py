"""Local Prefect server benchmark: whole-process wall time of `vidpipe run`, side by side.

    .venv/bin/python bench/server.py [--repeat 3]

Not part of the test suite. One home (in a temporary folder) runs `examples/explainer.yaml`
once to fill its cache, then the same cached pipeline is run as a user runs it, a new
`vidpipe` process each time, interleaved:

- warm: this home's local server already up (the common case after the first command);
- cold: no server yet (`vidpipe server stop` before the run), so the run starts it;
- ephemeral: `VIDPIPE_SERVER=ephemeral`, Prefect's temporary server per process (the
  old default).

Prints each case's best and median whole-process wall time, and the ratios the issue set
as goals: warm re-run < 3 s and < 10% of the first (uncached) run, cold no slower than
ephemeral. The local server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PIPELINE = REPO / "examples" / "explainer.yaml"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIDPIPE_"))}
    env.update(
        VIDPIPE_HOME=str(home),
        PREFECT_HOME=str(home.parent / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        **extra,
    )
    return env


def _vidpipe(home: Path, *args: str, **extra: str) -> float:
    """Run `vidpipe ARGS` in a new process; its whole-process wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", *args],
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"vidpipe {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vidpipe-bench-server-"))
    home = root / "home"
    run = ("run", str(PIPELINE), "--approve", "auto")
    try:
        first = _vidpipe(home, *run)  # cold server and an empty cache
        print(f"first run (uncached, starting the local server): {first:.2f} s")
        times: dict[str, list[float]] = {"warm": [], "cold": [], "ephemeral": []}
        for _ in range(args.repeat):
            times["warm"].append(_vidpipe(home, *run))
            _vidpipe(home, "server", "stop")
            times["cold"].append(_vidpipe(home, *run))
            times["ephemeral"].append(_vidpipe(home, *run, VIDPIPE_SERVER="ephemeral"))
        print(f"\ncached re-run of {PIPELINE.name}, whole process, {args.repeat} runs each:")
        print(f"{'case':<10} {'best':>8} {'median':>8}")
        for case, walls in times.items():
            print(f"{case:<10} {min(walls):>7.2f}s {statistics.median(walls):>7.2f}s")
        warm, cold, eph = (statistics.median(times[c]) for c in ("warm", "cold", "ephemeral"))
        print()
        print(
            f"warm re-run: {warm:.2f} s (goal < 3 s); {warm / first:.1%} of the first run "
            "(goal < 10%)"
        )
        print(
            f"cold / ephemeral: {cold / eph:.2f}x (goal <= 1.0x); "
            f"warm / ephemeral: {warm / eph:.2f}x"
        )
    finally:
        subprocess.run(
            [sys.executable, "-m", "vidpipe.cli", "server", "stop"],
            env=_env(home),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
