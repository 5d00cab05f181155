"""The event catalogue v1: every type accepts its valid example and rejects bad fields by name.

Each invalid case breaks one field of a valid example and checks that `EventInvalid`
names exactly that field, as a publisher wrote it (`data.gender`, `occurred_at`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from refnet.events.catalogue import EVENT_TYPES, ParticipantEnrolled, ReferralSent
from refnet.events.codec import decode, encode, to_canonical_dict, validate
from refnet.events.errors import EventInvalid, Problem
from tests.unit.examples import EXAMPLE_TYPES, OTHER_PARTNER, PARTNER, valid_example

ENVELOPE_REQUIRED = [
    "event_id",
    "partner_id",
    "site",
    "participant_id",
    "occurred_at",
    "recorded_at",
    "data",
]

ENUM_FIELDS: dict[str, list[str]] = {
    "participant.enrolled": [
        "residence_status",
        "work_permission",
        "employment_status",
        "education_level",
        "age_band",
        "gender",
        "german_level",
    ],
    "residence_status.changed": ["residence_status", "work_permission"],
    "referral.sent": ["service"],
    "referral.declined": ["reason"],
    "training.started": ["kind"],
    "participant.placed": ["kind"],
    "participant.exited": ["reason", "situation"],
    "participant.followed_up": ["situation"],
}

BOOL_FIELDS: dict[str, list[str]] = {
    "participant.enrolled": ["sgb2_eligible", "third_country_national", "consent_to_share"],
    "training.completed": ["qualification_gained"],
}

SENSITIVE_FIELDS: dict[str, list[str]] = {
    "participant.enrolled": [
        "residence_status",
        "work_permission",
        "sgb2_eligible",
        "employment_status",
        "education_level",
        "age_band",
        "gender",
        "third_country_national",
        "german_level",
    ],
    "residence_status.changed": ["residence_status", "work_permission"],
}


def _data_fields(event_type: str) -> list[str]:
    data_model = EVENT_TYPES[event_type].model_fields["data"].annotation
    assert isinstance(data_model, type)
    return [name for name, field in data_model.model_fields.items() if field.is_required()]


def _cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(event_type, field) for event_type, fields in table.items() for field in fields]


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    target = raw
    for part in parents:
        target = target[part]
    target[leaf] = value
    return raw


def _delete(raw: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    target = raw
    for part in parents:
        target = target[part]
    del target[leaf]
    return raw


def _problems(raw: dict[str, Any]) -> list[Problem]:
    """The problems `decode` reports for `raw`, sent as bytes the way they arrive."""
    with pytest.raises(EventInvalid) as caught:
        decode(json.dumps(raw).encode())
    assert caught.value.problems, "EventInvalid without problems"
    return caught.value.problems


def _fields(raw: dict[str, Any]) -> list[str]:
    return [problem.field for problem in _problems(raw)]


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


# ----------------------------------------------------------- enums, booleans


@pytest.mark.parametrize(("event_type", "field"), _cases(ENUM_FIELDS))
@pytest.mark.parametrize("value", ["no_such_value", "", 1, None])
def test_value_outside_its_list_is_rejected(event_type: str, field: str, value: Any) -> None:
    raw = _set(valid_example(event_type), f"data.{field}", value)

    assert _fields(raw) == [f"data.{field}"]


@pytest.mark.parametrize(("event_type", "field"), _cases(ENUM_FIELDS))
def test_enum_member_name_or_other_case_is_rejected(event_type: str, field: str) -> None:
    value = valid_example(event_type)["data"][field]
    raw = _set(valid_example(event_type), f"data.{field}", f"X{value.swapcase()}")

    assert _fields(raw) == [f"data.{field}"]


@pytest.mark.parametrize(("event_type", "field"), _cases(BOOL_FIELDS))
@pytest.mark.parametrize("value", ["true", "false", "yes", 1, 0, None])
def test_boolean_takes_only_true_or_false(event_type: str, field: str, value: Any) -> None:
    raw = _set(valid_example(event_type), f"data.{field}", value)

    assert _fields(raw) == [f"data.{field}"]


@pytest.mark.parametrize(("event_type", "field"), _cases(BOOL_FIELDS))
@pytest.mark.parametrize("value", [True, False])
def test_boolean_accepts_true_and_false(event_type: str, field: str, value: bool) -> None:
    event = validate(_set(valid_example(event_type), f"data.{field}", value))

    assert getattr(event.data, field) is value


# -------------------------------------------------------- pseudonyms, slugs

BAD_PSEUDONYMS = [
    "jane.doe@example.org",
    "Jane Doe",
    "Ayşe-Yılmaz",
    "p-7f3a\n",
    "abc12",  # too short to be a pseudonym
    "x" * 65,
    "",
    1234567,
]


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
@pytest.mark.parametrize("value", BAD_PSEUDONYMS)
def test_participant_must_be_a_pseudonym(event_type: str, value: Any) -> None:
    raw = _set(valid_example(event_type), "participant_id", value)

    assert _fields(raw) == ["participant_id"]


BAD_SLUGS = ["AWO-EN", "awo en", "awo_en", "-awo-en", "awo.en", "", "a" * 64, "awo-en\n", 7]
SLUG_PATHS = [(t, p) for t in EXAMPLE_TYPES for p in ("partner_id", "site", "publisher_id")] + [
    ("referral.sent", "data.to_partner")
]


@pytest.mark.parametrize(("event_type", "path"), SLUG_PATHS)
@pytest.mark.parametrize("value", BAD_SLUGS)
def test_partner_and_site_must_be_slugs(event_type: str, path: str, value: Any) -> None:
    raw = _set(valid_example(event_type), path, value)

    assert _fields(raw) == [path]


# ---------------------------------------------------------------- the type


@pytest.mark.parametrize("value", ["participant.deleted", "Participant.Enrolled", "", 5, ["x"]])
def test_unknown_type_is_rejected(value: Any) -> None:
    raw = valid_example("participant.enrolled") | {"type": value}

    (problem,) = _problems(raw)
    assert problem.field == "type"
    assert problem.reason.startswith("unknown event type")


def test_missing_type_is_rejected() -> None:
    raw = valid_example("participant.enrolled")
    del raw["type"]

    assert _problems(raw) == [Problem("type", "missing")]


def test_null_type_counts_as_missing() -> None:
    raw = valid_example("participant.enrolled") | {"type": None}

    assert _problems(raw) == [Problem("type", "missing")]


@pytest.mark.parametrize("event_type", EXAMPLE_TYPES)
def test_data_of_another_type_is_rejected(event_type: str) -> None:
    other = "training.discontinued" if event_type != "training.discontinued" else "referral.sent"
    raw = valid_example(event_type) | {"data": valid_example(other)["data"]}

    assert {field.split(".")[0] for field in _fields(raw)} == {"data"}


# --------------------------------------------------------------- referrals


def test_referral_to_another_partner_is_valid() -> None:
    event = validate(valid_example("referral.sent"))

    assert isinstance(event, ReferralSent)
    assert event.data.to_partner == OTHER_PARTNER != event.partner_id


def test_referral_to_itself_is_rejected() -> None:
    raw = _set(valid_example("referral.sent"), "data.to_partner", PARTNER)

    (problem,) = _problems(raw)
    assert problem.field == "data.to_partner"
    assert "itself" in problem.reason


def test_referral_to_itself_names_to_partner() -> None:
    raw = _set(valid_example("referral.sent"), "data.to_partner", PARTNER)

    assert _fields(raw) == ["data.to_partner"]


# ----------------------------------------------------------------- refusal


@pytest.mark.parametrize(("event_type", "field"), _cases(SENSITIVE_FIELDS))
def test_sensitive_field_may_be_refused(event_type: str, field: str) -> None:
    event = validate(_set(valid_example(event_type), f"data.{field}", "refused"))

    assert getattr(event.data, field) == "refused"
    assert decode(encode(event)) == event


def test_every_sensitive_enrolment_field_refused_at_once() -> None:
    raw = valid_example("participant.enrolled")
    for field in SENSITIVE_FIELDS["participant.enrolled"]:
        raw["data"][field] = "refused"

    event = validate(raw)
    assert isinstance(event, ParticipantEnrolled)
    assert event.data.consent_to_share is True


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("participant.enrolled", "consent_to_share"),
        ("referral.sent", "service"),
        ("participant.placed", "kind"),
        ("participant.exited", "situation"),
        ("training.completed", "qualification_gained"),
    ],
)
def test_refused_is_not_accepted_for_non_sensitive_fields(event_type: str, field: str) -> None:
    raw = _set(valid_example(event_type), f"data.{field}", "refused")

    assert _fields(raw) == [f"data.{field}"]


def test_refused_is_not_a_programme() -> None:
    raw = _set(valid_example("participant.enrolled"), "data.programme", "refused")

    assert _fields(raw) == ["data.programme"]


def test_refusable_field_error_mentions_refusal() -> None:
    raw = _set(valid_example("participant.enrolled"), "data.gender", "w")

    (problem,) = _problems(raw)
    assert problem.field == "data.gender"
    assert "refused" in problem.reason
    assert "female" in problem.reason


@pytest.mark.parametrize("text", ["a\u0000b", "line\nbreak", "tab\there"])
def test_free_text_refuses_control_characters(text: str) -> None:
    raw = valid_example("participant.enrolled")
    raw["data"]["programme"] = text
    with pytest.raises(EventInvalid) as caught:
        validate(raw)
    assert caught.value.problems[0].field == "data.programme"


def test_free_text_refuses_a_lone_surrogate_from_the_log() -> None:
    raw = valid_example("participant.enrolled")
    text = json.dumps(raw).replace('"programme": "', '"programme": "\\ud800', 1)
    with pytest.raises(EventInvalid) as caught:
        decode(text.encode())
    assert caught.value.problems[0].field == "data.programme"
