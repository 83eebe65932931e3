"""Which process runs a flow, and whether it is still alive.

A run records the process that carries it out as a token, `host:pid:start`, where
`start` is the process's start time in clock ticks since boot (Linux `/proc/PID/stat`),
so a pid reused by another program later is not mistaken for the original. Any command
on the same host can then tell that a run's process died (SIGKILL, a power cut, an OOM
kill) without a Prefect server: that is how runs killed outright are found and ended.
Runs of another host are left to the sweeper, which reads their Prefect state.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["this_process", "is_alive", "same_host", "pid_of"]


def _stat(pid: int) -> tuple[str, str]:
    """The process's state letter and start time (fields 3 and 22 of /proc/PID/stat), or
    empty strings where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", ""
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat.rpartition(")")[2].split()
    return (fields[0], fields[19]) if len(fields) > 19 else ("", "")


def _start_ticks(pid: int) -> str:
    return _stat(pid)[1]


def this_process() -> str:
    """This process's token: `host:pid:start`."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def _parse(token: str) -> tuple[str, int, str] | None:
    host, _, rest = token.rpartition(":")
    host, _, pid = host.rpartition(":")
    if not host or not pid.isdigit():
        return None
    return host, int(pid), rest


def pid_of(token: str) -> int | None:
    """The process id a token names, or None for a token that cannot be read."""
    parsed = _parse(token)
    return parsed[1] if parsed is not None else None


def same_host(token: str) -> bool:
    parsed = _parse(token)
    return parsed is not None and parsed[0] == socket.gethostname()


def is_alive(token: str) -> bool:
    """Whether the process named by `token` still runs. Only meaningful on its own host
    (`same_host`); a token that cannot be read counts as alive, so nothing is ended on a
    guess."""
    parsed = _parse(token)
    if parsed is None:
        return True
    _, pid, start = parsed
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    state, current = _stat(pid)
    if state in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    return not (start and current and current != start)
