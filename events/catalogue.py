"""The event catalogue v1: the envelope and one frozen model per event type.

Every model forbids unknown fields; `Event` is the discriminated union on
`type` that every reader validates against. A published shape is never edited:
change it with a new `schema_version` and an upcaster (see `upcasting.py`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Union, get_args
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from refnet.events.fields import (
    BusinessId,
    Label,
    Pseudonym,
    Refusable,
    ShortText,
    Slug,
    UtcDatetime,
)
from refnet.events.merkle import SIGNATURE_PATTERN
from refnet.events.vocabulary import (
    AgeBand,
    ConsentPurpose,
    DeclineReason,
    EducationLevel,
    EmploymentStatus,
    ExitReason,
    Gender,
    GermanLevel,
    KeyDestroyedReason,
    PlacementKind,
    ResidenceStatus,
    Service,
    Situation,
    TrainingKind,
    WorkPermission,
)

CURRENT_SCHEMA_VERSION = 1
# How far `occurred_at` may lie after `recorded_at`: publishers' clocks drift.
CLOCK_SKEW = dt.timedelta(minutes=5)


def _exact_int(value: object) -> object:
    # Literal[1] alone would take True and 1.0 as version 1.
    if type(value) is not int:
        raise ValueError("must be an integer")
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


# ---------------------------------------------------------------- data bodies


class EnrolledData(_Frozen):
    programme: Label
    residence_status: Refusable[ResidenceStatus]
    work_permission: Refusable[WorkPermission]
    sgb2_eligible: Refusable[StrictBool]
    employment_status: Refusable[EmploymentStatus]
    education_level: Refusable[EducationLevel]
    age_band: Refusable[AgeBand]
    gender: Refusable[Gender]
    third_country_national: Refusable[StrictBool]
    german_level: Refusable[GermanLevel]
    consent_to_share: StrictBool


class ResidenceStatusChangedData(_Frozen):
    residence_status: Refusable[ResidenceStatus]
    work_permission: Refusable[WorkPermission]
    valid_from: dt.date


class ReferralSentData(_Frozen):
    referral_id: BusinessId
    to_partner: Slug
    service: Service


class ReferralAcceptedData(_Frozen):
    referral_id: BusinessId


class ReferralDeclinedData(_Frozen):
    referral_id: BusinessId
    reason: DeclineReason


class TrainingStartedData(_Frozen):
    training_id: BusinessId
    kind: TrainingKind


class TrainingCompletedData(_Frozen):
    training_id: BusinessId
    qualification_gained: StrictBool


class TrainingDiscontinuedData(_Frozen):
    training_id: BusinessId


class PlacedData(_Frozen):
    placement_id: BusinessId
    kind: PlacementKind
    start_date: dt.date


class ExitedData(_Frozen):
    reason: ExitReason
    situation: Situation


class FollowedUpData(_Frozen):
    situation: Situation


class RetractedData(_Frozen):
    retracted_event_id: UUID
    reason: ShortText


class SealedData(_Frozen):
    """Clear text sealed with AES-256-GCM under the participant's own data key.

    The event's ids are the associated data (`events/sealing.py`): the
    ciphertext opens only inside the event it was made for.
    """

    alg: Literal["AES-256-GCM"] = "AES-256-GCM"
    key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    nonce: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16}$")]  # 12 bytes, base64url
    ciphertext: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{24,8192}$")]


class ContactRecordedData(_Frozen):
    """A participant's contact details (`events/contact.py`), only ever sealed."""

    sealed: SealedData


class ConsentData(_Frozen):
    """Consent for one purpose, to every partner or to one `recipient` partner."""

    purpose: ConsentPurpose
    recipient: Slug | None = None


class ErasureRequestedData(_Frozen):
    reason: ShortText


class KeyDestroyedData(_Frozen):
    """The participant's data key was destroyed: what it sealed can no longer be read."""

    key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    reason: KeyDestroyedReason


# ------------------------------------------------------------------ envelope


