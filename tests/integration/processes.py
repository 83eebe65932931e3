"""What the integration tests share: free ports, a clean environment, stopping process
sessions (and what they started), and a real `prefect server start` that is waited for."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = ["free_port", "clean_env", "tail", "stop", "running_prefect_server"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_* or VIDPIPE_* (a developer's
    profile, server or database must not leak in), with VIDPIPE_SERVER=ephemeral (no
    local server), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIDPIPE_"))}
    env["VIDPIPE_SERVER"] = "ephemeral"  # no local server left behind by a test
    env.update(extra)
    return env


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (Linux /proc), so flow-run processes a worker started can
    be stopped too."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found.extend(kids)
        frontier.extend(kids)
    return found


def stop(procs: list[subprocess.Popen[bytes]], grace_s: float = 15) -> None:
    """SIGTERM each process's session (started with start_new_session), SIGKILL what is
    left after `grace_s`, then any process they started that outlived them."""
    running = [p for p in procs if p.poll() is None]
    leftovers = [child for p in running for child in _children(p.pid)]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_prefect_server(
    home: Path, port: int, env: dict[str, str], *, timeout_s: float
) -> Iterator[Path]:
    """`prefect server start` on 127.0.0.1:`port`, run from `home` with `env`; waits for
    /api/health (failing the test with the server's log if it never comes up), yields the
    log's path, and stops the server at the end whatever happens."""
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the Prefect server did not come up (exit {proc.poll()}):\n{tail(log)}"
                )
            time.sleep(0.5)
        yield log
    finally:
        stop([proc])


def wait_for(what: Any, check: Callable[[], Any], timeout_s: float, served: Any, every: float = 1):
    """`check()`'s first true answer, polled every `every` s. The test fails naming `what`
    (a string, or a callable making the message at the failure) when the served process
    (`served.proc`, described by `served.describe()`) exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        said = what() if callable(what) else what
        if served.proc.poll() is not None:
            code = served.proc.returncode
            pytest.fail(f"the served process exited {code} ({said})\n{served.describe()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{said}: not within {timeout_s} s\n{served.describe()}")
        time.sleep(every)


def spawn_vidpipe(
    args: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """`vidpipe ARGS` in the background, its stdout and stderr in `log`, in a session of
    its own (so `stop` ends it and its children)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vidpipe.cli", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
