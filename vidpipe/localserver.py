"""This home's local Prefect server: the embedded default for every command that needs
Prefect.

Prefect's temporary server costs 12-23 s at each `vidpipe` call, leaves no UI behind,
and under load can time out. Instead each VIDPIPE_HOME gets one real `prefect server`
on a free loopback port, started on first use and reused by every later command:

- `VIDPIPE_HOME/server/` holds its record (`server.json`: port, URLs, the supervising
  process), its log, its own PREFECT_HOME and SQLite database, a lock file, and an
  activity stamp every command touches.
- A small supervisor process (`python -m vidpipe.localserver`) runs the server as its
  child, writes the record once the API answers, and stops the server after
  `VIDPIPE_SERVER_IDLE_S` (default 30 minutes) with no vidpipe activity and no flow run
  running, paused or about to run on it: a paused run keeps it alive however long the
  review takes.
- The supervisor also serves the home's local media store (`vidpipe.media_server`) on
  VIDPIPE_MEDIA_URL's port while the server runs, so review pages' links open.
- `ensure` starts it under an exclusive file lock, so two commands on a cold home start
  one server; a stale record (the process died, the port answers no more) is replaced,
  never waited on.

No Prefect import here: the server is a child process and the API is plain HTTP.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from vidpipe import liveness
from vidpipe.errors import VidpipeError

__all__ = ["LocalServer", "ServerError", "folder", "status", "ensure", "stop", "touch"]

#: Flow-run states that keep the server alive (a paused run waits for a reviewer).
BUSY_STATES = ["RUNNING", "PAUSED", "PENDING", "CANCELLING"]
START_TIMEOUT_S = 150.0


class ServerError(VidpipeError):
    """The local Prefect server could not be started."""


@dataclass(frozen=True)
class LocalServer:
    port: int
    api_url: str  # http://127.0.0.1:PORT/api
    ui_url: str  # http://127.0.0.1:PORT
    supervisor: str  # the supervising process, as a `vidpipe.liveness` token
    started_at: float


def folder(home: Path) -> Path:
    return Path(home).resolve() / "server"


def touch(home: Path) -> None:
    """Record vidpipe activity on this home (the idle clock starts again)."""
    stamp = folder(home) / "activity"
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()


def _read(home: Path) -> LocalServer | None:
    try:
        return LocalServer(**json.loads((folder(home) / "server.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write(home: Path, server: LocalServer) -> None:
    path = folder(home) / "server.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(server)))
    tmp.replace(path)


def _forget(home: Path, server: LocalServer | None = None) -> None:
    """Remove the record (only if it is still `server`'s, when one is given)."""
    if server is None or _read(home) == server:
        with contextlib.suppress(FileNotFoundError):
            (folder(home) / "server.json").unlink()


def _healthy(api_url: str, timeout_s: float = 3.0) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{api_url}/health", timeout=timeout_s).status_code == 200
    return False


def status(home: Path) -> LocalServer | None:
    """The home's server if it runs and answers, else None."""
    found = _read(home)
    if found and liveness.is_alive(found.supervisor) and _healthy(found.api_url):
        return found
    return None


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    path = folder(home) / "server.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill(token: str) -> None:
    """Stop a supervisor: SIGTERM (it stops its server), then SIGKILL to its process
    group (a detached supervisor leads one, holding the server too)."""
    pid = liveness.pid_of(token)
    if pid is None:
        return
    for sig, wait_s in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            if sig == signal.SIGKILL:
                os.killpg(pid, sig)
        deadline = time.monotonic() + wait_s
        while liveness.is_alive(token) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not liveness.is_alive(token):
            return


def ensure(home: Path, *, idle_s: float, port: int | None = None) -> tuple[LocalServer, bool]:
    """The home's server, started in the background if none runs; returns it and
    whether this call started it. Raises ServerError (with the log's end) if it cannot."""
    touch(home)
    running = status(home)
    if running:
        return running, False
    with _locked(home):
        running = status(home)  # another command may have started it meanwhile
        if running:
            return running, False
        stale = _read(home)
        if stale is not None:  # dead, or alive but not answering: replace it
            if liveness.is_alive(stale.supervisor):
                _kill(stale.supervisor)
            _forget(home)
        return _spawn(home, port or _free_port(), idle_s), True


def _spawn(home: Path, port: int, idle_s: float) -> LocalServer:
    log = folder(home) / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidpipe.localserver", "--home", str(home)]
            + ["--port", str(port), "--idle-s", str(idle_s)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; its group holds the server
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = status(home)
        if found is not None:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    tail = log.read_text(errors="replace")[-800:].strip().splitlines()[-3:]
    raise ServerError(
        f"the local Prefect server did not start on port {port} (log: {log}): " + " | ".join(tail)
    )


def stop(home: Path) -> bool:
    """Stop the home's server; returns whether one was running."""
    found = _read(home)
    if found is None:
        return False
    was_running = liveness.is_alive(found.supervisor)
    if was_running:
        _kill(found.supervisor)
    _forget(home)
    return was_running


# --------------------------------------------------------------------------- supervisor


def _server_env(home: Path, port: int) -> dict[str, str]:
    """The server's environment: its own PREFECT_HOME and database under the home; none
    of a shared server's database or auth settings that the caller may have set."""
    prefect_home = folder(home) / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_SERVER_", "PREFECT_API_", "PREFECT_UI_"))
    }
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
    )
    return env


