"""What every node task shares: run info, the execution context, and `node_task`.

A node type's module in `tasks/` writes one executor, `execute(node, inputs, ctx) -> Output`,
and turns it into a Prefect task with `node_task(TYPE, execute)`. The wrapper around the
executor is the same for every type:

- the node run's lifecycle in the database (`running` with a fresh execution id, then
  `completed` with its output or `failed` with its error; a late write from an older
  attempt is ignored by `vidpipe.db.finish_node`);
- the node's run-time refusals checked first, with the same rules `vidpipe.preflight`
  applies to the whole file before a run (`node_problems`), so a node the plan passed is
  not refused here and a refused one costs nothing;
- inputs handed over as `MediaRef`s and resolved to local files only here;
- the output stored in the media store (content-addressed) and returned as a `MediaRef`,
  which is all Prefect persists as the cached result;
- retries for transient failures only, exponential backoff with jitter, a timeout, and
  the `provider:<name>` tag that Prefect concurrency limits key on;
- a paid job is started once per node run: a retry polls the provider job its earlier
  attempt recorded (or one another run left in flight for the same work) instead of
  paying again, and a create whose outcome is unknown (`AmbiguousCreateError`) is never
  retried: the node fails with its estimate recorded as a `possibly_billed` ledger line.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import httpx
from prefect import Task, get_run_logger, task
from prefect.tasks import exponential_backoff

from tasks.caching import CACHE_POLICY, base_key
from tasks.run_info import RunInfo, source_digest, store_for
from vidpipe import costs, db, ledger
from vidpipe.errors import (
    AmbiguousCreateError,
    SpecError,
    TransientProviderError,
    VidpipeError,
)
from vidpipe.media import VideoTarget, probe
from vidpipe.preflight import Upstream, effective_provider, needs_text, node_problems
from vidpipe.refs import Kind, MediaRef, Usage
from vidpipe.spec import NodeSpec, VideoSettings
from vidpipe.storage import MediaStore

__all__ = [
    "RunInfo",
    "ExecContext",
    "Output",
    "Executor",
    "node_task",
    "effective_provider",
    "source_digest",
    "store_for",
    "is_transient",
    "input_error",
    "check_node",
    "outcome_line",
]

# No Prefect `timeout_seconds`: on the thread-pool runner it cannot interrupt blocking
# work. Deadlines live where the blocking happens: FFmpeg's runner and provider polling.
RETRIES = 3

#: How often a node waiting for another execution's identical paid work looks again.
CLAIM_POLL_S = 1.0


@dataclass(frozen=True)
class Output:
    """What an executor made: a local file of a kind, and what it billed (if anything).
    Text may be handed over as it is (`text`), with no file at all."""

    path: Path | None
    kind: Kind
    usage: Usage | None = None
    text: str | None = None
    #: Files kept beside the output, by name (`MediaRef.sidecars`): local text files
    #: whose extension is kept (`.json`, `.vtt`, `.srt`).
    sidecars: dict[str, Path] = field(default_factory=dict)


@dataclass
class ExecContext:
    """Handed to executors: where to write, how to read inputs, the run's settings."""

    node: NodeSpec
    run: RunInfo
    store: MediaStore
    #: This execution's scratch folder, made on first use (`out`); removed afterwards.
    workdir: Path | None = None
    #: A provider job already submitted for this work (a retry, or a run after a crash):
    #: poll it instead of paying for a new one.
    resume_job_id: str | None = None
    #: Called with a provider's job id as soon as it is known, before polling starts.
    on_job: Callable[[str], None] = lambda job_id: None

    @property
    def video(self) -> VideoSettings:
        """The node's video settings: its variant's, else the file's."""
        return self.run.video_for(self.node)

    @property
    def target(self) -> VideoTarget:
        v = self.video
        return VideoTarget(width=v.width, height=v.height, fps=v.fps)

    def target_for(self, aspect_ratio: str | None) -> VideoTarget:
        """The pipeline's video reshaped to an aspect ratio, keeping its short side."""
        if not aspect_ratio:
            return self.target
        a, b = (int(x) for x in aspect_ratio.split(":"))
        short = min(self.target.width, self.target.height)
        even = lambda x: int(round(x / 2)) * 2  # noqa: E731 - yuv420p wants even sizes
        width, height = (even(short * a / b), short) if a >= b else (short, even(short * b / a))
        return VideoTarget(width=width, height=height, fps=self.target.fps)

    def path(self, ref: MediaRef) -> Path:
        """A local file holding an input's media."""
        return self.store.local_path(ref)

    def text(self, ref: MediaRef) -> str:
        return self.store.open_text(ref)

    def out(self, suffix: str) -> Path:
        """A path in this execution's scratch folder for the output file."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"vidpipe-{self.node.id}-"))
        return self.workdir / f"{self.node.id}{suffix}"

    @property
    def provider(self) -> str:
        return effective_provider(self.node, self.run.mode)


Executor = Callable[[NodeSpec, dict[str, list[MediaRef]], ExecContext], Output]


def check_node(
    node: NodeSpec, inputs: dict[str, list[MediaRef]], run: RunInfo, store: MediaStore
) -> None:
    """The last guard before a node runs: what `vidpipe.preflight` refuses of the file,
    checked again with the node's real inputs (their file types, their text)."""
    read_text = needs_text(node)
    known = {
        slot: [
            Upstream(
                suffix=PurePosixPath(urlparse(ref.uri).path).suffix.lower(),
                text=store.open_text(ref) if read_text and ref.kind == "text" else None,
            )
            for ref in refs
        ]
        for slot, refs in inputs.items()
    }
    problems = node_problems(
        node, run.mode, video=run.video_for(node), base_dir=run.base_dir, inputs=known
    )
    if problems:
        raise input_error(node, "; ".join(str(p) for p in problems))


