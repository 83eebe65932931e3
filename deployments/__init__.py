"""vidpipe's three deployments, served or deployed from one description: `prefect.yaml`.

- The one-machine default, `vidpipe serve`, calls `serve_all()`: one process serves
  `run-pipeline`, `nightly-batch` and `sweep-stuck-runs` with the names, parameters,
  descriptions, tags and schedules written in `prefect.yaml` (so the nightly batch's time
  zone is changed in one place for both set-ups). No work pool or worker is needed; flow
  runs start as subprocesses of the serving process.
- The scaled set-up deploys the same file with `prefect deploy --all` to the
  `vidpipe-process` process work pool (`ensure_work_pool()` or `prefect work-pool create
  vidpipe-process --type process` creates it) and runs `prefect worker start --pool
  vidpipe-process` on as many machines as needed (README, "Operating vidpipe").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

__all__ = [
    "REPO",
    "PREFECT_YAML",
    "WORK_POOL",
    "DeploymentSpec",
    "read_deployments",
    "load_flow",
    "to_runner_deployments",
    "serve_all",
    "ensure_work_pool",
]

#: The repository: where `prefect.yaml` lives and `prefect deploy` runs.
REPO = Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO / "prefect.yaml"
#: The process work pool the deployments of `prefect.yaml` run on.
WORK_POOL = "vidpipe-process"


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of `prefect.yaml`'s `deployments:`, the parts `serve()` uses."""

    name: str
    entrypoint: str  # path/to/file.py:function, relative to the repository
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)

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


def read_deployments(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    """The deployments written in `prefect.yaml`, in file order."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        DeploymentSpec(
            name=entry["name"],
            entrypoint=entry["entrypoint"],
            description=entry.get("description"),
            tags=list(entry.get("tags") or []),
            parameters=dict(entry.get("parameters") or {}),
            schedules=list(entry.get("schedules") or []),
        )
        for entry in doc.get("deployments") or []
    ]


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
    return [
        load_flow(spec).to_deployment(
            name=spec.name,
            description=spec.description,
            tags=spec.tags,
            parameters=spec.parameters,
            schedules=spec.schedule_objects(),
            # Module paths: served runs import `flows.*` from the installed project,
            # whatever folder `vidpipe serve` was started from.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in specs
    ]


def serve_all(names: list[str] | None = None, *, limit: int | None = None) -> None:
    """Serve every deployment of `prefect.yaml` (or those named) from this process until
    interrupted: the one-machine default behind `vidpipe serve`.

    `limit` caps the flow runs this process runs at once (default: no cap). When the
    process stops, Prefect pauses the served deployments' schedules; serving again
    resumes them.
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
