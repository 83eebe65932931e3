"""The CPU profile of one call across all of its threads, for `bench/engine.py` to print
when a goal is missed.

Every thread started during the call (the task runner's workers, timers) gets a
`cProfile.Profile` of its own timed by `time.thread_time`, so a thread waiting on a lock,
the GIL or a socket counts nothing: the entries are CPU seconds. The profiles of the
threads that ended by the end of the call are merged (one still running, such as the
database writer, cannot be read then), and the top entries by own time and by
cumulative time are printed (cumulative only for vidpipe's code and Prefect's task and
flow engines, where the other entries would repeat the same chains).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["profile_top"]

_ROOT = re.escape(str(Path(__file__).resolve().parent.parent))
#: Entries printed by cumulative CPU: vidpipe's own code and the Prefect engines' steps.
_CUMULATIVE = _ROOT + r"/(tasks|flows|vidpipe|blocks)/|task_engine.py|flow_engine.py|results.py"


def profile_top(label: str, call: Callable[[], Any], limit: int = 15) -> Any:
    """Run `call()` with every thread it starts profiled; print the top entries; return
    what it returned."""
    profiles: list[cProfile.Profile] = []
    original = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            original(thread)
        finally:
            profile.disable()
            profiles.append(profile)  # only threads that ended: a profile is read whole

    main = cProfile.Profile(time.thread_time)
    threading.Thread.run = run  # type: ignore[method-assign]
    main.enable()
    try:
        result = call()
    finally:
        main.disable()
        threading.Thread.run = original  # type: ignore[method-assign]
    out = io.StringIO()
    stats = pstats.Stats(main, stream=out)
    for profile in profiles:
        try:
            stats.add(profile)
        except TypeError:  # a thread that never ran anything profiled
            continue
    print(f"\nCPU profile of {label} ({len(profiles) + 1} threads), top {limit} by own time")
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(_CUMULATIVE, limit)
    for line in out.getvalue().splitlines():
        if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced")):
            print("  " + re.sub(r"\S*site-packages/", "", line))
    return result
