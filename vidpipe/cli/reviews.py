"""The reviewer's commands for a run paused at an approval gate: `approve`, `reject` and
`revise`, which resume its Prefect flow run with the decision."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vidpipe.cli.application import app
from vidpipe.cli.documents import _engine
from vidpipe.cli.output import RunArg, _fail, out
from vidpipe.cli.prefect_setup import prepare_prefect
from vidpipe.errors import SpecError, VidpipeError

NotesOpt = Annotated[str, typer.Option(help="Why; kept in the run's history.")]
ReviewerOpt = Annotated[str, typer.Option(help="Your name or e-mail.")]
GateOpt = Annotated[
    str | None, typer.Option("--node", help="The approval gate, when several wait.")
]


def _parse_sets(sets: list[str]) -> dict[str, dict[str, Any]]:
    """`NODE.FIELD=VALUE` items -> revisions; VALUE is read as YAML (numbers, true, text)."""
    import yaml

    revisions: dict[str, dict[str, Any]] = {}
    for item in sets:
        target, sep, raw = item.partition("=")
        node_id, dot, field = target.partition(".")
        if not sep or not dot or not node_id or not field:
            raise SpecError(f"--set {item!r}: expected NODE.FIELD=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        revisions.setdefault(node_id, {})[field] = value
    return revisions


def _waiting_gate(engine, run, node: str | None) -> str:
    from vidpipe import db

    if run.status != "awaiting_approval":
        raise SpecError(f"run {run.id} is not waiting for approval (it is {run.status})")
    waiting = [
        r.node_id
        for r in db.node_runs(engine, run.id)
        if r.type == "approval" and r.status == "running"
    ]
    if node is not None:
        if node not in waiting:
            raise SpecError(f"gate '{node}' is not waiting (waiting: {', '.join(waiting)})")
        return node
    if len(waiting) != 1:
        raise SpecError(f"several gates wait; choose one with --node: {', '.join(waiting)}")
    return waiting[0]


def _resume(run, run_input: dict[str, Any]) -> None:
    """Resume the paused flow run through the Prefect API it runs on (retrying briefly
    while the flow is still between recording the wait and pausing)."""
    import time
    from uuid import UUID

    from prefect.exceptions import FlowPauseTimeout, NotPausedError
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if not run.flow_run_id:
        raise SpecError(f"run {run.id} has no Prefect flow run to resume")
    updates = {PREFECT_API_URL: run.prefect_api_url} if run.prefect_api_url else {}
    deadline = time.monotonic() + 30
    with temporary_settings(updates=updates):
        while True:
            try:
                resume_flow_run(UUID(run.flow_run_id), run_input=run_input)
                return
            except NotPausedError:
                if time.monotonic() > deadline:
                    raise SpecError(f"run {run.id}'s flow run is not paused") from None
                time.sleep(0.5)
            except FlowPauseTimeout:
                raise SpecError(f"run {run.id}: the approval already timed out") from None
            except Exception as exc:  # noqa: BLE001 - connection errors of any kind
                where = run.prefect_api_url or "PREFECT_API_URL"
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if status in (401, 403):
                    raise VidpipeError(
                        f"the Prefect API of run {run.id} ({where}) refused these "
                        "credentials: set PREFECT_API_AUTH_STRING as the server's "
                        "PREFECT_SERVER_API_AUTH_STRING"
                    ) from None
                raise VidpipeError(
                    f"cannot reach the Prefect API of run {run.id} ({where}): {type(exc).__name__}"
                ) from None


def _decide(
    run_id: str,
    decision: str,
    notes: str,
    reviewer: str,
    node: str | None,
    revisions: dict[str, dict[str, Any]] | None = None,
) -> None:
    from vidpipe import db

    try:
        engine = _engine()
        run_row = db.find_run(engine, run_id)
        gate = _waiting_gate(engine, run_row, node)
        if decision == "revise":
            from tasks.approval import apply_revisions
            from vidpipe.spec import load_data

            with db.session_scope(engine) as session:
                spec_data = session.get(db.Pipeline, run_row.pipeline_id).spec
            spec = load_data(spec_data).spec
            apply_revisions(spec, gate, revisions or {})  # refuse a bad one here, clearly
        prepare_prefect(need_server=False)  # the run's own server, recorded with it
        _resume(
            run_row,
            {
                "decision": decision,
                "notes": notes,
                "reviewer": reviewer,
                "revisions": revisions or {},
            },
        )
    except VidpipeError as exc:
        raise _fail(exc) from None
    out.print(f"{decision}: gate {gate} of run {run_row.id}", highlight=False)


@app.command()
def approve(
    run_id: RunArg, notes: NotesOpt = "", reviewer: ReviewerOpt = "", node: GateOpt = None
) -> None:
    """Approve the approval gate a paused run waits at; the run goes on."""
    _decide(run_id, "approve", notes, reviewer, node)


@app.command()
def reject(
    run_id: RunArg, notes: NotesOpt = "", reviewer: ReviewerOpt = "", node: GateOpt = None
) -> None:
    """Reject it: the run ends `rejected`; what was made is kept and cached."""
    _decide(run_id, "reject", notes, reviewer, node)


@app.command()
def revise(
    run_id: RunArg,
    set_: Annotated[
        list[str], typer.Option("--set", help="NODE.FIELD=VALUE to change (repeatable).")
    ],
    notes: NotesOpt = "",
    reviewer: ReviewerOpt = "",
    node: GateOpt = None,
) -> None:
    """Ask for changes: the named nodes run again with new settings, then review again."""
    try:
        revisions = _parse_sets(set_)
    except VidpipeError as exc:
        raise _fail(exc) from None
    _decide(run_id, "revise", notes, reviewer, node, revisions)
