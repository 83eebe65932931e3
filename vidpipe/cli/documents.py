"""Runs as this home's database holds them: the database ready for a command, the
`show --json` document with its invoice, the run's page in the Prefect UI, and what the
run, show and progress displays share: the counter line, durations, short output names
and tables fitted to the terminal's width (the per-node table with status colours)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from vidpipe.cli.output import err

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "skipped": "yellow",
    "running": "cyan",
    "rejected": "red",
    "awaiting_approval": "magenta",
    "cached": "green",
}

#: Node statuses counted as done.
ENDED = ("completed", "failed", "skipped")


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


def ui_page(api_url: str | None, flow_run_id: str | None) -> str | None:
    """The page of a flow run in the Prefect UI of the server whose API is `api_url`
    (`http://HOST:PORT/api` -> `http://HOST:PORT/runs/flow-run/ID`)."""
    if not api_url or not flow_run_id:
        return None
    return f"{api_url.rstrip('/').removesuffix('/api')}/runs/flow-run/{flow_run_id}"


def _seconds(start: Any, end: Any) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def run_fields(run: Any) -> dict[str, Any]:
    """The `run` part of the show document, from the run's row."""
    return {
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
        "seconds": _seconds(run.started_at, run.finished_at),
        "ui_url": ui_page(run.prefect_api_url, run.flow_run_id),
    }


def node_fields(row: Any) -> dict[str, Any]:
    """One entry of the show document's `nodes`, from a node run's row."""
    return {
        "id": row.node_id,
        "type": row.type,
        "status": row.status,
        "cache_hit": row.cache_hit,
        "attempts": row.attempts,
        "cost_usd": row.cost_usd,
        "output": row.output,
        "error": row.error,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "seconds": _seconds(row.started_at, row.finished_at),
    }


def progress_document(engine, run_id: str) -> dict[str, Any]:
    """The run and its nodes as in the show document, without the invoice and approvals
    (what the live progress reads twice a second)."""
    from vidpipe import db

    run = db.get_run(engine, run_id)
    return {
        "run": run_fields(run),
        "nodes": [node_fields(r) for r in db.node_runs(engine, run_id)],
        "variants": run.variants or [],
    }


