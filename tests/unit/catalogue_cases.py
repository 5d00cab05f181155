"""The fields of the event catalogue v1 by kind, and edits of valid examples to break them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from refnet.events.catalogue import EVENT_TYPES
from refnet.events.codec import decode
from refnet.events.errors import EventInvalid, Problem

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
