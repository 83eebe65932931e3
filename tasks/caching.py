"""The cache policy of node tasks.

What a node's cache key is made of, and whether the work it names is cached, are decided
in `vidpipe.cache_keys` (no Prefect there: `vidpipe plan` predicts hits with the very same
`cached_output`); its names are importable from here too. This module holds what Prefect
adds: Prefect answers a node task from its result record under the key, which is written
from the database when this home's records lack it, so workers with separate homes and
result folders share one cache. A key whose record points at deleted media, with no live
output in the database, is a miss: it moves on to a successor key derived from the
missing digest, so the node runs again.

The records live in the flow run's result folder (`records_folder`), read through a
`RecordsFolder`: Prefect's `LocalFileSystem` resolves the folder's real path, symbolic
link by link, at every record it checks, reads or writes (ten `realpath` walks per node
task, each an `lstat` per path component); a record's name is a plain file name, so the
folder is resolved once per process.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import FlowRunContext, TaskRunContext
from prefect.filesystems import LocalFileSystem

from tasks.run_info import store_for
from vidpipe import db
from vidpipe.cache_keys import _digest, base_key, cached_output, key_material, predict_cached
from vidpipe.refs import MediaRef

__all__ = [
    "NodeCachePolicy",
    "key_material",
    "base_key",
    "cached_output",
    "CACHE_POLICY",
    "predict_cached",
    "RecordsFolder",
    "records_folder",
]

#: How many deleted results in a row the key follows before it gives up and runs anew.
_MAX_SUCCESSORS = 32


@dataclass
class NodeCachePolicy(CachePolicy):
    """Keys node tasks by what their output depends on; the database decides hits."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        run = inputs["run"]
        key = base_key(inputs["node"], inputs["inputs"], run)
        ref = cached_output(db.make_engine(run.database_url), store_for(run), key)
        return _record_key(task_ctx.result_store, key, ref)


def _record_key(records: Any, key: str, ref: MediaRef | None) -> str:
    """The result-record key Prefect looks up for this work.

    Cached (`ref`): `key`, holding `ref`, written there first when this home's records do
    not hold it yet (another worker did the work, or a deleted result was made again).
    Not cached: the first key of the chain that holds no record, so the task runs; its
    result is recorded there, and found again through the database next time.
    """
    for _ in range(_MAX_SUCCESSORS):
        held = _read(records, key)
        if ref is not None:
            if held != ref:
                records.write(obj=ref, key=key)
            return key
        if held is _NOTHING:
            return key
        missing = held.sha256 if isinstance(held, MediaRef) else "unreadable"
        key = "vidpipe-" + _digest({"replaces": key, "missing": missing})
    return key


_NOTHING = object()


def _surely_absent(records: Any, key: str) -> bool:
    """Whether a local result folder has no file for `key`: one `stat`, where Prefect's
    own check resolves the folder's path and reads the record (the usual answer for work
    never done before). Any other storage says so through Prefect."""
    if not _local(records):
        return False
    folder = os.path.expanduser(str(records.result_storage.basepath))
    return not os.path.lexists(os.path.join(folder, key))


def _local(records: Any) -> bool:
    """Whether records are files in a local folder, each read in full by `read` (so a
    record found by `_surely_absent` is read once, not checked and then read)."""
    storage = records.result_storage
    return (
        records.metadata_storage is None
        and type(storage) in (LocalFileSystem, RecordsFolder)
        and bool(storage.basepath)
    )


def _read(records: Any, key: str) -> Any:
    """The result recorded under `key`, `_NOTHING` if none, None if unreadable."""
    local = _local(records)
    if _surely_absent(records, key) or (not local and not records.exists(key)):
        return _NOTHING
    try:
        return records.read(key).result
    except Exception:  # noqa: BLE001 - a damaged record is one to replace
        return _NOTHING if local else None  # as Prefect's `exists` would have said


CACHE_POLICY = NodeCachePolicy()


class RecordsFolder(LocalFileSystem):
    """Prefect's local result folder, its real path resolved once per process (module
    docstring). A record is named by its file name, or by the path Prefect made of it
    (the resolved folder and that name); the folder itself is asked for as "" or None
    (Prefect does so to name each record it persists relative to it). Any other path, or
    a folder given relative to the working directory, is resolved as `LocalFileSystem`
    does."""

    _block_type_name = "vidpipe records folder"

    def _resolve_path(self, path: str) -> Path:
        folder = _real_folder(self.basepath)
        if folder is not None and path in ("", None):
            return folder
        if folder is not None and _plain_name(path):
            return folder / path
        if folder is not None and isinstance(path, str):
            made = Path(path)
            if made.parent == folder and _plain_name(made.name):
                return made
        return super()._resolve_path(path)


@functools.lru_cache(maxsize=64)
def _real_folder(basepath: str | None) -> Path | None:
    folder = Path(basepath or "").expanduser()
    return folder.resolve() if basepath and folder.is_absolute() else None


def _plain_name(path: Any) -> bool:
    return (
        isinstance(path, str)
        and path not in ("", ".", "..")
        and "/" not in path
        and os.sep not in path
        and not path.startswith("~")
    )


@contextlib.contextmanager
def records_folder() -> Iterator[None]:
    """Inside a flow run whose results go to Prefect's default local folder
    (PREFECT_RESULTS_LOCAL_STORAGE_PATH), the node tasks read and write their records
    there through a `RecordsFolder`. Any other result storage, such as a block an
    operator saved and configured, is left as it is (records name their saved block)."""
    context = FlowRunContext.get()
    store = context.result_store if context is not None else None
    storage = store.result_storage if store is not None else None
    if (
        type(storage) is not LocalFileSystem
        or not storage.basepath
        or storage._block_document_id is not None
    ):
        yield
        return
    folder = RecordsFolder(basepath=storage.basepath)
    with context.model_copy(
        update={"result_store": store.model_copy(update={"result_storage": folder})}
    ):
        yield
