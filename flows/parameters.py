"""What the Prefect UI's run forms show for vidpipe's flows: the parameters' types.

Prefect draws a deployment's run form from the flow's signature, as JSON schema. An
optional parameter typed `str | None` becomes an `anyOf` with `null`, which the UI shows
as a switch between two types ("Property is type 'None'"). So each parameter here is
annotated with the schema of its value alone (`WithJsonSchema`), and where "the file's
own" is the default, that default is a value of its own (`from-file`) rather than None:

- `pipeline`: a dropdown of the pipelines folder's names when the folder has any (read
  when the flow's module is imported, i.e. when `vidpipe serve` or `prefect deploy`
  makes the deployment); a plain text field otherwise. The flow itself still takes a
  path or a file's content from code and the API (the deployment does not have the
  server enforce the schema: `enforce_parameter_schema: false` in prefect.yaml).
- `mode`: `from-file`, `placeholder` or `live`, `from-file` preselected.
- `budget_usd`: a number of dollars, empty for the file's budget.
- `refresh`: a list of node ids, empty by default.
- `approve`: `wait` (for a reviewer) or `auto`.

Python callers may still pass None for any of them: it means the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import WithJsonSchema

from vidpipe.errors import VidpipeError
from vidpipe.pipelines import list_pipelines, resolve_folder

__all__ = [
    "FROM_FILE",
    "Approve",
    "Budget",
    "Folder",
    "Mode",
    "NodeIds",
    "PipelineName",
    "mode_or_none",
    "pipeline_schema",
]

#: The `mode` value meaning "each pipeline file's own mode".
FROM_FILE = "from-file"


def pipeline_schema(pipelines_dir: Any = None) -> dict[str, Any]:
    """The `pipeline` field: the folder's names as a dropdown, or free text without any."""
    if pipelines_dir is None:
        try:
            from vidpipe.settings import get_settings

            pipelines_dir = get_settings().pipelines_dir
        except VidpipeError:  # bad settings are reported when a run starts, not here
            return {"type": "string"}
    names = list_pipelines(resolve_folder(pipelines_dir))
    return {"type": "string", "enum": names} if names else {"type": "string"}


def mode_or_none(mode: str | None) -> str | None:
    """A `mode` parameter as the rest of vidpipe takes it: None for the file's own."""
    return None if mode in (None, FROM_FILE) else mode


PipelineName = Annotated[str, WithJsonSchema(pipeline_schema())]
Mode = Annotated[
    Literal["from-file", "placeholder", "live"] | None,
    WithJsonSchema({"type": "string", "enum": [FROM_FILE, "placeholder", "live"]}),
]
Budget = Annotated[float | None, WithJsonSchema({"type": "number", "minimum": 0})]
NodeIds = Annotated[
    Sequence[str] | None, WithJsonSchema({"type": "array", "items": {"type": "string"}})
]
Approve = Annotated[
    Literal["wait", "auto"] | None, WithJsonSchema({"type": "string", "enum": ["wait", "auto"]})
]
Folder = Annotated[str | None, WithJsonSchema({"type": "string"})]
