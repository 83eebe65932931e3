"""`run_pipeline`: one generic flow that interprets a pipeline's plan.

No code is generated per pipeline: the flow loads and validates the file, builds its
plan, and submits one task run per node (the node type's task from `tasks/`), each with
its upstream futures as inputs, so independent branches run at the same time on the
thread-pool task runner. FFmpeg work is bounded separately (`vidpipe.media` holds a
semaphore sized to the cores), so many threads may wait on providers while the CPU is not
oversubscribed.

A failed node fails only what depends on it: Prefect leaves its dependents `NotReady`,
which the flow records as `skipped`; independent branches run to the end, and the run ends
`failed` with a summary naming each failed node and its error.

Approval gates (`approval` nodes) are decided in the flow itself, since only a flow run
can pause: work that does not depend on a gate is submitted first and keeps running while
the gate waits; what follows a gate is submitted once it is approved.

Every way a run can end leaves it ended, with its reason and nothing inside it still
`running`: the normal end (`_finish`), any exception or interrupt in the flow (refused
credentials, a budget, a failed pause, a bug: `db.end_run` in `run_pipeline`),
cancellation in Prefect (a watcher thread, and the `on_cancellation` hook where a runner
or worker kills the flow run), a crash (`on_crashed`); and a process killed outright is
found by the next command on its host (`vidpipe.sweeper.reap_dead`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import threading
from collections.abc import Iterator
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.context import SettingsContext, SyncClientContext, get_settings_context
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from blocks import apply_saved_blocks
from flows import report
from flows.endings import (
    CANCEL_POLL_S,
    CancelWatch,
    ending,
    interrupt_on_cancel,
    mark_cancelled,
    on_cancellation,
    on_crashed,
)
from flows.parameters import (
    FROM_FILE,
    Approve,
    Budget,
    Mode,
    NodeIds,
    PipelineName,
    mode_or_none,
)
from flows.publishing import publish
from flows.tracking import Tracker, collect, record
from tasks import TASKS
from tasks.approval import decide_gate
from tasks.caching import records_folder
from tasks.live import check_credentials, ensure_concurrency_limits
from tasks.runtime import RunInfo, effective_provider
from vidpipe import costs, db, ledger, liveness, media
from vidpipe.errors import SpecError, VidpipeError
from vidpipe.estimating import estimate_run
from vidpipe.pipelines import resolve_pipeline
from vidpipe.plan import Plan, build_plan
from vidpipe.preflight import run_problems
from vidpipe.refs import MediaRef
from vidpipe.runs import open_run, opened_beforehand
from vidpipe.settings import get_settings
from vidpipe.spec import PipelineSpec, load_spec
from vidpipe.variants import variant_problems

__all__ = [
    "run_pipeline",
    "estimate_run",
    "PipelineFailed",
    "PipelineRejected",
    "IO_WORKERS",
    "CANCEL_POLL_S",
    "interrupt_on_cancel",
    "in_process",
    "mark_cancelled",
]

#: Threads for node tasks: most of a node's time is spent waiting on a provider, so this
#: is well above the core count; CPU-bound FFmpeg work is bounded inside `vidpipe.media`.
IO_WORKERS = 32


class PipelineFailed(VidpipeError):
    """The run ended `failed`; the message names each failed node and its error."""

    exit_code = 1


class PipelineRejected(VidpipeError):
    """A reviewer rejected an approval gate."""

    exit_code = 3


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    try:
        name = _spec_of(resolve_pipeline(params["pipeline"], get_settings().pipelines_dir)).name
    except (VidpipeError, KeyError, OSError):
        name = "pipeline"
    return f"{name}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"


#: The spec `_spec_of` read last, under what it was read from (source and file stamp).
_last_spec: tuple[tuple[Any, ...], PipelineSpec] | None = None


def _spec_of(source: str) -> PipelineSpec:
    """The spec of a pipeline source (a path or content), read once for both the run's name
    and the run: a file unchanged since (same size, modification time and inode) is not
    read again. Specs are frozen, so sharing one is safe."""
    try:
        stat = os.stat(source)
        stamp: Any = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    except (OSError, ValueError):  # content, or no such file (`load_spec` says which)
        stamp = None
    global _last_spec
    key = (source, stamp)
    held = _last_spec  # one read: another thread may replace it
    if held is not None and held[0] == key:
        return held[1]
    spec = load_spec(source)
    _last_spec = (key, spec)
    return spec


def _api_url() -> str | None:
    """The Prefect API this flow run talks to (an ephemeral one included), so that
    `vidpipe approve` in another terminal can resume it."""
    with get_client(sync_client=True) as client:
        return str(client.api_url)


def _check_refresh(spec: PipelineSpec, refresh: list[str]) -> None:
    unknown = [n for n in refresh if n not in spec.by_id]
    if unknown:
        raise SpecError(f"--refresh names unknown nodes: {', '.join(unknown)}")


def _check_live(plan: Plan, mode: str) -> None:
    """Refuse a run that a node would refuse (`vidpipe.preflight`) or whose live providers
    cannot be called, before anything is paid for; make sure each live provider's
    concurrency limit exists."""
    problems = run_problems(plan.spec, mode, get_settings().allow_networks)
    problems += variant_problems(plan.spec, mode, plan.nodes)
    if problems:
        raise SpecError(f"a {mode} run would be refused: " + "; ".join(map(str, problems)))
    providers = {effective_provider(plan.node(n), mode) for n in plan.order}
    live = {p for p in providers if p not in (None, "placeholder")}
    check_credentials(live)
    if live:
        ensure_concurrency_limits(live)


@contextlib.contextmanager
def in_process() -> Iterator[None]:
    """Around a flow run started in this process (`vidpipe run`, the nightly batch's
    pipelines, tests): no flow-run heartbeats, unless the environment asks for them.

    Prefect's sync flow engine joins its heartbeat thread at the end of every flow run,
    and that thread sleeps in 1 s steps: about 1 s added to every run, whatever it did (a
    fully cached run takes 0.15 s without it). Heartbeats serve Prefect automations that
    detect lost flow runs; a run in a CLI process ends through vidpipe's own endings
    (signals, `vidpipe.sweeper.reap_dead`). Runs started by `vidpipe serve` or a worker
    keep Prefect's heartbeats. Setting PREFECT_FLOWS_HEARTBEAT_FREQUENCY keeps them here.
    """
    asked = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"}
    with _shared_client():
        if asked & os.environ.keys():
            yield
            return
        context = get_settings_context()
        with SettingsContext(profile=context.profile, settings=_quiet(context.settings)):
            yield


#: (Prefect's API settings, the client context the flow runs using them share).
_clients: list[tuple[Any, SyncClientContext]] = []
_clients_lock = threading.Lock()


@contextlib.contextmanager
def _shared_client() -> Iterator[None]:
    """The flow runs of a process share one Prefect client per API (its URL, key, TLS
    settings): a new client costs about 25 ms (its TLS context loads every CA certificate,
    even for plain HTTP) and a request for a CSRF token. Prefect's engine takes the client
    from the context. Without an API URL (an ephemeral server) each run has its own."""
    api = get_current_settings().api
    if not api.url or SyncClientContext.get() is not None:
        yield
        return
    with _clients_lock:
        shared = next((ctx for held, ctx in _clients if held == api), None)
        if shared is None or shared.client._closed:  # closed: by its own count, made anew
            _clients[:] = [(held, ctx) for held, ctx in _clients if ctx is not shared]
            shared = SyncClientContext()
            shared.client.__enter__()  # open for the life of the process
            shared._context_stack = 1  # so a flow run entering it never closes it
            _clients.append((api, shared))
    token = SyncClientContext.__var__.set(shared)
    try:
        yield
    finally:
        SyncClientContext.__var__.reset(token)


def _quiet(settings: Any) -> Any:
    """`settings` without flow-run heartbeats: a copy with that one field changed, not
    Prefect's `copy_with_update`, which reads the environment and profiles again (~25 ms)."""
    flows = settings.flows.model_copy(update={"heartbeat_frequency": None})
    return settings.model_copy(update={"flows": flows})


