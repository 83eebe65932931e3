"""What reaches a person's terminal from the logs, and what each log line carries.

Prefect's flow and task engines log every exception a run raises with its traceback, also
for errors the user caused (a bad file, a budget, missing credentials, a corrupt asset):
on a terminal the traceback buries the one line that matters, which vidpipe prints itself.
`quiet_user_errors` keeps those records (and Prefect's routine INFO lines) off the
console handlers only; the Prefect API handler, and so the run's logs and state in the
Prefect UI, keep everything. Real bugs
(any exception that is not a `VidpipeError`) still print their traceback, and `--debug`
(`VIDPIPE_DEBUG=1`) keeps everything.

`configure` applies `VIDPIPE_LOG_FORMAT`: with `json`, every line the process's console
handlers write (vidpipe's own loggers, Prefect's flow and task run loggers, the CLI's) is
one JSON object (python-json-logger) with `time`, `level`, `message`, `logger` and, where
known, `run_id`, `node_id`, `flow_run_id`, `task_run_id`, `provider`, `job_id`. Those
ids come from the record itself (Prefect's run loggers carry the flow and task run
ids), from `bind` (code that knows them), and from the context sources registered with
`add_context_source` (`tasks/observe.py` reads Prefect's run context). Messages and
tracebacks are redacted: no credential from the settings or the environment, bearer
token or signed URL query reaches a JSON line.

No Prefect import: this works on `logging` alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from vidpipe.errors import VidpipeError

__all__ = [
    "is_user_error",
    "quiet_user_errors",
    "CONTEXT_FIELDS",
    "bind",
    "set_context",
    "add_context_source",
    "add_record_source",
    "current_context",
    "ids_of_task_run",
    "VidpipeJsonFormatter",
    "JsonLogHandler",
    "configure",
    "secrets",
    "LogLines",
]


def is_user_error(exc: BaseException | None) -> bool:
    """An error whose message says all a user needs: vidpipe's own, or an interrupt."""
    return isinstance(exc, VidpipeError | KeyboardInterrupt)


#: Prefect's workers that send events and logs say this while they flush at exit; the
#: process waits for them, so nothing is lost, and after a run's summary it only confuses.
_FLUSHING = ("EventsWorker", "APILogWorker")


