"""The event catalogue v1: valid examples, missing and unknown fields, and times."""

from __future__ import annotations

import pytest

from refnet.events.catalogue import EVENT_TYPES
from refnet.events.codec import decode, encode, to_canonical_dict, validate
from refnet.events.errors import Problem
from tests.unit.catalogue_cases import (
    ENVELOPE_REQUIRED,
    _data_fields,
    _delete,
    _fields,
    _problems,
    _set,
)
from tests.unit.examples import EXAMPLE_TYPES, valid_example

# ------------------------------------------------------------------ valid


def test_every_event_type_has_an_example() -> None:
    assert set(EXAMPLE_TYPES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
def test_valid_example_validates_and_round_trips(event_type: str) -> None:
    event = validate(valid_example(event_type))

    assert isinstance(event, EVENT_TYPES[event_type])
    assert event.type == event_type
    assert event.schema_version == 1
    assert decode(encode(event)) == event
    assert encode(decode(encode(event))) == encode(event)


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
def test_optional_envelope_fields_round_trip_and_nulls_are_dropped(event_type: str) -> None:
    raw = valid_example(event_type)
    raw |= {
        "correlation_id": "9a1b2c3d-0000-4000-8000-000000000001",
        "causation_id": None,
        "publisher_id": "awo-en-crm",
        "sequence": 0,
        "signature": "A" * 86,
    }
    event = validate(raw)

    assert decode(encode(event)) == event
    canonical = to_canonical_dict(event)
    assert "causation_id" not in canonical
    assert canonical["sequence"] == 0


# ----------------------------------------------------------- missing / extra


@pytest.mark.parametrize(
    ("event_type", "path"),
    [(t, f) for t in EXAMPLE_TYPES for f in ENVELOPE_REQUIRED]
    + [(t, f"data.{f}") for t in EXAMPLE_TYPES for f in _data_fields(t)],
)
def test_missing_required_field_is_named(event_type: str, path: str) -> None:
    problems = _problems(_delete(valid_example(event_type), path))

    assert problems == [Problem(path, "Field required")]


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
@pytest.mark.parametrize("path", ["name", "data.name", "data.email"])
def test_unknown_field_is_rejected(event_type: str, path: str) -> None:
    raw = _set(valid_example(event_type), path, "Jane Doe")

    assert _fields(raw) == [path]


# ------------------------------------------------------------------- times


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
@pytest.mark.parametrize("path", ["occurred_at", "recorded_at"])
@pytest.mark.parametrize(
    "value", ["2025-03-03T09:15:00", "2025-03-03 09:15:00.123456", "2025-03-03"]
)
def test_time_without_timezone_is_rejected(event_type: str, path: str, value: str) -> None:
    raw = _set(valid_example(event_type), path, value)

    assert _fields(raw) == [path]


@pytest.mark.parametrize(
    ("occurred_at", "recorded_at"),
    [
        ("2025-03-03T09:25:00Z", "2025-03-03T09:20:00Z"),  # exactly the allowed skew
        ("2025-03-03T11:24:00+02:00", "2025-03-03T09:20:00Z"),  # 09:24Z, within the skew
        ("2025-03-03T09:20:00Z", "2025-03-03T11:20:00+02:00"),  # the same instant
        ("2025-03-01T00:00:00Z", "2025-03-03T09:20:00Z"),  # recorded two days later
    ],
)
def test_occurred_at_may_lead_recorded_at_by_the_clock_skew(
    occurred_at: str, recorded_at: str
) -> None:
    raw = valid_example("participant.enrolled") | {
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
    }

    validate(raw)


OCCURRED_TOO_LATE = [
    ("2025-03-03T09:25:00.000001Z", "2025-03-03T09:20:00Z"),
    ("2025-03-03T11:26:00+02:00", "2025-03-03T09:20:00Z"),  # 09:26Z
    ("2025-03-04T09:20:00Z", "2025-03-03T09:20:00Z"),
]


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
@pytest.mark.parametrize(("occurred_at", "recorded_at"), OCCURRED_TOO_LATE)
def test_occurred_after_recorded_beyond_skew_is_rejected(
    event_type: str, occurred_at: str, recorded_at: str
) -> None:
    raw = valid_example(event_type) | {"occurred_at": occurred_at, "recorded_at": recorded_at}

    (problem,) = _problems(raw)
    assert problem.field == "occurred_at"
    assert "recorded_at" in problem.reason


def test_occurred_after_recorded_names_occurred_at() -> None:
    raw = valid_example("participant.enrolled") | {"occurred_at": "2025-03-04T09:20:00Z"}

    assert _fields(raw) == ["occurred_at"]
