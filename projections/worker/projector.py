"""Turns raw log records into a batch for the store, and owns retry and dead-lettering.

Failures are classified here: an undecodable, invalid or not properly signed
event becomes a dead letter (sent to the dead-letter topic, parked, and passed
over); a transient
database error retries the same batch with backoff; anything else propagates
and stops the worker, which resumes from the offsets stored with the state.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from refnet.events.codec import decode
from refnet.events.errors import EventInvalid, EventUndecodable
from refnet.projections.fold.facts import Position, fact_of
from refnet.projections.store.database import StoreUnavailable
from refnet.projections.store.outcomes import BatchResult, DeadLetter, Incoming, OutcomePort
from refnet.projections.worker.signatures import KeyRing, newer_keys_may_help

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    """One message of the log, as every reader of it (worker, replay, archive) sees it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None  # the record's Kafka timestamp, where it was read


DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]
KeyLoader = Callable[[], Awaitable[KeyRing]]


def classifying_processes() -> int:
    """How many processes to classify a bulk read in: one per core; none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores if cores and cores > 1 else 0


def classify(record: Record, keys: KeyRing) -> Incoming:
    """Decode, validate and check the signature of one record; never raises for bad input."""
    position = Position(record.partition, record.offset)
    payload = record.value or b""
    try:
        event = decode(payload)
    except EventUndecodable as exc:
        return Incoming(position, None, DeadLetter(position, payload, f"undecodable: {exc}"))
    except EventInvalid as exc:
        return Incoming(position, None, DeadLetter(position, payload, f"invalid: {exc}"))
    if record.key is not None and record.key != event.participant_id.encode():
        reason = "invalid: message key is not the event's participant_id"
        letter = DeadLetter(position, payload, reason, str(event.event_id))
        return Incoming(position, None, letter)
    problem = keys.problem(event)
    if problem is not None:
        return Incoming(position, None, DeadLetter(position, payload, problem, str(event.event_id)))
    return Incoming(position, event.participant_id, fact_of(event, position))


def _key_problem(incoming: Incoming) -> bool:
    return isinstance(incoming.item, DeadLetter) and newer_keys_may_help(incoming.item.reason)


class Projector:
    """Applies batches of records to the store, exactly once in effect."""

    def __init__(
        self,
        store: OutcomePort,
        dead_letters: DeadLetterSink,
        load_keys: KeyLoader,
        max_backoff: float = 30.0,
        on_unavailable: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._load_keys = load_keys
        self._keys: KeyRing | None = None
        self._max_backoff = max_backoff
        self._on_unavailable = on_unavailable

    @property
    def keys(self) -> KeyRing | None:
        """The signing keys the projector judges with (None before the first batch)."""
        return self._keys

    async def load_keys(self) -> KeyRing:
        self._keys = await self._load_keys()
        return self._keys

    async def project(
        self, records: Sequence[Record], verdicts: Sequence[Incoming] | None = None
    ) -> BatchResult:
        """Classify `records`, send dead letters, then apply the batch (retrying transients).

        `verdicts`: the records already classified with `keys` (a reader thread did it).
        """
        if self._keys is None:
            self._keys = await self._load_keys()
        batch = (
            list(verdicts) if verdicts is not None else [classify(r, self._keys) for r in records]
        )
        if any(_key_problem(i) for i in batch):
            # A key registered since the last load must not turn good events
            # into dead letters: reload once and judge the batch again.
            self._keys = await self._load_keys()
            batch = [classify(r, self._keys) for r in records]
        for incoming in batch:
            if isinstance(incoming.item, DeadLetter):
                log.warning(
                    "dead-lettering partition %s offset %s: %s",
                    incoming.position.partition,
                    incoming.position.offset,
                    incoming.item.reason,
                )
                # Sent before the offsets move: a crash in between re-sends it
                # (at least once on the topic); the parked row is exactly once.
                await self._dead_letters(incoming.item)
        return await self._apply_with_retry(batch)

    async def _apply_with_retry(self, batch: list[Incoming]) -> BatchResult:
        # A retry after the database came back may meet offsets older than the
        # batch (its last commits were lost): the store refuses it with
        # OffsetMismatch, which is not retried here but passed up to seek back.
        delay = 0.2
        while True:
            try:
                return await self._store.apply_batch(batch)
            except StoreUnavailable as exc:
                log.warning("read model unavailable, retrying the batch in %.1fs: %s", delay, exc)
                if self._on_unavailable is not None:
                    self._on_unavailable(str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
