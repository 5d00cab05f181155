"""Errors of the local stack; each message says what failed and where to look.

    RefNetError                 (refnet.events.errors)
    └── StackError              a stack step failed; the message is one line for the operator
        ├── ToolMissing         java, mvn or another needed program is not installed
        ├── JarsUnavailable     Maven could not resolve the Kafka broker's jars
        ├── DatabaseUnavailable PostgreSQL could not be set up or reached
        └── ProcessFailed       a background process exited at once, or would not stop

Re-exported by `refnet.services.localstack.stack`, which is where callers import them from.
"""

from __future__ import annotations

from refnet.events.errors import RefNetError
from refnet.projections.store.database import StoreUnavailable
from refnet.services.kafka.admin import BrokerUnavailable

__all__ = [
    "BrokerUnavailable", "DatabaseUnavailable", "JarsUnavailable", "ProcessFailed",
    "StackError", "ToolMissing",
]  # fmt: skip


class StackError(RefNetError):
    """A step of `stack up`, `down` or `status` failed; the message is meant for the operator."""


class ToolMissing(StackError):
    """A program the stack needs (java, mvn, ...) is not on PATH."""


class JarsUnavailable(StackError):
    """Maven could not resolve the Kafka broker's jars."""


class DatabaseUnavailable(StackError, StoreUnavailable):
    """PostgreSQL could not be installed, started or reached."""


class ProcessFailed(StackError):
    """A background process exited right after its start, or would not stop."""
