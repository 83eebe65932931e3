"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temporary folder.

Why a helper of our own: PostgreSQL support is a promise (docs/architecture.md, "Where
state lives"), so tests run against a real server, not an imitation; and a cluster in a
temp folder needs no service, no password and no clean-up beyond deleting the folder.

PostgreSQL refuses to run as root. When this process is root, every server command runs
as an unprivileged account instead (`postgres` if it exists, else `nobody`), through
`subprocess`'s own `user=`/`group=` switch, so neither `su` nor `runuser` is needed. The
folder is made with `tempfile.mkdtemp` directly under the system temp dir (not under
pytest's 0700 `pytest-of-root`), and handed to that account.

Usage:

    cluster = PgCluster.from_path()        # None when the binaries are absent
    cluster.start()
    url = cluster.create_database("vidpipe_test")
    ...
    cluster.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PgCluster", "find_pg_bindir", "PgClusterError"]

_SUPERUSER = "vidpipe"
_BINARIES = ("initdb", "pg_ctl", "postgres")


class PgClusterError(RuntimeError):
    """The test cluster could not be set up; the message carries the server's log tail."""


def find_pg_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: PATH first, then Debian's layout.

    Debian/Ubuntu install the server binaries under /usr/lib/postgresql/<major>/bin and
    keep them off PATH, so both places are searched; the newest major wins there.
    """
    on_path = [shutil.which(name) for name in _BINARIES]
    if all(on_path):
        return Path(os.path.realpath(on_path[0])).parent  # type: ignore[arg-type]
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: _major(Path(p).parent.name),
        reverse=True,
    )
    for folder in candidates:
        if all((Path(folder) / name).is_file() for name in _BINARIES):
            return Path(folder)
    return None


def _major(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged_account() -> pwd.struct_passwd:
    """The account the server runs as when we are root: `postgres` if present, else `nobody`."""
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PgClusterError("running as root and neither a 'postgres' nor a 'nobody' account exists")


class PgCluster:
    """One PostgreSQL cluster in a temporary folder, listening on loopback and a local socket."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base: Path | None = None
        self.port: int | None = None
        self._account: pwd.struct_passwd | None = None
        self._running = False

    @classmethod
    def from_path(cls) -> PgCluster | None:
        """A cluster using the binaries found on this machine, or None if there are none."""
        bindir = find_pg_bindir()
        return cls(bindir) if bindir else None

    @property
    def datadir(self) -> Path:
        assert self.base is not None, "start() first"
        return self.base / "data"

    @property
    def socketdir(self) -> Path:
        assert self.base is not None, "start() first"
        return self.base / "sock"

    def start(self, attempts: int = 3) -> None:
        """initdb, then start the server; retried on a fresh port if one was taken meanwhile."""
        if self._running:
            return
        self._make_base()
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            _SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        last_error: PgClusterError | None = None
        for _ in range(attempts):
            self.port = _free_port()
            try:
                self._pg_ctl_start()
            except PgClusterError as exc:
                last_error = exc
                continue
            self._running = True
            atexit.register(self.stop)
            return
        self.stop()
        raise last_error or PgClusterError("the server did not start")

    def url(self, dbname: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for one database of this cluster."""
        assert self.port is not None, "start() first"
        return f"postgresql+psycopg://{_SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create a fresh, empty database and return its URL."""
        import psycopg  # a dev dependency: imported only when a database is asked for

        assert self.port is not None, "start() first"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=_SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the folder. Safe to call twice."""
        if self._running:
            with contextlib.suppress(PgClusterError):
                self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")
            self._running = False
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
        atexit.unregister(self.stop)

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _make_base(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="vidpipe-pg-"))
        self.socketdir.mkdir()
        if os.geteuid() == 0:
            self._account = _unprivileged_account()
            for path in (self.base, self.socketdir):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socketdir}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
            ]
        )
        log = self.base / "server.log"  # type: ignore[operator]
        try:
            self._run(
                "pg_ctl", "start", "-D", str(self.datadir), "-l", str(log), "-w", "-t", "60",
                "-o", options,
            )  # fmt: skip
        except PgClusterError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PgClusterError(f"{exc}\n{tail}") from None

    def _run(self, binary: str, *args: str) -> None:
        env = {
            "PATH": f"{self.bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LC_ALL": "C",
            "LANG": "C",
        }
        kwargs: dict[str, object] = {}
        if self._account is not None:
            env["HOME"] = str(self.base)
            env["USER"] = self._account.pw_name
            kwargs = {
                "user": self._account.pw_uid,
                "group": self._account.pw_gid,
                "extra_groups": [],
            }
        try:
            proc = subprocess.run(
                [str(self.bindir / binary), *args],
                cwd=self.base,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                **kwargs,  # type: ignore[arg-type]
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PgClusterError(f"{binary} could not run: {exc}") from None
        if proc.returncode != 0:
            raise PgClusterError(
                f"{binary} {' '.join(args[:2])} exited {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
