"""The live per-node progress of `vidpipe run` on stderr: a table on a terminal, one line
per finished node in a log or pipe."""

from __future__ import annotations

from vidpipe.cli.documents import _nodes_table, show_document
from vidpipe.cli.output import err


class _LiveProgress:
    """A per-node progress display on stderr, read from the database while a run goes."""

    def __init__(self, engine, run_id: str, enabled: bool):
        import threading

        self.engine, self.run_id, self.enabled = engine, run_id, enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.enabled:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        if not err.is_terminal:
            return self._lines()
        from rich.live import Live

        with Live(console=err, refresh_per_second=4, transient=True) as live:
            while not self._stop.wait(0.5):
                live.update(_nodes_table(show_document(self.engine, self.run_id)))

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
