"""Result records: Prefect's `LocalFileSystem` vs vidpipe's `RecordsFolder`, side by side in
one run.

    .venv/bin/python bench/records_folder.py [--records 400] [--repeat 3]

Not part of the test suite. What a node task does with its result record, done through a
Prefect `ResultStore` on each storage in turn, in a results folder reached through a
symbolic link five folders deep (as `VIDPIPE_HOME/results` may be): make the record
under a cache key, check it exists, persist it, read it back (a fresh store per round, so
the reads hit the folder, not the store's memory). Prints, for each side, µs per record
(the best of `--repeat` interleaved rounds) and `realpath` walks per record, then the
ratio of the two times (lower is better for `RecordsFolder`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect.filesystems import LocalFileSystem  # noqa: E402
from prefect.results import ResultStore  # noqa: E402

from tasks.caching import RecordsFolder  # noqa: E402
from vidpipe.refs import MediaRef  # noqa: E402

REF = MediaRef(uri="file:///media/ab/cd/x.txt", kind="text", sha256="ab" * 32, bytes=3)


def results_folder() -> Path:
    """A results folder behind a symbolic link, five folders under a temporary one."""
    root = Path(tempfile.mkdtemp(prefix="vidpipe-bench-records-"))
    real = root / "disk" / "team" / "vidpipe home" / "results"
    real.mkdir(parents=True)
    (root / "link").symlink_to(root / "disk", target_is_directory=True)
    return root / "link" / "team" / "vidpipe home" / "results"


def one_round(
    storage_type: type[LocalFileSystem], folder: Path, records: int, tag: str
) -> tuple[float, int]:
    """Seconds for `records` records on a fresh store, and the `realpath` walks made."""
    store = ResultStore(
        result_storage=storage_type(basepath=str(folder)), cache_result_in_memory=False
    )
    walks = 0
    original = os.path.realpath

    def counting(name, *args, **kwargs):
        nonlocal walks
        walks += 1
        return original(name, *args, **kwargs)

    os.path.realpath = counting
    try:
        started = time.perf_counter()
        for i in range(records):
            key = f"vidpipe-{tag}-{i}"
            record = store.create_result_record(REF, key=key)
            store.exists(key)
            store.persist_result_record(record)
            store.read(key)
        took = time.perf_counter() - started
    finally:
        os.path.realpath = original
    return took, walks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = results_folder()
    sides = {"prefect LocalFileSystem": LocalFileSystem, "vidpipe RecordsFolder": RecordsFolder}
    best = {name: float("inf") for name in sides}
    walks = dict.fromkeys(sides, 0)
    one_round(RecordsFolder, folder, 20, "warm")
    for r in range(args.repeat):
        for name, storage_type in sides.items():
            took, walked = one_round(storage_type, folder, args.records, f"{r}-{name[-6:]}")
            best[name] = min(best[name], took)
            walks[name] = walked
    for name in sides:
        print(
            f"{name:24} {1e6 * best[name] / args.records:8.1f} µs/record   "
            f"{walks[name] / args.records:5.1f} realpath walks/record"
        )
    ratio = best["vidpipe RecordsFolder"] / best["prefect LocalFileSystem"]
    print(
        f"ratio RecordsFolder / LocalFileSystem: {ratio:.2f}x "
        f"({args.records} records, best of {args.repeat})"
    )


if __name__ == "__main__":
    main()