def show_document(engine, run_id: str) -> dict[str, Any]:
    """The `show --json` document (docs/cli.md)."""
    from vidpipe import db

    return {
        **progress_document(engine, run_id),
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


def duration(seconds: float | None) -> str:
    """A duration for a table: `0.4s`, `12.3s`, `2m05s`, `1h02m`; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def clock(seconds: float | None) -> str:
    """Elapsed time as a clock: `00:31`, `12:05`, `1:02:03`."""
    minutes, secs = divmod(int(seconds or 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def usd(value: float | None) -> str:
    return "" if value is None else f"${value:,.2f}"


def _now() -> datetime:
    return datetime.now(UTC)


def node_seconds(node: dict[str, Any], now: datetime | None = None) -> float | None:
    """How long a node took, or has been running so far."""
    if node.get("seconds") is not None:
        return node["seconds"]
    if node["status"] == "running" and node.get("started_at"):
        return max(0.0, ((now or _now()) - node["started_at"]).total_seconds())
    return None


def run_seconds(run_doc: dict[str, Any], now: datetime | None = None) -> float | None:
    """How long the run took, or has been going so far."""
    start = run_doc.get("started_at") or run_doc.get("created_at")
    if start is None:
        return None
    return max(0.0, ((run_doc.get("finished_at") or now or _now()) - start).total_seconds())


def run_cost(doc: dict[str, Any]) -> float:
    """What the run has been billed so far: its total once it ended, else its nodes'."""
    if doc["run"]["finished_at"] and doc["run"]["actual_usd"] is not None:
        return doc["run"]["actual_usd"]
    return sum(n["cost_usd"] or 0.0 for n in doc["nodes"])


def counter(doc: dict[str, Any], now: datetime | None = None) -> str:
    """`5/9 done, 2 running, $0.42, 00:31`: nodes ended, what goes on, cost, time."""
    nodes = doc["nodes"]
    done = sum(n["status"] in ENDED for n in nodes)
    parts = [f"{done}/{len(nodes)} done"]
    running = sum(n["status"] == "running" and n["type"] != "approval" for n in nodes)
    if running:
        parts.append(f"{running} running")
    if doc["run"]["status"] == "awaiting_approval":
        parts.append("waiting for a reviewer")
    failed = sum(n["status"] == "failed" for n in nodes)
    if failed:
        parts.append(f"{failed} failed")
    started = doc["run"]["started_at"] or doc["run"]["finished_at"]
    parts += [usd(run_cost(doc)), clock(run_seconds(doc["run"], now)) if started else "starting"]
    return ", ".join(parts)


def heading(doc: dict[str, Any], width: int, now: datetime | None = None) -> Text:
    """The line over the per-node table: the pipeline, the run and its counter."""
    run, counted = doc["run"], counter(doc, now)
    text = Text(no_wrap=True, overflow="ellipsis")
    if len(run["pipeline"]) + len(counted) + 15 <= width:
        text.append(run["pipeline"], style="bold")
        text.append(f" run {run['id'][:8]}: ")
    text.append(counted)  # on a narrow terminal, the counter alone
    text.truncate(width, overflow="ellipsis")
    return text


def _short_published(uri: str) -> str:
    """`runs/PIPELINE/RUN/final.mp4`, the run id cut to 8 characters."""
    parts = _readable(uri).rstrip("/").split("/")
    if len(parts) >= 4 and parts[-4] == "runs":
        run_id = parts[-2] if len(parts[-2]) <= 9 else parts[-2][:8] + "…"
        return "/".join(["runs", parts[-3], run_id, parts[-1]])
    return parts[-1]


def output_names(doc: dict[str, Any]) -> dict[str, str]:
    """A short name for each node's output: the published path of the run's result (and
    of each variant's), else the node id with the file's extension (`voice.m4a`)."""
    from pathlib import PurePosixPath
    from urllib.parse import urlparse

    published = {}
    for item in [doc["run"], *(doc.get("variants") or [])]:
        if item.get("output") and item.get("published"):
            published[item["output"].get("sha256")] = item["published"]
    names = {}
    for node in doc["nodes"]:
        ref = node["output"]
        if not ref:
            continue
        if ref.get("sha256") in published:
            names[node["id"]] = _short_published(published[ref["sha256"]])
        else:
            names[node["id"]] = node["id"] + PurePosixPath(urlparse(ref["uri"]).path).suffix
    return names


class PathText(Text):
    """A table cell holding a path: cut at its start when too long, its end kept."""


def _cut(text: Text, width: int) -> Text:
    """`text` cut to `width` with `…`: at its end, or at its start for a path
    (`…/8dd54292…/final.mp4`)."""
    if len(text.plain) <= width:
        return text
    if isinstance(text, PathText):
        return Text("…" + text.plain[len(text.plain) - width + 1 :], style=text.style)
    return Text(text.plain[: max(width - 1, 0)] + "…", style=text.style)


_GAP = 2  # between two columns: a divider and the padding on its left


def fit_table(
    columns: dict[str, str],
    rows: list[dict[str, Text]],
    width: int,
    *,
    flexible: tuple[str, str],
    drop: tuple[str, ...] = (),
    right: tuple[str, ...] = (),
    sections: tuple[int, ...] = (),
) -> Table:
    """A table of `rows` (column key -> cell) no wider than `width`: the two `flexible`
    columns share what the others leave, their cells cut with `…` (never wrapped), and
    the `drop` columns are left out in turn while that is too little. `columns` maps
    each key to its heading; `sections` are the rows a rule is drawn above."""
    keys = list(columns)

    def natural(key: str) -> int:
        return max([len(columns[key]), *(len(r[key].plain) for r in rows)])

    def room() -> int:
        fixed = sum(natural(k) for k in keys if k not in flexible)
        return width - fixed - _GAP * (len(keys) - 1)

    first, second = flexible
    for key in drop:
        if room() >= min(natural(first), 16) + min(natural(second), 24):
            break
        keys.remove(key)
    left = max(room(), 10)
    widths = {first: natural(first), second: natural(second)}
    if sum(widths.values()) > left:
        widths[first] = min(widths[first], max(left - widths[second], left * 2 // 5))
        widths[second] = left - widths[first]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for key in keys:
        table.add_column(
            _cut(Text(columns[key]), widths.get(key, width)),
            justify="right" if key in right else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=widths.get(key),
        )
    for index, row in enumerate(rows):
        if index in sections:
            table.add_section()
        cells = [_cut(row[k], widths[k]) if k in widths else row[k] for k in keys]
        table.add_row(*cells)
    return table


def _nodes_table(doc: dict[str, Any], width: int, now: datetime | None = None) -> Table:
    """One row per node: id, type, status, time, cost and a short output name (or the
    error), fitted to `width` columns: long ids and names are cut with `…`, never
    wrapped, and low-value columns are left out when the terminal is narrow."""
    names = output_names(doc)
    rows = []
    for node in doc["nodes"]:
        cached = node["cache_hit"] and node["status"] == "completed"
        status = "cached" if cached else node["status"]
        style = STATUS_STYLE.get(status, "")
        error = (node["error"] or "").strip().splitlines()
        name = PathText(names.get(node["id"], ""))
        rows.append(
            {
                "node": Text(node["id"]),
                "type": Text(node["type"]),
                "status": Text(status, style=style),
                "tries": Text(str(node["attempts"])),
                "time": Text(duration(node_seconds(node, now))),
                "cost": Text(usd(node["cost_usd"])),
                "output": Text(error[0], style=style) if error else name,
            }
        )
    columns = {
        "node": "node",
        "type": "type",
        "status": "status",
        "tries": "tries",
        "time": "time",
        "cost": "cost",
        "output": "output / error",
    }
    if all(node["attempts"] <= 1 for node in doc["nodes"]):
        del columns["tries"]
    drop = tuple(k for k in ("tries", "type", "time", "cost") if k in columns)
    return fit_table(
        columns,
        rows,
        width,
        flexible=("node", "output"),
        drop=drop,
        right=("tries", "time", "cost"),
    )