class _DropUserErrors(logging.Filter):
    """Drops records that carry a user error's traceback (vidpipe prints its message), and
    Prefect's "Still processing items" while its workers flush at exit."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _FLUSHING and str(record.msg).startswith("Still processing items"):
            return False
        exc = record.exc_info[1] if record.exc_info else None
        return not is_user_error(exc)


_FILTER = _DropUserErrors()


def _console_handlers() -> list[logging.Handler]:
    """The root logger's stream handlers (Prefect's console handler is one), not files."""
    return [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def quiet_user_errors(debug: bool = False) -> None:
    """Keep user errors' tracebacks, and Prefect's routine INFO lines ("Finished in state
    Completed()"), off this process's console (idempotent): the CLI shows the run itself.
    Warnings and errors still show. With `debug`, everything is put back."""
    for handler in _console_handlers():
        if debug:
            handler.removeFilter(_FILTER)
            handler.setLevel(logging.NOTSET)
        else:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
            handler.setLevel(max(handler.level, logging.WARNING))


# -- ids every line carries -------------------------------------------------------------

#: The ids a JSON log line carries where they are known.
CONTEXT_FIELDS = ("run_id", "node_id", "flow_run_id", "task_run_id", "provider", "job_id")

_bound: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "vidpipe_log_context", default=None
)
_sources: list[Callable[[], Mapping[str, Any]]] = []


@contextlib.contextmanager
def bind(**ids: Any) -> Iterator[None]:
    """Within the block, log lines (and provider records) carry these ids."""
    token = _bound.set({**(_bound.get() or {}), **{k: str(v) for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _bound.reset(token)


def set_context(**ids: Any) -> None:
    """Add ids to this context until it ends (a task run's thread: for the rest of it)."""
    _bound.set({**(_bound.get() or {}), **{k: str(v) for k, v in ids.items() if v}})


def add_context_source(source: Callable[[], Mapping[str, Any]]) -> None:
    """Register a function that returns the ids it knows now (idempotent)."""
    if source not in _sources:
        _sources.append(source)


_record_sources: list[Callable[[logging.LogRecord], Mapping[str, Any]]] = []


def add_record_source(source: Callable[[logging.LogRecord], Mapping[str, Any]]) -> None:
    """Register a function that reads ids from a record itself (idempotent): for lines
    logged outside the context they belong to. What it returns fills in missing ids."""
    if source not in _record_sources:
        _record_sources.append(source)


#: The ids last seen for each task run (bounded): a line logged for a task run after its
#: context closed (Prefect's "Finished in state ...") still gets its run and node.
_task_ids: OrderedDict[str, dict[str, str]] = OrderedDict()
_TASKS_KEPT = 4096


_task_lock = threading.Lock()


def _remember(ids: dict[str, str]) -> dict[str, str]:
    task_run_id = ids.get("task_run_id")
    if task_run_id and ids.get("node_id"):
        with _task_lock:
            _task_ids[task_run_id] = ids
            _task_ids.move_to_end(task_run_id)
            while len(_task_ids) > _TASKS_KEPT:
                _task_ids.popitem(last=False)
    return ids


def ids_of_task_run(task_run_id: str) -> dict[str, str]:
    """The ids known for a task run while it ran (empty if none were seen)."""
    with _task_lock:
        return dict(_task_ids.get(str(task_run_id), {}))


def current_context() -> dict[str, str]:
    """The ids known here: from the registered sources, then the bound ones (which win).
    Holds `pipeline` too where a source knows it."""
    found: dict[str, str] = {}
    for source in list(_sources):
        try:
            found.update({k: str(v) for k, v in source().items() if v})
        except Exception:  # a source never breaks logging
            continue
    found.update(_bound.get() or {})
    return _remember(found)


# -- secrets ---------------------------------------------------------------------------

#: Environment variables whose values are secrets whoever reads them.
_SECRET_VARIABLES = (
    "PREFECT_API_AUTH_STRING",
    "PREFECT_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


def secrets() -> list[str]:
    """The secret values this process knows: credentials in the settings (environment or
    saved blocks), the alert webhook URL, and Prefect's and AWS's credentials."""
    found = [os.environ.get(name, "") for name in _SECRET_VARIABLES]
    try:
        from vidpipe.settings import get_settings

        settings = get_settings()
    except Exception:  # bad settings: the environment's values are all there is
        return [value for value in found if value]
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            found.append(value.get_secret_value())
    return [value for value in found if value]


# -- JSON lines ------------------------------------------------------------------------


class VidpipeJsonFormatter(JsonFormatter):
    """One JSON object per record: `time` (ISO 8601, UTC), `level`, `message`, `logger`,
    the ids where known, `exc_info` for a traceback. Secrets are redacted."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        from vidpipe.providers.http.redaction import redact  # JSON mode only: httpx

        hidden = secrets()
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["message"] = redact(record.getMessage(), hidden)
        log_data["logger"] = record.name
        known = current_context()
        task_run_id = getattr(record, "task_run_id", None)
        if task_run_id and str(task_run_id) != known.get("task_run_id"):
            known = {**known, **ids_of_task_run(task_run_id)}
        for source in list(_record_sources):
            try:
                found = source(record)
            except Exception:  # a source never breaks logging
                continue
            known = {**{k: str(v) for k, v in found.items() if v}, **known}
        for name in (*CONTEXT_FIELDS, "pipeline"):
            value = getattr(record, name, None) or known.get(name)
            if value:
                log_data[name] = str(value)
        for name in ("flow_run_name", "task_run_name"):
            if getattr(record, name, None):
                log_data[name] = str(getattr(record, name))
        for name in ("exc_info", "stack_info"):
            if message_dict.get(name):
                log_data[name] = redact(str(message_dict[name]), hidden)


class JsonLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler writing `VidpipeJsonFormatter` lines (stderr by default)."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.setFormatter(VidpipeJsonFormatter())


#: Console handlers `configure` replaces with JSON ones (not files, not pytest's capture).
_CONSOLE_HANDLERS = {"StreamHandler", "PrefectConsoleHandler", "_SafeStreamHandler"}


def _loggers() -> list[logging.Logger]:
    found = [logging.getLogger()]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            found.append(logger)
    return found


def _log_format() -> str:
    try:
        from vidpipe.settings import get_settings

        return get_settings().log_format
    except Exception:  # bad settings are reported by the command, not here
        return os.environ.get("VIDPIPE_LOG_FORMAT", "text").strip().lower()


def configure(log_format: str | None = None) -> str:
    """Apply `VIDPIPE_LOG_FORMAT` (or `log_format`) to this process's logging (idempotent;
    call it again after Prefect sets up its logging). vidpipe's loggers log from INFO.
    With `json`, every console handler becomes a `JsonLogHandler` on the same stream,
    keeping its level and filters, and the root logger gets one if it has none.
    Returns the format in force."""
    log_format = log_format or _log_format()
    vidpipe_logger = logging.getLogger("vidpipe")
    if vidpipe_logger.level == logging.NOTSET:
        vidpipe_logger.setLevel(logging.INFO)
    if log_format != "json":
        return "text"
    for logger in _loggers():
        for handler in list(logger.handlers):
            if type(handler).__name__ not in _CONSOLE_HANDLERS:
                continue
            if isinstance(handler, logging.FileHandler):  # pragma: no cover - a subclass
                continue
            replacement = JsonLogHandler(getattr(handler, "stream", None))
            replacement.setLevel(handler.level)
            for one in handler.filters:
                replacement.addFilter(one)
            logger.removeHandler(handler)
            logger.addHandler(replacement)
    root = logging.getLogger()
    if not any(isinstance(h, JsonLogHandler) for h in root.handlers):
        root.addHandler(JsonLogHandler())
    return "json"


class LogLines(io.TextIOBase):
    """A text stream whose every line is written to `stream` (stderr) as one JSON log
    line of `logger` (ERROR for lines starting with `error:`, else INFO). In JSON mode
    the CLI's messages on stderr go through it: they are JSON like the rest, and, being
    the command's own output, shown whatever level the console handlers keep."""

    def __init__(self, logger: str, stream: Any = None) -> None:
        super().__init__()
        self._name = logger
        self._stream = stream
        self._formatter = VidpipeJsonFormatter()
        self._pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self._emit(line.rstrip())
        return len(text)

    def _emit(self, line: str) -> None:
        level = logging.ERROR if line.startswith("error:") else logging.INFO
        record = logging.LogRecord(self._name, level, __file__, 0, "%s", (line,), None)
        stream = self._stream or sys.stderr
        stream.write(self._formatter.format(record) + "\n")
        stream.flush()

    def flush(self) -> None:
        if self._pending.strip():
            pending, self._pending = self._pending, ""
            self._emit(pending.rstrip())
