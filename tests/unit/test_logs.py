"""Log lines as JSON (`REFNET_LOG_FORMAT=json`) or text, with the context of where they
were written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

from refnet.events.logs import JsonFormatter, LogFormat, formatter, log_context


def lines(form: LogFormat, emit: Callable[[logging.Logger], None]) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(form))
    logger = logging.getLogger(f"test-logs-{form}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    emit(logger)
    return stream.getvalue().splitlines()


def test_a_json_line_carries_the_context_and_the_traceback() -> None:
    def emit(logger: logging.Logger) -> None:
        with log_context(request_id="r-1"), log_context(offsets="3:10-12"):
            logger.warning("dead-lettering partition %s", 3)
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")

    first, second = (json.loads(line) for line in lines("json", emit))
    assert first["message"] == "dead-lettering partition 3"
    assert first["level"] == "warning" and first["logger"] == "test-logs-json"
    assert first["request_id"] == "r-1" and first["offsets"] == "3:10-12"
    assert first["time"].endswith("+00:00")
    assert "request_id" not in second  # the context ended with its block
    assert "ValueError: boom" in second["exception"]


def test_a_text_line_ends_with_the_context_as_key_value() -> None:
    def emit(logger: logging.Logger) -> None:
        with log_context(request_id="r-2"):
            logger.info("hello")
        logger.info("bare")

    with_context, bare = lines("text", emit)
    assert with_context.endswith("INFO test-logs-text hello request_id=r-2")
    assert bare.endswith("INFO test-logs-text bare")


def test_odd_values_are_written_as_text_not_refused() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    with log_context(at=object()):
        assert json.loads(JsonFormatter().format(record))["at"].startswith("<object")
