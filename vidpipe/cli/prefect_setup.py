"""The Prefect server the commands use: PREFECT_API_URL, this home's local server
(started on first use and kept alive while a command uses it), or a temporary one."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from vidpipe.cli.output import err

#: The Prefect server this command uses, when it is this home's local one.
_local: dict[str, Any] = {"server": None, "ephemeral": False}


def prepare_prefect(need_server: bool = True) -> None:
    """Prefect's embedded defaults, and the server to use: PREFECT_API_URL when set, else
    (for commands that run flows) this home's local server, started on first use, unless
    VIDPIPE_SERVER=ephemeral or --ephemeral asks for Prefect's temporary one. Call it
    before Prefect is imported: Prefect reads its settings from the environment then (a
    program running several commands in one process, like `make demo`, calls it first)."""
    from vidpipe.settings import apply_prefect_defaults, get_settings, use_prefect_api

    settings = get_settings()
    apply_prefect_defaults(settings)
    if not need_server or settings.prefect_api_url:
        return
    if settings.server == "ephemeral" or _local["ephemeral"]:
        return
    from vidpipe import localserver

    server, started = localserver.ensure(settings.home, idle_s=settings.server_idle_s)
    use_prefect_api(server.api_url)
    _local["server"] = server
    _keep_alive_while_running(settings)
    if started:
        err.print(
            f"Prefect UI: {server.ui_url} (this home's local server; it stops after "
            f"{settings.server_idle_s / 60:g} idle minutes, or with `vidpipe server stop`)",
            highlight=False,
        )


def _keep_alive_while_running(settings: Any) -> None:
    """From the moment a command has the local server until the process ends, it counts as
    activity: on a slow machine the seconds between starting a server and a run's first
    flow-run call could otherwise outlast a short idle setting."""
    import threading

    from vidpipe import localserver

    def touch() -> None:
        while True:
            localserver.touch(settings.home)
            time.sleep(max(0.5, min(60.0, settings.server_idle_s / 4)))

    threading.Thread(target=touch, name="vidpipe-keep-alive", daemon=True).start()


@contextlib.contextmanager
def _keeping_alive() -> Any:
    """While a command uses this home's local server, it counts as activity (the idle
    clock would otherwise run between its start and its first flow run)."""
    import threading

    from vidpipe import localserver
    from vidpipe.settings import get_settings

    if _local["server"] is None:
        yield
        return
    settings = get_settings()
    stop = threading.Event()

    def touch() -> None:
        while not stop.wait(max(0.5, min(60.0, settings.server_idle_s / 4))):
            localserver.touch(settings.home)

    threading.Thread(target=touch, name="vidpipe-keep-alive", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def local_server() -> Any:
    """The local Prefect server this process's commands used, if any (`make demo`)."""
    return _local["server"]