def is_transient(exc: BaseException) -> bool:
    """Whether a failure is worth retrying: timeouts, 429, 5xx, dropped connections. Never
    a paid create whose outcome is unknown: retrying it could pay twice."""
    if isinstance(exc, AmbiguousCreateError):
        return False
    if isinstance(exc, TransientProviderError):
        return True
    if isinstance(exc, VidpipeError):  # permanent provider errors, bad media, bad input
        return False
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status == 429 or status >= 500
    return isinstance(exc, httpx.TransportError | TimeoutError | ConnectionError)


def _retry_condition(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - we only classify it
        return is_transient(exc)
    return False


def _duration(path: Path, kind: Kind) -> float | None:
    if kind not in ("audio", "video"):
        return None
    return probe(path).duration_s


def _run_node(
    type_name: str,
    execute: Executor,
    node: NodeSpec,
    inputs: dict[str, list[MediaRef]],
    run: RunInfo,
) -> MediaRef:
    began = time.monotonic()
    engine = db.make_engine(run.database_url)
    provider = effective_provider(node, run.mode)
    cache_key = base_key(node, inputs, run)
    resume_job_id = _job_to_resume(engine, run, node, cache_key, provider)
    paid = provider not in (None, "placeholder")
    # Local work goes on while its start and its end are committed: lost to a kill, it
    # costs nothing to do again. Paid work waits, so its claim, job ids and output are on
    # record before anything follows them.
    execution_id = db.start_node(
        engine, run.run_id, node.id, provider=provider, cache_key=cache_key, wait=paid
    )
    store = store_for(run)
    if paid:
        done = _claim_or_wait(engine, run, node, cache_key, execution_id, store)
        if done is not None:
            return _answered_elsewhere(
                engine, run, node, inputs, execution_id, done, store, began=began
            )
    if resume_job_id:  # this execution polls a job another one paid for: say so
        db.record_external_job(engine, run.run_id, node.id, execution_id, resume_job_id)
    reservation = estimate = ctx = None
    jobs: list[str] = [resume_job_id] if resume_job_id else []
    try:
        check_node(node, inputs, run, store)
        if paid:
            estimate = _estimate(node, inputs, run, store)
            reservation = _reserve(engine, node, run, estimate)
        if provider == "placeholder" and run.placeholder_latency_s > 0:
            time.sleep(run.placeholder_latency_s)
        ctx = ExecContext(
            node=node,
            run=run,
            store=store,
            resume_job_id=resume_job_id,
            on_job=lambda job_id: (
                jobs.append(job_id),
                db.record_external_job(engine, run.run_id, node.id, execution_id, job_id),
            ),
        )
        made = execute(node, inputs, ctx)
        cost = None
        if made.usage is not None:
            cost = ledger.bill(
                engine,
                run_id=run.run_id,
                pipeline=run.pipeline,
                node=node,
                usage=made.usage,
                video=run.video_for(node),
            )
        if made.text is not None:
            ref = store.put_text(made.text)
        elif made.kind == "text":
            ref = store.put_text(made.path.read_text(encoding="utf-8"))
        else:
            duration = _duration(made.path, made.kind)
            ref = store.put(made.path, kind=made.kind, duration_s=duration)
        if made.sidecars:
            kept = {name: store.put(path, kind="text") for name, path in made.sidecars.items()}
            ref = ref.model_copy(update={"sidecars": kept})
    except BaseException as exc:
        if isinstance(exc, AmbiguousCreateError) and estimate is not None:
            ledger.possibly_billed(
                engine,
                run_id=run.run_id,
                node=node,
                estimate=estimate,
                request_id=exc.request_id,
            )
        db.finish_node(
            engine, run.run_id, node.id, execution_id, status="failed", error=_one_line(exc)
        )
        if paid:
            _release_after(engine, cache_key, execution_id)
        raise
    finally:
        ledger.release(engine, reservation)
        if ctx is not None and ctx.workdir is not None:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
    db.finish_node(
        engine,
        run.run_id,
        node.id,
        execution_id,
        status="completed",
        output=ref,
        cost_usd=float(cost) if cost is not None else None,
        wait=paid,
    )
    if paid:
        _release_after(engine, cache_key, execution_id)
    job = jobs[-1] if jobs else None
    _log(
        outcome_line(
            node, provider, time.monotonic() - began, usage=made.usage, job_id=job, billed=cost
        )
    )
    return ref


def outcome_line(node: NodeSpec, provider: str | None, seconds: float | None, **what: Any) -> str:
    """The one line a node execution logs: what did the work (provider and model, or local
    work), the provider's job, seconds, billed or saved dollars, cache hit or miss. `what`:
    `usage`, `job_id`, `billed`, `saved`, `cache_hit`."""
    usage: Usage | None = what.get("usage")
    who = f"provider {provider}" if provider else "local work"
    if usage is not None:
        who += f" for {usage.stands_in_for}" if usage.stands_in_for else f", model {usage.model}"
    parts = [
        f"{node.id} ({node.type}): {who}",
        f"job {what['job_id']}" if what.get("job_id") else "",
    ]
    parts.append(f"{seconds:.2f} s" if seconds is not None else "")
    for word in ("billed", "saved"):
        parts.append(f"{word} {costs.format_usd(what[word])}" if what.get(word) is not None else "")
    parts.append("cache hit" if what.get("cache_hit") else "cache miss")
    return ", ".join(p for p in parts if p)


def _claim_or_wait(
    engine, run: RunInfo, node: NodeSpec, cache_key: str, execution_id: str, store: MediaStore
) -> MediaRef | None:
    """Claim this paid work for this execution (None: go ahead and do it), or wait while
    another execution does the same work (another run, on this worker or another one
    sharing the database) and return its output once it completed. A holder that fails,
    or stops running, leaves the work to this execution."""
    waited_for: db.Holder | None = None
    while True:
        holder = db.claim_work(
            engine, cache_key, run_id=run.run_id, node_id=node.id, execution_id=execution_id
        )
        if holder is None:
            ref = _output_of(engine, waited_for, cache_key, store) if waited_for else None
            if ref is not None:
                db.release_work(engine, cache_key, execution_id)
            return ref
        if holder != waited_for:
            waited_for = holder
            _log(
                f"{node.id}: run {holder.run_id} (node {holder.node_id}) is doing the same "
                "work; waiting for its result instead of paying again"
            )
        mine = db.get_node_run(engine, run.run_id, node.id)
        if mine is None or mine.execution_id != execution_id:
            raise VidpipeError(f"{node.id}: the run ended while waiting for run {holder.run_id}")
        time.sleep(CLAIM_POLL_S)


def _output_of(engine, holder: db.Holder, cache_key: str, store: MediaStore) -> MediaRef | None:
    """The output the holder of a claim made for this work, if it completed it."""
    row = db.get_node_run(engine, holder.run_id, holder.node_id)
    if row is None or row.status != "completed" or row.cache_key != cache_key:
        return None
    ref = row.output_ref
    return ref if ref is not None and store.exists(ref) else None


def _answered_elsewhere(
    engine,
    run: RunInfo,
    node: NodeSpec,
    inputs: dict[str, list[MediaRef]],
    execution_id: str,
    ref: MediaRef,
    store: MediaStore,
    *,
    began: float,
) -> MediaRef:
    """Finish a node with the output another execution paid for: a cache hit, with the
    money this run did not spend recorded as savings."""
    estimate = _estimate(node, inputs, run, store)
    db.finish_node(
        engine, run.run_id, node.id, execution_id, status="completed", output=ref, cache_hit=True
    )
    ledger.record_savings(
        engine,
        run_id=run.run_id,
        pipeline=run.pipeline,
        node=node,
        estimate=estimate,
        video=run.video_for(node),
    )
    seconds, provider = time.monotonic() - began, effective_provider(node, run.mode)
    _log(outcome_line(node, provider, seconds, saved=estimate.usd, cache_hit=True))
    return ref


def _release_after(engine, cache_key: str, execution_id: str) -> None:
    """Give up the claim once the node's outcome is recorded (waiters read it then)."""
    with contextlib.suppress(Exception):  # a claim left behind goes stale with its node run
        db.release_work(engine, cache_key, execution_id)


def _log(message: str) -> None:
    with contextlib.suppress(Exception):  # outside a task run there is no run logger
        get_run_logger().info(message)


def input_infos(
    node: NodeSpec, inputs: dict[str, list[MediaRef]], store: MediaStore
) -> dict[str, costs.InputInfo]:
    """What the node's inputs are (text, durations), by upstream node id, for estimates."""
    infos = {}
    for slot, ids in node.inputs.items():
        for up_id, ref in zip(ids, inputs.get(slot, []), strict=False):
            text = store.open_text(ref) if ref.kind == "text" else None
            infos[up_id] = costs.InputInfo.from_ref(ref, text=text)
    return infos


def _job_to_resume(
    engine, run: RunInfo, node: NodeSpec, cache_key: str, provider: str | None
) -> str | None:
    """The provider job this execution should poll instead of paying for a new one: the
    one an earlier attempt of this node run recorded for the same work (a task retry: the
    attempt failed after the job was created), else one another execution left running
    for the same work (its worker died)."""
    if provider in (None, "placeholder"):
        return None
    mine = db.get_node_run(engine, run.run_id, node.id)
    if (
        mine is not None
        and mine.external_job_id
        and mine.cache_key == cache_key
        and mine.status in ("running", "failed")
    ):
        return mine.external_job_id
    return db.job_in_flight(engine, cache_key)


def _estimate(node: NodeSpec, inputs, run: RunInfo, store: MediaStore) -> costs.NodeEstimate:
    """This paid node's estimate, from its real inputs."""
    return costs.estimate_node(
        node,
        mode=run.mode,
        inputs_info=input_infos(node, inputs, store),
        book=ledger.price_book(),
        video=run.video_for(node),
    )


def _reserve(engine, node: NodeSpec, run: RunInfo, estimate: costs.NodeEstimate) -> str | None:
    """Hold this paid node's estimate against the run's budget."""
    return ledger.reserve(
        engine,
        run_id=run.run_id,
        pipeline=run.pipeline,
        node=node,
        estimate=estimate,
        budget_usd=run.budget_usd,
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, VidpipeError):
        text = f"{type(exc).__name__}: {text}"
    return text[:2000]


def node_task(type_name: str, execute: Executor) -> Task[..., MediaRef]:
    """The Prefect task of a node type, wrapping its executor (see the module docstring)."""

    def run_node(node: NodeSpec, inputs: dict[str, list[MediaRef]], run: RunInfo) -> MediaRef:
        return _run_node(type_name, execute, node, inputs, run)

    run_node.__name__ = type_name.replace("-", "_")
    run_node.__doc__ = execute.__doc__
    return task(
        run_node,
        name=type_name,
        cache_policy=CACHE_POLICY,
        retries=RETRIES,
        retry_delay_seconds=exponential_backoff(backoff_factor=2),
        retry_jitter_factor=0.5,
        retry_condition_fn=_retry_condition,
        log_prints=False,
    )


# Errors an executor raises for bad input name the node; these helpers keep it uniform.
def input_error(node: NodeSpec, message: str) -> SpecError:
    return SpecError(f"node '{node.id}': {message}")
