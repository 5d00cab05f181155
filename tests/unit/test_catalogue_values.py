"""The event catalogue v1: enums, booleans, pseudonyms, slugs, the type and referrals."""

from __future__ import annotations

from typing import Any

import pytest

from refnet.events.catalogue import ReferralSent
from refnet.events.codec import validate
from refnet.events.errors import Problem
from tests.unit.catalogue_cases import BOOL_FIELDS, ENUM_FIELDS, _cases, _fields, _problems, _set
from tests.unit.examples import EXAMPLE_TYPES, OTHER_PARTNER, PARTNER, valid_example

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
