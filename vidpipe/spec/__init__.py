"""Pipeline files: loading, validation, and the validated `PipelineSpec`.

`load_file`/`load_text` never raise for a bad file, whatever its bytes: they return a
`LoadResult` holding either a valid spec or every problem found, each with a location
(`nodes[2] (host).inputs.audio`) and a plain sentence. `load_spec` is the raising form
for code that wants a spec or a `SpecError`.

The node types themselves are declared in `vidpipe.catalogue`; this package reads those
declarations and imports no Prefect.

Files: `loading` (load_file, load_text, load_spec), `parsing` (YAML/JSON to data: size
and depth limits, duplicate keys), `models` (the pydantic models of a pipeline),
`validation` (load_data: every problem of the data, the spec when there are none),
`assets` (checks of an asset node's source), `problems` (Problem, LoadResult, locations
and wording).
"""

from vidpipe.spec.loading import MAX_FILE_BYTES, load_file, load_spec, load_text
from vidpipe.spec.models import (
    AssetSource,
    Brand,
    Budget,
    NodeSpec,
    PipelineSpec,
    Variant,
    VideoSettings,
)
from vidpipe.spec.problems import LoadResult, Problem, format_problems
from vidpipe.spec.validation import load_data

__all__ = [
    "MAX_FILE_BYTES",
    "Problem",
    "LoadResult",
    "AssetSource",
    "VideoSettings",
    "Budget",
    "Brand",
    "Variant",
    "NodeSpec",
    "PipelineSpec",
    "load_file",
    "load_text",
    "load_data",
    "load_spec",
    "format_problems",
]
