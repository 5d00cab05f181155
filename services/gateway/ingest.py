"""The HTTP gateway's ingestion: validate a batch whole, dedupe, sign, publish, remember.

A batch is published whole or not at all. Its steps, in order:

1. every item is validated, its free text through the PII gate (`events/pii.py`);
   any problem answers 422 listing each bad event. A `participant.contact_recorded`
   comes with `data.contact` in clear (over TLS); a `data.sealed` is refused, since
   only the gateway seals what HTTP publishers send;
2. every event must name the caller's partner, or 403 naming the events;
   then each contact event is sealed under its participant's data key (bound to
   the event's ids), so the log only ever sees the ciphertext; a participant whose
   key was destroyed is refused (422): their details cannot be recorded again;
3. event ids already accepted are answered as duplicates and not published
   again (409 if the id was accepted with another body);
4. sequence numbers are reserved for the gateway's publisher id
   (`sequence_blocks`), and the request's events are signed with the gateway
   key, attesting the authenticated partner: one signature per batch, each
   event carrying its inclusion proof (`events/merkle.py`);
5. the events are published with `acks=all`; only once the broker confirmed
   every one are they recorded as accepted and the caller told so. A broker
   that cannot confirm becomes 503 with a retry hint: the request's numbers
   are recorded unused first, no event is recorded accepted, so a retry
   publishes again (the projections count an event_id once).

Every refusal is a `Refused` (`gateway/refusals.py`) with the problems named.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg

from refnet.events.catalogue import EventModel
from refnet.events.codec import canonical_json, to_canonical_dict, validate
from refnet.events.contact import ClearContactRecorded
from refnet.events.errors import EventInvalid
from refnet.events.pii import pii_problems
from refnet.events.publisher import AsyncPublisher
from refnet.events.sealing import (
    DataKey,
    DataKeyStore,
    KeyGone,
    clear_contact,
    clear_digest,
    is_contact_item,
    seal_event,
)
from refnet.events.signing import INTEGRITY_FIELDS, Signer
from refnet.projections.store.database import Conn
from refnet.services.gateway.refusals import EventProblem, Refused
from refnet.services.gateway.sequence_blocks import HolderSession, SequenceBlock
from refnet.services.registry.data_keys import PostgresDataKeyStore

log = logging.getLogger(__name__)

_KNOWN = "SELECT event_id::text, body_sha256 FROM ingested_events WHERE event_id = ANY($1::uuid[])"
_REMEMBER = """
INSERT INTO ingested_events (event_id, partner_id, body_sha256)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[])
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(frozen=True)
class Outcome:
    index: int
    event_id: str
    status: Literal["accepted", "duplicate"]


@dataclass
class IngestResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "accepted")

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "duplicate")


