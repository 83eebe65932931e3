"""What reaches a person's terminal from the logs.

Prefect's flow and task engines log every exception a run raises with its traceback, also
for errors the user caused (a bad file, a budget, missing credentials, a corrupt asset):
on a terminal the traceback buries the one line that matters, which vidpipe prints itself.
`quiet_user_errors` keeps those records (and Prefect's routine INFO lines) off the
console handlers only; the Prefect API handler, and so the run's logs and state in the
Prefect UI, keep everything. Real bugs
(any exception that is not a `VidpipeError`) still print their traceback, and `--debug`
(`VIDPIPE_DEBUG=1`) keeps everything. No Prefect import: this works on `logging` alone.
"""

from __future__ import annotations

import logging

from vidpipe.errors import VidpipeError

__all__ = ["is_user_error", "quiet_user_errors"]


def is_user_error(exc: BaseException | None) -> bool:
    """An error whose message says all a user needs: vidpipe's own, or an interrupt."""
    return isinstance(exc, VidpipeError | KeyboardInterrupt)


class _DropUserErrors(logging.Filter):
    """Drops records that carry a user error's traceback (vidpipe prints its message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not is_user_error(exc)


_FILTER = _DropUserErrors()


def _console_handlers() -> list[logging.Handler]:
    """The root logger's stream handlers (Prefect's console handler is one), not files."""
    return [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def quiet_user_errors(debug: bool = False) -> None:
    """Keep user errors' tracebacks, and Prefect's routine INFO lines ("Finished in state
    Completed()"), off this process's console (idempotent): the CLI shows the run itself.
    Warnings and errors still show. With `debug`, everything is put back."""
    for handler in _console_handlers():
        if debug:
            handler.removeFilter(_FILTER)
            handler.setLevel(logging.NOTSET)
        else:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
            handler.setLevel(max(handler.level, logging.WARNING))
