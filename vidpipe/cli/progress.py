"""The live per-node progress of `vidpipe run` on stderr: on a terminal, one region redrawn
in place (a counter, then a row per node, never taller or wider than the terminal), with
log lines printed above it; in a log or pipe, one line per finished node."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.text import Text

from vidpipe.cli.documents import ENDED, _nodes_table, heading, progress_document
from vidpipe.cli.output import err


class _LiveProgress:
    """A per-node progress display on stderr, read from the database while a run goes."""

    def __init__(self, engine, run_id: str, enabled: bool):
        import threading

        self.engine, self.run_id, self.enabled = engine, run_id, enabled
        self._stop = threading.Event()
        self._last: Any = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.enabled:
            self._thread.join(timeout=5)

    def _view(self) -> Any:
        """The region now; the last one drawn while the database does not answer."""
        size = err.size
        try:
            doc = progress_document(self.engine, self.run_id)
        except Exception:  # a busy database: the next refresh tries again
            if self._last is None:
                raise
            return self._last
        self._last = live_view(doc, size.width, size.height)
        return self._last

    def _loop(self) -> None:
        if not err.is_terminal:
            return self._lines()
        from rich.live import Live

        # Transient: the region is erased when the run ends; `vidpipe run` then prints the
        # final table once. Refreshed only here, so nothing else draws it meanwhile.
        live = Live(self._view(), console=err, auto_refresh=False, transient=True)
        with live, _logs_through_live():
            while not self._stop.wait(0.5):
                live.update(self._view(), refresh=True)

    def _lines(self) -> None:
        """Off a terminal (a log, a pipe): one line per node as it ends, and the waits."""
        from vidpipe import db

        seen: dict[str, str] = {}
        waiting = False
        while not self._stop.wait(1.0):
            rows = db.node_runs(self.engine, self.run_id)
            done = sum(r.status in db.NODE_TERMINAL for r in rows)
            for r in rows:
                if r.status in db.NODE_TERMINAL and seen.get(r.node_id) != r.status:
                    seen[r.node_id] = r.status
                    how = " (cache hit)" if r.cache_hit else ""
                    why = f": {r.error.splitlines()[0][:160]}" if r.error else ""
                    err.print(
                        f"[{done}/{len(rows)}] {r.node_id} {r.status}{how}{why}",
                        highlight=False,
                        markup=False,
                    )
            run = db.get_run(self.engine, self.run_id)
            paused = run is not None and run.status == "awaiting_approval"
            if paused and not waiting:
                err.print("waiting for a reviewer", highlight=False)
            waiting = paused


def _shown_first(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes in the order they earn a row when not all fit: running ones, then those
    that ended most recently, then the pending ones in plan order."""
    running = [n for n in nodes if n["status"] == "running"]
    ended = sorted(
        (n for n in nodes if n["status"] in ENDED),
        key=lambda n: n["finished_at"].timestamp() if n["finished_at"] else 0.0,
        reverse=True,
    )
    others = [n for n in nodes if n not in running and n not in ended]
    return running + ended + others


def _height(renderable: Any, width: int) -> int:
    return len(err.render_lines(renderable, err.options.update_width(width), pad=False))


def live_view(doc: dict[str, Any], width: int, height: int, now: datetime | None = None) -> Group:
    """The region: the counter line, then as many node rows as fit in `height - 1` lines
    (the last line of the terminal stays free), with `+N more` for the rest."""
    top = heading(doc, width, now)
    nodes = doc["nodes"]
    room = height - 1 - _height(Group(top, _nodes_table({**doc, "nodes": []}, width)), width)
    if room < 1 + (len(nodes) > 0):
        return Group(top)
    if len(nodes) <= room:
        return Group(top, _nodes_table(doc, width, now))
    picked = {id(n) for n in _shown_first(nodes)[: room - 1]}
    shown = [n for n in nodes if id(n) in picked]
    hidden = [n for n in nodes if id(n) not in picked]
    done = sum(n["status"] in ENDED for n in hidden)
    more = Text(
        f"+{len(hidden)} more: {done} done, {len(hidden) - done} to go",
        style="dim",
        no_wrap=True,
        overflow="ellipsis",
    )
    more.truncate(width, overflow="ellipsis")
    return Group(top, _nodes_table({**doc, "nodes": shown}, width, now), more)


@contextlib.contextmanager
def _logs_through_live() -> Iterator[None]:
    """While the region shows, log handlers that write to the terminal write through the
    live display instead, so their lines print above it: a line written past it would
    shift the region and leave a copy of it in the scrollback."""
    import logging
    import sys

    proxies = {}
    for stream in (sys.stdout, sys.stderr):  # rich's FileProxy while the display is live
        original = getattr(stream, "rich_proxied_file", None)
        if original is not None:
            proxies[id(original)] = stream
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = [h for logger in loggers for h in getattr(logger, "handlers", [])]
    swapped = []
    for handler in dict.fromkeys(handlers):
        if not isinstance(handler, logging.StreamHandler):
            continue
        proxy = proxies.get(id(handler.stream))
        if proxy is None:
            continue
        console = getattr(handler, "console", None)  # Prefect's handler prints with rich
        if console is not None:
            handler.console = err  # the live display's console prints above the region
        swapped.append((handler, handler.setStream(proxy), console))
    try:
        yield
    finally:
        for handler, stream, console in swapped:
            handler.setStream(stream)
            if console is not None:
                handler.console = console
