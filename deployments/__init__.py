"""vidpipe's four deployments, served or deployed from one description: `prefect.yaml`.

- The one-machine default, `vidpipe serve`, calls `serve_all()`: one process serves
  `run-pipeline`, `nightly-batch`, `sweep-stuck-runs` and `evaluate-alerts` (every
  minute: the alert rules, `flows/alerts.py`) with the names, parameters,
  descriptions, tags and schedules written in `prefect.yaml` (so the nightly batch's time
  zone is changed in one place for both set-ups). No work pool or worker is needed; flow
  runs start as subprocesses of the serving process.
- The scaled set-up deploys the same file with `prefect deploy --all` to the
  `vidpipe-process` process work pool (`ensure_work_pool()` or `prefect work-pool create
  vidpipe-process --type process` creates it) and runs `prefect worker start --pool
  vidpipe-process` on as many machines as needed (README, "Operating vidpipe").

Folders and schedules for `vidpipe serve`, whatever folder it is started from:

- Relative folder settings (`VIDPIPE_PIPELINES_DIR`, default `examples`;
  `VIDPIPE_NIGHTLY_DIR`, default `pipelines/nightly`) mean the working directory's folder
  if it exists there, else the repository's (`vidpipe.pipelines.resolve_folder`): served
  flow runs start in `vidpipe serve`'s working directory (Prefect's serve() runs no pull
  step).
- `VIDPIPE_SCHEDULE_OVERRIDES` (JSON: deployment name -> one schedule dict) replaces that
  deployment's `prefect.yaml` schedules for `vidpipe serve` (`read_deployments`), e.g.
  `{"sweep-stuck-runs": {"interval": 5}}` in tests. `prefect deploy` reads `prefect.yaml`
  itself and ignores it.
"""

from __future__ import annotations

import importlib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vidpipe.errors import SpecError

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

__all__ = [
    "REPO",
    "PREFECT_YAML",
    "WORK_POOL",
    "SCHEDULE_OVERRIDES_VAR",
    "ScheduleOverrideError",
    "DeploymentSpec",
    "read_deployments",
    "schedule_overrides",
    "apply_schedule_overrides",
    "load_flow",
    "to_runner_deployments",
    "form_defaults",
    "serve_all",
    "ensure_work_pool",
]

#: The repository: where `prefect.yaml` lives and `prefect deploy` runs.
REPO = Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO / "prefect.yaml"
#: The process work pool the deployments of `prefect.yaml` run on.
WORK_POOL = "vidpipe-process"
#: The environment variable (a Settings field) whose schedules replace prefect.yaml's.
SCHEDULE_OVERRIDES_VAR = "VIDPIPE_SCHEDULE_OVERRIDES"
#: What one schedule dict may hold (the keys `DeploymentSpec.schedule_objects` reads).
_SCHEDULE_KEYS = {"cron", "interval", "timezone", "active", "parameters", "day_or"}


