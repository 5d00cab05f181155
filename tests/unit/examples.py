"""One valid example per event type, as a publisher would send it (JSON-ready dicts).

Tests take a fresh copy with `valid_example(type)` and break one thing at a time.
"""

from __future__ import annotations

import copy
from typing import Any

PARTNER = "awo-en"
OTHER_PARTNER = "caritas-witten"
SITE = "schwelm"
PARTICIPANT = "p-7f3a9c2e41"
OCCURRED_AT = "2025-03-03T09:15:00Z"
RECORDED_AT = "2025-03-03T09:20:00Z"

_DATA: dict[str, dict[str, Any]] = {
    "participant.enrolled": {
        "programme": "ESF+ Bleiberecht EN",
        "residence_status": "duldung",
        "work_permission": "employment_with_authority_permission",
        "sgb2_eligible": True,
        "employment_status": "unemployed",
        "education_level": "isced_0_2",
        "age_band": "18_29",
        "gender": "female",
        "third_country_national": True,
        "german_level": "A2",
        "consent_to_share": True,
    },
    "residence_status.changed": {
        "residence_status": "aufenthaltserlaubnis",
        "work_permission": "employment_permitted",
        "valid_from": "2025-04-01",
    },
    "referral.sent": {
        "referral_id": "ref-2025-0001",
        "to_partner": OTHER_PARTNER,
        "service": "language_course",
    },
    "referral.accepted": {"referral_id": "ref-2025-0001"},
    "referral.declined": {"referral_id": "ref-2025-0001", "reason": "no_capacity"},
    "training.started": {"training_id": "trn-b1-2025-03", "kind": "language_course"},
    "training.completed": {"training_id": "trn-b1-2025-03", "qualification_gained": True},
    "training.discontinued": {"training_id": "trn-b1-2025-03"},
    "participant.placed": {
        "placement_id": "plc-0042",
        "kind": "apprenticeship",
        "start_date": "2025-08-01",
    },
    "participant.exited": {"reason": "placed", "situation": "in_employment"},
    "participant.followed_up": {"situation": "in_employment"},
    "event.retracted": {
        "retracted_event_id": "0b9d3c0e-6a1f-4c1e-9d1a-2f4e6b8a0c11",
        "reason": "entered for the wrong participant",
    },
    "participant.contact_recorded": {
        "sealed": {
            "alg": "AES-256-GCM",
            "key_id": "k7Qm2xP9vL4wR1sT",
            "nonce": "bX3kQ9mZ2pL7vR1s",
            "ciphertext": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5",
        }
    },
    "consent.given": {"purpose": "pass_contact_details", "recipient": OTHER_PARTNER},
    "consent.withdrawn": {"purpose": "follow_up_contact"},
    "privacy.erasure_requested": {"reason": "the participant asked for erasure"},
    "privacy.key_destroyed": {"key_id": "k7Qm2xP9vL4wR1sT", "reason": "erasure"},
}

EXAMPLE_TYPES: tuple[str, ...] = tuple(_DATA)
"""Every event type that has an example, in catalogue order."""

_EVENT_IDS = {
    event_type: f"5b0a8f1e-1d0c-4c56-9a39-{index:012x}"
    for index, event_type in enumerate(EXAMPLE_TYPES, start=1)
}


def valid_example(event_type: str) -> dict[str, Any]:
    """A fresh, valid, JSON-ready event of `event_type` (mutate it freely)."""
    return {
        "event_id": _EVENT_IDS[event_type],
        "type": event_type,
        "schema_version": 1,
        "partner_id": PARTNER,
        "site": SITE,
        "participant_id": PARTICIPANT,
        "occurred_at": OCCURRED_AT,
        "recorded_at": RECORDED_AT,
        "data": copy.deepcopy(_DATA[event_type]),
    }
