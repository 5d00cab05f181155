"""Hypothesis strategies for the codec tests: any valid event of any type, in any zone."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from hypothesis import strategies as st

from refnet.events import vocabulary as v
from refnet.events.catalogue import (
    EVENT_TYPES,
    ConsentData,
    ContactRecordedData,
    EnrolledData,
    ErasureRequestedData,
    EventModel,
    ExitedData,
    FollowedUpData,
    KeyDestroyedData,
    PlacedData,
    ReferralAcceptedData,
    ReferralDeclinedData,
    ReferralSentData,
    ResidenceStatusChangedData,
    RetractedData,
    SealedData,
    TrainingCompletedData,
    TrainingDiscontinuedData,
    TrainingStartedData,
)

UTC = dt.UTC
CANONICAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

# ---------------------------------------------------------------- strategies

slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)
pseudonyms = st.from_regex(r"[A-Za-z0-9_-]{6,64}", fullmatch=True)
business_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,100}", fullmatch=True)
# Any Unicode on one line: no control characters, no lone surrogates (see fields.ShortText).
short_texts = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=200)
signatures = st.from_regex(r"[A-Za-z0-9_-]{86}", fullmatch=True)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
zones = st.one_of(st.just(UTC), offsets)
# A realistic span; years before 1000 are covered by an explicit test below.
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)
)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))


def refusable(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, st.just("refused"))


def in_zone(instant: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    return instant.astimezone(zone)


DATA: dict[str, st.SearchStrategy[Any]] = {
    "participant.enrolled": st.builds(
        EnrolledData,
        programme=short_texts,
        residence_status=refusable(st.sampled_from(v.ResidenceStatus)),
        work_permission=refusable(st.sampled_from(v.WorkPermission)),
        sgb2_eligible=refusable(st.booleans()),
        employment_status=refusable(st.sampled_from(v.EmploymentStatus)),
        education_level=refusable(st.sampled_from(v.EducationLevel)),
        age_band=refusable(st.sampled_from(v.AgeBand)),
        gender=refusable(st.sampled_from(v.Gender)),
        third_country_national=refusable(st.booleans()),
        german_level=refusable(st.sampled_from(v.GermanLevel)),
        consent_to_share=st.booleans(),
    ),
    "residence_status.changed": st.builds(
        ResidenceStatusChangedData,
        residence_status=refusable(st.sampled_from(v.ResidenceStatus)),
        work_permission=refusable(st.sampled_from(v.WorkPermission)),
        valid_from=dates,
    ),
    "referral.sent": st.builds(
        ReferralSentData,
        referral_id=business_ids,
        to_partner=slugs,
        service=st.sampled_from(v.Service),
    ),
    "referral.accepted": st.builds(ReferralAcceptedData, referral_id=business_ids),
    "referral.declined": st.builds(
        ReferralDeclinedData, referral_id=business_ids, reason=st.sampled_from(v.DeclineReason)
    ),
    "training.started": st.builds(
        TrainingStartedData, training_id=business_ids, kind=st.sampled_from(v.TrainingKind)
    ),
    "training.completed": st.builds(
        TrainingCompletedData, training_id=business_ids, qualification_gained=st.booleans()
    ),
    "training.discontinued": st.builds(TrainingDiscontinuedData, training_id=business_ids),
    "participant.placed": st.builds(
        PlacedData,
        placement_id=business_ids,
        kind=st.sampled_from(v.PlacementKind),
        start_date=dates,
    ),
    "participant.exited": st.builds(
        ExitedData, reason=st.sampled_from(v.ExitReason), situation=st.sampled_from(v.Situation)
    ),
    "participant.followed_up": st.builds(FollowedUpData, situation=st.sampled_from(v.Situation)),
    "event.retracted": st.builds(RetractedData, retracted_event_id=st.uuids(), reason=short_texts),
    "participant.contact_recorded": st.builds(
        ContactRecordedData,
        sealed=st.builds(
            SealedData,
            key_id=st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True),
            nonce=st.from_regex(r"[A-Za-z0-9_-]{16}", fullmatch=True),
            ciphertext=st.from_regex(r"[A-Za-z0-9_-]{24,200}", fullmatch=True),
        ),
    ),
    "consent.given": st.builds(
        ConsentData, purpose=st.sampled_from(v.ConsentPurpose), recipient=st.none() | slugs
    ),
    "consent.withdrawn": st.builds(
        ConsentData, purpose=st.sampled_from(v.ConsentPurpose), recipient=st.none() | slugs
    ),
    "privacy.erasure_requested": st.builds(ErasureRequestedData, reason=short_texts),
    "privacy.key_destroyed": st.builds(
        KeyDestroyedData,
        key_id=st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True),
        reason=st.sampled_from(v.KeyDestroyedReason),
    ),
}


@st.composite
def events(draw: st.DrawFn, event_type: str | None = None) -> EventModel:
    """A valid event of `event_type` (any type if None), times in arbitrary offsets."""
    kind = event_type or draw(st.sampled_from(sorted(EVENT_TYPES)))
    data = draw(DATA[kind])
    partner = draw(slugs)
    if isinstance(data, ReferralSentData) and data.to_partner == partner:
        partner = f"{partner[:62]}x" if partner[-1:] != "x" else f"{partner[:62]}y"
    occurred = draw(instants)
    delay = draw(
        st.timedeltas(min_value=-dt.timedelta(minutes=5), max_value=dt.timedelta(days=400))
    )

    def optional(values: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | values)

    fields = {
        "event_id": draw(st.uuids()),
        "partner_id": partner,
        "site": draw(slugs),
        "participant_id": draw(pseudonyms),
        "occurred_at": in_zone(occurred, draw(zones)),
        "recorded_at": in_zone(occurred + delay, draw(zones)),
        "correlation_id": optional(st.uuids()),
        "causation_id": optional(st.uuids()),
        "publisher_id": optional(slugs),
        "sequence": optional(st.integers(min_value=0, max_value=2**63 - 1)),
        "signature": optional(signatures),
        "data": data,
    }
    return cast(EventModel, EVENT_TYPES[kind].model_validate(fields))