_frozen = threading.Event()


def _freeze_startup_objects() -> None:
    """At a process's first flow run, move every object made so far (imported modules,
    classes, settings: some 350,000) out of the garbage collector's sight (`gc.freeze`).
    They live as long as the process; left in view, each full collection walked them all
    (about 0.28 s, once or twice per 200 nodes). Objects made later are collected as
    usual."""
    if not _frozen.is_set():
        _frozen.set()
        gc.freeze()


def _check_budgets(estimate: costs.PlanEstimate, run: RunInfo, engine: Any) -> None:
    """Refuse the run before anything is paid: over its budget, or over the day's limit."""
    costs.check_run_budget(estimate, run.budget_usd).raise_for_refusal()
    if estimate.marginal_usd > 0:
        ledger.check_daily(engine, estimate.marginal_usd)


@flow(
    name="run-pipeline",
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=IO_WORKERS),
    log_prints=False,
    validate_parameters=True,
    on_cancellation=[on_cancellation],
    on_crashed=[on_crashed],
)
def run_pipeline(
    pipeline: PipelineName,
    mode: Mode = FROM_FILE,
    budget_usd: Budget = None,
    refresh: NodeIds = (),
    approve: Approve = "wait",
) -> dict[str, Any]:
    """Run a vidpipe pipeline file end to end.

    Args:
        pipeline: A pipeline of the pipelines folder (VIDPIPE_PIPELINES_DIR, default
            examples/). From code or the API, also a file's path or content (YAML or JSON).
        mode: `from-file`: the mode the file sets. `placeholder`: offline, free. `live`:
            the real providers, paid.
        budget_usd: A cap for this run's spending, in USD. Empty: the file's budget.
        refresh: Node ids to make again even if cached (their dependents run again too).
        approve: `wait`: approval gates wait for a reviewer. `auto`: every gate is
            approved at once (demos, tests).
    """
    _freeze_startup_objects()
    logger = get_run_logger()
    from_blocks = apply_saved_blocks()
    if from_blocks:
        logger.info("settings from saved blocks: %s", ", ".join(from_blocks))
    settings = get_settings()
    engine = db.make_engine(settings.resolved_database_url)
    db.init_db(engine)
    beforehand = opened_beforehand()  # the CLI's, the nightly batch's
    opened = [beforehand] if beforehand else []
    chosen = (mode_or_none(mode), budget_usd, list(refresh or []), approve)
    try:
        return _open_and_run(engine, settings, pipeline, *chosen, opened)
    except BaseException as exc:
        status, reason = ending(exc)
        if status == "cancelled":
            media.stop_all()  # its node threads would otherwise wait for FFmpeg to end
        for one in opened:  # ended here unless it already ended (`_finish`, a cancel)
            db.end_run(engine, one, status, reason)
        raise


