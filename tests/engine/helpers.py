"""Helpers shared by engine tests (plain functions, not fixtures)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from vidpipe import db
from vidpipe.settings import get_settings


def wait_until(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@contextlib.contextmanager
def cli_run(path: Path, home: Path, **env: str) -> Iterator[tuple[str, object]]:
    """`vidpipe run FILE` in another process, on this test's Prefect server, home and
    cache index; yields (run id, engine) and kills the process (SIGKILL, as a lost
    worker) when the block ends."""
    from prefect.settings import PREFECT_API_URL

    full_env = {
        **os.environ,
        "VIDPIPE_HOME": str(home),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "results"),
        **env,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "vidpipe.cli", "run", str(path)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        run_id = worker.stdout.readline().strip()
        yield run_id, db.make_engine(get_settings().resolved_database_url)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
