"""Runs as this home's database holds them: the database ready for a command, the
`show --json` document with its invoice, and the per-node table with status colours."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from vidpipe.cli.output import err

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "skipped": "yellow",
    "running": "cyan",
    "rejected": "red",
    "awaiting_approval": "magenta",
}


def _engine():
    """This home's database, ready; runs whose process on this host died are ended first
    (`sweeper.reap_dead`), so no command shows a dead run as still going."""
    from vidpipe import db, sweeper

    engine = db.make_engine()
    db.init_db(engine)
    for gone in sweeper.reap_dead(engine):
        err.print(f"run {gone.run_id} ended as failed: {gone.reason}", highlight=False)
    return engine


def _invoice(engine, run_id: str) -> Any:
    from vidpipe import ledger

    return ledger.run_invoice(engine, run_id, title=f"Invoice for run {run_id}")


def show_document(engine, run_id: str) -> dict[str, Any]:
    """The `show --json` document (docs/cli.md)."""
    from vidpipe import db

    run = db.get_run(engine, run_id)
    rows = db.node_runs(engine, run_id)
    return {
        "run": {
            "id": run.id,
            "pipeline": run.pipeline_name,
            "status": run.status,
            "mode": run.mode,
            "estimated_usd": run.estimated_usd,
            "actual_usd": run.actual_usd,
            "output": run.output,
            "published": run.published_uri,
            "error": run.error,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        },
        "nodes": [
            {
                "id": r.node_id,
                "type": r.type,
                "status": r.status,
                "cache_hit": r.cache_hit,
                "attempts": r.attempts,
                "cost_usd": r.cost_usd,
                "output": r.output,
                "error": r.error,
            }
            for r in rows
        ],
        "variants": run.variants or [],
        "invoice": _invoice(engine, run_id).to_rows(),
        "approvals": [
            {
                "node": a.node_id,
                "round": a.round,
                "decision": a.decision,
                "reviewer": a.reviewer,
                "notes": a.notes,
                "revisions": a.revisions,
                "decided_at": a.decided_at,
            }
            for a in db.approvals(engine, run_id)
        ],
    }


def _location(run_doc: dict[str, Any]) -> str:
    """Where a person finds the run's result: the published copy (a plain path when it is
    a local file), else the stored object."""
    return _readable(run_doc.get("published") or run_doc["output"]["uri"])


def _readable(uri: str) -> str:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def output_lines(doc: dict[str, Any]) -> list[str]:
    """The lines naming a run's results: `output: PATH`, or one line per variant."""
    variants = [v for v in doc.get("variants") or [] if v.get("output")]
    if len(doc.get("variants") or []) > 1:
        return [
            f"variant {v['name']}: {_readable(v['published'] or v['output']['uri'])}"
            for v in variants
        ]
    return [f"output: {_location(doc['run'])}"] if doc["run"]["output"] else []


def _nodes_table(doc: dict[str, Any]) -> Table:
    table = Table(title=f"{doc['run']['pipeline']} run {doc['run']['id']}")
    for col in ("node", "type", "status", "cache", "attempts", "output / error"):
        table.add_column(col, overflow="fold")
    for node in doc["nodes"]:
        style = STATUS_STYLE.get(node["status"], "")
        detail = node["error"] or (node["output"] or {}).get("uri", "")
        table.add_row(
            node["id"],
            node["type"],
            f"[{style}]{node['status']}[/{style}]" if style else node["status"],
            "hit" if node["cache_hit"] else "",
            str(node["attempts"]),
            detail,
        )
    return table