def _open_and_run(
    engine: Any,
    settings: Any,
    pipeline: str,
    mode: str | None,
    budget_usd: float | None,
    refresh: list[str],
    approve: str | None,
    opened: list[str],
) -> dict[str, Any]:
    logger = get_run_logger()
    spec = _spec_of(resolve_pipeline(pipeline, settings.pipelines_dir))
    if not opened:
        opened.append(open_run(engine, spec, mode=mode, budget_usd=budget_usd, refresh=refresh).id)
    run_id = opened[0]
    _check_refresh(spec, refresh)
    mode = mode or spec.mode
    db.set_run_status(
        engine,
        run_id,
        "running",
        flow_run_id=str(flow_run.id) if flow_run.id else None,
        prefect_api_url=_api_url(),
        runner=liveness.this_process(),
    )
    plan = build_plan(spec)
    _check_live(plan, mode)
    run = RunInfo.for_spec(
        spec,
        settings,
        run_id=run_id,
        mode=mode,
        budget_usd=budget_usd if budget_usd is not None else db.get_run(engine, run_id).budget_usd,
    )
    logger.info("run %s of %s (%d nodes, mode %s)", run_id, spec.name, len(plan.order), mode)
    # Where Prefect keeps the node tasks' result records was settled when the flow run
    # started (PREFECT_RESULTS_LOCAL_STORAGE_PATH, which vidpipe's commands, `serve`
    # included, default to VIDPIPE_HOME/results); they are rebuilt from the database, and
    # read and written with that folder's real path resolved once (`records_folder`).
    with (
        CancelWatch(engine, run_id, flow_run.id) if flow_run.id else contextlib.nullcontext(),
        records_folder(),
    ):
        return _run(plan, run, engine, refresh, approve)


def _run(
    plan: Plan, run: RunInfo, engine: Any, refresh: list[str], approve: str | None
) -> dict[str, Any]:
    tracker = Tracker(plan=plan, run=run, engine=engine)
    tracker.estimate = estimate_run(plan, run, engine, refresh)
    db.set_run_status(
        engine, run.run_id, "running", estimated_usd=float(tracker.estimate.marginal_usd)
    )
    _check_budgets(tracker.estimate, run, engine)
    report.start_progress(tracker)
    rejected = _execute(plan, run, tracker, refresh, approve)
    return _finish(tracker.plan, run, tracker, engine, rejected)


