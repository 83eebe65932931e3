"""The `vidpipe` command line (typer).

Every listing command takes `--json` and then prints one JSON document on stdout and
nothing else there. Exit codes (docs/cli.md): 0 success, 1 the run failed or was cancelled
(or, for `validate`, a file is invalid), 2 bad input, 3 rejected by a reviewer, 4 refused
by a budget; a run stopped by Ctrl-C exits 130, by SIGTERM 143. A `VidpipeError` becomes
one clear line on stderr, never a traceback (unless `--debug` or `VIDPIPE_DEBUG=1`).

Its files:
    application.py    the typer app, its global options, and main() with its exit codes
    output.py         the consoles, shared arguments, `--json` output, one-line errors
    loading.py        pipeline files loaded and checked for a run, the `--mode` option
    documents.py      runs in this home's database: `show --json`, the nodes table
    prefect_setup.py  which Prefect server the commands use, kept alive while they do
    progress.py       the live per-node progress of a run on stderr
    pipeline.py       `validate` and `plan`
    running.py        `run`, with its signal handling
    inspection.py     `runs`, `show` and `costs`
    server.py         `serve` and `server start|stop|status`
    reviews.py        `approve`, `reject` and `revise`
    observe.py        `metrics`, `alerts` and `report`
    media.py          `media serve`: signed links to the local media store, for browsers
    __main__.py       `python -m vidpipe.cli`
"""

from __future__ import annotations

from vidpipe.cli.application import app, main
from vidpipe.cli.documents import show_document
from vidpipe.cli.prefect_setup import local_server, prepare_prefect

# isort: off
# Importing a command module registers its commands on `app`, in this order: the order
# `vidpipe --help` lists them in.
from vidpipe.cli import pipeline, running, inspection, server, reviews  # noqa: F401
from vidpipe.cli import observe, media  # noqa: F401
# isort: on

__all__ = ["app", "main", "local_server", "prepare_prefect", "show_document"]
