"""Properties of the canonical codec: one event has exactly one byte form, and it reads back.

Events of every type are generated from the catalogue's own vocabularies and field
shapes; times come in arbitrary fixed offsets and must always leave as UTC with `Z`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, cast

import pytest
from hypothesis import given
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
from refnet.events.codec import decode, encode, validate
from refnet.events.errors import EventInvalid, EventUndecodable
from tests.unit.examples import valid_example

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


def test_strategies_cover_every_event_type() -> None:
    assert set(DATA) == set(EVENT_TYPES)


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@given(data=st.data())
def test_decode_inverts_encode(event_type: str, data: st.DataObject) -> None:
    event = data.draw(events(event_type))

    decoded = decode(encode(event))

    assert type(decoded) is type(event)
    assert decoded == event


@given(events())
def test_encode_is_stable(event: EventModel) -> None:
    once = encode(event)

    assert encode(decode(once)) == once
    assert encode(validate(json.loads(once))) == once


@given(events())
def test_decode_accepts_text_as_well_as_bytes(event: EventModel) -> None:
    assert decode(encode(event).decode("utf-8")) == event


# ---------------------------------------------------------------- canonical form


def _outside_strings(text: str) -> str:
    """`text` with every JSON string literal removed."""
    kept: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            kept.append(char)
    return "".join(kept)


def _assert_sorted_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    return dict(pairs)


@given(events())
def test_canonical_bytes_are_sorted_compact_utf8_without_nulls(event: EventModel) -> None:
    text = encode(event).decode("utf-8")  # strict UTF-8

    assert not re.search(r"\s", _outside_strings(text))
    raw = json.loads(text, object_pairs_hook=_assert_sorted_keys)
    assert None not in raw.values()
    assert text == json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@given(events())
def test_times_are_written_in_utc_with_z(event: EventModel) -> None:
    raw = json.loads(encode(event))

    for field in ("occurred_at", "recorded_at"):
        assert CANONICAL_TIME.match(raw[field]), raw[field]
        parsed = dt.datetime.fromisoformat(raw[field])
        assert parsed.utcoffset() == dt.timedelta(0)
        assert parsed == getattr(event, field)
    assert event.occurred_at.tzinfo is UTC
    assert event.recorded_at.tzinfo is UTC


@given(
    instants,
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
    st.sampled_from(sorted(EVENT_TYPES)),
)
def test_one_instant_in_any_offset_has_one_byte_form(
    instant: dt.datetime, offset_minutes: int, event_type: str
) -> None:
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    in_utc = valid_example(event_type) | {
        "occurred_at": instant.isoformat(),
        "recorded_at": instant.isoformat(),
    }
    elsewhere = valid_example(event_type) | {
        "occurred_at": instant.astimezone(zone).isoformat(),
        "recorded_at": instant.astimezone(zone).isoformat(),
    }

    assert encode(validate(elsewhere)) == encode(validate(in_utc))


def test_plus_two_hours_encodes_like_utc() -> None:
    berlin_summer = valid_example("participant.placed") | {
        "occurred_at": "2025-06-02T10:30:00+02:00",
        "recorded_at": "2025-06-02T12:00:00.5+02:00",
    }
    utc = valid_example("participant.placed") | {
        "occurred_at": "2025-06-02T08:30:00Z",
        "recorded_at": "2025-06-02T10:00:00.500000Z",
    }

    canonical = encode(validate(berlin_summer))

    assert canonical == encode(validate(utc))
    assert b'"occurred_at":"2025-06-02T08:30:00.000000Z"' in canonical
    assert b'"recorded_at":"2025-06-02T10:00:00.500000Z"' in canonical


def test_early_years_round_trip() -> None:
    event = validate(
        valid_example("participant.followed_up") | {"occurred_at": "0999-12-31T00:00:00Z"}
    )

    assert decode(encode(event)) == event


@pytest.mark.parametrize("value", ["0001-01-01T00:30:00+02:00", "9999-12-31T23:30:00-02:00"])
def test_time_outside_the_utc_range_is_a_field_problem(value: str) -> None:
    raw = valid_example("participant.followed_up") | {"occurred_at": value}

    with pytest.raises(EventInvalid) as caught:
        validate(raw)
    assert [p.field for p in caught.value.problems] == ["occurred_at"]


# ---------------------------------------------------------------- robustness

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.sampled_from(sorted(EVENT_TYPES)),
    st.sampled_from(
        ["event_id", "schema_version", "partner_id", "site", "participant_id", "occurred_at"]
        + ["recorded_at", "correlation_id", "sequence", "signature", "data", "type"]
    ),
    json_values,
)
def test_any_value_in_any_field_is_accepted_or_rejected_cleanly(
    event_type: str, field: str, value: Any
) -> None:
    raw = valid_example(event_type) | {field: value}

    try:
        event = decode(json.dumps(raw).encode())
    except EventInvalid as exc:
        assert exc.problems
    else:
        assert decode(encode(event)) == event


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    with pytest.raises((EventUndecodable, EventInvalid)):
        decode(data)


# ---------------------------------------------------------------- undecodable


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b'{"type": "participant.enrolled",',
        b"[]",
        b'[{"type": "participant.enrolled"}]',
        b'"participant.enrolled"',
        b"42",
        b"null",
        "[1, 2]",
    ],
)
def test_not_a_json_object_is_undecodable(data: bytes | str) -> None:
    with pytest.raises(EventUndecodable):
        decode(data)


def _valid_bytes() -> bytes:
    return encode(validate(valid_example("participant.enrolled")))


@pytest.mark.parametrize(
    "data",
    [
        _valid_bytes().replace(b'"ESF+ Bleiberecht EN"', b'"ESF+ \xff EN"'),
        _valid_bytes().replace(b'"female"', b'"f\xc3male"'),  # truncated sequence
        b"\xc0\xaf{}",  # overlong encoding
    ],
)
def test_invalid_utf8_is_undecodable(data: bytes) -> None:
    with pytest.raises(EventUndecodable):
        decode(data)


@pytest.mark.parametrize(
    "data",
    [
        _valid_bytes().decode("utf-8").encode("utf-16"),
        _valid_bytes().decode("utf-8").encode("utf-16-be"),
        _valid_bytes().decode("utf-8").encode("utf-32"),
        _valid_bytes().replace(b'"ESF+ Bleiberecht EN"', b'"ESF+ \xed\xa0\x80 EN"'),  # surrogate
    ],
    ids=["utf-16", "utf-16-be", "utf-32", "encoded-surrogate"],
)
def test_input_that_is_not_strict_utf8_is_undecodable(data: bytes) -> None:
    with pytest.raises(EventUndecodable):
        decode(data)
