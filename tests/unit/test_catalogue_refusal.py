"""The event catalogue v1: refused answers to sensitive fields, and free text."""

from __future__ import annotations

import json

import pytest

from refnet.events.catalogue import ParticipantEnrolled
from refnet.events.codec import decode, encode, validate
from refnet.events.errors import EventInvalid
from tests.unit.catalogue_cases import SENSITIVE_FIELDS, _cases, _fields, _problems, _set
from tests.unit.examples import valid_example

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
