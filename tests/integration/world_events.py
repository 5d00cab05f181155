"""Events of the integration tests' participants: pseudonyms, envelopes, histories."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from refnet.events import catalogue as c
from refnet.events import vocabulary as v
from refnet.events.catalogue import EventModel
from refnet.events.contact import ContactDetails
from refnet.events.sealing import DataKey, open_contact

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)


def new_pid(prefix: str = "p") -> str:
    """A participant pseudonym no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def envelope(
    pid: str, partner: str, at: dt.datetime, event_id: uuid.UUID | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id or uuid.uuid4(),
        "partner_id": partner,
        "site": "witten",
        "participant_id": pid,
        "occurred_at": at,
        "recorded_at": at,
    }


def enrolled(
    pid: str, partner: str = "awo-en", at: dt.datetime = T0, event_id: uuid.UUID | None = None
) -> c.ParticipantEnrolled:
    data = c.EnrolledData(
        programme="Netzwerk Integration",
        residence_status=v.ResidenceStatus.DULDUNG,
        work_permission=v.WorkPermission.EMPLOYMENT_WITH_AUTHORITY_PERMISSION,
        sgb2_eligible=True,
        employment_status=v.EmploymentStatus.UNEMPLOYED,
        education_level=v.EducationLevel.ISCED_3_4,
        age_band=v.AgeBand.AGE_18_29,
        gender="refused",
        third_country_national=True,
        german_level=v.GermanLevel.A2,
        consent_to_share=True,
    )
    return c.ParticipantEnrolled(**envelope(pid, partner, at, event_id), data=data)


def placed(
    pid: str,
    partner: str = "bobeq",
    at: dt.datetime = T0,
    kind: str = "employment",
    event_id: uuid.UUID | None = None,
) -> c.ParticipantPlaced:
    data = c.PlacedData(placement_id=f"pl-{pid}", kind=v.PlacementKind(kind), start_date=at.date())
    return c.ParticipantPlaced(**envelope(pid, partner, at, event_id), data=data)


def retracted(original: EventModel, at: dt.datetime) -> c.EventRetracted:
    data = c.RetractedData(retracted_event_id=original.event_id, reason="recorded in error")
    return c.EventRetracted(
        **envelope(original.participant_id, original.partner_id, at, None), data=data
    )


def history(participants: int, prefix: str) -> list[EventModel]:
    """A synthetic history: every participant enrolled, every third placed, a few retracted."""
    events: list[EventModel] = []
    for n in range(participants):
        pid = f"{prefix}-{n:06d}"
        events.append(enrolled(pid, at=T0 + dt.timedelta(minutes=n)))
        if n % 3 == 0:
            placement = placed(pid, at=T0 + dt.timedelta(days=30, minutes=n))
            events.append(placement)
            if n % 30 == 0:
                events.append(retracted(placement, T0 + dt.timedelta(days=31, minutes=n)))
    return events


def sent(pid: str, sender: str, receiver: str, rid: str, at: dt.datetime) -> c.ReferralSent:
    data = c.ReferralSentData(referral_id=rid, to_partner=receiver, service=v.Service.COUNSELLING)
    return c.ReferralSent(**envelope(pid, sender, at), data=data)


def accepted(pid: str, partner: str, rid: str, at: dt.datetime) -> c.ReferralAccepted:
    data = c.ReferralAcceptedData(referral_id=rid)
    return c.ReferralAccepted(**envelope(pid, partner, at), data=data)


def declined(pid: str, partner: str, rid: str, at: dt.datetime) -> c.ReferralDeclined:
    data = c.ReferralDeclinedData(referral_id=rid, reason=v.DeclineReason.NO_CAPACITY)
    return c.ReferralDeclined(**envelope(pid, partner, at), data=data)


def opens(key: DataKey, event: c.ContactRecorded) -> ContactDetails:
    """The contact details sealed in `event`, opened with its participant's data key."""
    return open_contact(
        key,
        event.data.sealed,
        event_id=str(event.event_id),
        participant_id=event.participant_id,
        partner_id=event.partner_id,
    )
