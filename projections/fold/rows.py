"""Row shapes of the read model, as the fold derives them and the store writes them.

Each class lists its columns in table order; `columns()` and `values()` feed COPY.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from refnet.projections.fold.facts import Fact


@dataclass(frozen=True, slots=True)
class _Row:
    TABLE: ClassVar[str]

    @classmethod
    def columns(cls) -> list[str]:
        return list(_columns(cls))

    def values(self) -> tuple[Any, ...]:
        # dataclasses.astuple deep-copies every value; this is the hot path of COPY.
        return _getter(type(self))(self)  # type: ignore[no-any-return]


_COLUMNS: dict[type[_Row], tuple[str, ...]] = {}
_GETTERS: dict[type[_Row], attrgetter[Any]] = {}


def _columns(cls: type[_Row]) -> tuple[str, ...]:
    if cls not in _COLUMNS:
        _COLUMNS[cls] = tuple(f.name for f in fields(cls))
    return _COLUMNS[cls]


def _getter(cls: type[_Row]) -> attrgetter[Any]:
    if cls not in _GETTERS:
        _GETTERS[cls] = attrgetter(*_columns(cls))
    return _GETTERS[cls]


@dataclass(frozen=True, slots=True)
class ParticipantRow(_Row):
    TABLE: ClassVar[str] = "participants"
    participant_id: str
    enrolled: bool
    first_enrolled_at: str | None
    site: str | None
    first_partner: str | None
    gender: str | None
    age_band: str | None
    education_level: str | None
    employment_status: str | None
    third_country_national: str | None
    residence_status: str | None
    placed_at: str | None
    placement_kind: str | None
    placement_partner: str | None
    exited_at: str | None
    leaving_situation: str | None
    followup_situation: str | None
    erasure_requested_at: str | None = None  # processing restricted from then on
    key_destroyed_at: str | None = None  # what was sealed for them is unreadable


@dataclass(frozen=True, slots=True)
class ReferralRow(_Row):
    TABLE: ClassVar[str] = "referrals"
    participant_id: str
    referral_id: str
    from_partner: str
    to_partner: str
    service: str
    site: str
    sent_at: str
    state: str
    answered_at: str | None
    decline_reason: str | None
    withdrawn_at: str | None  # state "withdrawn": when its sender retracted it


@dataclass(frozen=True, slots=True)
class TrainingRow(_Row):
    TABLE: ClassVar[str] = "trainings"
    participant_id: str
    training_id: str
    partner_id: str
    kind: str
    started_at: str
    ended_at: str | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class PartnerLinkRow(_Row):
    TABLE: ClassVar[str] = "partner_links"
    partner_id: str
    participant_id: str
    role: str
    since: str


@dataclass(frozen=True, slots=True)
class ContactRow(_Row):
    """Where a participant's standing contact details are: a ciphertext reference, never clear.

    `sealed` is the event's `SealedData` as compact JSON; only the API opens it,
    with the participant's data key and the event's ids as associated data.
    """

    TABLE: ClassVar[str] = "contacts"
    participant_id: str
    event_id: str
    partner_id: str
    occurred_at: str
    recorded_at: str
    key_id: str
    sealed: str


@dataclass(frozen=True, slots=True)
class ConsentRow(_Row):
    """The standing consent for one purpose, to one recipient partner or (None) the network."""

    TABLE: ClassVar[str] = "consents"
    participant_id: str
    purpose: str
    recipient: str | None
    given: bool
    since: str  # occurred_at of the event that decides it: a consent event or the enrolment


@dataclass(frozen=True, slots=True)
class RejectionRow(_Row):
    """An event the fold did not apply because it broke a rule, and why."""

    TABLE: ClassVar[str] = "rejections"
    event_id: str
    partner_id: str
    participant_id: str
    type: str
    reason: str
    occurred_at: str
    recorded_at: str
    partition: int
    offset: int


def rejection_row(participant_id: str, fact: Fact, reason: str) -> RejectionRow:
    """The `rejections` row of an event that broke a rule."""
    return RejectionRow(
        event_id=fact.event_id,
        partner_id=fact.partner_id,
        participant_id=participant_id,
        type=fact.type,
        reason=reason,
        occurred_at=fact.occurred_at,
        recorded_at=fact.recorded_at,
        partition=fact.partition,
        offset=fact.offset,
    )


@dataclass(frozen=True, slots=True)
class ParticipantRows:
    """Everything the read model holds about one participant."""

    participant: ParticipantRow
    referrals: list[ReferralRow]
    trainings: list[TrainingRow]
    links: list[PartnerLinkRow]
    contact: ContactRow | None = None
    consents: list[ConsentRow] = field(default_factory=list)
