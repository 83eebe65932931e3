"""The one FFmpeg runner, and the lifetime of the FFmpeg processes it starts.

:func:`run_ffmpeg` runs a bounded number of FFmpeg processes at once
(``VIDPIPE_FFMPEG_THREADS``, 0 = one per core), with a timeout
(``VIDPIPE_FFMPEG_TIMEOUT_S``), stderr captured, output written to a temporary file next to
the destination and moved into place with ``os.replace`` only on success. Failures raise
:class:`~vidpipe.errors.MediaError` with the operation's name and the tail of FFmpeg's
stderr. Every process is tied to its parent (Linux's parent death signal) and registered,
so :func:`stop_all` can kill the ones still running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO

from vidpipe.errors import MediaError
from vidpipe.settings import get_settings

STDERR_TAIL_LINES = 20


def ffmpeg_binary() -> str:
    """The FFmpeg to run: ``VIDPIPE_FFMPEG``, else one on PATH, else the imageio-ffmpeg one."""
    configured = get_settings().ffmpeg
    if configured:
        return configured
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg  # imported late: it looks for its binary on import of the getter

    return imageio_ffmpeg.get_ffmpeg_exe()


_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


def _ffmpeg_slots() -> threading.BoundedSemaphore:
    """The process-wide limit on concurrent FFmpeg processes, made on first use.

    Many task threads may call FFmpeg at once; each FFmpeg already uses every core, so
    running more of them than cores only adds memory and context switches.
    """
    global _slots
    with _slots_lock:
        if _slots is None:
            size = get_settings().ffmpeg_threads or os.cpu_count() or 1
            _slots = threading.BoundedSemaphore(max(1, size))
        return _slots


def _temp_output(output: Path) -> Path:
    """A unique temporary name beside `output`, keeping its suffix (FFmpeg picks the muxer
    from it) and hidden, so a half-written file is never mistaken for the real one."""
    token = os.urandom(4).hex()
    return output.with_name(f".{output.stem}.{token}.part{output.suffix}")


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_ffmpeg(
    args: Sequence[str],
    *,
    operation: str,
    output: str | os.PathLike[str] | None = None,
    feed: Callable[[IO[bytes]], None] | None = None,
    check: bool = True,
    timeout_s: float | None = None,
) -> str:
    """Run FFmpeg with `args` (without the binary) and return its stderr.

    `output`, when given, must appear once in `args`: FFmpeg writes to a temporary file
    beside it, which replaces `output` only if FFmpeg succeeded. `feed` writes FFmpeg's
    stdin (for piped frames). With `check=False` a non-zero exit is returned, not raised
    (probing runs ``ffmpeg -i FILE``, which always "fails" for want of an output).
    """
    timeout = timeout_s if timeout_s is not None else get_settings().ffmpeg_timeout_s
    args = [str(a) for a in args]
    target = Path(output) if output is not None else None
    tmp: Path | None = None
    if target is not None:
        if args.count(str(target)) != 1:
            raise ValueError(f"output {target} must appear exactly once in the arguments")
        tmp = _temp_output(target)
        args[args.index(str(target))] = str(tmp)
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostats", "-y", *args]
    try:
        with _ffmpeg_slots():
            returncode, stderr = _execute(cmd, feed, timeout, operation, target)
        if check and returncode != 0:
            raise MediaError(
                f"ffmpeg exited with code {returncode}",
                operation=operation,
                path=str(target or ""),
                stderr_tail=_tail(stderr),
            )
        if tmp is not None and target is not None:
            if not tmp.is_file():
                raise MediaError(
                    "ffmpeg wrote no output",
                    operation=operation,
                    path=str(target),
                    stderr_tail=_tail(stderr),
                )
            os.replace(tmp, target)
        return stderr
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


#: FFmpeg processes running now, so a run that stops (cancelled, interrupted) can stop
#: them too instead of waiting for each to finish.
_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


@lru_cache(maxsize=1)
def _die_with_parent() -> tuple[str, ...]:
    """A prefix that makes FFmpeg die with the process that started it (Linux's parent
    death signal, through util-linux `setpriv`), so a worker killed outright leaves no
    FFmpeg running on for up to its timeout; empty where `setpriv` is missing."""
    found = shutil.which("setpriv")
    return (found, "--pdeathsig", "KILL", "--") if found else ()


def stop_all() -> int:
    """Kill every FFmpeg process this process started that still runs; returns how many.
    Their runs fail with a MediaError, which the stopping run has already accounted for."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.kill()
    return len(procs)


def _execute(
    cmd: list[str],
    feed: Callable[[IO[bytes]], None] | None,
    timeout: float,
    operation: str,
    target: Path | None,
) -> tuple[int, str]:
    """Run one FFmpeg process with a deadline. Stderr goes to a temporary file, not a pipe,
    so a chatty FFmpeg can never block while we are busy writing its stdin."""
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile() as errfile:
        try:
            proc = subprocess.Popen(
                [*_die_with_parent(), *cmd],
                stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errfile,
            )
        except OSError as exc:
            raise MediaError(f"cannot start ffmpeg ({cmd[0]}): {exc}", operation=operation) from exc
        with _running_lock:
            _running.add(proc)
        try:
            if feed is not None and proc.stdin is not None:
                try:
                    feed(_DeadlineWriter(proc.stdin, deadline))
                    proc.stdin.close()
                except BrokenPipeError:
                    pass  # FFmpeg stopped reading: its exit code and stderr say why
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except (subprocess.TimeoutExpired, TimeoutError) as exc:
            proc.kill()
            proc.wait()
            raise MediaError(
                f"ffmpeg timed out after {timeout:g} s",
                operation=operation,
                path=str(target or ""),
            ) from exc
        finally:
            with _running_lock:
                _running.discard(proc)
            if proc.stdin is not None and not proc.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
        errfile.seek(0)
        stderr = errfile.read().decode("utf-8", errors="replace")
    return proc.returncode, stderr


class _DeadlineWriter:
    """A stdin wrapper that stops a feeder once the runner's deadline has passed."""

    def __init__(self, stream: IO[bytes], deadline: float):
        self._stream = stream
        self._deadline = deadline

    def write(self, data: bytes) -> int:
        if time.monotonic() > self._deadline:
            raise TimeoutError("ffmpeg feed deadline passed")
        return self._stream.write(data)
