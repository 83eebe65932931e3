"""Which pipeline a deployment run means: a name from the pipelines folder, or a path.

The `run-pipeline` deployment's form in the Prefect UI asks for a pipeline; an operator
types a short name (`explainer`), a path, or pastes the file's content. `resolve_pipeline`
turns a name into the file's path and leaves everything else as it is, so the flow's
`load_spec` sees a path or content exactly as before.

The folder is `VIDPIPE_PIPELINES_DIR` (default `examples/`). A relative folder setting
(this one, and the nightly batch's) means the working directory's folder if it is there,
else the repository's (`resolve_folder`): served flow runs start in `vidpipe serve`'s
working directory, worker runs in the repository (the pull step), and both find the
shipped folders.
"""

from __future__ import annotations

import re
from pathlib import Path

from vidpipe.errors import SpecError

__all__ = ["REPO", "SUFFIXES", "list_pipelines", "resolve_folder", "resolve_pipeline"]

#: The repository (or installed source tree) that ships `examples/` and `pipelines/`.
REPO = Path(__file__).resolve().parent.parent

#: The file suffixes a pipeline name may stand for, in the order they are tried.
SUFFIXES = (".yaml", ".yml", ".json")

#: What a bare name looks like: no path separator, no suffix, no spaces.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _looks_like_content(value: str) -> bool:
    # The same test as `vidpipe.spec.load_spec`: content has a newline or opens a mapping.
    return "\n" in value or value.lstrip().startswith(("{", "name:"))


def _is_name(value: str) -> bool:
    return bool(_NAME.match(value))


def resolve_folder(path: str | Path, cwd: Path | None = None) -> Path:
    """A folder setting as used: absolute paths as they are; a relative one is the
    working directory's if it exists there, else the repository's if it exists there,
    else left relative (to be reported missing)."""
    folder = Path(path)
    if folder.is_absolute():
        return folder
    here = Path.cwd() if cwd is None else cwd
    if (here / folder).exists() or not (REPO / folder).exists():
        return folder
    return REPO / folder


def list_pipelines(pipelines_dir: str | Path) -> list[str]:
    """The names a pipeline parameter may use: the folder's pipeline files, sorted."""
    folder = Path(pipelines_dir)
    if not folder.is_dir():
        return []
    return sorted({p.stem for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES})


def resolve_pipeline(value: str, pipelines_dir: str | Path) -> str:
    """A pipeline parameter as `load_spec` takes it: a name becomes `<dir>/<name>.yaml`.

    Content (YAML or JSON text) and paths (anything with a separator, or an existing
    file) are returned unchanged. A bare name is looked up in `pipelines_dir` with each
    of `SUFFIXES` (`explainer` -> `examples/explainer.yaml`; `explainer.yaml` also
    works); a name found nowhere raises `SpecError` naming the folder and the names it
    holds, so the UI's error says what to type.
    """
    text = value.strip()
    if not text or _looks_like_content(value) or not _is_name(text) or Path(text).is_file():
        return value
    folder = resolve_folder(pipelines_dir)
    names = [text] if text.endswith(SUFFIXES) else [f"{text}{suffix}" for suffix in SUFFIXES]
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return str(candidate)
    known = ", ".join(list_pipelines(folder)) or "none"
    raise SpecError(
        f"no pipeline named '{text}' in {folder}/ (VIDPIPE_PIPELINES_DIR); "
        f"names there: {known}; or give a path or the file's content"
    )
