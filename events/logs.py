"""How every RefNet process writes its log: readable lines, or one JSON object per line.

`REFNET_LOG_FORMAT=json` is the one switch. A JSON line carries the time (UTC,
ISO 8601), level, logger and message, an exception's traceback when there is
one, and whatever `log_context` holds where the line was written: the API's
request id, the worker's partition and offsets. Log aggregators (Loki,
Elasticsearch, CloudWatch) index those fields without parsing text.

Messages never carry personal data: events reach the log only as ids and
offsets, and the contact details only encrypted.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_NOTHING: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "refnet_log_context", default=_NOTHING
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every line logged inside the block (this task or thread only)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def context_fields() -> Mapping[str, Any]:
    """What `log_context` holds here."""
    return _context.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, the context's fields beside the standard ones."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context.get())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class _TextWithContext(logging.Formatter):
    """The readable line, the context's fields after it as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _context.get()
        if not fields:
            return text
        return text + " " + " ".join(f"{k}={v}" for k, v in fields.items())


def formatter(form: LogFormat) -> logging.Formatter:
    return JsonFormatter() if form == "json" else _TextWithContext(TEXT_FORMAT)


def configure_logging(level: str | int = "info", form: LogFormat = "text") -> None:
    """The root logger writes to stderr in `form`; replaces what was configured before.

    Libraries that bring their own handlers (uvicorn, faust) are pointed at the
    root logger, so every line of the process has the same shape.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(form))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faust", "mode", "aiokafka"):
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.propagate = True


def dict_config(form: LogFormat, level: str = "info") -> dict[str, Any]:
    """A `logging.config.dictConfig` in `form` for libraries that take one (uvicorn's
    `log_config`, faust's `logging_config`): their loggers write through the root's one
    handler, in the same shape as the process's own lines."""
    factory = (
        {"()": f"{__name__}.JsonFormatter"}
        if form == "json"
        else {"()": f"{__name__}._TextWithContext", "fmt": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"refnet": factory},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "refnet",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