class Envelope(_Frozen):
    """Fields every event carries. `event_id` is the publisher's idempotency key."""

    event_id: UUID
    schema_version: Annotated[Literal[1], BeforeValidator(_exact_int)] = 1
    partner_id: Slug
    site: Slug
    participant_id: Pseudonym
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    # Integrity fields, added by signed ingestion; absent on unsigned events.
    publisher_id: Slug | None = None
    sequence: Annotated[StrictInt, Field(ge=0)] | None = None
    # One Ed25519 signature (86 characters), or a batch signature's proof (`events/merkle.py`).
    signature: Annotated[str, Field(pattern=SIGNATURE_PATTERN)] | None = None

    @model_validator(mode="after")
    def _not_recorded_before_it_happened(self) -> Envelope:
        if self.occurred_at > self.recorded_at + CLOCK_SKEW:
            raise PydanticCustomError(
                "occurred_after_recorded",
                "lies after recorded_at: an event is recorded after it happens",
                {"field": "occurred_at"},
            )
        return self


class ParticipantEnrolled(Envelope):
    type: Literal["participant.enrolled"] = "participant.enrolled"
    data: EnrolledData


class ResidenceStatusChanged(Envelope):
    type: Literal["residence_status.changed"] = "residence_status.changed"
    data: ResidenceStatusChangedData


class ReferralSent(Envelope):
    type: Literal["referral.sent"] = "referral.sent"
    data: ReferralSentData

    @model_validator(mode="after")
    def _not_to_itself(self) -> ReferralSent:
        if self.data.to_partner == self.partner_id:
            raise PydanticCustomError(
                "self_referral", "a partner cannot refer to itself", {"field": "data.to_partner"}
            )
        return self


class ReferralAccepted(Envelope):
    type: Literal["referral.accepted"] = "referral.accepted"
    data: ReferralAcceptedData


class ReferralDeclined(Envelope):
    type: Literal["referral.declined"] = "referral.declined"
    data: ReferralDeclinedData


class TrainingStarted(Envelope):
    type: Literal["training.started"] = "training.started"
    data: TrainingStartedData


class TrainingCompleted(Envelope):
    type: Literal["training.completed"] = "training.completed"
    data: TrainingCompletedData


class TrainingDiscontinued(Envelope):
    type: Literal["training.discontinued"] = "training.discontinued"
    data: TrainingDiscontinuedData


class ParticipantPlaced(Envelope):
    type: Literal["participant.placed"] = "participant.placed"
    data: PlacedData


class ParticipantExited(Envelope):
    type: Literal["participant.exited"] = "participant.exited"
    data: ExitedData


class ParticipantFollowedUp(Envelope):
    type: Literal["participant.followed_up"] = "participant.followed_up"
    data: FollowedUpData


class EventRetracted(Envelope):
    type: Literal["event.retracted"] = "event.retracted"
    data: RetractedData


class ContactRecorded(Envelope):
    type: Literal["participant.contact_recorded"] = "participant.contact_recorded"
    data: ContactRecordedData


class ConsentGiven(Envelope):
    type: Literal["consent.given"] = "consent.given"
    data: ConsentData


class ConsentWithdrawn(Envelope):
    type: Literal["consent.withdrawn"] = "consent.withdrawn"
    data: ConsentData


class ErasureRequested(Envelope):
    """The participant asked for erasure; recorded by the network (`partner_id` NETWORK)."""

    type: Literal["privacy.erasure_requested"] = "privacy.erasure_requested"
    data: ErasureRequestedData


class KeyDestroyed(Envelope):
    """Recorded by the network when it destroys a participant's data key."""

    type: Literal["privacy.key_destroyed"] = "privacy.key_destroyed"
    data: KeyDestroyedData


NETWORK = "network"
"""The `partner_id` of what the network itself records (erasure requests, key destructions)."""

EventModel = Union[  # noqa: UP007 - a Union reads better than a 12-line `|` chain here
    ParticipantEnrolled,
    ResidenceStatusChanged,
    ReferralSent,
    ReferralAccepted,
    ReferralDeclined,
    TrainingStarted,
    TrainingCompleted,
    TrainingDiscontinued,
    ParticipantPlaced,
    ParticipantExited,
    ParticipantFollowedUp,
    EventRetracted,
    ContactRecorded,
    ConsentGiven,
    ConsentWithdrawn,
    ErasureRequested,
    KeyDestroyed,
]
Event = Annotated[EventModel, Field(discriminator="type")]
"""Any v1 event; validate with `refnet.events.codec`."""

EVENT_TYPES: dict[str, type[Envelope]] = {
    model.model_fields["type"].default: model for model in get_args(EventModel)
}
"""Every v1 event model by its `type`."""
