"""RefNet's own exceptions: the whole tree, drawn once. The base lives here, the rest where raised.

RefNetError                  base of everything RefNet raises on purpose
├── EventInvalid             an event failed validation; `problems` names each field
├── EventUndecodable         bytes that are not JSON, or JSON that is not an object
├── PublishFailed            the broker did not confirm one or more events
├── IngestRefused            (events.http_client) the API refused a batch: status, code, fields
├── UnusedNotRecorded        a ledger did not record unused numbers (unreachable, or refused)
├── LogUnavailable           the event log cannot be read: the broker does not answer, or a
│   │                        topic is missing (every driver error of a read becomes this)
│   └── BrokerUnavailable    (services.kafka.admin) an admin request or the local broker failed
├── KeyUnusable              (events.signing) a key file or public key that cannot be used
├── SealBroken               (events.sealing) a ciphertext that does not open: another key,
│                            another event, altered bytes, or a data key under another KEK
├── KeyGone                  (events.sealing) the participant's data key was destroyed
├── KekError                 (services.registry.data_keys) the key-encryption key is unusable
│   ├── KekMissing           none configured: no REFNET_KEK and no file at REFNET_KEK_FILE
│   ├── KekMalformed         not base64url of exactly 32 bytes
│   └── KekMismatch          the registry's data keys were wrapped under another KEK
├── StoreError               (projections.store.database) a read-model failure
│   ├── StoreUnavailable     the database cannot be reached, or failed transiently
│   │   └── DatabaseUnavailable (services.localstack.errors) the local cluster, also a StackError
│   ├── MigrationFailed      a migration file did not apply
│   ├── OffsetMismatch       (projections.store.outcomes) a batch skips unapplied offsets
│   └── RebuildError         (projections.audit.rebuild) a rebuild cannot go on
├── CatchUpTimeout           (projections.worker.catchup) the projection did not catch up
├── CannotVerify             (projections.audit.integrity) a check could not be carried out
├── StateTooOld              (projections.fold.rules) a stored fold state from before the
│                            rules were judged: the read model must be folded from the log
├── Refused                  (services.gateway.refusals) a request refused with an HTTP status,
│                            a code and the inputs at fault (the gateway, the API, the dashboard)
├── TokenError, KeyRegistryError, KeysUnreadable  (services.registry) tokens and keys
├── KafkaAccessError         (services.kafka.access) principals and ACLs
├── ArchiveError             (services.archive) an archive that cannot be written or read
├── FontNotFound, UnknownFormat  (services.reports) a report file that cannot be written
├── ParticipantUnknown       (services.privacy.erasure) erasure of a pseudonym the log never held
└── StackError               (services.localstack.errors) a step of the local stack failed

A command turns any of them into one line and exit code 1 (`services/cli/console.friendly`).
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


class LogUnavailable(RefNetError):
    """The event log cannot be read: the broker does not answer, or the topic is missing."""


class UnusedNotRecorded(RefNetError):
    """A ledger did not record a report of unused numbers; the reservation stays open."""
