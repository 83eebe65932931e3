"""Memory of a large provider download: goal < 50 MB peak RSS increase for 500 MB.

A local server in a *separate process* (so its memory is not counted) generates the body
on the fly, 1 MiB at a time, never writing it to disk; this process downloads it with
`vidpipe.providers.http.download` to a temporary file, then compares its peak RSS
(`ru_maxrss`) with its resident size just before the download. The file is deleted.

    .venv/bin/python bench/download_memory.py [--mb 500]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from vidpipe.providers.http import download

GOAL_MB = 50
BLOCK = bytes(range(256)) * 4096  # 1 MiB


def _serve(size: int, port_out) -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("content-length", str(size))
            self.end_headers()
            left = size
            while left > 0:
                piece = BLOCK[: min(left, len(BLOCK))]
                self.wfile.write(piece)
                left -= len(piece)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.send(server.server_address[1])
    server.serve_forever()


def _rss_mb() -> float:
    """Resident size now (Linux /proc; falls back to the peak elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return _peak_mb()


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500)
    args = parser.parse_args()
    size = args.mb * 2**20

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_serve, args=(size, send), daemon=True)
    server.start()
    port = receive.recv()
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(60.0)) as client,
            tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp,
        ):
            out = Path(tmp) / "result.mp4"
            before_rss, before_peak = _rss_mb(), _peak_mb()
            start = time.perf_counter()
            written = download(client, f"http://127.0.0.1:{port}/result.mp4", out)
            seconds = time.perf_counter() - start
            after_peak = _peak_mb()
            assert written == size == out.stat().st_size
    finally:
        server.terminate()
        server.join()
    increase = after_peak - max(before_rss, 0.0)
    print(
        f"download {args.mb} MB: peak RSS +{increase:.1f} MB (goal < {GOAL_MB} MB); "
        f"{args.mb / seconds:.0f} MB/s; RSS before {before_rss:.1f} MB, "
        f"peak before {before_peak:.1f} MB, peak after {after_peak:.1f} MB"
    )
    return 0 if increase < GOAL_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