def decode_json(raw: bytes) -> Any:
    """A request body as JSON: 400 unless it is UTF-8 JSON, nested no deeper than Python reads."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "bad_encoding", f"the body is not UTF-8: {exc}") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise Refused(400, "too_deep", "the body is nested too deeply") from exc
    except ValueError as exc:
        raise Refused(400, "bad_json", f"the body is not JSON: {exc}") from exc


def parse_body(raw: bytes, max_events: int) -> list[Any]:
    """The items of a request body: one event object, or an array of them."""
    body = decode_json(raw)
    items = body if isinstance(body, list) else [body]
    if not items:
        problem = EventProblem(None, "body", "must hold at least one event")
        raise Refused(422, "empty_batch", "the batch holds no events", [problem])
    if len(items) > max_events:
        raise Refused(
            413, "too_many_events", f"{len(items)} events in one request; at most {max_events}"
        )
    return items


Incoming = EventModel | ClearContactRecorded
"""A validated item: an event, or a contact event still in clear."""


def validate_items(items: Sequence[Any]) -> list[Incoming]:
    """Every item as an event, or Refused(422) listing every problem of every item."""
    events: list[Incoming] = []
    problems: list[EventProblem] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(EventProblem(index, "event", "must be a JSON object"))
            continue
        event_id = item.get("event_id") if isinstance(item.get("event_id"), str) else None
        for name in INTEGRITY_FIELDS:
            if name in item:
                reason = "is set by the gateway when it signs the event; leave it out"
                problems.append(EventProblem(index, name, reason, event_id))
        try:
            events.append(
                _validate_one({k: v for k, v in item.items() if k not in INTEGRITY_FIELDS})
            )
        except EventInvalid as exc:
            problems += [EventProblem(index, p.field, p.reason, event_id) for p in exc.problems]
        except RecursionError:
            problems.append(EventProblem(index, "event", "nested too deeply", event_id))
    if problems:
        bad = len({p.index for p in problems})
        raise Refused(422, "events_invalid", f"{bad} of {len(items)} events are invalid", problems)
    return events


def _validate_one(raw: dict[str, Any]) -> Incoming:
    if is_contact_item(raw):
        return clear_contact(raw)  # its envelope holds no free text for the PII gate
    event = validate(raw)
    if problems := pii_problems(event):
        raise EventInvalid(problems)
    return event


def check_partner(events: Sequence[Incoming], partner_id: str) -> None:
    """A partner publishes only its own events: 403 naming every other one."""
    foreign = [
        EventProblem(n, "partner_id", f"is {e.partner_id!r}; this token publishes only for "
                     f"{partner_id!r}", str(e.event_id))
        for n, e in enumerate(events)
        if e.partner_id != partner_id
    ]  # fmt: skip
    if foreign:
        raise Refused(
            403,
            "forbidden",
            f"{len(foreign)} event(s) name another partner; nothing was published",
            foreign,
        )


def _on_request(store: DataKeyStore) -> Callable[[Conn], DataKeyStore]:
    """The store to use on a request's connection: the request already holds one from
    the pool, and a second one taken for the keys could wait for ever under load."""
    if isinstance(store, PostgresDataKeyStore):
        return store.on
    return lambda _conn: store


async def _keys(store: DataKeyStore, participants: set[str]) -> dict[str, DataKey | KeyGone]:
    """Each participant's data key, or why it is gone."""

    async def one(participant_id: str) -> DataKey | KeyGone:
        try:
            return await store.key_for(participant_id)
        except KeyGone as exc:
            return exc

    ordered = sorted(participants)
    found = await asyncio.gather(*(one(p) for p in ordered))
    return dict(zip(ordered, found, strict=True))


