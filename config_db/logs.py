"""One logging setup for every process: JSON lines or readable text, through structlog.

Our modules keep `logging.getLogger(__name__)` and %-style messages; structlog's
ProcessorFormatter renders those records, third-party ones (gunicorn, Dramatiq, pymongo) and
structlog's own alike, adding the `clientKey`, `jobId`, `resource` and `eventId` that the
code handling a store, job or event binds with `log_context`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TextIO, TypeVar

import structlog
from structlog.typing import EventDict, Processor

from config_db.settings import Settings

LogFormat = Literal["json", "text"]
# The fields bound where they are known (interface.md "Operations"), by the parameter
# names our functions and actors give them.
FIELD_OF_PARAMETER = {
    "client_key": "clientKey",
    "job_id": "jobId",
    "resource": "resource",
    "event_id": "eventId",
}
CONTEXT_FIELDS = tuple(FIELD_OF_PARAMETER.values())
ACCESS_FIELDS = ("method", "path", "status", "durationMs", "requestId")
LEADING_KEYS = ("timestamp", "level", "logger", "message")
LEVEL = logging.INFO

P = ParamSpec("P")
R = TypeVar("R")


class LogHandler(logging.StreamHandler):
    """The root handler shopsync installs; writes to the current `sys.stderr` by default.

    Looked up at each line, not kept: Dramatiq points a worker process's sys.stderr at its
    log pipe after fork, and a test's capture replaces it.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        logging.Handler.__init__(self)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value


def _shared_processors() -> list[Processor]:
    """What every line gets, from structlog or from the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        structlog.processors.CallsiteParameterAdder(
            [structlog.processors.CallsiteParameter.PROCESS]
        ),
    ]


def _leading_keys(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """timestamp, level, logger and message first, so a JSON line reads like a text one."""
    ordered = {key: event_dict.pop(key) for key in LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def build_formatter(log_format: LogFormat) -> structlog.stdlib.ProcessorFormatter:
    """A logging.Formatter rendering any record as one JSON object or one readable line."""
    if log_format == "json":
        fields = CONTEXT_FIELDS + ACCESS_FIELDS
        pre_chain: list[Processor] = [*_shared_processors(), structlog.stdlib.ExtraAdder(fields)]
        # "message" rather than structlog's "event": the key log platforms read by default.
        final: list[Processor] = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            _leading_keys,
            structlog.processors.JSONRenderer(),
        ]
    else:
        pre_chain = [*_shared_processors(), structlog.stdlib.ExtraAdder(CONTEXT_FIELDS)]
        # Plain tracebacks: structlog's default uses rich when installed, which prints each
        # frame's local variables, and those hold tokens.
        final = [
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )


def configure_logging(
    settings: Settings | None = None,
    *,
    log_format: LogFormat | None = None,
    stream: TextIO | None = None,
) -> LogFormat:
    """Route every logger of this process through one shopsync handler; returns the format.

    Replaces the handler `logging.basicConfig` installs (Dramatiq's CLI calls it in each
    process) and a previous call's; other handlers (a test's log capture) are kept.
    """
    chosen = log_format or (settings or Settings()).effective_log_format
    handler = LogHandler(stream)
    handler.setFormatter(build_formatter(chosen))
    root = logging.getLogger()
    configured_before = any(isinstance(existing, LogHandler) for existing in root.handlers)
    for existing in list(root.handlers):
        if isinstance(existing, LogHandler) or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    # The first call sets INFO, unless a lower level was asked for (dramatiq -v); later calls
    # (the broker's, the services') keep the level chosen since (the command's WARNING).
    if not configured_before and root.getEffectiveLevel() > LEVEL:
        root.setLevel(LEVEL)
    logging.captureWarnings(True)  # Python's warnings as log lines too, not bare stderr text
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return chosen


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged in the block (this thread) carries `fields`; None values are left out."""
    with structlog.contextvars.bound_contextvars(
        **{name: value for name, value in fields.items() if value is not None}
    ):
        yield


def carry_log_context(function: Callable[P, R]) -> Callable[P, R]:
    """`function` run on another thread (a pool) with the caller's log context."""
    fields = structlog.contextvars.get_contextvars()

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with structlog.contextvars.bound_contextvars(**fields):
            return function(*args, **kwargs)

    return run


def fields_from_arguments(
    function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The log fields among a call's arguments, found by parameter name (`client_key`...)."""
    try:
        arguments = _signature(function).bind_partial(*args, **kwargs).arguments
    except TypeError:  # a call that does not fit: the function itself will say so
        return {}
    return {
        FIELD_OF_PARAMETER[name]: value
        for name, value in arguments.items()
        if name in FIELD_OF_PARAMETER and isinstance(value, str)
    }


@functools.lru_cache(maxsize=256)
def _signature(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


def with_log_context(function: Callable[P, R]) -> Callable[P, R]:
    """Lines logged during a call carry its `client_key`, `job_id`, `resource`, `event_id`."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with log_context(**fields_from_arguments(function, args, kwargs)):
            return function(*args, **kwargs)

    return run
