"""Upcasting on read: old shapes become current events, unknown versions are named clearly.

The only upcaster so far lifts the pilot's v0 `participant.enrolled` (one-letter
gender codes, `age_group` such as "18-29", no `recorded_at`) to v1.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from refnet.events.catalogue import ParticipantEnrolled
from refnet.events.codec import decode, validate
from refnet.events.errors import EventInvalid
from refnet.events.upcasting import upcast
from refnet.events.vocabulary import AgeBand, Gender
from tests.unit.examples import EXAMPLE_TYPES, valid_example


def v0_enrolled(**data: Any) -> dict[str, Any]:
    """A pilot-era enrolment: version 0, no recorded_at, v0 codes in `data`."""
    raw = valid_example("participant.enrolled")
    del raw["recorded_at"]
    raw["schema_version"] = 0
    body = raw["data"]
    del body["age_band"]
    body |= {"gender": "f", "age_group": "18-29"} | data
    return raw


def _decode(raw: dict[str, Any]) -> Any:
    return decode(json.dumps(raw).encode())


def test_v0_enrolment_decodes_as_a_current_event() -> None:
    raw = v0_enrolled()

    event = _decode(raw)

    assert isinstance(event, ParticipantEnrolled)
    assert event.schema_version == 1
    assert event.data.gender is Gender.FEMALE
    assert event.data.age_band is AgeBand.AGE_18_29
    assert event.recorded_at == event.occurred_at  # the pilot recorded as it happened
    assert event == validate(
        valid_example("participant.enrolled") | {"recorded_at": raw["occurred_at"]}
    )


@pytest.mark.parametrize(
    ("code", "gender"),
    [("f", Gender.FEMALE), ("m", Gender.MALE), ("d", Gender.DIVERSE), ("x", Gender.NOT_STATED)]
    + [("refused", "refused"), ("female", Gender.FEMALE)],
)
def test_v0_gender_codes(code: str, gender: str) -> None:
    event = _decode(v0_enrolled(gender=code))

    assert event.data.gender == gender


@pytest.mark.parametrize(
    ("group", "band"),
    [
        ("<18", AgeBand.UNDER_18),
        ("18-29", AgeBand.AGE_18_29),
        ("30-54", AgeBand.AGE_30_54),
        ("55+", AgeBand.AGE_55_PLUS),
        ("refused", "refused"),
    ],
)
def test_v0_age_group_becomes_age_band(group: str, band: str) -> None:
    event = _decode(v0_enrolled(age_group=group))

    assert event.data.age_band == band


def test_v0_keeps_a_recorded_at_it_has() -> None:
    raw = v0_enrolled() | {"recorded_at": "2025-03-10T08:00:00+01:00"}

    event = _decode(raw)

    assert event.recorded_at.isoformat() == "2025-03-10T07:00:00+00:00"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gender": "w"}, "data.gender"),
        ({"age_group": "18 to 29"}, "data.age_band"),
        ({"nickname": "Jane"}, "data.nickname"),
    ],
)
def test_bad_v0_values_are_named_in_current_terms(change: dict[str, Any], field: str) -> None:
    with pytest.raises(EventInvalid) as caught:
        _decode(v0_enrolled(**change))

    assert [p.field for p in caught.value.problems] == [field]


def test_v0_without_occurred_at_names_both_times() -> None:
    raw = v0_enrolled()
    del raw["occurred_at"]

    with pytest.raises(EventInvalid) as caught:
        _decode(raw)

    assert {p.field for p in caught.value.problems} == {"occurred_at", "recorded_at"}


def test_upcasting_leaves_the_input_alone() -> None:
    raw = v0_enrolled()
    before = copy.deepcopy(raw)

    upcast(raw)

    assert raw == before


@pytest.mark.parametrize(
    "raw",
    [
        v0_enrolled() | {"data": "f,18-29"},
        v0_enrolled() | {"data": None},
        v0_enrolled(gender=["f"]),
        v0_enrolled(age_group={"from": 18}),
    ],
    ids=["data-string", "data-null", "gender-list", "age-group-object"],
)
def test_malformed_v0_is_invalid_not_a_crash(raw: dict[str, Any]) -> None:
    with pytest.raises(EventInvalid):
        _decode(raw)


# ------------------------------------------------------------ other versions


@pytest.mark.parametrize(
    ("event_type", "version"),
    [("referral.sent", 0), ("participant.placed", 0), ("participant.enrolled", -1)],
)
def test_old_version_without_upcaster_is_named(event_type: str, version: int) -> None:
    raw = valid_example(event_type) | {"schema_version": version}

    with pytest.raises(EventInvalid) as caught:
        _decode(raw)

    (problem,) = caught.value.problems
    assert problem.field == "schema_version"
    assert event_type in problem.reason
    assert str(version) in problem.reason


@pytest.mark.parametrize("version", [2, 99, "1", "0", None, [1]])
def test_unknown_or_malformed_version_is_named(version: Any) -> None:
    raw = valid_example("participant.enrolled") | {"schema_version": version}

    with pytest.raises(EventInvalid) as caught:
        _decode(raw)

    assert [p.field for p in caught.value.problems] == ["schema_version"]


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
def test_current_event_passes_through_unchanged(event_type: str) -> None:
    raw = valid_example(event_type)

    assert upcast(raw) == valid_example(event_type)
    assert _decode(raw) == validate(valid_example(event_type))


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
def test_missing_version_means_current(event_type: str) -> None:
    raw = valid_example(event_type)
    del raw["schema_version"]

    assert upcast(raw) == raw
    assert _decode(raw) == validate(valid_example(event_type))
