"""`nightly-batch`: every pipeline file in the nightly folder, each as its own flow run,
so one failure does not stop the rest; a summary artifact at the end (completed, failed,
cost, cache savings).

The folder is the `folder` parameter, else VIDPIPE_NIGHTLY_DIR (default
`pipelines/nightly`, shipped with a small placeholder pipeline). A relative folder is the
working directory's if it exists there, else the repository's (`vidpipe.pipelines.resolve_folder`),
so served runs and worker runs find the shipped folder whatever their working directory.
A missing or empty folder is not an error: the batch ends with 0 pipelines, a warning and
a summary that says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.parameters import FROM_FILE, Folder, Mode, mode_or_none
from flows.pipeline import in_process, run_pipeline
from vidpipe import costs, db
from vidpipe.errors import SpecError
from vidpipe.pipelines import SUFFIXES, resolve_folder
from vidpipe.runs import for_run, open_run
from vidpipe.settings import get_settings
from vidpipe.spec import load_file

__all__ = ["nightly_batch", "nightly_files", "nightly_folder"]


def nightly_folder(folder: str | Path | None = None) -> Path:
    """The batch's folder: `folder`, else VIDPIPE_NIGHTLY_DIR; a relative one is looked
    up in the working directory, then in the repository."""
    return resolve_folder(folder or get_settings().nightly_dir)


def nightly_files(folder: Path) -> list[Path]:
    """The pipeline files of the batch: every .yaml/.yml/.json in the folder, by name."""
    if not folder.is_dir():
        raise SpecError(f"nightly folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)


def _why_empty(folder: Path) -> str | None:
    """Why the folder gives no pipelines, or None when it has some."""
    if not folder.exists():
        return "does not exist"
    if not folder.is_dir():
        return "is not a folder"
    if not nightly_files(folder):
        return f"has no pipeline files ({', '.join(SUFFIXES)})"
    return None


def _empty_summary(folder: Path, why: str) -> str:
    return "\n".join(
        [
            "# Nightly batch: 0 pipelines",
            "",
            f"0 pipelines: folder `{folder.absolute()}` {why}.",
            "",
            "Put pipeline files there, or set VIDPIPE_NIGHTLY_DIR (or the `folder` "
            "parameter) to the folder that holds them.",
        ]
    )


def _run_link(row: dict[str, Any]) -> str:
    """A run's id, linked to its flow run's page in the Prefect UI showing the summary (a
    link from the UI's root, so it works however the UI is reached)."""
    if not row["run_id"]:
        return ""
    if not row.get("flow_run_id"):
        return f"`{row['run_id']}`"
    return f"[{row['run_id']}](/runs/flow-run/{row['flow_run_id']})"


def _summary(folder: Path, rows: list[dict[str, Any]]) -> str:
    done = sum(r["status"] == "completed" for r in rows)
    lines = [
        f"# Nightly batch: {done} of {len(rows)} completed",
        "",
        f"Folder: `{folder.absolute()}`",
        "",
        "| pipeline | run | status | billed | saved by cache | error |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        error = (r["error"] or "").replace("|", "\\|").replace("\n", " ")[:160]
        lines.append(
            f"| {r['file']} | {_run_link(r)} | {r['status']} | "
            f"{costs.format_usd(r['billed'])} | {costs.format_usd(r['saved'])} | {error} |"
        )
    total = sum(r["billed"] for r in rows)
    saved = sum(r["saved"] for r in rows)
    lines += ["", f"Billed {costs.format_usd(total)}; cache saved {costs.format_usd(saved)}."]
    return "\n".join(lines)


@flow(name="nightly-batch", log_prints=False)
def nightly_batch(folder: Folder = None, mode: Mode = FROM_FILE) -> list[dict[str, Any]]:
    """Run every pipeline of the nightly folder; approval gates are approved automatically.

    Args:
        folder: The folder of pipeline files. Empty: VIDPIPE_NIGHTLY_DIR, default
            `pipelines/nightly` (a relative folder is the working directory's, else the
            repository's).
        mode: `from-file`: each file's own mode. `placeholder` or `live`: every pipeline's.
    """
    logger = get_run_logger()
    mode = mode_or_none(mode)
    folder_path = nightly_folder(folder)
    why = _why_empty(folder_path)
    if why is not None:
        logger.warning("nightly batch: 0 pipelines: folder %s %s", folder_path.absolute(), why)
        create_markdown_artifact(
            _empty_summary(folder_path, why),
            key="nightly-batch-summary",
            description="Nightly batch summary",
        )
        return []
    settings = get_settings()
    engine = db.make_engine(settings.resolved_database_url)
    db.init_db(engine)
    rows = [_run_one(engine, path, mode) for path in nightly_files(folder_path)]
    for row in rows:
        logger.info("%s: %s", row["file"], row["status"])
    create_markdown_artifact(
        _summary(folder_path, rows),
        key="nightly-batch-summary",
        description="Nightly batch summary",
    )
    return [{**r, "billed": float(r["billed"]), "saved": float(r["saved"])} for r in rows]


def _run_one(engine: Any, path: Path, mode: str | None) -> dict[str, Any]:
    """One pipeline of the batch as its own flow run; its failure is only its row."""
    loaded = load_file(path)
    if loaded.spec is None:
        problems = "; ".join(str(p) for p in loaded.problems)
        zero = costs.money(0)
        return {
            "file": path.name,
            "run_id": None,
            "flow_run_id": None,
            "status": "invalid",
            "error": problems,
            "billed": zero,
            "saved": zero,
        }
    run_id = open_run(engine, loaded.spec, mode=mode).id
    with in_process(), for_run(run_id):
        state = run_pipeline(
            pipeline=str(path.resolve()), mode=mode, approve="auto", return_state=True
        )
    run = db.get_run(engine, run_id)
    entries = db.cost_entries(engine, run_id=run_id)
    return {
        "file": path.name,
        "run_id": run_id,
        "flow_run_id": run.flow_run_id,
        "status": run.status,
        "error": run.error or (None if state.is_completed() else state.message),
        "billed": costs.billed_total(entries),
        "saved": costs.money(sum(e["amount_usd"] for e in entries if e["kind"] == "savings")),
    }