def _busy(api_url: str) -> bool:
    """Whether a flow run on the server is running, paused or about to run."""
    with contextlib.suppress(httpx.HTTPError, ValueError):
        answer = httpx.post(
            f"{api_url}/flow_runs/count",
            json={"flow_runs": {"state": {"type": {"any_": BUSY_STATES}}}},
            timeout=10,
        )
        return answer.status_code == 200 and int(answer.json()) > 0
    return True  # cannot tell: do not stop on a guess


def supervise(home: Path, port: int, idle_s: float) -> int:
    """Run the server until it has been idle for `idle_s` (or SIGTERM); the module's main."""
    stopping = {"now": False}

    def on_term(signum: int, frame: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    api_url = f"http://127.0.0.1:{port}/api"
    media = None
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env=_server_env(home, port),
        stdin=subprocess.DEVNULL,
    )
    me = LocalServer(
        port=port,
        api_url=api_url,
        ui_url=f"http://127.0.0.1:{port}",
        supervisor=liveness.this_process(),
        started_at=time.time(),
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(api_url, timeout_s=2):
            if server.poll() is not None or stopping["now"] or time.monotonic() > deadline:
                return 1
            time.sleep(0.25)
        _write(home, me)
        print(f"vidpipe: Prefect server up at {me.ui_url} (idle stop {idle_s:g} s)", flush=True)
        media = _media_companion()
        last_use = time.time()
        every = max(0.5, min(30.0, idle_s / 4))
        while not stopping["now"] and server.poll() is None:
            _nap(every, stopping)
            with contextlib.suppress(OSError):
                last_use = max(last_use, (folder(home) / "activity").stat().st_mtime)
            if _busy(api_url):
                last_use = time.time()
            if time.time() - last_use > idle_s:
                print(f"vidpipe: idle for {idle_s:g} s, stopping the server", flush=True)
                break
        return 0 if server.poll() is None else 1
    finally:
        if media is not None:
            media.stop()
        _forget(home, me)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _media_companion():
    """The home's media endpoint beside its server (`vidpipe media serve` in this
    process), on VIDPIPE_MEDIA_URL's port, so the links on review pages and summaries of
    runs on this server open in a browser. None, with a line in the server's log, where
    the store is on S3 or the port is taken (a `vidpipe serve` or `vidpipe media serve`
    of this home may serve it already)."""
    from vidpipe import media_server

    try:
        served = media_server.start_beside()
        if served is None:
            return None
    except VidpipeError as exc:
        print(f"vidpipe: no media links served here: {exc}", flush=True)
        return None
    print(f"vidpipe: media links served at http://127.0.0.1:{served.port}/media/", flush=True)
    return served


def _nap(seconds: float, stopping: dict[str, bool]) -> None:
    """Sleep up to `seconds`, waking within 0.2 s of a SIGTERM (`server stop` waits)."""
    deadline = time.monotonic() + seconds
    while not stopping["now"] and time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidpipe.localserver")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle-s", type=float, required=True)
    args = parser.parse_args(argv)
    return supervise(args.home, args.port, args.idle_s)


if __name__ == "__main__":
    sys.exit(main())