class ScheduleOverrideError(SpecError, ValueError):
    """VIDPIPE_SCHEDULE_OVERRIDES cannot be used; the message names the variable. A
    ValueError, and a vidpipe error (so `vidpipe serve` prints one line, exit code 2)."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of `prefect.yaml`'s `deployments:`, the parts `serve()` uses."""

    name: str
    entrypoint: str  # path/to/file.py:function, relative to the repository
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    # False where the form's schema is narrower than what the flow takes: run-pipeline's
    # form offers the pipelines folder's names, while the API may also send a path.
    enforce_parameter_schema: bool = True

    @property
    def module(self) -> str:
        """The entrypoint as an importable module (`flows/pipeline.py` -> `flows.pipeline`)."""
        path = self.entrypoint.rpartition(":")[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.rpartition(":")[2]

    def schedule_objects(self) -> list[Any]:
        """The entry's schedules as `prefect.schedules` objects (cron and interval)."""
        from prefect.schedules import Cron, Interval

        made = []
        for item in self.schedules:
            common = {
                "timezone": item.get("timezone"),
                "active": item.get("active", True),
                "parameters": item.get("parameters") or {},
            }
            if "cron" in item:
                made.append(Cron(item["cron"], day_or=item.get("day_or", True), **common))
            elif "interval" in item:
                made.append(Interval(item["interval"], **common))
            else:
                raise ValueError(f"{self.name}: only cron and interval schedules are served")
        return made


def read_deployments(
    path: Path = PREFECT_YAML, *, overrides: Mapping[str, Any] | None = None
) -> list[DeploymentSpec]:
    """The deployments written in `prefect.yaml`, in file order, with the schedules of
    `overrides` (default: VIDPIPE_SCHEDULE_OVERRIDES; `{}` for the file alone)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs = [
        DeploymentSpec(
            name=entry["name"],
            entrypoint=entry["entrypoint"],
            description=entry.get("description"),
            tags=list(entry.get("tags") or []),
            parameters=dict(entry.get("parameters") or {}),
            schedules=list(entry.get("schedules") or []),
            enforce_parameter_schema=entry.get("enforce_parameter_schema", True),
        )
        for entry in doc.get("deployments") or []
    ]
    return apply_schedule_overrides(specs, schedule_overrides() if overrides is None else overrides)


def schedule_overrides() -> dict[str, Any]:
    """VIDPIPE_SCHEDULE_OVERRIDES as read by the settings; ScheduleOverrideError (a
    ValueError) naming the variable if it is not a JSON object."""
    from vidpipe.settings import get_settings

    try:
        return dict(get_settings().schedule_overrides)
    except Exception as exc:  # pydantic-settings' JSON error, or a validation error
        if "schedule_overrides" not in str(exc).lower():
            raise
        raise ScheduleOverrideError(
            f"{SCHEDULE_OVERRIDES_VAR} must be a JSON object of deployment name -> one "
            f'schedule, e.g. \'{{"sweep-stuck-runs": {{"interval": 5}}}}\': {exc}'
        ) from exc


def apply_schedule_overrides(
    specs: list[DeploymentSpec], overrides: Mapping[str, Any]
) -> list[DeploymentSpec]:
    """`specs` with each overridden deployment's schedules replaced by its one schedule.

    Raises ScheduleOverrideError (a ValueError) naming VIDPIPE_SCHEDULE_OVERRIDES for an
    unknown deployment or a schedule that is not one cron or interval schedule.
    """
    known = [s.name for s in specs]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ScheduleOverrideError(
            f"{SCHEDULE_OVERRIDES_VAR}: unknown deployment {', '.join(map(repr, unknown))}; "
            f"prefect.yaml has {', '.join(known)}"
        )
    return [
        replace(s, schedules=[_checked_schedule(s.name, overrides[s.name])])
        if s.name in overrides
        else s
        for s in specs
    ]


def _checked_schedule(name: str, item: Any) -> dict[str, Any]:
    def bad(why: str) -> ScheduleOverrideError:
        return ScheduleOverrideError(f"{SCHEDULE_OVERRIDES_VAR}: {name}: {why}")

    if not isinstance(item, Mapping):
        raise bad(f"a schedule is a JSON object, not {item!r}")
    item = dict(item)
    extra = sorted(set(item) - _SCHEDULE_KEYS)
    if extra:
        raise bad(f"unknown key {', '.join(extra)}; known: {', '.join(sorted(_SCHEDULE_KEYS))}")
    if ("cron" in item) == ("interval" in item):
        raise bad("give exactly one of cron (a cron string) or interval (seconds)")
    interval = item.get("interval")
    if "interval" in item and (
        isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0
    ):
        raise bad(f"interval is a number of seconds above 0, not {interval!r}")
    if "cron" in item and not isinstance(item["cron"], str):
        raise bad(f"cron is a string such as '0 2 * * *', not {item['cron']!r}")
    if item.get("timezone") is not None:
        try:
            zoneinfo.ZoneInfo(str(item["timezone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise bad(f"unknown time zone {item['timezone']!r}") from None
    try:
        DeploymentSpec(name=name, entrypoint="-", schedules=[item]).schedule_objects()
    except (ValueError, TypeError) as exc:  # a malformed cron string
        raise bad(str(exc)) from exc
    return item


def load_flow(spec: DeploymentSpec) -> Flow[..., Any]:
    """The flow object an entry names, imported as a module of the installed project."""
    module = importlib.import_module(spec.module)
    return getattr(module, spec.function)


def to_runner_deployments(names: list[str] | None = None) -> list[RunnerDeployment]:
    """`prefect.yaml`'s deployments (or the ones named) ready for `prefect.serve`."""
    from prefect.deployments.runner import EntrypointType

    specs = read_deployments()
    if names:
        unknown = sorted(set(names) - {s.name for s in specs})
        if unknown:
            raise ValueError(f"not in prefect.yaml: {', '.join(unknown)}")
        specs = [s for s in specs if s.name in names]
    made = []
    for spec in specs:
        flow = load_flow(spec)
        made.append(
            flow.to_deployment(
                name=spec.name,
                description=spec.description,
                tags=spec.tags,
                parameters=form_defaults(flow, spec.parameters),
                schedules=spec.schedule_objects(),
                enforce_parameter_schema=spec.enforce_parameter_schema,
                # Module paths: served runs import `flows.*` from the installed project,
                # whatever folder `vidpipe serve` was started from.
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return made


def form_defaults(flow: Flow, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The deployment's defaults that the flow's form can show: one outside its field's
    list (`pipeline: explainer` with a pipelines folder that has no `explainer`) is left
    out, so the form asks for a choice instead of starting with a value it refuses."""
    fields = flow.parameters.properties
    return {
        name: value
        for name, value in parameters.items()
        if "enum" not in fields.get(name, {}) or value in fields[name]["enum"]
    }


def serve_all(names: list[str] | None = None, *, limit: int | None = None) -> None:
    """Serve every deployment of `prefect.yaml` (or those named) from this process until
    interrupted: the one-machine default behind `vidpipe serve`.

    `limit` caps the flow runs this process runs at once (default: no cap). When the
    process stops, Prefect pauses the served deployments' schedules; serving again
    resumes them. Schedules follow VIDPIPE_SCHEDULE_OVERRIDES where it names a
    deployment.

    Served flow runs are subprocesses in this process's working directory (no pull
    step); they find the shipped folders through `vidpipe.pipelines.resolve_folder`.
    """
    from prefect import serve

    serve(*to_runner_deployments(names), limit=limit)


def ensure_work_pool(name: str = WORK_POOL) -> str:
    """Create the process work pool `name` if it does not exist; returns its name.

    The same as `prefect work-pool create NAME --type process`, with the process worker's
    default job template, and a no-op when the pool is already there.
    """
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            return client.read_work_pool(name).name
        except ObjectNotFound:
            pass
        pool = WorkPoolCreate(
            name=name,
            type=ProcessWorker.type,
            base_job_template=ProcessWorker.get_default_base_job_template(),
            description="vidpipe's flows, run by `prefect worker start --pool " + name + "`",
        )
        try:
            return client.create_work_pool(work_pool=pool).name
        except ObjectAlreadyExists:  # another process created it meanwhile
            return name
