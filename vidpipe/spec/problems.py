"""Problems: one thing wrong with a file, where it is and how it is worded.

`Problem` and `LoadResult` are what loading returns; the helpers write locations
(`nodes[2] (host).inputs.audio`), quote values and turn pydantic errors into plain
sentences; `_Checker` gathers problems for the validation and asset checks.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from vidpipe.spec.models import PipelineSpec


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a file: where, and a plain sentence."""

    location: str
    message: str

    def __post_init__(self) -> None:
        # One problem is one printable line: a newline, a terminal escape or a lone
        # surrogate quoted from the file is shown escaped, never sent to the terminal.
        for name in ("location", "message"):
            text = getattr(self, name)
            if isinstance(text, str) and not text.isprintable():
                object.__setattr__(self, name, _printable(text))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _printable(text: str) -> str:
    """`text` with every non-printable character written as its escape (`\\n`, `\\x1b`)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


@dataclass
class LoadResult:
    """What loading a file gave: a spec, or the problems that stop it being one."""

    source: str
    spec: PipelineSpec | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "valid": self.valid,
            "problems": [{"location": p.location, "message": p.message} for p in self.problems],
        }


def format_problems(source: str, problems: list[Problem]) -> str:
    """The human report: a header line, then one indented line per problem."""
    if not problems:
        return f"{source}: valid"
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return "\n".join([f"{source}: {count}", *(f"  {p}" for p in problems)])


def _problem_order(problem: Problem) -> int:
    """File-level problems first, then per node in file order, then cycles (stable sort)."""
    if problem.location == "cycle":
        return 1 << 30
    match = re.match(r"nodes\[(\d+)\]", problem.location)
    return int(match.group(1)) if match else -1


def _where(i: int, raw: Any) -> str:
    node_id = raw.get("id") if isinstance(raw, Mapping) else None
    if not isinstance(node_id, str) or not node_id:
        return f"nodes[{i}]"
    return f"nodes[{i}] ({node_id if len(node_id) <= 64 else _short(node_id)})"


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), f"a {type(value).__name__}")


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _key(key: Any) -> str:
    """A mapping key as it appears in a location: plain keys as they are, others quoted."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return key
    return reprlib.repr(key).encode("ascii", "backslashreplace").decode()


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _short(value: Any) -> str:
    """A value quoted in a message: short, one line, whatever it holds."""
    return reprlib.repr(value).encode("ascii", "backslashreplace").decode()


def _plain(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    """A pydantic error as a plain sentence, with the allowed range or values."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    field_name = err["loc"][0] if err["loc"] else None
    info = model.model_fields.get(field_name) if isinstance(field_name, str) else None
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown field (allowed: {', '.join(model.model_fields)})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bounds = {
            a: getattr(m, a)
            for m in (info.metadata if info else ())
            for a in ("ge", "gt", "le", "lt")
            if getattr(m, a, None) is not None
        }
        low = [f"at least {_num(bounds['ge'])}"] if "ge" in bounds else []
        low += [f"more than {_num(bounds['gt'])}"] if "gt" in bounds else []
        high = [f"at most {_num(bounds['le'])}"] if "le" in bounds else []
        high += [f"less than {_num(bounds['lt'])}"] if "lt" in bounds else []
        if "ge" in bounds and "le" in bounds:
            return (
                f"must be between {_num(bounds['ge'])} and {_num(bounds['le'])}, got {_short(got)}"
            )
        return f"must be {' and '.join(low + high)}, got {_short(got)}"
    if kind == "multiple_of":
        return f"must be a multiple of {ctx.get('multiple_of')}, got {_short(got)}"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of: {expected}; got {_short(got)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind.startswith(("int_", "float_", "bool_", "string_", "dict_", "list_")):
        wanted = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "string": "text",
            "dict": "a mapping",
            "list": "a list",
        }[kind.split("_")[0]]
        return f"must be {wanted}, got {_type_name(got)}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


class _Checker:
    """Gathers problems as they are found: `add` one, or `_model` a mapping against a
    pydantic model (each of its errors a problem)."""

    def __init__(self, base_dir: Path | None):
        self.base_dir = base_dir
        self.problems: list[Problem] = []

    def add(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))

    # ---- pydantic models -> problems

    def _model(self, model: type[BaseModel], value: Any, loc: str) -> Any:
        if not isinstance(value, Mapping):
            self.add(loc, f"must be a mapping, got {_type_name(value)}")
            return None
        try:
            return model.model_validate(dict(value))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join([loc, *(_key(p) for p in err["loc"])])
                self.add(where, _plain(model, err))
            return None