class Gateway:
    """Publishes partners' events to the log, signed with the gateway's key."""

    def __init__(
        self,
        signer: Signer,
        publisher: AsyncPublisher,
        session: HolderSession,
        data_keys: DataKeyStore,
        retry_after: int = 5,
    ) -> None:
        self._signer = signer
        self._publisher = publisher
        self._session = session
        self._data_keys = _on_request(data_keys)
        self._retry_after = retry_after
        self._sequence = SequenceBlock(signer.publisher_id, session)

    async def ingest(self, conn: Conn, partner_id: str, items: Sequence[Any]) -> IngestResult:
        incoming = validate_items(items)
        check_partner(incoming, partner_id)
        events, bodies, digests = await self._seal(self._data_keys(conn), incoming)
        fresh, result = await self._dedupe(conn, events, digests)
        if fresh:
            await self._publish(conn, [(events[n], bodies[n]) for n in fresh])
            async with conn.transaction():
                # Losing this row in a crash only means a re-post publishes again,
                # and the projections count an event_id once: no need to wait for the flush.
                await conn.execute("SET LOCAL synchronous_commit = off")
                await conn.execute(
                    _REMEMBER,
                    [events[n].event_id for n in fresh],
                    [partner_id] * len(fresh),
                    [digests[n] for n in fresh],
                )
        return result

    async def _seal(
        self, store: DataKeyStore, incoming: list[Incoming]
    ) -> tuple[list[EventModel], list[dict[str, Any]], list[bytes]]:
        """Every event ready to sign (contact details sealed), its canonical form and digest.

        Each canonical form is made once: hashed for the ledger, then signed. A sealed
        body differs on every post (a fresh nonce), so a contact event's digest is
        taken of its clear body, keyed by the participant's data key: a re-post is
        still a duplicate, and the ledger confirms no guess of the details.
        """
        to_seal = [i for i in incoming if isinstance(i, ClearContactRecorded)]
        keys = await _keys(store, {i.participant_id for i in to_seal})
        events: list[EventModel] = []
        digests: list[bytes] = []
        gone: list[EventProblem] = []
        for n, item in enumerate(incoming):
            if not isinstance(item, ClearContactRecorded):
                events.append(item)
                digests.append(hashlib.sha256(canonical_json(to_canonical_dict(item))).digest())
                continue
            key = keys[item.participant_id]
            if isinstance(key, KeyGone):
                gone.append(EventProblem(n, "participant_id", str(key), str(item.event_id)))
                continue
            clear = canonical_json(item.model_dump(mode="json", exclude_none=True))
            digests.append(clear_digest(key, clear))
            events.append(seal_event(key, item))
        if gone:
            raise Refused(
                422, "participant_erased", f"{len(gone)} event(s) name an erased participant", gone
            )
        bodies = [to_canonical_dict(e) for e in events]
        return events, bodies, digests

    async def _dedupe(
        self, conn: Conn, events: list[EventModel], digests: list[bytes]
    ) -> tuple[list[int], IngestResult]:
        """Indexes to publish, and each event's outcome; 409 for a reused id."""
        ids = [str(e.event_id) for e in events]
        known = {r[0]: bytes(r[1]) for r in await conn.fetch(_KNOWN, ids)}
        seen: dict[str, bytes] = {}
        fresh: list[int] = []
        result = IngestResult()
        conflicts: list[EventProblem] = []
        for n, (event_id, digest) in enumerate(zip(ids, digests, strict=True)):
            before = known.get(event_id, seen.get(event_id))
            if before is None:
                seen[event_id] = digest
                fresh.append(n)
                result.outcomes.append(Outcome(n, event_id, "accepted"))
            elif before == digest:
                result.outcomes.append(Outcome(n, event_id, "duplicate"))
            else:
                reason = "was already used for another event; an event_id names one event"
                conflicts.append(EventProblem(n, "event_id", reason, event_id))
        if conflicts:
            raise Refused(
                409,
                "event_id_reused",
                f"{len(conflicts)} event_id(s) already name other events; nothing was published",
                conflicts,
            )
        return fresh, result

    async def _publish(self, conn: Conn, events: list[tuple[EventModel, dict[str, Any]]]) -> None:
        numbers = await self._sequence.take(conn, len(events))
        values = self._signer.encode_batch([body for _event, body in events], numbers)
        records = [
            (event.participant_id.encode(), value)
            for (event, _body), value in zip(events, values, strict=True)
        ]
        try:
            await self._publisher.publish_encoded(records)
        except Exception as exc:  # any failure to confirm is a 503, never a silent loss
            await self._give_up(conn, numbers, exc)
            raise Refused(
                503,
                "log_unavailable",
                "the event log did not confirm the events; nothing was accepted, "
                f"send the same request again later ({exc})",
                retry_after=self._retry_after,
            ) from exc
        await self._sequence.settle(conn, numbers)

    async def _give_up(self, conn: Conn, numbers: list[int], exc: Exception) -> None:
        """Record a refused request's numbers unused before the caller hears of the refusal."""
        try:
            await self._sequence.record_unused(conn, numbers, f"publish not confirmed: {exc}")
        except Exception as failed:  # its block stays open: once we are gone, it is abandoned
            log.warning("unused numbers %s..%s not recorded: %s", numbers[0], numbers[-1], failed)

    async def close(self, pool: asyncpg.Pool) -> None:
        """Flush the producer, then give unused numbers back and close the block if we can."""
        await self._publisher.close()
        try:
            async with pool.acquire(timeout=5) as conn:
                await self._sequence.close(conn)
        except Exception as exc:  # the block stays open: the next gateway marks it abandoned
            log.warning("unused sequence numbers not given back: %s", exc)
        finally:
            await self._session.close()