def _execute(
    plan: Plan,
    run: RunInfo,
    tracker: Tracker,
    refresh: list[str],
    approve: str | None,
) -> str | None:
    """Submit every node, deciding gates as their items finish. Returns a rejecting gate.

    Nodes that wait for no undecided gate are submitted at once (independent work keeps
    running while a gate waits); the rest once their gates are approved. A revision at a
    gate swaps in the revised plan (`tracker.plan`) and re-runs what it invalidates.
    """
    forced = plan.invalidated_by(refresh)
    futures: dict[str, PrefectFuture[MediaRef]] = {}
    approved: set[str] = set()

    def submit(current: Plan, node_id: str) -> None:
        future = _submit(current, run, node_id, futures, node_id in forced, tracker.tasks)
        futures[node_id] = future
        with tracker.lock:
            tracker.node_of[future.task_run_id] = node_id
        future.add_done_callback(lambda f: record(f, tracker))

    def submit_ready() -> None:
        current = tracker.plan
        waiting = set().union(*(current.gated_by(g) for g in current.gates if g not in approved))
        for node_id in current.order:
            if node_id not in futures and node_id not in current.gates and node_id not in waiting:
                submit(current, node_id)

    def rerun(revised: Plan, nodes: set[str]) -> bool:
        tracker.plan = revised
        db.reopen_nodes(tracker.engine, run.run_id, sorted(nodes))
        for node_id in (n for n in revised.order if n in nodes):
            tracker.forget(node_id)
            submit(revised, node_id)
        collect([futures[n] for n in nodes], tracker)
        return not any(n in tracker.failed or n in tracker.skipped for n in nodes)

    submit_ready()
    for gate in plan.gates:
        current = tracker.plan
        if {g for g in current.gates if gate in current.gated_by(g)} - approved:
            break  # an earlier gate was not approved
        collect([futures[i] for i in current.deps[gate] if i in futures], tracker)
        if any(i in tracker.failed or i in tracker.skipped for i in current.deps[gate]):
            break  # the gate cannot be reviewed: its dependents are skipped below
        outcome = decide_gate(current, run, gate, approve, tracker, rerun)
        tracker.plan = outcome.plan
        tracker.finished(gate)
        if outcome.decision != "approve":
            collect(list(futures.values()), tracker)
            return gate if outcome.decision == "reject" else None
        approved.add(gate)
        submit_ready()
    collect(list(futures.values()), tracker)
    return None


def _submit(
    plan: Plan,
    run: RunInfo,
    node_id: str,
    futures: dict[str, PrefectFuture[MediaRef]],
    force: bool,
    made: dict[tuple[Any, ...], Any],
) -> PrefectFuture[MediaRef]:
    node = plan.node(node_id)
    inputs = {slot: [futures[ref] for ref in refs] for slot, refs in node.inputs.items()}
    ordering = [futures[d] for d in node.after if d in futures]
    provider = effective_provider(node, run.mode)
    # Only live providers' tags: each tag costs a concurrency-slot round trip per task run,
    # and only paid providers have limits worth that.
    tags = (f"provider:{provider}",) if provider not in (None, "placeholder") else ()
    key = (node.type, tags, force)
    task = made.get(key)
    if task is None:  # one with_options per kind of node, not per node: it copies the task
        task = made[key] = TASKS[node.type].with_options(
            task_run_name="{node.id}", refresh_cache=force or None, tags=list(tags) or None
        )
    # The node and the run hold no futures: quoted, Prefect hands them over as they are
    # instead of walking (and rebuilding) every field of both for each task run.
    return task.submit(node=quote(node), inputs=inputs, run=quote(run), wait_for=ordering)


def _finish(
    plan: Plan, run: RunInfo, tracker: Tracker, engine: Any, rejected: str | None
) -> dict[str, Any]:
    # Local nodes' ends may still be queued (`finish_node`): the run's end comes after them.
    db.flush_writes(engine)
    never_ran = [n for n in plan.order if n not in tracker.done]
    if never_ran:
        reason = f"gate '{rejected}' was rejected" if rejected else "an upstream node failed"
        db.skip_nodes(engine, run.run_id, never_ran, reason)
        tracker.skipped.update(never_ran)
    with report.final_progress(tracker):  # sent while the end is recorded and summed up
        made = publish(plan, run, tracker.outputs)
        output = made.output
        if rejected:
            status, error = "rejected", f"approval gate '{rejected}' was rejected"
        elif tracker.failed or tracker.skipped:
            status = "failed"
            error = "; ".join(f"{n}: {e}" for n, e in tracker.failed.items()) or (
                f"nodes were skipped: {', '.join(sorted(tracker.skipped))}"
            )
        else:
            status, error = "completed", None
        actual = ledger.spent(engine, run_id=run.run_id)
        db.set_run_status(
            engine,
            run.run_id,
            status,
            error=error,
            output=output.model_dump() if output else None,
            actual_usd=float(actual),
            published_uri=made.published,
            variants=made.variants,
        )
        report.invoice(tracker, ledger.run_invoice(engine, run.run_id))
        report.summary(tracker, status, output, error, made.variants)
    result = {
        "run_id": run.run_id,
        "status": status,
        "output": output,
        "error": error,
        "variants": made.variants,
    }
    if status == "failed":
        raise PipelineFailed(f"run {run.run_id} failed: {error}")
    if status == "rejected":
        raise PipelineRejected(f"run {run.run_id} rejected: {error}")
    return result
