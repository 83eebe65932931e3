"""Engine fixtures: the session's Prefect harness, a fresh vidpipe home per test with its
own Prefect result folder (the cache index), and a helper that runs a pipeline text."""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vidpipe import db


@pytest.fixture
def home(prefect_harness, vidpipe_home: Path) -> Path:
    """A fresh vidpipe home whose Prefect results (the cache) live inside it."""
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: vidpipe_home / "results"}):
        yield vidpipe_home


@pytest.fixture
def write_pipeline(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a pipeline file (dedented YAML) into the test's folder."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def run_file(home: Path) -> Callable[..., dict[str, Any]]:
    """Run a pipeline file through the flow; returns the run's `show --json` document."""
    from flows.pipeline import in_process, run_pipeline
    from vidpipe.cli import show_document
    from vidpipe.errors import VidpipeError
    from vidpipe.runs import open_run
    from vidpipe.settings import get_settings
    from vidpipe.spec import load_spec

    def run(path: Path, **params: Any) -> dict[str, Any]:
        params.setdefault("approve", "auto")
        engine = db.make_engine(get_settings().resolved_database_url)
        db.init_db(engine)
        run_id = open_run(engine, load_spec(path), refresh=params.get("refresh") or ()).id
        with contextlib.suppress(VidpipeError), in_process():  # a failure is inspected
            run_pipeline(pipeline=str(path), run_id=run_id, **params)
        return show_document(engine, run_id)

    return run
