"""RefNet's own exceptions for the event contract and the publisher.

RefNetError            base of everything RefNet raises on purpose
├── EventInvalid       an event failed validation; `problems` names each field
├── EventUndecodable   bytes that are not JSON, or JSON that is not an object
├── PublishFailed      the broker did not confirm one or more events
└── UnusedNotRecorded  a ledger did not record unused numbers (unreachable, or it refused them)
"""

from __future__ import annotations

from dataclasses import dataclass


class RefNetError(Exception):
    """Base class for every error RefNet raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (dotted field path) and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class EventInvalid(RefNetError):
    """An event failed validation against the catalogue."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class EventUndecodable(RefNetError):
    """Bytes on the log that are not a JSON object."""


class PublishFailed(RefNetError):
    """The broker did not confirm delivery of some events."""


class UnusedNotRecorded(RefNetError):
    """A ledger did not record a report of unused numbers; the reservation stays open."""
