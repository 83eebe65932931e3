"""FFmpeg dies with its task: a process killed outright takes its FFmpeg children with
it (the parent death signal), and a run that stops kills the ones it started
(`media.stop_all`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vidpipe import media
from vidpipe.errors import MediaError
from vidpipe.media import runner

#: Ten minutes of silence read in real time (`-re`), so the job really lasts.
LONG = ["-re", "-f", "lavfi", "-i", "anullsrc=r=8000", "-t", "600", "-f", "null", "-"]


def _ffmpeg_children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"ffmpeg" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")
def test_an_ffmpeg_child_dies_with_a_process_killed_outright():
    if not runner._die_with_parent():
        pytest.skip("util-linux setpriv is not installed: FFmpeg cannot be tied to its parent")
    code = (
        "from vidpipe import media\n"
        f"media.run_ffmpeg({LONG!r}, operation='long', check=False, timeout_s=600)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        [child] = _wait(lambda: _ffmpeg_children(worker.pid), 30, "FFmpeg never started")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        _wait(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), 10, "FFmpeg lives on")
    finally:
        if worker.poll() is None:
            worker.kill()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_stop_all_kills_the_ffmpeg_a_run_started():
    failure: list[BaseException] = []

    def long_job() -> None:
        try:
            media.run_ffmpeg(LONG, operation="long", timeout_s=600)
        except MediaError as exc:
            failure.append(exc)

    thread = threading.Thread(target=long_job)
    thread.start()
    _wait(lambda: _ffmpeg_children(os.getpid()), 30, "FFmpeg never started")
    assert _wait(media.stop_all, 10, "FFmpeg was never registered") == 1
    thread.join(timeout=10)
    assert not thread.is_alive(), "the job did not end when its FFmpeg was killed"
    assert failure and "long" in str(failure[0])
