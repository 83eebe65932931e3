"""The nightly batch's folder: the shipped one, a missing or empty one (0 pipelines, a
warning and a summary that says why, not a crash), one whose path has spaces, and how a
relative folder is found (working directory first, then the repository)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vidpipe.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
TINY = "video: {width: 160, height: 90, fps: 10}"


@pytest.fixture
def warnings_logged(home: Path) -> Iterator[list[logging.LogRecord]]:
    """Warnings of flow-run loggers (Prefect's `prefect` loggers do not propagate, so
    pytest's caplog does not see them). Attached once Prefect has configured logging."""
    import flows.nightly  # noqa: F401  (imports and configures Prefect first)

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("prefect.flow_runs")
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _batch(folder: str | None) -> tuple[Any, list[dict[str, Any]], str]:
    """Run the nightly batch; its final state, its rows and its summary artifact.

    The artifact is deleted once read: the Prefect test server is the session's, and
    another test (test_operations) reads the first `nightly-batch-summary` it finds, of any run.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    from flows.nightly import nightly_batch

    state = nightly_batch(folder=folder, return_state=True)
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["nightly-batch-summary"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
        for artifact in found:
            client.delete_artifact(artifact.id)
    assert len(found) == 1, found
    return state, state.result(), found[0].data


def test_a_missing_folder_is_zero_pipelines_not_a_crash(home, tmp_path: Path, warnings_logged):
    missing = tmp_path / "no such folder"
    _, rows, summary = _batch(str(missing))
    assert rows == []
    assert f"0 pipelines: folder `{missing}` does not exist" in summary
    assert any(
        "0 pipelines" in r.getMessage() and str(missing) in r.getMessage() for r in warnings_logged
    ), [r.getMessage() for r in warnings_logged]


def test_a_missing_default_folder_says_which_folder(home, tmp_path: Path, monkeypatch):
    """VIDPIPE_NIGHTLY_DIR relative, in neither the working directory nor the repository."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIDPIPE_NIGHTLY_DIR", "nowhere/nightly")
    get_settings.cache_clear()
    _, rows, summary = _batch(None)
    assert rows == []
    assert f"0 pipelines: folder `{tmp_path / 'nowhere/nightly'}` does not exist" in summary


def test_an_empty_folder_is_zero_pipelines(home, tmp_path: Path, warnings_logged):
    folder = tmp_path / "nightly"
    folder.mkdir()
    (folder / "README.txt").write_text("not a pipeline\n")
    (folder / "subfolder.yaml").mkdir()  # a folder, whatever its name
    _, rows, summary = _batch(str(folder))
    assert rows == []
    assert f"0 pipelines: folder `{folder}` has no pipeline files" in summary
    assert any("has no pipeline files" in r.getMessage() for r in warnings_logged)


def test_a_folder_with_spaces_runs_the_valid_file_and_reports_the_invalid_one(home, tmp_path: Path):
    folder = tmp_path / "nightly batch" / "my pipelines"
    folder.mkdir(parents=True)
    (folder / "a good one.yaml").write_text(
        f"name: good\n{TINY}\nnodes:\n"
        "  - {id: card, type: generate-image, config: {provider: local, prompt: ok}}\n"
    )
    (folder / "b-invalid.yaml").write_text("name: Not A Slug\nnodes: []\n")
    _, rows, summary = _batch(str(folder))
    assert [(r["file"], r["status"]) for r in rows] == [
        ("a good one.yaml", "completed"),
        ("b-invalid.yaml", "invalid"),
    ]
    assert rows[0]["run_id"] and rows[0]["error"] is None
    assert rows[1]["run_id"] is None and rows[1]["error"]
    assert "1 of 2 completed" in summary
    # Each child run links to its page in the Prefect UI showing the summary.
    child = rows[0]
    assert child["flow_run_id"], child
    assert f"| [{child['run_id']}](/runs/flow-run/{child['flow_run_id']}) |" in summary
    assert f"Folder: `{folder}`" in summary


# -- where the folder is (no flow run) ---------------------------------------------------


def test_the_default_folder_is_the_repositorys_when_the_working_directory_has_none(
    vidpipe_home, tmp_path: Path, monkeypatch
):
    from flows.nightly import nightly_folder

    monkeypatch.delenv("VIDPIPE_NIGHTLY_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    assert nightly_folder() == REPO / "pipelines" / "nightly"
    # A folder of that name in the working directory wins.
    (tmp_path / "pipelines" / "nightly").mkdir(parents=True)
    assert nightly_folder() == Path("pipelines/nightly")
    # VIDPIPE_NIGHTLY_DIR still chooses; absolute paths are taken as they are.
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("VIDPIPE_NIGHTLY_DIR", str(other))
    get_settings.cache_clear()
    assert nightly_folder() == other
    assert nightly_folder(str(tmp_path / "param")) == tmp_path / "param"


def test_the_shipped_nightly_folder_holds_small_valid_pipelines_without_gates():
    from flows.nightly import nightly_files
    from vidpipe.spec import load_file

    files = nightly_files(REPO / "pipelines" / "nightly")
    assert "daily-recap.yaml" in [f.name for f in files]
    for path in files:
        loaded = load_file(path)
        assert loaded.spec is not None, loaded.problems
        assert loaded.spec.mode == "placeholder"
        assert all(node.type != "approval" for node in loaded.spec.nodes)
