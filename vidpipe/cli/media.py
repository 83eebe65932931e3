"""`vidpipe media serve`: the endpoint reviewers' browsers open a local media store's
signed links through (review pages, run summaries); `vidpipe serve` and the local Prefect
server run the same endpoint beside them (`vidpipe.media_server.start_media`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vidpipe.cli.application import app
from vidpipe.cli.output import _fail, err, serve_until_interrupted
from vidpipe.errors import VidpipeError

media_app = typer.Typer(
    help="Media for reviewers' browsers: signed links to the local media store.",
    no_args_is_help=True,
)
app.add_typer(media_app, name="media")


def announce(server: Any) -> None:
    """Say where the endpoint listens, and whether the links point at it."""
    from vidpipe import media_server
    from vidpipe.settings import get_settings

    url = get_settings().media_url
    err.print(
        f"media links: http://{server.host}:{server.port}/media/ (links say {url})",
        highlight=False,
    )
    if media_server.media_port(url) != server.port:
        err.print(
            f"warning: VIDPIPE_MEDIA_URL ({url}) names another port than {server.port}: "
            "links reach this endpoint only through a proxy that forwards there",
            highlight=False,
        )


@media_app.command("serve")
def media_serve(
    port: Annotated[
        int | None,
        typer.Option(help="The port (default: VIDPIPE_MEDIA_URL's, 8765; 0: a free one)."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="The address (0.0.0.0 for browsers on other machines).")
    ] = "127.0.0.1",
) -> None:
    """Serve the local media store's signed links until Ctrl-C."""
    from vidpipe import media_server
    from vidpipe.settings import get_settings

    try:
        settings = get_settings()
        chosen = media_server.media_port(settings.media_url) if port is None else port
        server = media_server.start_media(host, chosen)
    except VidpipeError as exc:
        raise _fail(exc) from None
    announce(server)
    err.print("Ctrl-C stops it", highlight=False)
    serve_until_interrupted(server)
