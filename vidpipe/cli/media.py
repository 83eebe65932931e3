"""`vidpipe media serve`: the endpoint reviewers' browsers open a local media store's
signed links through (review pages, run summaries), and `start_media`, which `vidpipe
serve` uses to run it beside the deployments."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from vidpipe.cli.application import app
from vidpipe.cli.output import _fail, err
from vidpipe.errors import SpecError, VidpipeError

media_app = typer.Typer(
    help="Media for reviewers' browsers: signed links to the local media store.",
    no_args_is_help=True,
)
app.add_typer(media_app, name="media")


def local_media_root() -> Any:
    """The local media store's folder, or None when the store is on S3 (its review pages
    carry presigned URLs: nothing to serve)."""
    from vidpipe.settings import get_settings

    settings = get_settings()
    if settings.storage_url and settings.storage_url.startswith("s3://"):
        return None
    from vidpipe.storage import LocalStore, open_store

    store = open_store()
    return store.root if isinstance(store, LocalStore) else None


def start_media(host: str, port: int, option: str = "--port") -> Any:
    """Serve the local media store's signed links in a background thread; SpecError (one
    line) for a store on S3, a bad port or an address that cannot be bound."""
    from vidpipe import media_server
    from vidpipe.settings import get_settings

    if not 0 <= port <= 65535:
        raise SpecError(f"{option} must be 0..65535, got {port}")
    root = local_media_root()
    if root is None:
        raise SpecError(
            "the media store is on S3: review pages link presigned URLs, nothing to serve"
        )
    secret = media_server.signing_key(get_settings())
    try:
        return media_server.serve_media(root, secret, host=host, port=port)
    except OSError as exc:
        raise SpecError(f"cannot serve media on {host}:{port}: {exc.strerror or exc}") from None


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
        server = start_media(host, chosen)
    except VidpipeError as exc:
        raise _fail(exc) from None
    announce(server)
    err.print("Ctrl-C stops it", highlight=False)
    try:
        while server.thread.is_alive():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
