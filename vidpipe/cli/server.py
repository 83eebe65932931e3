"""`vidpipe serve` (the deployments, served from this process) and `vidpipe server
start|stop|status` (this home's local Prefect server)."""

from __future__ import annotations

from typing import Annotated

import typer

from vidpipe.cli.application import app
from vidpipe.cli.output import JsonOpt, _emit_json, _fail, err, out
from vidpipe.cli.prefect_setup import _keeping_alive, prepare_prefect
from vidpipe.errors import VidpipeError


@app.command()
def serve(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Also serve Prometheus metrics at /metrics on this port."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="The address the metrics listen on.")
    ] = "127.0.0.1",
    media_port: Annotated[
        int | None,
        typer.Option(
            help="Serve the local media store's signed links on this port (default: "
            "VIDPIPE_MEDIA_URL's; 0: not at all). Not with a media store on S3."
        ),
    ] = None,
) -> None:
    """Serve the deployments (run-pipeline, nightly-batch, sweep-stuck-runs, evaluate-alerts)
    from this process: the one-machine default. Stop with Ctrl-C."""
    from vidpipe.cli.observe import start_metrics

    metrics = None
    if metrics_port is not None:
        try:
            metrics = start_metrics(metrics_host, metrics_port, "--metrics-port")
        except VidpipeError as exc:
            raise _fail(exc) from None
        err.print(
            f"Prometheus metrics: http://{metrics_host}:{metrics.port}/metrics", highlight=False
        )
    try:
        media = _start_media(media_port)
    except BaseException:
        if metrics is not None:
            metrics.stop()
        raise
    prepare_prefect()
    from deployments import serve_all

    try:
        with _keeping_alive():  # serving is activity: the local server stays up
            serve_all()
    finally:
        if metrics is not None:
            metrics.stop()
        if media is not None:
            media.stop()


def _start_media(port: int | None):
    """The media endpoint beside the deployments, when the media store is local: on the
    port asked for (refused in one line if it cannot be bound), else on VIDPIPE_MEDIA_URL's
    (a warning if that one is taken, say by a `vidpipe media serve`)."""
    from vidpipe import media_server
    from vidpipe.cli.media import announce

    if port == 0:
        return None
    try:
        server = media_server.start_beside(port)
        if server is None:
            return None
    except VidpipeError as exc:
        if port is not None:
            raise _fail(exc) from None
        err.print(f"warning: no media links served here: {exc}", highlight=False)
        return None
    announce(server)
    return server


server_app = typer.Typer(
    help="This home's local Prefect server (the default when PREFECT_API_URL is not set).",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: Annotated[int | None, typer.Option(help="Its port (default: a free one).")] = None,
    background: Annotated[
        bool, typer.Option("--background", help="Start it and return (it stops when idle).")
    ] = False,
) -> None:
    """Start it (in the foreground until Ctrl-C, or --background)."""
    import time

    from vidpipe import localserver
    from vidpipe.settings import get_settings

    settings = get_settings()
    try:
        server, started = localserver.ensure(
            settings.home, idle_s=settings.server_idle_s, port=port
        )
    except VidpipeError as exc:
        raise _fail(exc) from None
    if port is not None and server.port != port:
        out.print(f"already running on port {server.port}: {server.ui_url}", highlight=False)
        return
    out.print(f"{'started' if started else 'running'}: {server.ui_url}", highlight=False)
    if background:
        return
    out.print("Ctrl-C stops it", highlight=False)
    try:
        while localserver.status(settings.home) is not None:
            localserver.touch(settings.home)
            time.sleep(2)
    except KeyboardInterrupt:
        localserver.stop(settings.home)
        out.print("stopped", highlight=False)


@server_app.command("stop")
def server_stop() -> None:
    """Stop it (exit 0 whether or not one was running)."""
    from vidpipe import localserver
    from vidpipe.settings import get_settings

    home = get_settings().home
    out.print("stopped" if localserver.stop(home) else "no local server was running")


@server_app.command("status")
def server_status(as_json: JsonOpt = False) -> None:
    """Print its URL and exit 0 while it runs; exit 1 when none does."""
    from dataclasses import asdict

    from vidpipe import localserver
    from vidpipe.settings import get_settings

    home = get_settings().home
    server = localserver.status(home)
    if as_json:
        _emit_json(asdict(server) if server else None)
    elif server:
        out.print(f"{server.ui_url} (API {server.api_url})", highlight=False)
    else:
        err.print(f"no local Prefect server for {home}", highlight=False)
    raise typer.Exit(0 if server else 1)
